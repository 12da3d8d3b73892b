//! The targets: one per decoder of outside data, each with valid seeds.

use std::path::Path;
use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, RecordBatch, StructArray};
use opcua::types::{ByteString, DataValue, DateTime, LocalizedText, StatusCode, UAString, Variant};
use prost::Message;
use shopfloor_core::env::EnvVars;
use shopfloor_core::schema::{Answer, Origin, Question, Reading, ReadingValue};
use shopfloor_core::topics::TopicLayout;

use crate::{rejection, Outcome, Target, Workspace};

/// Every target.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "mqtt_question",
            reads: "MQTT question payloads (JSON) and the refusal sent back",
            decode: mqtt_question,
            seeds: question_seeds,
            tokens: &["\"id\"", "\"question\"", "\"reply_to\"", "\"timeout_ms\"", "\"format\""],
        },
        Target {
            name: "mqtt_telemetry_json",
            reads: "MQTT telemetry payloads mapped from JSON fields",
            decode: telemetry_json,
            seeds: telemetry_json_seeds,
            tokens: &["\"temp\"", "\"ts\"", "\"data\"", "\"value\""],
        },
        Target {
            name: "mqtt_telemetry_number",
            reads: "MQTT telemetry payloads that are one number",
            decode: telemetry_number,
            seeds: || vec![b"72.4".to_vec(), b"-3e2".to_vec(), b" 1200 ".to_vec()],
            tokens: &["e", ".", "+", "_"],
        },
        Target {
            name: "sparkplug",
            reads: "Sparkplug B protobuf births, data and deaths",
            decode: sparkplug,
            seeds: sparkplug_seeds,
            tokens: &["\u{8}", "\u{12}", "\u{1a}", "bdSeq", "engUnit"],
        },
        Target {
            name: "opcua_value",
            reads: "OPC UA data values (any variant, status and timestamps) into readings",
            decode: opcua_value,
            seeds: || vec![vec![0; 16], vec![1, 0, 0, 0, 0, 0, 0x52, 0x40], b"\x07RUNNING".to_vec()],
            tokens: &[],
        },
        Target {
            name: "opcua_tag_lines",
            reads: "OPCUA_TAGS lines (and `shopfloor opcua browse` output pasted into them)",
            decode: opcua_tag_lines,
            seeds: || {
                vec![b"spindle_temperature ns=2;s=Cell1.SpindleTemperature \xc2\xb0C high=80 deadband=0.2 # Spindle\n\
                      part_count ns=2;i=7 poll=1000 queue=100\n\
                      by_uri nsu=urn:x;s=A.B sampling=100 deadband=2%\n\
                      by_path /Cell1/Spindle/Temperature low=-5\n"
                    .to_vec()]
            },
            tokens: &["ns=", "nsu=", ";s=", ";i=", ";g=", ";b=", "high=", "low=", "poll=", "deadband=", "%", " # "],
        },
        Target {
            name: "telemetry_subscriptions",
            reads: "TELEMETRY_SUBSCRIPTIONS lines",
            decode: telemetry_subscriptions,
            seeds: || {
                vec![b"~/telemetry/+/temp number {1}_temperature \xc2\xb0C # Oven\n\
                       plant/line1/# json temp=oven_temp@\xc2\xb0C data[0].v=flow ts=ts\n\
                       spBv1.0/# sparkplug\n"
                    .to_vec()]
            },
            tokens: &[
                "number",
                "json",
                "sparkplug",
                ".",
                "[0]",
                "[18446744073709551616]",
                "{1}",
                "{99}",
                "@",
                "ts=",
                "+",
                "#",
                "~/",
            ],
        },
        Target {
            name: "router_tiers",
            reads: "ROUTER_TIERS and ROUTER_CLASSES",
            decode: router_tiers,
            seeds: || {
                vec![b"nano threshold=0.5 expect_ms=400\nsmall kind=slm threshold=0.7\n\x00overview=small unknown=refuse"
                    .to_vec()]
            },
            tokens: &["kind=", "http", "slm", "threshold=", "expect_ms=", "refuse", "\u{0}"],
        },
        Target {
            name: "router_redaction",
            reads: "ROUTER_REDACT rules",
            decode: router_redaction,
            seeds: || {
                vec![b"tag:spindle_* => <tag>\nregex:[0-9]{4}-[0-9]{2} => <date>\nsite:Plant North => <site>".to_vec()]
            },
            tokens: &["tag:", "regex:", "site:", "=>", "*", "(", ")", "{9999999}", "\\"],
        },
        Target {
            name: "alarm_limits",
            reads: "ALARMS_HIGH_LIMITS and ALARMS_LOW_LIMITS",
            decode: alarm_limits,
            seeds: || {
                vec![b"spindle_temperature=80, vibration = 4.5,\x00spindle_temperature=-10\ncoolant_flow=2.5".to_vec()]
            },
            tokens: &["=", ",", "\n", "\u{0}"],
        },
        Target {
            name: "hardware_profile",
            reads: "hardware profiles (TOML)",
            decode: hardware_profile,
            seeds: || vec![include_bytes!("../../../hw-profiles/generic-x86-2core.toml").to_vec()],
            tokens: &["[[models]]", "threads", "ram_budget_mb", "n_ctx", "=", "\"", "[", "]", "sha256"],
        },
        Target {
            name: "gguf_header",
            reads: "GGUF model files (the model file check before loading)",
            decode: gguf_header,
            seeds: || vec![gguf(&model_keys())],
            tokens: &["GGUF", "general.", "llama.", "\u{8}\0\0\0", "\u{4}\0\0\0", "\u{9}\0\0\0"],
        },
        Target {
            name: "mmproj_header",
            reads: "GGUF image projector files",
            decode: mmproj_header,
            seeds: || vec![gguf(&projector_keys())],
            tokens: &["GGUF", "clip.", "\u{8}\0\0\0", "\u{4}\0\0\0", "\u{9}\0\0\0"],
        },
        Target {
            name: "drec_recording",
            reads: ".drec recordings",
            decode: drec_recording,
            seeds: drec_seeds,
            tokens: &[],
        },
        Target {
            name: "arrow_import",
            reads: "Arrow IPC files imported as recordings (`shopfloor record import`)",
            decode: arrow_import,
            seeds: arrow_import_seeds,
            tokens: &["ARROW1", "\u{ff}\u{ff}\u{ff}\u{ff}"],
        },
        Target {
            name: "arrow_messages",
            reads: "Arrow arrays between nodes (any types under our field names), read with every message schema",
            decode: arrow_messages,
            seeds: arrow_message_seeds,
            tokens: &["\"value_number\"", "\"tag\"", "\"text\"", "\"labels\"", "[[", "{\"", "\n"],
        },
        Target {
            name: "http_chat_body",
            reads: "HTTP chat-completion request bodies (JSON)",
            decode: http_chat_body,
            seeds: || {
                vec![br#"{"model":"shopfloor","messages":[{"role":"system","content":"x"},{"role":"user","content":"What is the spindle temperature?"}],"user":"alice","stream":true,"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"value":{"type":"number"}}}}}}"#.to_vec()]
            },
            tokens: &[
                "\"messages\"",
                "\"content\"",
                "\"role\"",
                "\"user\"",
                "\"tools\"",
                "\"response_format\"",
                "\"stream\"",
            ],
        },
        Target {
            name: "json_schema",
            reads: "JSON schemas of structured answers (compiled to a grammar)",
            decode: json_schema,
            seeds: || {
                vec![
                    br#"{"type":"object","properties":{"tag":{"type":"string"},"value":{"type":"number"},"state":{"enum":["ok","alarm"]},"notes":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["value"]}"#.to_vec(),
                    br#"{"type":"string","pattern":"^[a-z]+$","minLength":2}"#.to_vec(),
                ]
            },
            tokens: &[
                "\"$ref\"",
                "\"#/\"",
                "\"pattern\"",
                "\"anyOf\"",
                "\"minItems\"",
                "\"maxLength\"",
                "\"format\"",
                "\"const\"",
                "\"additionalProperties\"",
            ],
        },
        Target {
            name: "replay_case",
            reads: "replay case files (TOML)",
            decode: replay_case,
            seeds: || vec![include_bytes!("../../../tests/replay/overheat.toml").to_vec()],
            tokens: &["[expect]", "[[expect.alerts]]", "[shift_times]", "=", "\"", "[", "]"],
        },
        Target {
            name: "image_file",
            reads: "camera image files (PNG, JPEG)",
            decode: image_file,
            seeds: image_seeds,
            tokens: &["IHDR", "IDAT", "IEND", "\u{ff}\u{d8}", "\u{ff}\u{c0}", "\u{ff}\u{da}"],
        },
        Target {
            name: "vlm_verdict",
            reads: "the vision model's verdict text",
            decode: |_, bytes| {
                let text = String::from_utf8_lossy(bytes);
                vlm_inspector::verdict::Verdict::parse(&text).map(drop).map_err(|e| rejection(&e))
            },
            seeds: || {
                vec![br#"{"defect": true, "type": "scratch", "location": "top-left", "severity": "warning", "description": "Thin scratch."}"#.to_vec()]
            },
            tokens: &["\"defect\"", "\"type\"", "\"location\"", "\"severity\"", "\"description\"", "critical", "none"],
        },
        Target {
            name: "tier_reply",
            reads: "replies of an HTTP model tier (OpenAI-compatible JSON)",
            decode: |_, bytes| {
                let text = String::from_utf8_lossy(bytes);
                router::http_tier::parse_reply(&text).map(drop).map_err(|e| rejection(&e))
            },
            seeds: || {
                vec![br#"{"choices":[{"message":{"content":"The spindle is at 72.4 C."},"logprobs":{"content":[{"logprob":-0.1}]}}],"model":"big"}"#.to_vec()]
            },
            tokens: &["\"choices\"", "\"message\"", "\"content\"", "\"logprobs\""],
        },
        Target {
            name: "tool_call",
            reads: "the model's tool calls",
            decode: tool_call,
            // The text generated after `{"tool":"` (slm::tools::CALL_PREFIX).
            seeds: || {
                vec![
                    br#"get_tag","tag":"spindle_temperature"}"#.to_vec(),
                    br#"get_history","tag":"spindle_temperature"}"#.to_vec(),
                    br#"list_alarms"}"#.to_vec(),
                ]
            },
            tokens: &["\"tool\"", "\"tag\"", "get_tag", "get_history", "list_alarms"],
        },
        Target {
            name: "broker_acl",
            reads: "BROKER_ACL_FILE (Mosquitto acl_file format) and the topics checked against it",
            decode: broker_acl,
            seeds: || vec![BROKER_ACL_SEED.as_bytes().to_vec()],
            tokens: &["user ", "topic ", "pattern ", "read ", "write ", "deny ", "%u", "%c", "+", "#", "/", "$"],
        },
        Target {
            name: "broker_packets",
            reads: "MQTT packets a client sends through the embedded broker's access check",
            decode: broker_packets,
            seeds: broker_packet_seeds,
            tokens: &["\u{30}", "\u{32}", "\u{82}", "\u{23}", "line/", "#", "+"],
        },
        Target {
            name: "docs_markdown",
            reads: "the site's Markdown documents (plant-docs, limit-alarms)",
            decode: |_, bytes| document("sop.md", bytes),
            seeds: || vec![DOCS_MARKDOWN_SEED.as_bytes().to_vec()],
            tokens: &["# ", "## ", "### ", "1. ", "- ", "* ", "\n\n", "`", "> ", "|", "[", "]("],
        },
        Target {
            name: "docs_text",
            reads: "the site's plain-text documents",
            decode: |_, bytes| document("sop.txt", bytes),
            seeds: || vec![DOCS_TEXT_SEED.as_bytes().to_vec()],
            tokens: &["\n\n", "1. ", "2) ", "Step 3: ", "- ", "• ", "   ", "---"],
        },
        Target {
            name: "docs_pdf",
            reads: "the site's PDF documents (text page by page)",
            decode: |_, bytes| document("sop.pdf", bytes),
            seeds: || shopfloor_docs::pdf::write_text(DOCS_TEXT_SEED).into_iter().collect(),
            tokens: &[
                "obj",
                "endobj",
                "stream",
                "endstream",
                "/Type",
                "/Page",
                "/Font",
                "xref",
                "trailer",
                "Tj",
                "BT",
                "ET",
            ],
        },
        Target {
            name: "docs_question",
            reads: "operators' procedure questions searched in the documents",
            decode: docs_question,
            seeds: || {
                vec![
                    b"How do I clear a jam on the chip conveyor?".to_vec(),
                    "Was mache ich, wenn die Spindel überhitzt?".as_bytes().to_vec(),
                    b"Spindle is at 93 \xc2\xb0C above 90, what now?".to_vec(),
                ]
            },
            tokens: &["how do i ", "spindle", "jam", "°C", "90", "überhitzt", "_", "unjammed", "re"],
        },
        Target {
            name: "deployment_inventory",
            reads: "deployment inventories (TOML)",
            decode: |workspace, bytes| {
                let text = String::from_utf8_lossy(bytes);
                let folder = workspace.dir.path().to_owned();
                deployment::inventory::Inventory::parse(&folder.join("inventory.toml"), &folder, &text)
                    .map(drop)
                    .map_err(|e| rejection(&e))
            },
            seeds: || {
                let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hw-profiles/generic-x86-2core.toml");
                vec![format!(
                    "[[machines]]\nid = \"gateway\"\nprofile = {:?}\nlabels = {{ role = \"gateway\", gpu = \"false\" }}\nother_node_mb = 48\n",
                    profile.display().to_string()
                )
                .into_bytes()]
            },
            tokens: &["[[machines]]", "id", "profile", "labels", "other_node_mb", "=", "\""],
        },
    ]
}

const NOW_MS: i64 = 1_764_086_400_000;

fn layout() -> TopicLayout {
    TopicLayout::new("plant/line1").unwrap_or_else(TopicLayout::fallback)
}

fn question_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"id":"q-1","question":"What is the spindle temperature?"}"#.to_vec(),
        br#"{"id":"q-2","question":"Wie warm ist die Spindel?","reply_to":"hmi/answers","timeout_ms":3000}"#.to_vec(),
        br#"{"id": "q-3", "question": ""}"#.to_vec(),
    ]
}

fn mqtt_question(_: &mut Workspace, payload: &[u8]) -> Outcome {
    let layout = layout();
    let topic = layout.query_topic("alice");
    let properties = mqtt_source::question::RequestProperties::default();
    match mqtt_source::question::parse_question(&layout, &topic, payload, properties.clone(), 4096, NOW_MS) {
        Ok(_) => Ok(()),
        Err(rejected) => {
            // The asker is answered: building that answer must hold too.
            let answer =
                mqtt_source::question::refusal_answer(&layout, &topic, payload, &properties, &rejected, 4096, NOW_MS);
            if answer.is_none() {
                return Err("NoAnswerTopic".into());
            }
            Err(rejection(&rejected))
        }
    }
}

fn subscription(line: &str) -> Option<mqtt_source::config::TelemetrySubscription> {
    let vars = EnvVars::from([("TELEMETRY_SUBSCRIPTIONS", line)]);
    mqtt_source::config::TelemetryConfig::from_env(&vars, "plant/line1").ok()?.subscriptions.into_iter().next()
}

fn telemetry_json_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"temp": 72.4, "ts": 1764086400000, "data": [{"v": 3}]}"#.to_vec(),
        br#"{"temp": "RUNNING", "ts": 1764086400.5}"#.to_vec(),
    ]
}

fn telemetry_json(_: &mut Workspace, payload: &[u8]) -> Outcome {
    let Some(subscription) = subscription("plant/+/oven json temp=oven_{2}_temp@°C data[0].v=flow ts=ts") else {
        return Err("SubscriptionLine".into());
    };
    mqtt_source::telemetry::decode(&subscription, "mqtt", "plant/line1/oven", payload, 65_536, NOW_MS)
        .map(drop)
        .map_err(|e| rejection(&e))
}

fn telemetry_number(_: &mut Workspace, payload: &[u8]) -> Outcome {
    let Some(subscription) = subscription("plant/+/temp number {2}_temperature °C") else {
        return Err("SubscriptionLine".into());
    };
    mqtt_source::telemetry::decode(&subscription, "mqtt", "plant/line1/temp", payload, 65_536, NOW_MS)
        .map(drop)
        .map_err(|e| rejection(&e))
}

fn sparkplug_seeds() -> Vec<Vec<u8>> {
    use mqtt_source::sparkplug::{Metric, MetricValue, Payload, PropertySet, PropertyValue};
    let metric = |name: Option<&str>, alias: u64, datatype: u32, value: MetricValue| Metric {
        name: name.map(str::to_owned),
        alias: Some(alias),
        datatype: Some(datatype),
        value: Some(value),
        ..Metric::default()
    };
    let mut described = metric(Some("TT_4711"), 7, 10, MetricValue::DoubleValue(61.5));
    described.properties = Some(PropertySet {
        keys: vec!["engUnit".into(), "description".into()],
        values: vec![
            PropertyValue { datatype: Some(12), string_value: Some("°C".into()), ..Default::default() },
            PropertyValue { datatype: Some(12), string_value: Some("Reactor".into()), ..Default::default() },
        ],
    });
    let birth = Payload {
        timestamp: Some(1_764_086_400_000),
        seq: Some(0),
        metrics: vec![
            metric(Some("bdSeq"), 0, 8, MetricValue::LongValue(3)),
            metric(Some("Hydraulics/Oil Temperature"), 1, 10, MetricValue::DoubleValue(41.5)),
            metric(Some("Stroke Count"), 2, 7, MetricValue::IntValue(1200)),
            metric(Some("State"), 3, 12, MetricValue::StringValue("RUNNING".into())),
            described,
        ],
    };
    let data = Payload {
        timestamp: Some(1_764_086_401_000),
        seq: Some(1),
        metrics: vec![
            metric(None, 1, 10, MetricValue::DoubleValue(42.0)),
            metric(None, 2, 7, MetricValue::IntValue(1201)),
        ],
    };
    // The first byte picks the message type (see `sparkplug`).
    let with_kind = |kind: u8, payload: &Payload| std::iter::once(kind).chain(payload.encode_to_vec()).collect();
    vec![with_kind(0, &birth), with_kind(1, &data), with_kind(3, &data)]
}

/// The first byte picks the message: a birth, data after a valid birth,
/// a death after one, or a device message; the rest is the payload.
fn sparkplug(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let Some((&kind, payload)) = bytes.split_first() else { return Err("Empty".into()) };
    let mut state = mqtt_source::sparkplug::SparkplugState::default();
    let born = sparkplug_seeds().into_iter().next().unwrap_or_default();
    let topic = match kind % 5 {
        0 => "spBv1.0/plant/NBIRTH/press1",
        1 => "spBv1.0/plant/NDATA/press1",
        2 => "spBv1.0/plant/NDEATH/press1",
        3 => "spBv1.0/plant/DDATA/press1/dev",
        _ => "spBv1.0/plant/DBIRTH/press1/dev",
    };
    if kind % 5 != 0 {
        state.handle("mqtt", "spBv1.0/plant/NBIRTH/press1", &born[1..], NOW_MS);
    }
    let outcome = state.handle("mqtt", topic, payload, NOW_MS);
    match outcome.rejection {
        Some(rejected) => Err(rejection(&rejected)),
        None => Ok(()),
    }
}

/// A data value built from bytes: the first picks the variant, the next
/// the status and timestamps, the rest the value.
fn opcua_value(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let word = |i: usize| u64::from_le_bytes(std::array::from_fn(|k| byte(i + k)));
    let rest = bytes.get(8..).unwrap_or_default();
    let text = String::from_utf8_lossy(rest).into_owned();
    let value = match byte(0) % 16 {
        0 => Variant::Double(f64::from_bits(word(8))),
        1 => Variant::Float(f32::from_bits(word(8) as u32)),
        2 => Variant::Int64(word(8) as i64),
        3 => Variant::UInt64(word(8)),
        4 => Variant::Int32(word(8) as i32),
        5 => Variant::Boolean(byte(8) & 1 == 1),
        6 => Variant::String(UAString::from(text)),
        7 => Variant::String(UAString::null()),
        8 => Variant::ByteString(ByteString::from(rest.to_vec())),
        9 => Variant::LocalizedText(Box::new(LocalizedText::new("en", &text))),
        10 => Variant::DateTime(Box::new(DateTime::from(word(8) as i64))),
        11 => Variant::StatusCode(StatusCode::from(word(8) as u32)),
        12 => Variant::from(
            rest.chunks(8)
                .map(|c| f64::from_le_bytes(std::array::from_fn(|k| *c.get(k).unwrap_or(&0))))
                .collect::<Vec<f64>>(),
        ),
        13 => Variant::Empty,
        14 => Variant::Byte(byte(8)),
        _ => Variant::SByte(byte(8) as i8),
    };
    let data_value = DataValue {
        value: (byte(1) & 1 == 0).then_some(value),
        status: (byte(1) & 2 == 0).then(|| StatusCode::from(u32::from_le_bytes([byte(2), byte(3), byte(4), byte(5)]))),
        source_timestamp: (byte(1) & 4 == 0).then(|| DateTime::from(word(2) as i64)),
        server_timestamp: (byte(1) & 8 == 0).then(|| DateTime::from(word(3) as i64)),
        ..DataValue::null()
    };
    let spec = opcua_source::config::TagSpec {
        tag: "t".into(),
        node_id: "ns=2;s=T".into(),
        unit: Some("°C".into()),
        low_limit: Some(-10.0),
        high_limit: Some(80.0),
        monitoring: Default::default(),
        description: None,
    };
    opcua_source::convert::to_reading("opc.tcp://plc", &spec, &data_value, NOW_MS).map(drop).map_err(|e| rejection(&e))
}

fn opcua_tag_lines(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let vars = EnvVars::from([("OPCUA_ENDPOINT", "opc.tcp://127.0.0.1:4840/"), ("OPCUA_TAGS", &*text)]);
    let config = opcua_source::config::OpcuaSourceConfig::from_env(&vars).map_err(|e| rejection(&e))?;
    opcua_source::tags::parse_tags(&config.tags).map(drop).map_err(|e| rejection(&e))
}

fn telemetry_subscriptions(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let vars = EnvVars::from([("TELEMETRY_SUBSCRIPTIONS", &*text)]);
    mqtt_source::config::TelemetryConfig::from_env(&vars, "plant/line1").map(drop).map_err(|e| rejection(&e))
}

/// Tiers, then (after a NUL) classes.
fn router_tiers(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let (tiers, classes) = text.split_once('\0').unwrap_or((&text, ""));
    let vars = EnvVars::from([("ROUTER_TIERS", tiers), ("ROUTER_CLASSES", classes)]);
    router::config::RouterConfig::from_env(&vars).map(drop).map_err(|e| rejection(&e))
}

fn router_redaction(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let vars = EnvVars::from([("ROUTER_TIERS", "nano"), ("ROUTER_REDACT", &*text)]);
    router::config::RouterConfig::from_env(&vars).map(drop).map_err(|e| rejection(&e))
}

/// High limits, then (after a NUL) low limits.
fn alarm_limits(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let (high, low) = text.split_once('\0').unwrap_or((&text, ""));
    let vars = EnvVars::from([("ALARMS_HIGH_LIMITS", high), ("ALARMS_LOW_LIMITS", low)]);
    limit_alarms::config::LimitAlarmsConfig::from_env(&vars).map(drop).map_err(|e| rejection(&e))
}

fn hardware_profile(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    slm_engine::profile::HardwareProfile::parse("fuzz.toml", &text).map(drop).map_err(|e| rejection(&e))
}

/// A GGUF value of the header: its type code and bytes.
enum GgufValue {
    U32(u32),
    F32(f32),
    Text(&'static str),
}

fn model_keys() -> Vec<(&'static str, GgufValue)> {
    vec![
        ("general.architecture", GgufValue::Text("llama")),
        ("general.name", GgufValue::Text("fuzz")),
        ("general.file_type", GgufValue::U32(3)),
        ("llama.block_count", GgufValue::U32(30)),
        ("llama.embedding_length", GgufValue::U32(576)),
        ("llama.context_length", GgufValue::U32(8192)),
        ("llama.attention.head_count", GgufValue::U32(9)),
        ("llama.attention.head_count_kv", GgufValue::U32(3)),
        ("llama.rope.freq_base", GgufValue::F32(100_000.0)),
    ]
}

fn projector_keys() -> Vec<(&'static str, GgufValue)> {
    vec![
        ("general.architecture", GgufValue::Text("clip")),
        ("clip.projector_type", GgufValue::Text("mlp")),
        ("clip.vision.image_size", GgufValue::U32(32)),
        ("clip.vision.patch_size", GgufValue::U32(8)),
        ("clip.vision.embedding_length", GgufValue::U32(64)),
        ("clip.vision.projection_dim", GgufValue::U32(576)),
    ]
}

/// A GGUF file of `keys` and no tensors (version 3, little-endian).
fn gguf(keys: &[(&str, GgufValue)]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend((keys.len() as u64).to_le_bytes());
    for (key, value) in keys {
        out.extend((key.len() as u64).to_le_bytes());
        out.extend(key.bytes());
        match value {
            GgufValue::U32(v) => {
                out.extend(4u32.to_le_bytes());
                out.extend(v.to_le_bytes());
            }
            GgufValue::F32(v) => {
                out.extend(6u32.to_le_bytes());
                out.extend(v.to_le_bytes());
            }
            GgufValue::Text(text) => {
                out.extend(8u32.to_le_bytes());
                out.extend((text.len() as u64).to_le_bytes());
                out.extend(text.bytes());
            }
        }
    }
    out
}

fn gguf_header(workspace: &mut Workspace, bytes: &[u8]) -> Outcome {
    let path = workspace.file("model.gguf", bytes)?;
    slm_engine::model_file::check(&path).map(drop).map_err(|e| rejection(&e))
}

fn mmproj_header(workspace: &mut Workspace, bytes: &[u8]) -> Outcome {
    let path = workspace.file("mmproj.gguf", bytes)?;
    slm_engine::mmproj::read_projector(&path).map(drop).map_err(|e| rejection(&e))
}

/// The first messages of a recorded fixture.
fn fixture_messages() -> Vec<recording::RecordedMessage> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/recordings/stoppage.drec");
    let mut messages = recording::read_file(&fixture).unwrap_or_default();
    messages.truncate(6);
    messages
}

fn drec_seeds() -> Vec<Vec<u8>> {
    let Ok(dir) = tempfile::tempdir() else { return Vec::new() };
    let path = dir.path().join("seed.drec");
    match recording::write_file(&path, "nodes: []\n", &fixture_messages()) {
        Ok(()) => std::fs::read(&path).map(|bytes| vec![bytes]).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn drec_recording(workspace: &mut Workspace, bytes: &[u8]) -> Outcome {
    let path = workspace.file("fuzz.drec", bytes)?;
    recording::read_file(&path).map(drop).map_err(|e| rejection(&e))
}

fn arrow_import_seeds() -> Vec<Vec<u8>> {
    let Ok(dir) = tempfile::tempdir() else { return Vec::new() };
    let path = dir.path().join("seed.arrow");
    match recording::arrow_file::export(&path, &fixture_messages()) {
        Ok(()) => std::fs::read(&path).map(|bytes| vec![bytes]).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn arrow_import(workspace: &mut Workspace, bytes: &[u8]) -> Outcome {
    let path = workspace.file("fuzz.arrow", bytes)?;
    recording::arrow_file::import(&path).map(drop).map_err(|e| rejection(&e))
}

fn arrow_message_seeds() -> Vec<Vec<u8>> {
    let reading = Reading::good("plc", "t".into(), ReadingValue::Number(72.4), Some("°C".into()), Some(NOW_MS), NOW_MS);
    let question = Question::new("q-1", "What is the spindle temperature?", "alice", Origin::Mqtt, NOW_MS);
    let answer = Answer::to_question(&question, "The spindle is at 72.4 °C.".into());
    [Reading::to_arrow(&[reading]), Question::to_arrow(&[question]), Answer::to_arrow(&[answer])]
        .into_iter()
        .filter_map(|array| {
            let batch = RecordBatch::from(array.as_any().downcast_ref::<StructArray>()?.clone());
            let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
            writer.write(&batch).ok()?;
            writer.finish().ok()?;
            Some(writer.into_inner())
        })
        .collect()
}

/// The schema of a message's struct array.
fn schema_of(array: ArrayRef) -> Option<Arc<dora_node_api::arrow_v59::datatypes::Schema>> {
    match array.data_type() {
        dora_node_api::arrow_v59::datatypes::DataType::Struct(fields) => {
            Some(Arc::new(dora_node_api::arrow_v59::datatypes::Schema::new(fields.clone())))
        }
        _ => None,
    }
}

/// JSON lines read by arrow-json into batches: with each message's own
/// schema (right types, any values and nulls) and with the schema arrow-json
/// infers (any types under our field names). The generator, not our code:
/// its memory is not counted and its panics only make an input unusable.
fn json_batches(bytes: &[u8]) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    allocation_counter::opt_out(|| {
        let read = |schema: Arc<dora_node_api::arrow_v59::datatypes::Schema>| -> Option<Vec<RecordBatch>> {
            let reader = arrow_json::ReaderBuilder::new(schema).build(std::io::Cursor::new(bytes)).ok()?;
            reader.collect::<Result<Vec<_>, _>>().ok()
        };
        let made = std::panic::catch_unwind(|| {
            let inferred = arrow_json::reader::infer_json_schema(std::io::Cursor::new(bytes), Some(16))
                .ok()
                .map(|(schema, _)| Arc::new(schema));
            let ours = [Reading::to_arrow(&[]), Question::to_arrow(&[]), Answer::to_arrow(&[])]
                .into_iter()
                .filter_map(schema_of);
            ours.chain(inferred).filter_map(read).flatten().collect::<Vec<_>>()
        });
        batches = made.unwrap_or_default();
    });
    batches
}

/// Hands every batch to every message schema, as a node hands whatever
/// arrives on an input to its schema.
fn arrow_messages(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let batches = json_batches(bytes);
    if batches.is_empty() {
        return Err("NotJsonLines".into());
    }
    let mut decoded = false;
    for batch in batches {
        let array: ArrayRef = Arc::new(StructArray::from(batch));
        let array: &dyn Array = array.as_ref();
        decoded |= Reading::from_arrow(array).is_ok();
        decoded |= Question::from_arrow(array).is_ok();
        decoded |= Answer::from_arrow(array).is_ok();
        decoded |= shopfloor_core::schema::Alert::from_arrow(array).is_ok();
        decoded |= shopfloor_core::schema::MetricSample::from_arrow(array).is_ok();
        decoded |= shopfloor_core::schema::SourceStatus::from_arrow(array).is_ok();
        decoded |= shopfloor_core::schema::Inspection::from_arrow(array).is_ok();
    }
    if decoded {
        Ok(())
    } else {
        Err("NoSchemaFits".into())
    }
}

fn http_chat_body(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let request: http_gateway::openai::ChatRequest = serde_json::from_slice(bytes).map_err(|e| rejection(&e))?;
    let models = ["shopfloor".to_owned()];
    let context = http_gateway::chat::RequestContext {
        id: "chatcmpl-1".into(),
        default_operator: "http",
        now_ms: NOW_MS,
        timeout_ms: 30_000,
        models: &models,
    };
    http_gateway::chat::to_question(&request, &context, &http_gateway::schema_grammar::compile)
        .map(drop)
        .map_err(|refusal| refusal.code.to_owned())
}

fn json_schema(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    slm::json_answer::grammar_for(&text).map(drop).map_err(|e| rejection(&e))
}

fn replay_case(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    // Where the real case file lies, so that its relative paths resolve.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/replay/fuzz.toml");
    replay_harness::case::TestCase::parse(&path, &text).map(drop).map_err(|e| rejection(&e))
}

fn image_seeds() -> Vec<Vec<u8>> {
    let image = image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([(x * 30) as u8, (y * 40) as u8, 128]));
    let mut seeds = Vec::new();
    for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        if image.write_to(&mut bytes, format).is_ok() {
            seeds.push(bytes.into_inner());
        }
    }
    seeds
}

fn image_file(workspace: &mut Workspace, bytes: &[u8]) -> Outcome {
    // Both names: the decoder goes by content, the name only picks a guess.
    let name = if bytes.starts_with(&[0xff, 0xd8]) { "frame.jpg" } else { "frame.png" };
    let path = workspace.file(name, bytes)?;
    camera_source::read::read_frame(&path, camera_source::config::FrameOutput::Rgb8)
        .map(drop)
        .map_err(|e| rejection(&e))
}

fn tool_call(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let mut state = slm::plant_state::PlantState::new(Default::default());
    state.update(vec![Reading::good(
        "plc",
        "spindle_temperature".into(),
        ReadingValue::Number(72.4),
        None,
        None,
        NOW_MS,
    )]);
    slm::tools::parse(&text, &state).map(drop).map_err(|e| rejection(&e))
}

const BROKER_ACL_SEED: &str = "topic read line/alerts/#\nuser sink\ntopic write line/answer/#\n\
                               topic deny line/answer/secret\npattern write line/query/%u\npattern read line/+/%c/#\n";

/// The file, then every word of it checked as a topic and as a filter, for
/// a user named by the file and for an anonymous client.
fn broker_acl(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    use mqtt_broker::acl::{Access, Acl, Client};
    let text = String::from_utf8_lossy(bytes);
    let acl = Acl::parse(&text).map_err(|errors| format!("line_{}", errors.len().min(3)))?;
    for word in text.split_whitespace().take(64) {
        for user in [None, Some("sink"), Some(word)] {
            let client = Client { user, client_id: word };
            for access in [Access::Read, Access::Write] {
                let _ = acl.permits(client, access, word);
            }
        }
    }
    Ok(())
}

/// The first byte picks the version (even: 3.1.1, odd: 5); the rest is cut
/// into packets as the front door frames them, each judged.
fn broker_packets(_: &mut Workspace, bytes: &[u8]) -> Outcome {
    use mqtt_broker::acl::Acl;
    use mqtt_broker::connect_packet::MqttVersion;
    use mqtt_broker::guard::{packet_length, Guard, Verdict};
    let Some((&first, mut rest)) = bytes.split_first() else {
        return Err("Empty".into());
    };
    let version = if first % 2 == 0 { MqttVersion::V311 } else { MqttVersion::V5 };
    let acl = Acl::parse(BROKER_ACL_SEED).map_err(|_| "SeedAcl".to_owned())?;
    let mut guard = Guard::new(Arc::new(acl), version, Some("alice".into()), "c1".into(), 64 * 1024);
    let mut refused = None;
    while let Some(length) = packet_length(rest) {
        if length > 64 * 1024 + 5 {
            return Err("TooLarge".into());
        }
        let Some(packet) = rest.get(..length) else { break };
        if let Verdict::Refuse { why, .. } = guard.judge(packet) {
            refused = Some(rejection(&why));
        }
        rest = &rest[length..];
    }
    refused.map_or(Ok(()), Err)
}

fn broker_packet_seeds() -> Vec<Vec<u8>> {
    use bytes::BytesMut;
    use rumqttc::v5::mqttbytes::v5;
    let mut v311 = BytesMut::from(&[0u8][..]);
    rumqttc::mqttbytes::v4::Publish::new("line/query/alice", rumqttc::mqttbytes::QoS::AtLeastOnce, "{}")
        .write(&mut v311)
        .ok();
    rumqttc::mqttbytes::v4::Subscribe::new("line/#", rumqttc::mqttbytes::QoS::AtMostOnce).write(&mut v311).ok();
    let mut v5 = BytesMut::from(&[1u8][..]);
    let alias = v5::PublishProperties { topic_alias: Some(3), ..Default::default() };
    v5::Publish::new("line/answer/x", rumqttc::v5::mqttbytes::QoS::AtLeastOnce, "{}", Some(alias.clone()))
        .write(&mut v5)
        .ok();
    v5::Publish::new("", rumqttc::v5::mqttbytes::QoS::AtMostOnce, "{}", Some(alias)).write(&mut v5).ok();
    v5::Subscribe::new(v5::Filter::new("line/answer/alice", rumqttc::v5::mqttbytes::QoS::AtLeastOnce), None)
        .write(&mut v5)
        .ok();
    vec![v311.to_vec(), v5.to_vec()]
}

const DOCS_MARKDOWN_SEED: &str = "# Spindle overheat\n\nIntro.\n\n## Responding to an alarm\n\n1. Press Feed Hold.\n2. Check the coolant flow.\n   - nested\n\n### If it passes 90 °C\n\n- Stop the spindle.\n";
const DOCS_TEXT_SEED: &str = "Chip Conveyor Jam\n\nClearing the jam\n\n1. Press Cycle Stop.\n2. Remove the chips\n   with the hook.\n---page---\nAfter clearing\n\nStep 1: Restart the conveyor.\n";

/// A document's bytes parsed as plant-docs reads them.
fn document(name: &str, bytes: &[u8]) -> Outcome {
    shopfloor_docs::parse_document(name, bytes).map(drop)
}

/// One library of two documents, searched and answered with any question.
fn docs_question(workspace: &mut Workspace, bytes: &[u8]) -> Outcome {
    use std::sync::OnceLock;
    static LIBRARY: OnceLock<Option<std::sync::Mutex<shopfloor_docs::Library>>> = OnceLock::new();
    let library = LIBRARY.get_or_init(|| {
        let folder = workspace.file("sop.md", DOCS_MARKDOWN_SEED.as_bytes()).ok()?.parent()?.to_owned();
        std::fs::write(folder.join("jam.txt"), DOCS_TEXT_SEED).ok()?;
        let (library, _) = shopfloor_docs::Library::open(folder, shopfloor_docs::Limits::default()).ok()?;
        Some(std::sync::Mutex::new(library))
    });
    let library = library.as_ref().ok_or("the library could not be made")?;
    let library = library.lock().map_err(|_| "the library is poisoned".to_owned())?;
    let question = String::from_utf8_lossy(bytes);
    let live = [shopfloor_docs::LiveValue { tag: "spindle_temperature".into(), shown: "84.2 °C".into() }];
    let reply = shopfloor_docs::answer(&library, &question, &live, &Default::default()).map_err(|e| rejection(&e))?;
    shopfloor_docs::alarm_response(&library, &question, &question, &Default::default()).map_err(|e| rejection(&e))?;
    if reply.found {
        Ok(())
    } else {
        Err("no_procedure".into())
    }
}
