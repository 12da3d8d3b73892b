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
