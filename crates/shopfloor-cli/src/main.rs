//! `shopfloor`: the operator tools of Shopfloor SLM (see `shopfloor --help`).

use std::process::ExitCode;

use clap::Parser as _;
use shopfloor_cli::cli::Cli;

/// Exit status when a tool could not do its work at all (bad input, I/O).
const FAILED: u8 = 2;

fn main() -> ExitCode {
    // Output piped into `head` and the like: stop quietly when the reader
    // goes, as Unix tools do, rather than panic in `println!`.
    sigpipe::reset();
    shopfloor_node::logging::init();
    match shopfloor_cli::run::run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("shopfloor: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}
