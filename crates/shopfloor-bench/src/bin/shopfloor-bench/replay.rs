//! Record/replay benchmark: (a) throughput: a synthetic recording of reading
//! batches played as fast as the recorder takes them (speed 0, paced by its
//! acknowledgements) and recorded again, every message checked, and how many
//! arrive without the acknowledgements; (b) timing fidelity: the
//! overheat fixture played at its recorded timing and recorded again, each
//! message's offset compared with the recording's. Prints a markdown section;
//! `scripts/bench.sh` appends it to docs/benchmarks.md.

use std::path::Path;

use dora_node_api::uhlc::HLC;
use recording::{DrecWriter, RecordedMessage};
use shopfloor_core::schema::{Reading, ReadingValue};
use shopfloor_dataflow_tests::replay::replay_and_record;
use shopfloor_dataflow_tests::{repo_root, scratch_dir};

const BATCHES: u64 = 20_000;
const READINGS_PER_BATCH: usize = 20;

fn synthetic(path: &Path) -> anyhow::Result<()> {
    let hlc = HLC::default();
    let mut writer = DrecWriter::create(path, "")?;
    for batch in 0..BATCHES {
        let readings: Vec<Reading> = (0..READINGS_PER_BATCH)
            .map(|i| {
                let ts = 1_764_000_000_000 + batch as i64;
                let value = ReadingValue::Number(batch as f64 + i as f64 / 10.0);
                Reading::good("opcua", format!("tag_{i:02}"), value, Some("°C".into()), Some(ts), ts)
            })
            .collect();
        let data = Reading::to_arrow(&readings);
        writer.write(&RecordedMessage {
            node_id: "opcua-source".into(),
            output_id: "readings".into(),
            offset_ns: batch * 1_000_000,
            timestamp: hlc.new_timestamp(),
            parameters: Default::default(),
            data: Some(data),
        })?;
    }
    writer.finish()?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile_of_sorted(sorted, p).unwrap_or(f64::NAN)
}

pub fn run() -> anyhow::Result<()> {
    let dir = scratch_dir("bench-replay");
    let source = dir.join("synthetic.drec");
    synthetic(&source)?;
    let file_bytes = std::fs::metadata(&source)?.len();
    // Without acknowledgements first: what dora's backpressure buffer keeps.
    let unpaced = dir.join("unpaced");
    std::fs::create_dir_all(&unpaced)?;
    let kept = recording::read_file(&replay_and_record(&source, &unpaced, 0.0, false)?)?.len();
    let again = replay_and_record(&source, &dir, 0.0, true)?;
    let original = recording::read_file(&source)?;
    let recorded = recording::read_file(&again)?;
    anyhow::ensure!(recorded.len() == original.len(), "{} of {} messages recorded", recorded.len(), original.len());
    for (a, b) in original.iter().zip(&recorded) {
        anyhow::ensure!(a.same_content(b), "a message changed in the round trip");
    }
    let span_s = (recorded.last().map_or(0, |m| m.offset_ns) - recorded[0].offset_ns) as f64 / 1e9;
    println!("### Record and replay (`shopfloor-bench replay`)");
    println!();
    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| throughput, replayer (speed 0, paced by the recorder's acknowledgements, window 50) → recorder | {} batches of {READINGS_PER_BATCH} readings ({:.1} MB file) in {span_s:.2} s: {:.0} messages/s, {:.0} readings/s, {:.1} MB/s of file; all {} equal after the round trip |",
        BATCHES,
        file_bytes as f64 / 1e6,
        BATCHES as f64 / span_s,
        (BATCHES as usize * READINGS_PER_BATCH) as f64 / span_s,
        file_bytes as f64 / 1e6 / span_s,
        recorded.len()
    );

    println!(
        "| the same without acknowledgements (dora `backpressure`, queue_size 10: a buffer of 100 that drops the oldest) | {kept} of {BATCHES} messages recorded |"
    );

    // Timing: the overheat fixture at its recorded pace.
    let fixture = repo_root().join("tests/fixtures/recordings/overheat.drec");
    let timed = dir.join("timed");
    std::fs::create_dir_all(&timed)?;
    let original = recording::read_file(&fixture)?;
    let recorded = recording::read_file(&replay_and_record(&fixture, &timed, 1.0, false)?)?;
    anyhow::ensure!(recorded.len() == original.len(), "timed replay lost messages");
    // Each message's lag behind its schedule; the replay starts at its own
    // time, so the lags are compared with their median (a constant start
    // difference is not a timing error).
    let lags: Vec<f64> =
        original.iter().zip(&recorded).map(|(o, r)| (r.offset_ns as f64 - o.offset_ns as f64) / 1e6).collect();
    let mut sorted_lags = lags.clone();
    sorted_lags.sort_by(f64::total_cmp);
    let median = percentile(&sorted_lags, 0.5);
    let mut errors: Vec<f64> = lags.iter().map(|lag| (lag - median).abs()).collect();
    errors.sort_by(f64::total_cmp);
    println!(
        "| timing, overheat fixture at speed 1 ({} messages over {:.1} s) | each message's lag behind its recorded offset, less the median lag: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (recorder's clock) |",
        original.len(),
        original.last().map_or(0, |m| m.offset_ns) as f64 / 1e9,
        percentile(&errors, 0.5),
        percentile(&errors, 0.99),
        errors.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
