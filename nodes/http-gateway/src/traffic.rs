//! The gateway's own counters: requests by route and status, requests in
//! flight, request latency, answers that came too late, inputs refused.
//! Shared by the HTTP handlers (`/metrics` renders them fresh) and the dora
//! loop, so the refused inputs are counted here rather than in the loop's
//! `Driver`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use shopfloor_core::schema::MetricSample;
use shopfloor_node::metrics::{Histogram, Snapshot};
use shopfloor_node::{Rejected, Rejections};

/// Counters shared by the HTTP handlers and the dora link.
#[derive(Debug)]
pub struct Traffic {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    in_flight: AtomicU64,
    latency: Histogram,
    late_answers: AtomicU64,
    rejections: Mutex<Rejections>,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            requests: Mutex::default(),
            in_flight: AtomicU64::new(0),
            latency: Histogram::latency(),
            late_answers: AtomicU64::new(0),
            rejections: Mutex::default(),
        }
    }
}

impl Traffic {
    /// One finished request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((route.to_owned(), status))
            .or_default() += 1;
        if route == crate::server::CHAT_ROUTE {
            self.latency.observe(seconds);
        }
    }

    /// A chat request started (returns a guard that ends it).
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// An answer arrived for a request that had already timed out or gone.
    pub fn late_answer(&self) {
        self.late_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// An input that did not decode, or a series that could not be exposed:
    /// counted by reason, the first ones logged.
    pub fn reject(&self, input: &str, rejected: &Rejected) {
        self.rejections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).count(input, rejected);
    }

    /// Refused inputs by reason.
    pub fn rejections(&self) -> Rejections {
        self.rejections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn snapshot(&self, node: &str) -> Vec<MetricSample> {
        let mut snapshot = Snapshot::new(node);
        for ((route, status), count) in self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            let status = status.to_string();
            snapshot.counter(
                "shopfloor_http_requests",
                "HTTP requests by route and status",
                &[("route", route), ("status", &status)],
                *count,
            );
        }
        snapshot
            .gauge(
                "shopfloor_http_requests_in_flight",
                "Chat requests waiting for their answer",
                &[],
                self.in_flight.load(Ordering::Relaxed) as f64,
            )
            .histogram(
                "shopfloor_http_request_duration_seconds",
                "Chat request duration, receipt to response",
                &[],
                &self.latency,
            )
            .counter(
                "shopfloor_http_late_answers",
                "Answers that arrived after their request timed out",
                &[],
                self.late_answers.load(Ordering::Relaxed),
            );
        self.rejections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).report(&mut snapshot);
        snapshot.process_memory();
        snapshot.finish()
    }
}

/// Ends an in-flight request when dropped (also on a cancelled request).
pub struct InFlight<'a>(&'a Traffic);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
