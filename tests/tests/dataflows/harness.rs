//! The harness itself.

use shopfloor_dataflow_tests::ports::{candidate_range, reserve};

#[test]
fn ports_stay_below_the_ephemeral_range_and_do_not_repeat_in_a_process() {
    let (low, high) = candidate_range();
    let ports: Vec<u16> = (0..20).map(|_| reserve()).collect();
    assert!(ports.iter().all(|port| (low..high).contains(port)), "{ports:?} not in {low}..{high}");
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len(), "{ports:?}");
}

/// A server that never listens is reported with where it waited: its
/// threads by name and state, and the machine's load.
#[test]
fn a_stall_report_names_the_threads_and_the_load() {
    // The thread names itself as it starts: the report is read once it runs.
    let (started, running) = std::sync::mpsc::channel();
    let waiting = std::thread::Builder::new()
        .name("stall-probe".into())
        .spawn(move || {
            let _ = started.send(());
            std::thread::sleep(std::time::Duration::from_secs(2));
        })
        .expect("a thread");
    running.recv().expect("the probe thread starts");
    let report = shopfloor_dataflow_tests::process::stall_report(std::process::id());
    assert!(report.contains("stall-probe: "), "{report}");
    assert!(report.contains("load ") && report.contains("MemAvailable"), "{report}");
    waiting.join().expect("the probe thread ends");
}
