//! The MQTT topic layout, Unified Namespace style: `<site>/<area>/<line>/...`.
//!
//! | direction | topic |
//! |---|---|
//! | questions in | `<root>/assistant/query/<operator>` |
//! | answers out | `<root>/assistant/answer/<operator>` (unless the question names `reply_to`) |
//! | alerts out | `<root>/alerts/<station>/<severity>` |
//! | last alert per station (retained, optional) | `<root>/alerts/<station>/last` |
//! | alarm lifecycle (acknowledged, shelved, …) | `<root>/alarms/<station>/events` |
//! | rejected input | `<site>/shopfloor/deadletter/<node>` |

/// Topic names derived from one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLayout {
    root: String,
}

impl TopicLayout {
    /// A layout under `root` (`<site>/<area>/<line>`); `None` if the root is
    /// empty or holds wildcards or empty levels.
    pub fn new(root: &str) -> Option<Self> {
        let root = root.trim_matches('/');
        let ok = !root.is_empty() && root.split('/').all(is_plain_level);
        ok.then(|| Self { root: root.to_owned() })
    }

    /// The demo plant's layout, which a config uses in place of an invalid
    /// root after recording the problem (so reading can go on and report
    /// every problem at once).
    pub fn fallback() -> Self {
        Self { root: "plant1/assembly/cell1".to_owned() }
    }

    /// The root, e.g. `plant1/assembly/cell1`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Filter that matches every operator's query topic.
    pub fn query_filter(&self) -> String {
        format!("{}/assistant/query/+", self.root)
    }

    /// The query topic of one operator.
    pub fn query_topic(&self, operator: &str) -> String {
        format!("{}/assistant/query/{operator}", self.root)
    }

    /// Where an operator's answers go by default.
    pub fn answer_topic(&self, operator: &str) -> String {
        format!("{}/assistant/answer/{operator}", self.root)
    }

    /// Where an alert goes; `station` must be a plain level (see [`topic_level`]).
    pub fn alert_topic(&self, station: &str, severity: &str) -> String {
        format!("{}/alerts/{station}/{severity}", self.root)
    }

    /// Where the operator console's alarm events of a station go
    /// (raised, acknowledged, shelved, returned); `station` must be a plain level.
    pub fn alarm_event_topic(&self, station: &str) -> String {
        format!("{}/alarms/{station}/events", self.root)
    }

    /// The retained "last alert" topic of a station.
    pub fn last_alert_topic(&self, station: &str) -> String {
        format!("{}/alerts/{station}/last", self.root)
    }

    /// Where a node republishes input it rejected.
    pub fn deadletter_topic(&self, node: &str) -> String {
        let site = self.root.split('/').next().unwrap_or(&self.root);
        format!("{site}/shopfloor/deadletter/{node}")
    }

    /// Whether an answer for `operator` may be published to `topic` (a
    /// question's `reply_to`): a plain topic that is not one the gateway
    /// publishes or reads itself, so that asking cannot make the gateway's
    /// account post an "alert", a question, another operator's answer, a
    /// dead letter, a Sparkplug message or a `$` system topic. The
    /// operator's own answer topic is allowed.
    pub fn is_reply_topic_for(&self, topic: &str, operator: &str) -> bool {
        if !topic.split('/').all(is_plain_level) || topic.starts_with('$') || topic.starts_with("spBv1.0/") {
            return false;
        }
        if topic == self.answer_topic(operator) {
            return true;
        }
        let site = self.root.split('/').next().unwrap_or(&self.root);
        let reserved = [
            format!("{}/assistant/", self.root),
            format!("{}/alerts/", self.root),
            format!("{}/alarms/", self.root),
            format!("{site}/shopfloor/"),
        ];
        !reserved.iter().any(|prefix| topic.starts_with(prefix.as_str()))
    }

    /// The operator named by a query topic, if `topic` is one.
    pub fn operator_of_query(&self, topic: &str) -> Option<String> {
        let operator = topic.strip_prefix(self.root.as_str())?.strip_prefix("/assistant/query/")?;
        is_plain_level(operator).then(|| operator.to_owned())
    }
}

/// Whether `text` is usable as one topic level (and so as an operator id).
pub fn is_plain_level(text: &str) -> bool {
    !text.is_empty() && !text.contains(['/', '+', '#', '\0'])
}

/// `text` made usable as one topic level: wildcards, separators and NUL
/// become `_`, and an empty text becomes `unknown`. Used for names that come
/// from data (a station), so that a bad name still gets its message delivered.
pub fn topic_level(text: &str) -> String {
    if text.is_empty() {
        return "unknown".to_owned();
    }
    text.chars().map(|c| if matches!(c, '/' | '+' | '#' | '\0') { '_' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_unified_namespace_layout() {
        let layout = TopicLayout::new("acme/machining/cell1").unwrap();
        assert_eq!(layout.query_filter(), "acme/machining/cell1/assistant/query/+");
        assert_eq!(layout.answer_topic("alice"), "acme/machining/cell1/assistant/answer/alice");
        assert_eq!(layout.deadletter_topic("mqtt-source"), "acme/shopfloor/deadletter/mqtt-source");
    }

    #[test]
    fn the_operator_comes_from_the_last_level_of_a_query_topic() {
        let layout = TopicLayout::new("acme/machining/cell1").unwrap();
        assert_eq!(layout.operator_of_query(&layout.query_topic("bob")).as_deref(), Some("bob"));
        assert_eq!(layout.operator_of_query("acme/machining/cell1/assistant/query/a/b"), None);
        assert_eq!(layout.operator_of_query("other/assistant/query/bob"), None);
    }

    #[test]
    fn alerts_are_filed_by_station_and_severity() {
        let layout = TopicLayout::new("acme/machining/cell1").unwrap();
        assert_eq!(layout.alert_topic("st3", "critical"), "acme/machining/cell1/alerts/st3/critical");
        assert_eq!(layout.last_alert_topic("st3"), "acme/machining/cell1/alerts/st3/last");
        assert_eq!(layout.alarm_event_topic("st3"), "acme/machining/cell1/alarms/st3/events");
        assert_eq!(topic_level("a/+#b"), "a___b");
        assert_eq!(topic_level(""), "unknown");
        assert!(is_plain_level(&topic_level("x\0y")));
    }

    #[test]
    fn a_reply_topic_cannot_be_one_of_the_gateways_own() {
        let layout = TopicLayout::new("plant1/assembly/cell1").unwrap();
        assert!(layout.is_reply_topic_for("hmi/7/answers", "alice"));
        assert!(layout.is_reply_topic_for("plant1/assembly/cell1/assistant/answer/alice", "alice"));
        for forbidden in [
            "plant1/assembly/cell1/assistant/answer/bob",
            "plant1/assembly/cell1/assistant/query/bob",
            "plant1/assembly/cell1/alerts/st1/critical",
            "plant1/assembly/cell1/alarms/st1/events",
            "plant1/shopfloor/deadletter/mqtt-source",
            "spBv1.0/plant/NCMD/press1",
            "$SYS/broker",
            "hmi/+/answers",
        ] {
            assert!(!layout.is_reply_topic_for(forbidden, "alice"), "{forbidden}");
        }
    }

    #[test]
    fn wildcards_and_empty_levels_are_not_a_root() {
        assert!(TopicLayout::new("a/#").is_none());
        assert!(TopicLayout::new("a//b").is_none());
        assert!(TopicLayout::new("").is_none());
    }
}
