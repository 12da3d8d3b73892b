//! `part-images generate --out DIR …`: writes a seeded set of test images
//! and its `truth.json` (see the library's documentation).

use std::process::ExitCode;

use anyhow::Context;
use part_images::cli::GenerateOptions;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("part-images: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = GenerateOptions::parse(&args)?;
    let specs = part_images::sample_set(options.seed, options.good, options.defective, options.width, options.height);
    let truth = part_images::output::write_set(&options.out, &specs, options.format)
        .with_context(|| format!("cannot write the image set to {}", options.out.display()))?;
    println!("wrote {} images and truth.json to {}", truth.len(), options.out.display());
    Ok(())
}
