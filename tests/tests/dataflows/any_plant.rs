//! The plant assistant on plants nobody here wrote, as a new user meets it:
//! a generated plant written apart (crate `plant-gen`, `development-6`: the
//! held-out split until 2026-12-07, whose figures set the floor) served by an
//! independent OPC UA server (python asyncua, tests/opcua/generated_plant_server.py),
//! its tags taken from `shopfloor opcua browse` and pasted unchanged into
//! `OPCUA_TAGS` of plant-assistant.yml with the known limits added (`high=`),
//! and its questions asked over MQTT
//! (Mosquitto). Each answer must state the asked value (or its direction, for
//! the two tags the server moves; or refuse, or report the error) and no
//! number that is not in its facts, the plant or the question. The shares
//! are behaviour floors, not timings.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use plant_gen::{Expect, Plant, Split, Value};
use shopfloor_dataflow_tests::assistant::{is_answer_to, question, wait_until_ready};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{free_port, repo_root, scratch_dir, shopfloor, Scratch};

const DATAFLOW_LIMIT: Duration = Duration::from_secs(300);
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the moving tags must have moved before their trend is asked:
/// the trend needs samples spanning 5 s, with margin.
const TREND_HISTORY: Duration = Duration::from_secs(10);
/// Plants of that split in the three conventions furthest from plant-sim's names.
const PLANTS: [&str; 3] = ["brewing-isa", "boilers-plc", "paint_shop-german"];
/// Agreed floor for answers right over MQTT (the in-process run measured
/// 0.98 on all 30 plants of the split when it was held out, docs/benchmarks.md).
const RIGHT_FLOOR: f64 = 0.85;

/// The plant as the server script reads it.
fn plant_json(plant: &Plant) -> String {
    let area = plant.tags.iter().find_map(|t| t.name.split('.').next().filter(|_| t.name.contains('.')));
    let tags: Vec<serde_json::Value> = plant
        .tags
        .iter()
        .map(|tag| {
            let value = match &tag.value {
                Value::Number(n) => serde_json::json!(n),
                Value::Text(t) => serde_json::json!(t),
            };
            serde_json::json!({
                "name": tag.name,
                "value": value,
                "unit": tag.unit,
                "description": tag.description,
                "slope_per_minute": tag.slope_per_minute,
            })
        })
        .collect();
    serde_json::json!({ "area": area.unwrap_or(plant.kind), "tags": tags }).to_string()
}

fn start_server(plant: &Plant, port: u16) -> anyhow::Result<(ProcessGroup, Scratch)> {
    let dir = scratch_dir(&format!("plant-{}", plant.id));
    let file = dir.join("plant.json");
    std::fs::write(&file, plant_json(plant))?;
    let log = dir.join("stderr.log");
    let mut command = Command::new(repo_root().join(".venv/bin/python"));
    command
        .arg(repo_root().join("tests/opcua/generated_plant_server.py"))
        .args([port.to_string(), "280".to_owned()])
        .arg(&file);
    command.stderr(std::fs::File::create(&log)?);
    let mut server = ProcessGroup::spawn("generated-plant", command)?;
    server.wait_listening(port, || {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("(is asyncua installed in .venv? scripts/test.sh does it)\n{log}")
    })?;
    Ok((server, dir))
}

/// The browsed lines with the limits the plant knows added (`high=`), as a
/// user adds the limits they know to the pasted lines.
fn with_known_limits(listing: &str, plant: &Plant) -> String {
    listing
        .lines()
        .map(|line| {
            let node = line.split_whitespace().nth(1).unwrap_or_default();
            let limit =
                plant.tags.iter().find(|t| node.ends_with(&format!(";s={}", t.name))).and_then(|t| t.high_limit);
            match (limit, line.split_once(" # ")) {
                (None, _) => line.to_owned(),
                (Some(limit), Some((settings, comment))) => format!("{settings} high={limit} # {comment}"),
                (Some(limit), None) => format!("{line} high={limit}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// plant-assistant.yml with its `OPCUA_TAGS` replaced by `tag_lines` and its
/// relative paths made absolute, written into `dir`.
fn dataflow_for(tag_lines: &str, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let root = repo_root();
    let original = std::fs::read_to_string(root.join("dataflows/plant-assistant.yml"))?;
    let absolute = format!("{}/", root.display());
    let mut out = String::new();
    let mut skipping = false;
    for line in original.lines() {
        if skipping {
            if line.starts_with("        ") || line.trim().is_empty() {
                continue;
            }
            skipping = false;
        }
        if line.trim_start().starts_with("OPCUA_TAGS: |") {
            out.push_str(line);
            out.push('\n');
            for tag_line in tag_lines.lines().filter(|l| !l.trim().is_empty()) {
                out.push_str("        ");
                out.push_str(tag_line);
                out.push('\n');
            }
            skipping = true;
            continue;
        }
        out.push_str(&line.replace(" ../", &format!(" {absolute}")));
        out.push('\n');
    }
    let path = dir.join("any-plant.yml");
    std::fs::write(&path, out)?;
    Ok(path)
}

/// Numbers written in `text`.
fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .map(|t| t.trim_matches(|c| c == '.' || c == '-'))
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Whether the answer is right, and the first number in it that nothing backs.
fn judge(expect: &Expect, question: &str, answer: &serde_json::Value, plant: &Plant) -> (bool, Option<f64>) {
    let text = answer["answer"].as_str().unwrap_or_default().to_lowercase();
    let error = answer["error"].as_str();
    let declined = ["no data", "keine daten", "no tengo datos", "pas de données", "only answer questions"]
        .iter()
        .any(|w| text.contains(w));
    let right = match expect {
        Expect::Value { value, above_limit, .. } => {
            let stated = match value {
                Value::Number(n) => numbers(&text).iter().any(|m| (m - n).abs() < 1e-9),
                Value::Text(t) => text.contains(&t.to_lowercase()),
            };
            let limit_right = match above_limit {
                None => true,
                Some(true) => text.contains("above"),
                Some(false) => !text.contains("above"),
            };
            error.is_none() && stated && limit_right
        }
        Expect::Trend { rising, .. } => {
            let (up, down) = (["rising", "steigend"], ["falling", "fallend"]);
            let (said, opposite) = if *rising { (up, down) } else { (down, up) };
            error.is_none() && said.iter().any(|w| text.contains(w)) && !opposite.iter().any(|w| text.contains(w))
        }
        Expect::NoData => declined,
        Expect::ReadOnly => text.contains("read-only") || text.contains("nur lesezugriff"),
        Expect::Invalid => error == Some("invalid_question"),
    };
    let facts: String = answer["facts"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).collect();
    let mut known = numbers(&facts);
    known.extend(numbers(question));
    for tag in &plant.tags {
        known.extend(numbers(&tag.name.replace('_', " ")));
        if let Value::Number(n) = tag.value {
            known.push(n);
        }
        known.extend(tag.high_limit);
    }
    let invented = numbers(&text).into_iter().find(|n| !known.iter().any(|k| (k - n).abs() <= 1e-9 * k.abs().max(1.0)));
    (right, invented)
}

/// Plants written apart, served by a server nobody here wrote, browsed, pasted,
/// asked over MQTT: at least the agreed share right, no invented value,
/// every write attempt refused and every empty question answered with an
/// error.
#[test]
fn held_out_plants_served_by_another_server_are_answered_over_mqtt() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let plants: Vec<Plant> =
        plant_gen::plants(Split::SixthDevelopment).into_iter().filter(|p| PLANTS.contains(&p.id.as_str())).collect();
    assert_eq!(plants.len(), PLANTS.len());
    // One client for all plants: a second one with the same client id would
    // take the session over from the first while it disconnects.
    let site = format!("site{}", std::process::id());
    let client = TestClient::connect(broker.port, &[format!("{site}/+/assistant/answer/#")])?;
    let (mut asked, mut right) = (0usize, 0usize);
    for plant in &plants {
        let port = free_port();
        let (_server, dir) = start_server(plant, port)?;
        let endpoint = format!("opc.tcp://127.0.0.1:{port}/");
        let output = shopfloor()?.args(["opcua", "browse", &endpoint]).output()?;
        anyhow::ensure!(output.status.success(), "browse failed: {}", String::from_utf8_lossy(&output.stderr));
        let listing = String::from_utf8(output.stdout)?;
        let yaml = dataflow_for(&with_known_limits(&listing, plant), &dir)?;

        let root = format!("{site}/{}", plant.kind);
        let envs = [
            ("SIM_PORT", free_port().to_string()),
            ("OPCUA_ENDPOINT", endpoint.clone()),
            ("MQTT_TOPIC_ROOT", root.clone()),
            ("MQTT_BROKER_URL", broker.url()),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ];
        let mut dataflow = RunningDataflow::start_file(&yaml, &envs, DATAFLOW_LIMIT)?;
        wait_until_ready(&client, &root, &mut dataflow, READY_TIMEOUT)?;
        let ready_at = Instant::now();

        for q in plant_gen::questions(plant) {
            if matches!(q.expect, Expect::Trend { .. }) {
                // The node fits a trend to at least 5 s of samples: let the
                // moving values move that long after the dataflow is up.
                let moved_enough = ready_at + TREND_HISTORY;
                std::thread::sleep(moved_enough.saturating_duration_since(Instant::now()));
            }
            let id = q.id.replace('/', "-");
            client.publish(&format!("{root}/assistant/query/alice"), question(&id, &q.text))?;
            let answer = client
                .wait_for(ANSWER_TIMEOUT, |m| is_answer_to(m, &id))
                .ok_or_else(|| anyhow::anyhow!("no answer to {id} ({:?}):\n{}", q.text, dataflow.log_text()))?;
            let (is_right, invented) = judge(&q.expect, &q.text, &answer.json, plant);
            eprintln!(
                "{} {:?} -> {} [{}]",
                q.id,
                q.text,
                answer.json["answer"],
                if is_right { "right" } else { "WRONG" }
            );
            assert_eq!(invented, None, "{id}: invented a value in {}", answer.json);
            if matches!(q.expect, Expect::ReadOnly | Expect::Invalid) {
                assert!(is_right, "{id} {:?}: {}", q.text, answer.json);
            }
            asked += 1;
            right += usize::from(is_right);
        }
        let (stopped, leftovers) = dataflow.stop();
        assert!(stopped && leftovers.is_empty(), "the dataflow did not stop cleanly: {leftovers:?}");
    }
    let share = right as f64 / asked as f64;
    eprintln!("right over MQTT: {right} of {asked} ({share:.3})");
    assert!(share >= RIGHT_FLOOR, "{right} of {asked} right");
    Ok(())
}
