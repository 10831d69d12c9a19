//! The report model: per partition, per topic and per group lag, and the Nagios status each
//! group gets from the thresholds. Renderers (`render.rs`) only read it.

use std::time::Duration;

use crate::range::Range;

/// A Nagios plugin status; also the exit code (`cluster_config::exit::nagios`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    pub fn exit_code(self) -> u8 {
        use cluster_config::exit::nagios;
        match self {
            Status::Ok => nagios::OK,
            Status::Warning => nagios::WARNING,
            Status::Critical => nagios::CRITICAL,
            Status::Unknown => nagios::UNKNOWN,
        }
    }

    /// Severity for "the worst status wins": CRITICAL > WARNING > UNKNOWN > OK (the
    /// monitoring-plugins `max_state_alt` order: a real alert is never masked by an unknown).
    fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Warning => 2,
            Status::Critical => 3,
        }
    }

    pub fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// Why a partition's numbers need a word of explanation. JSON shows `code()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The group has not committed an offset for this partition: no offset, no lag.
    NoCommit,
    /// The committed offset is past the log end (the log was truncated or the topic
    /// recreated): lag is shown as 0 instead of a negative number.
    CommittedBeyondLogEnd,
    /// Only transaction control records (commit/abort markers) or records of aborted or still
    /// open transactions lie between the committed offset and the log end: nothing a
    /// read_committed consumer could read, so the lag counts as 0.
    TransactionMarkersOnly { skipped: i64 },
    /// The committed offset is below the log start: `expired` records were deleted by
    /// retention before the group read them. The lag still counts them (as Kafka's tool does);
    /// the time lag, if shown, is the age of the oldest record left (a lower bound).
    CommittedBelowLogStart { expired: i64 },
    /// The log-end offset could not be read (e.g. the topic was deleted).
    LogEndUnknown(String),
    /// The record at the committed offset could not be fetched in time.
    TimeLagUnknown(String),
}

impl Note {
    pub fn code(&self) -> &'static str {
        match self {
            Note::NoCommit => "no_commit",
            Note::CommittedBeyondLogEnd => "committed_beyond_log_end",
            Note::TransactionMarkersOnly { .. } => "transaction_markers_only",
            Note::CommittedBelowLogStart { .. } => "committed_below_log_start",
            Note::LogEndUnknown(_) => "log_end_unknown",
            Note::TimeLagUnknown(_) => "time_lag_unknown",
        }
    }

    pub fn text(&self) -> String {
        match self {
            Note::NoCommit => "no committed offset".into(),
            Note::CommittedBeyondLogEnd => {
                "committed offset beyond log end (lag shown as 0)".into()
            }
            Note::TransactionMarkersOnly { skipped } => {
                format!(
                    "caught up: nothing readable in the {skipped} remaining offset(s) \
                     (transaction markers, aborted or open transactions)"
                )
            }
            Note::CommittedBelowLogStart { expired } => format!(
                "committed offset below the log start: {expired} record(s) deleted by retention \
                 before the group read them"
            ),
            Note::LogEndUnknown(why) => format!("log-end offset unknown: {why}"),
            Note::TimeLagUnknown(why) => format!("time lag unknown: {why}"),
        }
    }
}

/// One partition of one group, the numbers Kafka's `kafka-consumer-groups --describe` shows plus
/// the time lag.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionLag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will read; `None` when it has not committed.
    pub committed_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - committed_offset`, never negative; `None` without a commit.
    pub lag: Option<i64>,
    /// How old the record at the committed offset is (0 when caught up).
    pub time_lag_ms: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
    pub note: Option<Note>,
}

/// Sums over the partitions of one topic in one group.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicLag {
    pub topic: String,
    pub partitions: usize,
    pub lag: i64,
    pub max_time_lag_ms: Option<i64>,
}

/// One consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupLag {
    pub group: String,
    /// Kafka's state name (`Stable`, `Empty`, ...); `Dead` for a group that does not exist.
    pub state: String,
    pub members: usize,
    pub total_lag: i64,
    pub max_lag: Option<i64>,
    pub max_time_lag_ms: Option<i64>,
    pub topics: Vec<TopicLag>,
    pub partitions: Vec<PartitionLag>,
    /// The group could not be checked (does not exist, coordinator error, ...).
    pub error: Option<String>,
    pub status: Status,
    /// Why the status is not OK, one short phrase each.
    pub reasons: Vec<String>,
}

/// The thresholds of the check. Record ranges apply to each group's total lag, durations to
/// each group's largest time lag.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
    pub warning_time: Option<Duration>,
    pub critical_time: Option<Duration>,
}

impl Thresholds {
    pub fn has_time(&self) -> bool {
        self.warning_time.is_some() || self.critical_time.is_some()
    }

    pub fn warning_time_range(&self) -> Option<Range> {
        self.warning_time.map(|d| Range::above(d.as_secs_f64()))
    }

    pub fn critical_time_range(&self) -> Option<Range> {
        self.critical_time.map(|d| Range::above(d.as_secs_f64()))
    }
}

/// Everything the renderers show.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub groups: Vec<GroupLag>,
    pub thresholds: Thresholds,
    pub status: Status,
}

impl GroupLag {
    /// A group that could not be checked.
    pub fn failed(group: &str, state: &str, error: String) -> GroupLag {
        GroupLag {
            group: group.to_string(),
            state: state.to_string(),
            members: 0,
            total_lag: 0,
            max_lag: None,
            max_time_lag_ms: None,
            topics: Vec::new(),
            partitions: Vec::new(),
            error: Some(error),
            status: Status::Unknown,
            reasons: Vec::new(),
        }
    }

    /// Fills the sums from the partitions (sorted by topic, then partition).
    pub fn summarise(&mut self) {
        self.partitions
            .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        self.total_lag = self.partitions.iter().filter_map(|p| p.lag).sum();
        self.max_lag = self.partitions.iter().filter_map(|p| p.lag).max();
        self.max_time_lag_ms = self.partitions.iter().filter_map(|p| p.time_lag_ms).max();
        self.topics.clear();
        for p in &self.partitions {
            match self.topics.last_mut() {
                Some(t) if t.topic == p.topic => {
                    t.partitions += 1;
                    t.lag += p.lag.unwrap_or(0);
                    t.max_time_lag_ms = t.max_time_lag_ms.max(p.time_lag_ms);
                }
                _ => self.topics.push(TopicLag {
                    topic: p.topic.clone(),
                    partitions: 1,
                    lag: p.lag.unwrap_or(0),
                    max_time_lag_ms: p.time_lag_ms,
                }),
            }
        }
    }

    /// Sets `status` and `reasons` from the thresholds.
    pub fn evaluate(&mut self, t: &Thresholds) {
        self.reasons.clear();
        if let Some(error) = &self.error {
            self.status = Status::Unknown;
            self.reasons.push(error.clone());
            return;
        }
        let mut status = Status::Ok;
        let lag = self.total_lag as f64;
        if let Some(c) = t.critical.as_ref().filter(|c| c.alerts(lag)) {
            status = Status::Critical;
            self.reasons
                .push(format!("lag {} (critical {c})", self.total_lag));
        } else if let Some(w) = t.warning.as_ref().filter(|w| w.alerts(lag)) {
            status = Status::Warning;
            self.reasons
                .push(format!("lag {} (warning {w})", self.total_lag));
        }
        if t.has_time() {
            let unknown = self
                .partitions
                .iter()
                .any(|p| p.lag.unwrap_or(0) > 0 && p.time_lag_ms.is_none());
            let time = self.max_time_lag_ms.unwrap_or(0);
            let shown = format_ms(time);
            if let Some(c) = t.critical_time.filter(|c| time as u128 > c.as_millis()) {
                status = status.worst(Status::Critical);
                self.reasons.push(format!(
                    "time lag {shown} (critical {})",
                    humantime::format_duration(c)
                ));
            } else if let Some(w) = t.warning_time.filter(|w| time as u128 > w.as_millis()) {
                status = status.worst(Status::Warning);
                self.reasons.push(format!(
                    "time lag {shown} (warning {})",
                    humantime::format_duration(w)
                ));
            } else if unknown {
                status = status.worst(Status::Unknown);
                self.reasons
                    .push("time lag unknown for a lagging partition".into());
            }
        }
        self.status = status;
    }
}

impl Report {
    pub fn new(mut groups: Vec<GroupLag>, thresholds: Thresholds) -> Report {
        let mut status = Status::Ok;
        for g in &mut groups {
            if g.error.is_none() {
                g.summarise();
            }
            g.evaluate(&thresholds);
            status = status.worst(g.status);
        }
        Report {
            groups,
            thresholds,
            status,
        }
    }
}

/// A time lag for people: `350ms`, `42s`, `1h 5m 3s`.
pub fn format_ms(ms: i64) -> String {
    if ms == 0 {
        "0s".into()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        humantime::format_duration(Duration::from_secs((ms / 1000) as u64)).to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn partition(
        group: &str,
        topic: &str,
        p: i32,
        committed: Option<i64>,
        end: i64,
    ) -> PartitionLag {
        PartitionLag {
            group: group.into(),
            topic: topic.into(),
            partition: p,
            committed_offset: committed,
            log_end_offset: Some(end),
            lag: committed.map(|c| (end - c).max(0)),
            time_lag_ms: committed.map(|c| if end > c { 5_000 } else { 0 }),
            consumer_id: None,
            host: None,
            client_id: None,
            note: committed.is_none().then_some(Note::NoCommit),
        }
    }

    pub fn group(name: &str, partitions: Vec<PartitionLag>) -> GroupLag {
        let mut g = GroupLag::failed(name, "Empty", String::new());
        g.error = None;
        g.partitions = partitions;
        g
    }

    fn thresholds(w: &str, c: &str) -> Thresholds {
        Thresholds {
            warning: Some(w.parse().unwrap()),
            critical: Some(c.parse().unwrap()),
            ..Thresholds::default()
        }
    }

    #[test]
    fn sums_skip_uncommitted_partitions() {
        let report = Report::new(
            vec![group(
                "g",
                vec![
                    partition("g", "b", 0, Some(3), 10),
                    partition("g", "a", 1, None, 4),
                    partition("g", "a", 0, Some(1), 3),
                ],
            )],
            Thresholds::default(),
        );
        let g = &report.groups[0];
        assert_eq!(g.total_lag, 9);
        assert_eq!(g.max_lag, Some(7));
        assert_eq!(g.max_time_lag_ms, Some(5_000));
        assert_eq!(
            g.topics,
            vec![
                TopicLag {
                    topic: "a".into(),
                    partitions: 2,
                    lag: 2,
                    max_time_lag_ms: Some(5_000)
                },
                TopicLag {
                    topic: "b".into(),
                    partitions: 1,
                    lag: 7,
                    max_time_lag_ms: Some(5_000)
                },
            ]
        );
        assert_eq!(
            g.partitions[0].partition, 0,
            "sorted by topic then partition"
        );
        assert_eq!(report.status, Status::Ok);
    }

    #[test]
    fn thresholds_give_each_status() {
        let make = |end| group("g", vec![partition("g", "t", 0, Some(0), end)]);
        let cases = [
            (5, Status::Ok),
            (50, Status::Warning),
            (500, Status::Critical),
        ];
        for (lag, want) in cases {
            let report = Report::new(vec![make(lag)], thresholds("10", "100"));
            assert_eq!(report.status, want, "lag {lag}");
        }
        let report = Report::new(vec![make(15)], thresholds("@10:20", "@100:200"));
        assert_eq!(report.status, Status::Warning);
        assert_eq!(report.groups[0].reasons, vec!["lag 15 (warning @10:20)"]);
    }

    #[test]
    fn time_thresholds_and_worst_status_wins() {
        let t = Thresholds {
            warning_time: Some(Duration::from_secs(1)),
            critical_time: Some(Duration::from_secs(10)),
            ..Thresholds::default()
        };
        let lagging = group("a", vec![partition("a", "t", 0, Some(0), 5)]);
        let missing = GroupLag::failed("b", "Dead", "consumer group 'b' does not exist".into());
        let report = Report::new(vec![lagging.clone(), missing.clone()], t.clone());
        assert_eq!(report.groups[0].status, Status::Warning);
        assert_eq!(report.groups[0].reasons, vec!["time lag 5s (warning 1s)"]);
        assert_eq!(report.groups[1].status, Status::Unknown);
        assert_eq!(report.status, Status::Warning, "WARNING beats UNKNOWN");
        let report = Report::new(vec![missing], t.clone());
        assert_eq!(report.status, Status::Unknown);
        let mut unknown_time = lagging;
        unknown_time.partitions[0].time_lag_ms = None;
        assert_eq!(Report::new(vec![unknown_time], t).status, Status::Unknown);
    }

    #[test]
    fn exit_codes_follow_nagios() {
        assert_eq!(Status::Ok.exit_code(), 0);
        assert_eq!(Status::Warning.exit_code(), 1);
        assert_eq!(Status::Critical.exit_code(), 2);
        assert_eq!(Status::Unknown.exit_code(), 3);
    }

    #[test]
    fn time_lag_formatting() {
        assert_eq!(format_ms(350), "350ms");
        assert_eq!(format_ms(42_500), "42s");
        assert_eq!(format_ms(3_903_000), "1h 5m 3s");
    }
}
