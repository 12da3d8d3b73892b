//! The operator console in a real browser (Debian's headless Chromium over
//! the DevTools protocol) against the whole plant-assistant dataflow:
//! plant-sim in its overheat scenario, real dora, the real model. A wrong
//! key is refused; the page shows live values that change; a question asked
//! in the page gets its grounded answer with the facts; the overheat alarm
//! appears, is acknowledged with a comment, the acknowledgement arrives on
//! MQTT and is still there after the dataflow is stopped and started again.
//! Screenshots go to `target/console-screenshots/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::types::Bounds;
use headless_chrome::Tab;
use shopfloor_dataflow_tests::browser::{self, chromium, js_value};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::{free_port, http, repo_root, scratch_dir};

const DATAFLOW_LIMIT: Duration = Duration::from_secs(600);
/// Generous: model loading and the overheat scenario on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(180);
const API_KEY: &str = "console-key-51c2";
const ALARM: &str = "station1/spindle_temperature";

/// Waits for `done` on the expression's value within [`WAIT`]; on failure
/// keeps a screenshot and says what the page showed.
fn wait_js(
    tab: &Tab,
    what: &str,
    expression: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<serde_json::Value> {
    browser::wait_js(tab, what, expression, WAIT, done).map_err(|error| {
        let shot = screenshot(tab, "failed").map(|p| p.display().to_string()).unwrap_or_default();
        let page = js_value(tab, "document.getElementById('main').innerText").unwrap_or_default();
        anyhow::anyhow!("{error}; screenshot {shot}; page:\n{page}")
    })
}

fn js_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Sets an input's value as typing would (the page reads it on submit).
fn fill(tab: &Tab, selector: &str, text: &str) -> anyhow::Result<()> {
    tab.wait_for_element(selector)?.click()?;
    tab.evaluate(&format!("document.querySelector({}).value = ''", js_string(selector)), false)?;
    tab.type_str(text)?;
    Ok(())
}

fn screenshot(tab: &Tab, name: &str) -> anyhow::Result<PathBuf> {
    let folder = repo_root().join("target/console-screenshots");
    std::fs::create_dir_all(&folder)?;
    let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)?;
    let path = folder.join(format!("{name}.png"));
    std::fs::write(&path, png)?;
    Ok(path)
}

fn log_in(tab: &Tab, url: &str, key: &str) -> anyhow::Result<()> {
    tab.navigate_to(url)?.wait_until_navigated()?;
    wait_js(tab, "the login form", "!document.getElementById('login').hidden", |v| v == true)?;
    fill(tab, "#login-operator", "anna")?;
    fill(tab, "#login-key", key)?;
    tab.wait_for_element("#login-submit")?.click()?;
    Ok(())
}

fn wait_ready(port: u16, dataflow: &mut RunningDataflow) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        anyhow::ensure!(dataflow.is_running(), "dataflow stopped early:\n{}", dataflow.log_text());
        if let Ok((200, _)) = http::get(port, "/readyz", None) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "/readyz not 200 within {WAIT:?}\n{}", dataflow.log_text());
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The alarm's `data-state` and text, as JSON `[state, severity, text]` (null while absent).
fn alarm_expression() -> String {
    format!(
        "(() => {{ const li = document.querySelector('li.alarm[data-key={}]'); \
         return li ? [li.dataset.state, li.dataset.severity, li.textContent] : null; }})()",
        js_string(ALARM)
    )
}

#[test]
fn an_operator_works_the_plant_from_the_console_in_a_real_browser() -> anyhow::Result<()> {
    let scratch = scratch_dir("console");
    let sim_port = free_port();
    let mqtt_port = free_port();
    let http_port = free_port();
    let root = "test/console/cell1";
    let envs = [
        ("SIM_PORT", sim_port.to_string()),
        ("SIM_SCENARIO", "overheat".to_owned()),
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
        ("MQTT_TOPIC_ROOT", root.to_owned()),
        ("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{mqtt_port}")),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{http_port}")),
        ("GATEWAY_API_KEY", API_KEY.to_owned()),
        ("GATEWAY_CONSOLE_JOURNAL", scratch.path().join("alarms.jsonl").display().to_string()),
        ("ROUTER_PENDING_FILE", scratch.path().join("pending.arrow").display().to_string()),
    ];
    let mut dataflow = RunningDataflow::start("plant-assistant.yml", &envs, DATAFLOW_LIMIT)?;
    wait_ready(http_port, &mut dataflow)?;
    let mqtt = TestClient::connect(mqtt_port, &[format!("{root}/alarms/#")])?;
    let browser = chromium()?;
    let tab = browser.new_tab()?;
    let url = format!("http://127.0.0.1:{http_port}/console");

    // A wrong key is refused, and said so.
    log_in(&tab, &url, "not-the-key")?;
    let refusal = wait_js(&tab, "the refusal", "document.getElementById('login-error').textContent", |v| {
        v.as_str().is_some_and(|t| !t.trim().is_empty())
    })?;
    assert!(refusal.as_str().unwrap_or_default().to_lowercase().contains("key"), "{refusal}");
    assert_eq!(js_value(&tab, "document.getElementById('console').hidden")?, true);

    // The right key: live values that change.
    log_in(&tab, &url, API_KEY)?;
    let value = "(() => { const c = document.querySelector('tr[data-tag=\"spindle_temperature\"] .tag-value'); \
                 return c ? c.textContent : null; })()";
    let first = wait_js(&tab, "the spindle temperature row", value, |v| v.is_string())?;
    wait_js(&tab, "a changed value", value, |v| *v != first)?;
    assert_eq!(js_value(&tab, "document.getElementById('conn-status').dataset.state")?, "live");

    // A question asked in the page: the grounded answer with its facts.
    // By keyboard: Enter in the question box asks.
    fill(&tab, "#ask-input", "What is the spindle temperature?")?;
    tab.press_key("Enter")?;
    let answer = wait_js(
        &tab,
        "the answer",
        "(() => { const li = document.querySelector('#answers li.answer'); \
         return li && !li.classList.contains('pending') ? [li.className, li.querySelector('.answer-text').textContent, \
         (li.querySelector('.answer-facts') || {textContent: ''}).textContent] : null; })()",
        |v| v.is_array(),
    )?;
    let (class, text, facts) =
        (answer[0].as_str().unwrap_or(""), answer[1].as_str().unwrap_or(""), answer[2].as_str().unwrap_or(""));
    assert!(!class.contains("answer-error"), "{answer}");
    assert!(facts.contains("spindle temperature"), "the facts the answer used are shown: {answer}");
    // Grounded: every number in the answer is one of the facts' numbers.
    let numbers = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map(|n| n.trim_matches('.').to_owned())
            .filter(|n| n.chars().any(|c| c.is_ascii_digit()))
            .collect()
    };
    let known = numbers(facts);
    for number in numbers(text) {
        assert!(known.contains(&number), "{number} in the answer is not in the facts: {answer}");
    }
    assert!(!numbers(text).is_empty(), "a temperature question is answered with the value: {answer}");

    // The overheat alarm: wait until it is critical (a worse alert would
    // re-alarm an acknowledged warning), then acknowledge it.
    wait_js(&tab, "the critical overheat alarm", &alarm_expression(), |v| {
        v[0] == "unacknowledged" && v[1] == "critical"
    })?;
    screenshot(&tab, "console-alarm")?;
    let ack = format!("li.alarm[data-key={}] .alarm-ack", js_string(ALARM));
    tab.wait_for_element(&ack)?.click()?;
    wait_js(&tab, "the acknowledge dialog", "document.getElementById('ack-dialog').open", |v| v == true)?;
    fill(&tab, "#ack-comment", "coolant valve opened")?;
    tab.wait_for_element("#ack-confirm")?.click()?;
    let acknowledged =
        wait_js(&tab, "the acknowledgement", &alarm_expression(), |v| v[0] == "acknowledged" || v[0] == "cleared")?;
    assert!(acknowledged[2].as_str().unwrap_or_default().contains("anna"), "{acknowledged}");
    let shot = screenshot(&tab, "console")?;

    // Other consoles and subscribers learn it over MQTT.
    let published = mqtt
        .wait_for(WAIT, |m| m.topic == format!("{root}/alarms/station1/events") && m.json["action"] == "acknowledged");
    let published = published.ok_or_else(|| anyhow::anyhow!("no acknowledgement on MQTT"))?;
    assert_eq!(published.json["operator"], "anna");
    assert_eq!(published.json["comment"], "coolant valve opened");
    assert_eq!(published.json["key"], ALARM);

    // The dataflow stops and starts again: the acknowledgement is still there.
    let (stopped, leftovers) = dataflow.stop();
    assert!(stopped && leftovers.is_empty(), "unclean stop: {leftovers:?}");
    let mut dataflow = RunningDataflow::start("plant-assistant.yml", &envs, DATAFLOW_LIMIT)?;
    wait_ready(http_port, &mut dataflow)?;
    // Sessions live in the gateway's memory: the restarted one asks again.
    log_in(&tab, &url, API_KEY)?;
    let kept = wait_js(&tab, "the alarm after the restart", &alarm_expression(), |v| v.is_array())?;
    assert!(kept[0] == "acknowledged" || kept[0] == "cleared", "{kept}");
    assert!(kept[2].as_str().unwrap_or_default().contains("coolant valve opened"), "{kept}");

    // By keyboard at tablet width: the page fits, and the alarm is shelved
    // with Enter on its buttons.
    tab.set_bounds(Bounds::Normal { left: None, top: None, width: Some(768.0), height: Some(1024.0) })?;
    wait_js(&tab, "the tablet width", "window.innerWidth", |v| v.as_f64().is_some_and(|w| w <= 800.0))?;
    let overflow = js_value(&tab, "document.documentElement.scrollWidth - window.innerWidth")?;
    assert!(overflow.as_f64().is_some_and(|px| px <= 0.0), "the page scrolls sideways by {overflow} px at 768 px");
    let shelve = format!("document.querySelector('li.alarm[data-key={}] .alarm-shelve').focus()", js_string(ALARM));
    tab.evaluate(&shelve, false)?;
    tab.press_key("Enter")?;
    wait_js(&tab, "the shelve dialog", "document.getElementById('shelve-dialog').open", |v| v == true)?;
    fill(&tab, "#shelve-comment", "sensor swap")?;
    tab.evaluate("document.getElementById('shelve-confirm').focus()", false)?;
    tab.press_key("Enter")?;
    let shelved = format!(
        "(() => {{ const li = document.querySelector('li.alarm[data-key={}]'); \
         return li ? li.classList.contains('shelved') : null; }})()",
        js_string(ALARM)
    );
    wait_js(&tab, "the shelved alarm", &shelved, |v| v == true)?;
    screenshot(&tab, "console-tablet")?;

    // Logging out on a shared tablet leaves no questions for the next operator.
    assert!(js_value(&tab, "localStorage.getItem('shopfloor.console.answers')")?.is_string(), "answers were kept");
    tab.wait_for_element("#logout")?.click()?;
    wait_js(&tab, "the login form after logging out", "!document.getElementById('login').hidden", |v| v == true)?;
    assert_eq!(js_value(&tab, "localStorage.getItem('shopfloor.console.answers')")?, serde_json::Value::Null);
    assert_eq!(js_value(&tab, "document.querySelectorAll('#answers li').length")?, 0);
    let (stopped, leftovers) = dataflow.stop();
    assert!(stopped && leftovers.is_empty(), "unclean stop: {leftovers:?}");
    eprintln!("screenshot: {}", shot.display());
    Ok(())
}
