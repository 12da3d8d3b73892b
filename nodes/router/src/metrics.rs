//! The router's metrics snapshot (docs/http.md lists every series).

use shopfloor_node::metrics::Snapshot;

use crate::policy::Policy;

/// Adds what `policy` has done to `snapshot`, tiers' reachability as at
/// `now_ms` (rejected inputs and memory are the driver's).
pub fn fill(snapshot: &mut Snapshot, policy: &Policy, now_ms: i64) {
    let counts = &policy.counts;
    let classified = sorted(&counts.classified);
    let escalated = sorted(&counts.escalated_from);
    let answered = sorted(&counts.answered_by);
    for (class, count) in classified {
        snapshot.counter("shopfloor_router_questions", "Questions routed, by class", &[("class", &class)], count);
    }
    for (tier, count) in escalated {
        snapshot.counter(
            "shopfloor_router_escalations",
            "Answers escalated away from a tier",
            &[("tier", &tier)],
            count,
        );
    }
    for (tier, count) in answered {
        snapshot.counter(
            "shopfloor_router_answers",
            "Final answers, by the tier that wrote them",
            &[("tier", &tier)],
            count,
        );
    }
    for (index, tier) in policy.tiers().iter().enumerate() {
        snapshot.gauge(
            "shopfloor_router_expected_latency_seconds",
            "A tier's expected answer time (moving average)",
            &[("tier", &tier.name)],
            policy.expected_ms(index) / 1e3,
        );
        let reachable = if policy.is_reachable(index, now_ms) { 1.0 } else { 0.0 };
        snapshot.gauge(
            "shopfloor_router_tier_reachable",
            "1 while a tier is reachable (its liveness input speaks, or it has none)",
            &[("tier", &tier.name)],
            reachable,
        );
    }
    snapshot
        .counter(
            "shopfloor_router_deadline_cuts",
            "Answers returned early because of the deadline",
            &[],
            counts.deadline_cut,
        )
        .counter(
            "shopfloor_router_low_confidence",
            "Final answers still below their tier's threshold",
            &[],
            counts.low_confidence,
        )
        .counter("shopfloor_router_left_site", "Questions sent to the off-site endpoint", &[], counts.left_site)
        .counter(
            "shopfloor_router_unreachable",
            "Times a tier was skipped or given up on because it was unreachable",
            &[],
            counts.unreachable,
        )
        .counter(
            "shopfloor_router_late_answers",
            "Tier answers that came after the router had answered",
            &[],
            counts.late_answers,
        )
        .counter(
            "shopfloor_rejected_inputs",
            "Inputs refused, by reason",
            &[("reason", "duplicate_id")],
            counts.duplicates,
        )
        .gauge("shopfloor_router_in_flight", "Questions waiting for a tier", &[], policy.in_flight() as f64);
}

fn sorted<K: std::fmt::Display>(map: &std::collections::HashMap<K, u64>) -> Vec<(String, u64)> {
    let mut pairs: Vec<(String, u64)> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    pairs.sort();
    pairs
}
