//! One replay run: make the replay dataflow, run it headless with
//! `dora run`, wait for the replay and the outputs, stop it, and judge.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use recording::time_shift::TimeShift;
use recording::RecordedMessage;

use crate::case::TestCase;
use crate::dataflow::{replay_dataflow, ReplayPlan};
use crate::expect::{check, Check};
use crate::golden;
use crate::outcome::{timeline, Timeline};

/// Where the tools are and what to add to the case.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub dora: PathBuf,
    /// Folder of the `replayer` and `recorder` binaries.
    pub binaries: PathBuf,
    /// Folder for the report, the collected outputs and the log (emptied first).
    pub out_dir: PathBuf,
    /// Settings after the case's own (they win); see [`ReplayPlan::env`].
    pub extra_env: Vec<(String, String)>,
}

/// Why a run could not be made (a failed expectation is not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// File system.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        source: std::io::Error,
    },
    /// A tool is missing.
    #[error("{0} is missing")]
    Missing(PathBuf),
    /// The recording cannot be read.
    #[error(transparent)]
    Recording(#[from] recording::DrecError),
    /// The dataflow cannot be made into a replay.
    #[error("{dataflow}: {source}")]
    Dataflow { dataflow: PathBuf, source: crate::dataflow::DataflowError },
    /// `dora run` ended before the replay did.
    #[error("dora run exited ({status}) before the replay was done; see {log}")]
    Exited { status: String, log: PathBuf },
    /// The replay did not finish in time.
    #[error("the replay was not done within {timeout_s} s; see {log}")]
    Timeout { timeout_s: f64, log: PathBuf },
}

/// A judged run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The timeline of recording and outputs.
    pub timeline: Timeline,
    pub checks: Vec<Check>,
    /// The outputs as golden lines.
    pub golden_lines: String,
    /// The stored golden output, if any.
    pub golden_stored: Option<String>,
    /// Seconds `dora run` ran.
    pub wall_s: f64,
    /// Settings passed to `dora run`.
    pub env: Vec<(String, String)>,
    /// The `dora run` log.
    pub log: PathBuf,
}

impl RunOutcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Diff against the stored golden output (`None`: equal or none stored).
    pub fn golden_diff(&self) -> Option<String> {
        golden::diff(self.golden_stored.as_ref()?, &self.golden_lines)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// `dora run` in its own process group, stopped (group and all) on drop.
struct DoraRun {
    child: Child,
}

impl DoraRun {
    /// Signals the whole group (`dora run` and the nodes it started); the
    /// group may be gone already, which is what a stop wants.
    fn signal(&self, signal: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }

    /// Ctrl-C, then up to `grace` for a clean stop, then kill.
    fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            self.signal(Signal::SIGKILL);
            return;
        }
        self.signal(Signal::SIGINT);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for DoraRun {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(20));
    }
}

/// Removes the generated dataflow when the run ends, however it ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How many answers the run should produce: one per recorded question.
fn questions_in(recorded: &[RecordedMessage]) -> usize {
    timeline(recorded, &[], None).questions.len()
}

/// How many messages have been collected so far, and how many of them are
/// answers (the collector flushes each message; a half-written last one just
/// ends the read).
/// How many outputs were collected so far, and whether they already meet
/// the case: every recorded question answered and every expectation met.
fn collected_so_far(
    path: &Path,
    recorded: &[RecordedMessage],
    case: &TestCase,
    shift: Option<&TimeShift>,
) -> (usize, bool) {
    let Ok(mut reader) = recording::DrecReader::open(path) else { return (0, false) };
    let mut collected = Vec::new();
    while let Ok(Some(message)) = reader.next_message() {
        collected.push(message);
    }
    let line = timeline(recorded, &collected, shift);
    let met = line.answers.len() >= questions_in(recorded) && check(&line, &case.expect).iter().all(|c| c.passed);
    (collected.len(), met)
}

/// Outputs are done when they meet the case and no new one has come for
/// this long; a case they do not meet waits its whole `settle_s` (a slow
/// machine's outputs come late, not never).
const QUIET: Duration = Duration::from_secs(2);

/// Runs `case` and judges its outputs.
pub fn run_case(case: &TestCase, settings: &RunSettings) -> Result<RunOutcome, RunError> {
    let out = &settings.out_dir;
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).map_err(io(format!("cannot create {}", out.display())))?;
    let out = std::fs::canonicalize(out).map_err(io(format!("cannot resolve {}", out.display())))?;
    let replayer = settings.binaries.join("replayer");
    let recorder = settings.binaries.join("recorder");
    for tool in [&settings.dora, &replayer, &recorder] {
        if !tool.exists() {
            return Err(RunError::Missing(tool.clone()));
        }
    }
    let recorded = recording::read_file(&case.recording)?;

    let collected_path = out.join("collected.drec");
    let done_path = out.join("replay-done.json");
    let recording_path = std::fs::canonicalize(&case.recording).map_err(io("cannot resolve the recording"))?;
    let plan = ReplayPlan {
        replace: case.replace.clone(),
        remove: case.remove.clone(),
        collect: case.collect.clone(),
        wait_for: case.wait_for.clone(),
        replayer: absolute(&replayer)?,
        recorder: absolute(&recorder)?,
        recording: recording_path.to_string_lossy().into_owned(),
        collected: collected_path.to_string_lossy().into_owned(),
        done_file: done_path.to_string_lossy().into_owned(),
        speed: case.speed,
        shift_times: case.shift_times.clone(),
        env: case.env.iter().map(|(k, v)| (k.clone(), v.clone())).chain(settings.extra_env.iter().cloned()).collect(),
    };
    let dataflow_dir = case.dataflow.parent().unwrap_or(Path::new(".")).to_path_buf();
    let yaml =
        std::fs::read_to_string(&case.dataflow).map_err(io(format!("cannot read {}", case.dataflow.display())))?;
    let replay_yaml = replay_dataflow(&yaml, &dataflow_dir, &plan)
        .map_err(|source| RunError::Dataflow { dataflow: case.dataflow.clone(), source })?;
    std::fs::write(out.join("replay-dataflow.yml"), &replay_yaml).map_err(io("cannot write the replay dataflow"))?;
    // Beside the original, so that node settings with relative paths (models,
    // profiles) resolve as they do for the dataflow itself.
    // One name per case (not per run): dora remembers each dataflow name it runs.
    let generated = TempFile(dataflow_dir.join(format!(".replay-{}.yml", case.name)));
    std::fs::write(&generated.0, &replay_yaml).map_err(io(format!("cannot write {}", generated.0.display())))?;

    let env = plan.env.clone();
    let log = out.join("dora-run.log");
    let log_file = std::fs::File::create(&log).map_err(io("cannot create the log"))?;
    let mut command = Command::new(&settings.dora);
    command
        .arg("run")
        .arg(&generated.0)
        .arg("--stop-after")
        .arg(format!("{}s", case.timeout_s.ceil() as u64 + 10))
        .current_dir(&dataflow_dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(io("cannot share the log"))?)
        .stderr(log_file)
        .process_group(0);
    let started = Instant::now();
    let mut run = DoraRun { child: command.spawn().map_err(io(format!("cannot start {}", settings.dora.display())))? };
    let deadline = started + Duration::from_secs_f64(case.timeout_s);

    // The replay, then the answers to every replayed question (or the settle time).
    while !done_path.exists() {
        if let Ok(Some(status)) = run.child.try_wait() {
            return Err(RunError::Exited { status: status.to_string(), log });
        }
        if Instant::now() > deadline {
            return Err(RunError::Timeout { timeout_s: case.timeout_s, log });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Outputs made from moved times are taken back to recorded time.
    let shift = if case.shift_times.is_empty() { None } else { replay_time_shift(&done_path) };
    let settle_until = (Instant::now() + Duration::from_secs_f64(case.settle_s)).min(deadline);
    let (mut seen, mut last_change) = (usize::MAX, Instant::now());
    while Instant::now() < settle_until {
        let (messages, met) = collected_so_far(&collected_path, &recorded, case, shift.as_ref());
        if messages != seen {
            (seen, last_change) = (messages, Instant::now());
        }
        if met && last_change.elapsed() >= QUIET {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    run.stop(Duration::from_secs(20));
    let wall_s = started.elapsed().as_secs_f64();

    // No file: the collector never started (the report then shows no outputs).
    let collected = match recording::DrecReader::open(&collected_path) {
        Ok(reader) => reader.read_all()?,
        Err(_) => Vec::new(),
    };
    let line = timeline(&recorded, &collected, shift.as_ref());
    let checks = check(&line, &case.expect);
    let golden_lines = golden::lines(&line);
    let golden_stored = case.golden.as_ref().and_then(|path| std::fs::read_to_string(path).ok());
    Ok(RunOutcome { timeline: line, checks, golden_lines, golden_stored, wall_s, env, log })
}

/// The replay's time shift, from the replayer's done file.
fn replay_time_shift(done: &Path) -> Option<TimeShift> {
    let text = std::fs::read_to_string(done).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(value.get("time_shift")?.clone()).ok()
}

fn absolute(path: &Path) -> Result<String, RunError> {
    std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(io(format!("cannot resolve {}", path.display())))
}
