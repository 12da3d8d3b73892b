//! Output piped into a reader that stops early (`shopfloor ... | head`):
//! the tool stops quietly, as Unix tools do, instead of panicking.

use std::io::Read;
use std::process::{Command, Stdio};

/// The bash completion script is about 75 KB, more than a pipe holds
/// (64 KB), so the tool is still writing when the reader goes.
#[test]
fn a_reader_that_stops_early_ends_the_tool_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shopfloor"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the shopfloor binary runs");
    let mut first = [0u8; 16];
    child.stdout.take().expect("stdout is piped").read_exact(&mut first).expect("the script begins");
    let output = child.wait_with_output().expect("the tool ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "a panic's exit status: {stderr}");
}
