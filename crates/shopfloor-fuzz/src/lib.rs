//! Fuzz targets for every function that reads outside data, and the loop
//! that drives them.
//!
//! A [`Target`] wraps one decoder: MQTT question and telemetry payloads,
//! Sparkplug B, OPC UA values, the settings mini-languages, hardware profiles,
//! GGUF headers, recordings, Arrow IPC, HTTP bodies, JSON schemas, replay case
//! files, image files, model and peer replies ([`targets::all`]). [`run`] feeds
//! it inputs that proptest generates: random bytes, and the target's valid
//! seeds mutated (bits flipped, bytes and tokens inserted, ranges cut or
//! repeated). Each input must be decoded or rejected by name; a panic, an input
//! that takes longer than [`Limits::per_input`], or one that allocates more
//! than [`Limits::bytes_for`] is a failure, shrunk by proptest to a small
//! input and written to `crashers/<target>/`, which the tests replay forever
//! after.
//!
//! The test suite runs every target briefly ([`SUITE_CASES`]);
//! `scripts/fuzz.sh` runs them at length (a million cases each by default).

pub mod targets;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// Cases per target in the normal test suite: seconds, not minutes.
pub const SUITE_CASES: u32 = 2_000;

/// What a decoder did with one input: decoded it, or rejected it with a
/// name (the error's variant), which the report counts.
pub type Outcome = Result<(), String>;

/// One decoder of outside data.
pub struct Target {
    /// Short name: the test's and the crasher folder's.
    pub name: &'static str,
    /// What outside data it reads, for the report.
    pub reads: &'static str,
    /// Decodes one input.
    pub decode: fn(&mut Workspace, &[u8]) -> Outcome,
    /// Valid inputs to mutate.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Words of its format, inserted by mutation.
    pub tokens: &'static [&'static str],
}

/// Scratch space of a target whose decoder reads a file.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self { dir: tempfile::tempdir()? })
    }

    /// `bytes` written to `name` in the scratch folder.
    pub fn file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("scratch file: {e}"))?;
        Ok(path)
    }
}

/// The name a rejection is counted under: the error's variant (its `Debug`
/// text up to the first bracket or space).
pub fn rejection(error: &impl std::fmt::Debug) -> String {
    let text = format!("{error:?}");
    let name: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name.is_empty() {
        "Other".to_owned()
    } else {
        name
    }
}

/// What counts as a hang or as unbounded memory for one input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest one input may take. Generous: a loaded machine is no hang.
    pub per_input: Duration,
    /// Bytes any input may hold at once, whatever its size.
    pub base_bytes: u64,
    /// Bytes more per byte of input.
    pub bytes_per_input_byte: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { per_input: Duration::from_secs(5), base_bytes: 64 << 20, bytes_per_input_byte: 64 }
    }
}

impl Limits {
    /// Most bytes an input of `len` bytes may hold at once while decoded.
    pub fn bytes_for(&self, len: usize) -> u64 {
        self.base_bytes + self.bytes_per_input_byte * len as u64
    }
}

/// A failing input, shrunk.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The panic message, or what was too slow or too big.
    pub why: String,
    pub input: Vec<u8>,
}

/// What one run of a target saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: &'static str,
    /// Inputs decoded (shrinking included).
    pub inputs: u64,
    pub decoded: u64,
    /// Rejections by name.
    pub rejections: BTreeMap<String, u64>,
    /// Slowest input.
    pub slowest: Duration,
    /// Most bytes held at once by one input.
    pub peak_bytes: u64,
    pub failure: Option<Failure>,
    /// How long the run took.
    pub took: Duration,
}

impl Report {
    /// One line for the fuzz command's table.
    pub fn line(&self) -> String {
        let rejected: u64 = self.rejections.values().sum();
        let names: Vec<String> = self.rejections.iter().map(|(name, n)| format!("{name} {n}")).collect();
        format!(
            "| {} | {} | {} | {} ({}) | {:.1} ms | {:.1} MiB | {:.0} s | {} |",
            self.target,
            self.inputs,
            self.decoded,
            rejected,
            names.join(", "),
            self.slowest.as_secs_f64() * 1000.0,
            self.peak_bytes as f64 / (1 << 20) as f64,
            self.took.as_secs_f64(),
            self.failure.as_ref().map_or("none".to_owned(), |f| f.why.lines().next().unwrap_or_default().to_owned()),
        )
    }
}

/// How inputs are made from a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, u8),
    Repeat(Index, u8, u8),
    Token(Index, Index),
    Truncate(Index),
}

/// Words every format may choke on.
const COMMON_TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e999",
    "NaN",
    "inf",
    "18446744073709551616",
    "-9223372036854775809",
    "0.000000000000000000001",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\n",
    "\r\n",
    "\t",
    " #",
    "=",
    "null",
    "true",
    "\u{0}",
    "\u{7f}",
    "\u{FFFD}",
    "é",
    "𝕏",
    "\u{202e}",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<Index>(), 1u8..64).prop_map(|(at, len)| Mutation::Remove(at, len)),
        (any::<Index>(), 1u8..32, 1u8..64).prop_map(|(at, len, times)| Mutation::Repeat(at, len, times)),
        (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Mutation::Token(at, token)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation], tokens: &[&str]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        // An index into the bytes, or just past them (for inserting).
        let at = |index: &Index, len: usize| index.index(len + 1);
        match mutation {
            Mutation::Flip(index, bit) if !bytes.is_empty() => {
                let i = index.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            Mutation::Set(index, byte) if !bytes.is_empty() => {
                let i = index.index(bytes.len());
                bytes[i] = *byte;
            }
            Mutation::Insert(index, inserted) => {
                let i = at(index, bytes.len());
                bytes.splice(i..i, inserted.iter().copied());
            }
            Mutation::Remove(index, len) => {
                let i = at(index, bytes.len());
                let end = (i + *len as usize).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Repeat(index, len, times) => {
                let i = at(index, bytes.len());
                let end = (i + *len as usize).min(bytes.len());
                let piece = bytes[i..end].to_vec();
                for _ in 0..*times {
                    bytes.splice(end..end, piece.iter().copied());
                }
            }
            Mutation::Token(index, token) => {
                let all: Vec<&str> = COMMON_TOKENS.iter().chain(tokens).copied().collect();
                let word = all[token.index(all.len())];
                let i = at(index, bytes.len());
                bytes.splice(i..i, word.bytes());
            }
            Mutation::Truncate(index) => {
                let i = at(index, bytes.len());
                bytes.truncate(i);
            }
            Mutation::Flip(..) | Mutation::Set(..) => {}
        }
    }
    bytes
}

/// Random bytes, and (four times as often) a seed with a few mutations.
fn inputs(target: &Target) -> BoxedStrategy<Vec<u8>> {
    let seeds = (target.seeds)();
    let tokens = target.tokens;
    let random = vec(any::<u8>(), 0..1024);
    if seeds.is_empty() {
        return random.boxed();
    }
    let mutated = (0..seeds.len(), vec(mutation(), 0..6))
        .prop_map(move |(seed, mutations)| apply(&seeds[seed], &mutations, tokens));
    prop_oneof![1 => random, 4 => mutated].boxed()
}

/// Decodes one input under the limits: `Err` says why it failed.
fn check_one(
    target: &Target,
    workspace: &mut Workspace,
    input: &[u8],
    limits: Limits,
    report: &mut Report,
) -> Result<(), String> {
    let started = Instant::now();
    let mut outcome = Ok(());
    let held = allocation_counter::measure(|| outcome = (target.decode)(workspace, input));
    let took = started.elapsed();
    report.inputs += 1;
    match outcome {
        Ok(()) => report.decoded += 1,
        Err(name) => *report.rejections.entry(name).or_default() += 1,
    }
    report.slowest = report.slowest.max(took);
    report.peak_bytes = report.peak_bytes.max(held.bytes_max);
    if took > limits.per_input {
        return Err(format!("took {:.1} s (limit {:.0} s)", took.as_secs_f64(), limits.per_input.as_secs_f64()));
    }
    if held.bytes_max > limits.bytes_for(input.len()) {
        return Err(format!(
            "held {} bytes at once for a {}-byte input (limit {})",
            held.bytes_max,
            input.len(),
            limits.bytes_for(input.len())
        ));
    }
    Ok(())
}

/// Runs `cases` generated inputs through `target` (the same inputs for the
/// same `seed`); the first failure is shrunk and returned in the report.
pub fn run(target: &Target, cases: u32, seed: u64, limits: Limits) -> Report {
    let started = Instant::now();
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 4_096, ..Config::default() };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let report = RefCell::new(Report { target: target.name, ..Report::default() });
    let workspace = RefCell::new(match Workspace::new() {
        Ok(workspace) => workspace,
        Err(error) => {
            let mut report = report.into_inner();
            report.failure = Some(Failure { why: format!("no scratch folder: {error}"), input: Vec::new() });
            return report;
        }
    });
    // Panics are expected failures here; their messages go into the report.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = runner.run(&inputs(target), |input| {
        check_one(target, &mut workspace.borrow_mut(), &input, limits, &mut report.borrow_mut())
            .map_err(TestCaseError::fail)
    });
    std::panic::set_hook(previous_hook);
    let mut report = report.into_inner();
    report.took = started.elapsed();
    if let Err(error) = result {
        report.failure = Some(match error {
            TestError::Fail(why, input) => Failure { why: why.to_string(), input },
            TestError::Abort(why) => Failure { why: why.to_string(), input: Vec::new() },
        });
    }
    report
}

/// Runs one input through `target` as [`run`] does (for the crasher corpus).
pub fn replay(target: &Target, input: &[u8], limits: Limits) -> Result<Report, String> {
    let mut workspace = Workspace::new().map_err(|e| format!("no scratch folder: {e}"))?;
    let mut report = Report { target: target.name, ..Report::default() };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_one(target, &mut workspace, input, limits, &mut report)
    }));
    match result {
        Ok(Ok(())) => Ok(report),
        Ok(Err(why)) => Err(why),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned())),
    }
}

/// The folder of `target`'s crashers in this crate.
pub fn crasher_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crashers").join(target)
}

/// Writes a failure's input into the crasher corpus; returns its path.
pub fn keep_crasher(target: &str, failure: &Failure) -> std::io::Result<PathBuf> {
    let dir = crasher_dir(target);
    std::fs::create_dir_all(&dir)?;
    // Named by content, so the same crasher found twice is one file.
    let hash =
        failure.input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    let path = dir.join(format!("{hash:016x}.bin"));
    std::fs::write(&path, &failure.input)?;
    Ok(path)
}

/// Cases per target: `SHOPFLOOR_FUZZ_CASES`, else [`SUITE_CASES`].
pub fn cases_from_env() -> u32 {
    std::env::var("SHOPFLOOR_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(SUITE_CASES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target, briefly; at length under `scripts/fuzz.sh`. A failure
    /// is written to the crasher corpus before the test fails.
    fn fuzz(name: &str) {
        let target = targets::all().into_iter().find(|t| t.name == name).expect("a target of this name");
        let cases = cases_from_env();
        let report = run(&target, cases, 0x5eed, Limits::default());
        eprintln!("| target | inputs | decoded | rejected (by name) | slowest | peak held | took | failure |");
        eprintln!("{}", report.line());
        if let Some(failure) = &report.failure {
            let kept = keep_crasher(target.name, failure);
            panic!(
                "{}: {} on a {}-byte input (kept as {kept:?}): {:?}",
                target.name,
                failure.why,
                failure.input.len(),
                String::from_utf8_lossy(&failure.input)
            );
        }
        assert!(report.inputs >= u64::from(cases), "{report:?}");
    }

    macro_rules! fuzz_tests {
        ($($name:ident),* $(,)?) => {
            $(#[test] fn $name() { fuzz(stringify!($name)); })*

            #[test]
            fn every_target_has_a_test() {
                let tested = [$(stringify!($name)),*];
                for target in targets::all() {
                    assert!(tested.contains(&target.name), "{} has no fuzz test", target.name);
                }
            }
        };
    }

    fuzz_tests!(
        mqtt_question,
        mqtt_telemetry_json,
        mqtt_telemetry_number,
        sparkplug,
        opcua_value,
        opcua_tag_lines,
        telemetry_subscriptions,
        router_tiers,
        router_redaction,
        alarm_limits,
        hardware_profile,
        gguf_header,
        mmproj_header,
        drec_recording,
        arrow_import,
        arrow_messages,
        http_chat_body,
        json_schema,
        replay_case,
        image_file,
        vlm_verdict,
        tier_reply,
        tool_call,
        deployment_inventory,
        broker_acl,
        broker_packets,
        docs_markdown,
        docs_text,
        docs_pdf,
        docs_question,
    );

    /// Every input that once failed still passes.
    #[test]
    fn the_crashers_stay_fixed() {
        for target in targets::all() {
            let Ok(entries) = std::fs::read_dir(crasher_dir(target.name)) else { continue };
            for entry in entries.flatten() {
                let input = std::fs::read(entry.path()).expect("a readable crasher");
                if let Err(why) = replay(&target, &input, Limits::default()) {
                    panic!("{} {}: {why}", target.name, entry.path().display());
                }
            }
        }
    }

    proptest! {
        /// Mutations never index outside the input, and grow it by a bounded amount.
        #[test]
        fn mutations_stay_inside_the_input(seed in vec(any::<u8>(), 0..64), mutations in vec(mutation(), 0..6)) {
            let mutated = apply(&seed, &mutations, &["token"]);
            prop_assert!(mutated.len() <= seed.len() + mutations.len() * (31 * 63 + 64));
        }
    }
}
