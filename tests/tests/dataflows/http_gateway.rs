//! The HTTP gateway in the plant-assistant dataflow, driven by the official
//! `openai` Python client (plain, streaming and JSON-schema requests, a
//! broken schema, the API key) and checked with prometheus_client's
//! OpenMetrics parser; answers to HTTP questions never appear on MQTT.

use std::process::Command;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::dataflow::{dora_binary, RunningDataflow};
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::node::TestNode;
use shopfloor_dataflow_tests::{free_port, http, repo_root};

const DATAFLOW_LIMIT: Duration = Duration::from_secs(300);
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const API_KEY: &str = "test-key-7f3a";

fn wait_until_ready(port: u16, dataflow: &mut RunningDataflow) -> anyhow::Result<String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        anyhow::ensure!(dataflow.is_running(), "dataflow stopped early:\n{}", dataflow.log_text());
        let last = match http::get(port, "/readyz", None) {
            Ok((200, body)) => return Ok(body),
            Ok((status, body)) => format!("{status} {body}"),
            Err(error) => error.to_string(),
        };
        // What was missing comes first: a long log is cut in the middle.
        anyhow::ensure!(
            Instant::now() < deadline,
            "/readyz not 200 within {READY_TIMEOUT:?}; last: {last}\n{}",
            dataflow.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn openai_clients_get_grounded_answers_and_metrics_cover_every_node() -> anyhow::Result<()> {
    let sim_port = free_port();
    let mqtt_port = free_port();
    let http_port = free_port();
    let root = "test/http/cell1";
    let envs = [
        ("SIM_PORT", sim_port.to_string()),
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
        ("MQTT_TOPIC_ROOT", root.to_owned()),
        ("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{mqtt_port}")),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{http_port}")),
        ("GATEWAY_API_KEY", API_KEY.to_owned()),
        // What is answered is tested here, not how fast (benchmarks do that):
        // a machine busy with other work still gets its answers.
        ("GATEWAY_TIMEOUT_MS", "90000".to_owned()),
    ];
    let mut dataflow = RunningDataflow::start("plant-assistant.yml", &envs, DATAFLOW_LIMIT)?;
    let readiness = wait_until_ready(http_port, &mut dataflow)?;
    assert!(readiness.contains("\"ready\":true") && readiness.contains("opcua-source/opcua"), "{readiness}");
    let mqtt = TestClient::connect(mqtt_port, &[format!("{root}/assistant/answer/#")])?;

    // Health needs no key; everything else does.
    assert_eq!(http::get(http_port, "/healthz", None)?.0, 200);
    assert_eq!(http::get(http_port, "/metrics", None)?.0, 401);
    assert_eq!(http::get(http_port, "/v1/models", Some("wrong"))?.0, 401);

    let python = dora_binary().with_file_name("python");
    let output = Command::new(&python)
        .arg(repo_root().join("tests/python/openai_gateway_check.py"))
        .arg(format!("http://127.0.0.1:{http_port}"))
        .arg(API_KEY)
        .output()?;
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "openai client checks failed:\n{report}\n--- dataflow log ---\n{}",
        dataflow.log_text()
    );
    assert!(report.contains("all checks passed"), "{report}");

    // Every node feeds /metrics.
    let (status, page) = http::get(http_port, "/metrics", Some(API_KEY))?;
    assert_eq!(status, 200);
    for node in ["opcua-source", "mqtt-source", "slm", "limit-alarms", "mqtt-sink", "http-gateway"] {
        assert!(page.contains(&format!("node=\"{node}\"")), "no series of {node}:\n{page}");
    }

    // HTTP answers went back over HTTP only.
    let leaked =
        mqtt.wait_for(Duration::from_secs(2), |m| m.json["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-")));
    assert!(leaked.is_none(), "an HTTP answer was published over MQTT: {leaked:?}");

    let (success, leftovers) = dataflow.stop();
    assert!(success, "dora run did not exit successfully after Ctrl-C");
    assert!(leftovers.is_empty(), "processes left running: {leftovers:?}");
    Ok(())
}

/// Listening beyond loopback without an API key is refused at start (dora's
/// testing mode, no daemon), naming the setting, before any socket is opened.
#[test]
fn the_gateway_refuses_another_address_without_a_key() -> anyhow::Result<()> {
    let envs = [("GATEWAY_LISTEN", format!("0.0.0.0:{}", free_port()))];
    let (stderr, clean) = TestNode::start("http-gateway", &envs, 5.0, "gateway-no-key")?.wait()?;
    assert!(!clean, "started without a key");
    assert!(stderr.contains("GATEWAY_API_KEY") && stderr.contains("reachable from other machines"), "{stderr}");
    Ok(())
}
