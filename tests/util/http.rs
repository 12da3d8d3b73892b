//! A plain HTTP/1.1 GET over loopback for the gateway tests (the OpenAI
//! requests themselves go through the official Python client).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `GET path` on `127.0.0.1:port`, with a bearer key if given; returns the
/// status code and the body.
pub fn get(port: u16, path: &str, key: Option<&str>) -> anyhow::Result<(u16, String)> {
    request(port, "GET", path, key, None)
}

/// `POST path` of a JSON body.
pub fn post_json(port: u16, path: &str, key: Option<&str>, body: &str) -> anyhow::Result<(u16, String)> {
    request(port, "POST", path, key, Some(body))
}

fn request(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let content =
        body.map(|b| format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len())).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}{content}Connection: close\r\n\r\n{}",
        body.unwrap_or_default()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {head:?}"))?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Logs in to the operator console as `operator` (with `key` when the
/// gateway has one): the `Cookie` header value and the CSRF token.
pub fn console_login(port: u16, operator: &str, key: Option<&str>) -> anyhow::Result<(String, String)> {
    let body = serde_json::json!({ "operator": operator, "key": key.unwrap_or_default() }).to_string();
    let (head, body) = exchange(port, "POST", "/console/api/login", &[("Content-Type", "application/json")], &body)?;
    let cookie = head
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie")))
        .and_then(|(_, value)| value.trim().split(';').next().map(str::to_owned))
        .ok_or_else(|| {
            anyhow::anyhow!("no session cookie in the login answer:\n{head}\n{}", String::from_utf8_lossy(&body))
        })?;
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    let csrf = json["csrf"].as_str().unwrap_or_default().to_owned();
    Ok((cookie, csrf))
}

/// The first event of the console's live stream (the snapshot), as JSON.
pub fn console_snapshot(port: u16, cookie: &str) -> anyhow::Result<serde_json::Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(stream, "GET /console/api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n")?;
    // The stream stays open: read until the first event is complete.
    let mut text = String::new();
    let mut buffer = [0u8; 65536];
    loop {
        let read = stream.read(&mut buffer)?;
        anyhow::ensure!(read > 0, "the live stream ended before its snapshot:\n{text}");
        text.push_str(&String::from_utf8_lossy(&buffer[..read]));
        let Some(start) = text.find("event: snapshot") else { continue };
        let Some(data) = text[start..].lines().find_map(|line| line.strip_prefix("data: ")) else { continue };
        if let Ok(json) = serde_json::from_str(data) {
            return Ok(json);
        }
    }
}

/// `GET path` with the console's session cookie: (status, content type, body).
pub fn console_get(port: u16, path: &str, cookie: &str) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let (head, body) = exchange(port, "GET", path, &[("Cookie", cookie)], "")?;
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("content-type")))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    Ok((status, content_type, body))
}

/// One exchange with `Connection: close`: the head as text and the body as
/// bytes (not chunked: the console's answers carry a length).
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    Ok((head, body))
}

/// `POST path` of a JSON body with the console's session cookie and CSRF
/// token: (status, body).
pub fn console_post(port: u16, path: &str, cookie: &str, csrf: &str, body: &str) -> anyhow::Result<(u16, String)> {
    let headers = [("Cookie", cookie), ("X-CSRF-Token", csrf), ("Content-Type", "application/json")];
    let (head, body) = exchange(port, "POST", path, &headers, body)?;
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
