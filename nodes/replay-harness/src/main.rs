//! `replay-test CASE.toml [--report DIR] [--env KEY=VALUE ...] [--update-golden]`:
//! runs a replay test case and writes its report; exits 1 when an
//! expectation fails.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use replay_harness::case::TestCase;
use replay_harness::report;
use replay_harness::run::{run_case, RunSettings};

const USAGE: &str = "usage: replay-test CASE.toml [--report DIR] [--env KEY=VALUE ...] [--update-golden]
  --report DIR      where report.md, timeline.svg and the run's files go (default target/replay/<case>)
  --env KEY=VALUE   a dataflow setting for this run (e.g. another model or threshold)
  --update-golden   store this run's outputs as the case's golden output
The dora CLI is $SHOPFLOOR_DORA_BIN or .venv/bin/dora; the node binaries are in target/release.";

fn main() -> ExitCode {
    shopfloor_core::logging::init();
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("replay-test: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let mut args = std::env::args().skip(1);
    let (mut case_path, mut report_dir, mut extra_env, mut update_golden) = (None, None, Vec::new(), false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--report" => report_dir = Some(PathBuf::from(args.next().context("--report needs a folder")?)),
            "--env" => {
                let setting = args.next().context("--env needs KEY=VALUE")?;
                let (key, value) = setting.split_once('=').with_context(|| format!("--env {setting:?}: use KEY=VALUE"))?;
                extra_env.push((key.to_owned(), value.to_owned()));
            }
            "--update-golden" => update_golden = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(true);
            }
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            path if case_path.is_none() => case_path = Some(PathBuf::from(path)),
            extra => bail!("unexpected argument {extra:?}\n{USAGE}"),
        }
    }
    let case_path = case_path.with_context(|| format!("no case file given\n{USAGE}"))?;
    let case = TestCase::load(&case_path)?;
    // The binaries beside this one (target/release), the CLI from the project's venv.
    let binaries = std::env::current_exe()?.parent().map(PathBuf::from).context("no folder of the binary")?;
    let repo = binaries.ancestors().nth(2).map(PathBuf::from).unwrap_or_default();
    let dora = std::env::var_os("SHOPFLOOR_DORA_BIN").map(PathBuf::from).unwrap_or_else(|| repo.join(".venv/bin/dora"));
    let out_dir = report_dir.unwrap_or_else(|| repo.join("target/replay").join(&case.name));
    let settings = RunSettings { dora, binaries, out_dir: out_dir.clone(), extra_env };
    let outcome = run_case(&case, &settings)?;
    report::write(&out_dir, &case, &outcome).with_context(|| format!("cannot write the report to {}", out_dir.display()))?;
    if update_golden {
        let golden = case.golden.as_ref().context("the case has no `golden` file to update")?;
        std::fs::write(golden, &outcome.golden_lines).with_context(|| format!("cannot write {}", golden.display()))?;
        println!("golden output stored in {}", golden.display());
    }
    for check in &outcome.checks {
        println!("{} {} — {}", if check.passed { "pass" } else { "FAIL" }, check.expected, check.found);
    }
    if let Some(diff) = outcome.golden_diff() {
        println!("outputs differ from the golden output:\n{diff}");
    }
    println!("{}: {} (report {})", case.name, if outcome.passed() { "passed" } else { "FAILED" }, out_dir.join("report.md").display());
    Ok(outcome.passed())
}
