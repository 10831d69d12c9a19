//! Findings: the differences of the shared comparison model
//! ([`kafka_topic_sync::compare`]) turned into one report entry each, plus record counts.

use std::collections::BTreeMap;

use kafka_topic_sync::compare::{diff_topic, CompareMode, Difference, Snapshot, TopicState};
use kafka_topic_sync::IgnoreList;
use serde::Serialize;
use serde_json::Value;

/// What a finding is about. The JSON names are a published contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The topic is missing on the target.
    Exists,
    Partitions,
    Config,
    Replication,
    /// Record counts (high minus low watermark) of one partition.
    Data,
    /// The topic could not be compared (describe or offsets failed).
    Error,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Exists => "exists",
            Check::Partitions => "partitions",
            Check::Config => "config",
            Check::Replication => "replication",
            Check::Data => "data",
            Check::Error => "error",
        }
    }
}

/// One difference (or error) on one topic.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub topic: String,
    pub check: Check,
    /// The config key (config findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The partition (data findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// The source's value; `null` when the source has none.
    pub source: Value,
    /// The target's value; `null` when the target has none.
    pub target: Value,
    /// Source count minus target count (data findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<i64>,
    /// The counts of a compacted or transactional topic are offset spans, not record counts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub approximate: bool,
    /// What the difference means, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Finding {
    fn new(topic: &str, check: Check, source: Value, target: Value) -> Self {
        Self {
            topic: topic.to_string(),
            check,
            key: None,
            partition: None,
            source,
            target,
            difference: None,
            approximate: false,
            note: None,
        }
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// What to check besides existence, partitions and configs.
#[derive(Clone, Debug)]
pub struct Checks {
    pub compare: CompareMode,
    pub ignore: IgnoreList,
    pub replication: bool,
}

/// The findings of every topic in `snapshot`, and the number of topics checked (topics deleted
/// from the source during the check are not counted, and are logged).
pub fn compare_topics(snapshot: &Snapshot, checks: &Checks) -> (usize, Vec<Finding>) {
    let mut checked = 0;
    let mut out = Vec::new();
    for (topic, (source, target)) in &snapshot.topics {
        let source = match source {
            TopicState::Present(s) => s,
            TopicState::Missing => {
                log::warn!("topic '{topic}' was deleted from the source during the check");
                continue;
            }
            TopicState::Failed(e) => {
                checked += 1;
                out.push(error(topic, "source", e));
                continue;
            }
        };
        checked += 1;
        let target = match target {
            TopicState::Present(t) => Some(t),
            TopicState::Missing => None,
            TopicState::Failed(e) => {
                out.push(error(topic, "target", e));
                continue;
            }
        };
        for d in diff_topic(source, target, checks.compare, &checks.ignore) {
            let finding = match d {
                Difference::Missing => {
                    Finding::new(topic, Check::Exists, "exists".into(), "missing".into())
                }
                Difference::Partitions { source, target } => {
                    let f = Finding::new(topic, Check::Partitions, source.into(), target.into());
                    if target < source {
                        f.note(format!(
                            "the target has fewer partitions: partition-preserving mirroring cannot write partitions {target}..{}",
                            source - 1
                        ))
                    } else {
                        f.note("the target has more partitions: its extra partitions stay empty")
                    }
                }
                Difference::ReplicationFactor { source, target } if checks.replication => {
                    Finding::new(topic, Check::Replication, source.into(), target.into())
                }
                Difference::ReplicationFactor { .. } => continue,
                Difference::Config {
                    key,
                    source: s,
                    target: t,
                } => {
                    let note = match (&s, &t, checks.compare) {
                        (_, None, CompareMode::Overrides) => Some("no override on the target"),
                        (None, _, CompareMode::Overrides) => Some("override only on the target"),
                        _ => None,
                    };
                    let mut f = Finding::new(topic, Check::Config, s.into(), t.into());
                    f.key = Some(key);
                    f.note = note.map(Into::into);
                    f
                }
            };
            out.push(finding);
        }
    }
    (checked, out)
}

fn error(topic: &str, side: &str, e: &str) -> Finding {
    Finding::new(topic, Check::Error, Value::Null, Value::Null)
        .note(format!("cannot describe it on the {side}: {e}"))
}

/// Record counts of one partition on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionCounts {
    pub source: i64,
    pub target: i64,
}

/// Data findings: one per partition whose counts differ. `approximate` topics are marked so.
pub fn data_findings(
    counts: &BTreeMap<(String, i32), PartitionCounts>,
    approximate: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    counts
        .iter()
        .filter(|(_, c)| c.source != c.target)
        .map(|((topic, partition), c)| {
            let mut f = Finding::new(topic, Check::Data, c.source.into(), c.target.into());
            f.partition = Some(*partition);
            f.difference = Some(c.source - c.target);
            f.approximate = approximate(topic);
            if f.approximate {
                f.note = Some("approximate: compacted or transactional topic".into());
            }
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_topic_sync::compare::{ConfigValue, TopicDescription, TopicLayout};

    fn topic(
        partitions: i32,
        rf: i32,
        overrides: &[(&str, &str)],
        inherited: &[(&str, &str)],
    ) -> TopicState {
        let mut configs = BTreeMap::new();
        for (k, v) in inherited {
            configs.insert(
                k.to_string(),
                ConfigValue {
                    value: Some(v.to_string()),
                    is_override: false,
                    is_sensitive: false,
                },
            );
        }
        for (k, v) in overrides {
            configs.insert(
                k.to_string(),
                ConfigValue {
                    value: Some(v.to_string()),
                    is_override: true,
                    is_sensitive: false,
                },
            );
        }
        TopicState::Present(TopicDescription {
            name: "t".into(),
            layout: TopicLayout {
                partitions,
                replication_factor: rf,
            },
            configs,
        })
    }

    fn checks(replication: bool) -> Checks {
        Checks {
            compare: CompareMode::Overrides,
            ignore: IgnoreList::default(),
            replication,
        }
    }

    fn snapshot(entries: Vec<(&str, TopicState, TopicState)>) -> Snapshot {
        Snapshot {
            source_brokers: 1,
            target_brokers: 1,
            topics: entries
                .into_iter()
                .map(|(n, s, t)| (n.to_string(), (s, t)))
                .collect(),
        }
    }

    #[test]
    fn each_difference_is_one_finding() {
        let snap = snapshot(vec![
            ("a", topic(3, 1, &[], &[]), TopicState::Missing),
            ("b", topic(6, 3, &[], &[]), topic(3, 1, &[], &[])),
            (
                "c",
                topic(1, 1, &[("retention.ms", "1")], &[("segment.ms", "1")]),
                topic(1, 1, &[("retention.ms", "2")], &[("segment.ms", "2")]),
            ),
            ("d", topic(1, 1, &[], &[]), topic(1, 1, &[], &[])),
            ("e", TopicState::Missing, TopicState::Missing),
            (
                "f",
                topic(1, 1, &[], &[]),
                TopicState::Failed("denied".into()),
            ),
        ]);
        let (checked, findings) = compare_topics(&snap, &checks(false));
        assert_eq!(checked, 5, "e was deleted from the source meanwhile");
        let summary: Vec<(&str, Check, Value, Value)> = findings
            .iter()
            .map(|f| {
                (
                    f.topic.as_str(),
                    f.check,
                    f.source.clone(),
                    f.target.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a", Check::Exists, "exists".into(), "missing".into()),
                ("b", Check::Partitions, 6.into(), 3.into()),
                ("c", Check::Config, "1".into(), "2".into()),
                ("f", Check::Error, Value::Null, Value::Null),
            ]
        );
        assert!(findings[1]
            .note
            .as_deref()
            .unwrap()
            .contains("fewer partitions"));
        assert_eq!(findings[2].key.as_deref(), Some("retention.ms"));
        let (_, with_rf) = compare_topics(&snap, &checks(true));
        assert_eq!(with_rf.len(), 5);
        assert_eq!(with_rf[2].check, Check::Replication);
        assert_eq!(
            (with_rf[2].source.clone(), with_rf[2].target.clone()),
            (3.into(), 1.into())
        );
    }

    #[test]
    fn data_findings_only_where_counts_differ() {
        let counts: BTreeMap<(String, i32), PartitionCounts> = [
            (
                ("a".to_string(), 0),
                PartitionCounts {
                    source: 5,
                    target: 5,
                },
            ),
            (
                ("a".to_string(), 1),
                PartitionCounts {
                    source: 5,
                    target: 3,
                },
            ),
            (
                ("c".to_string(), 0),
                PartitionCounts {
                    source: 9,
                    target: 4,
                },
            ),
        ]
        .into();
        let findings = data_findings(&counts, &|t: &str| t == "c");
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].partition, Some(1));
        assert_eq!(findings[0].difference, Some(2));
        assert!(!findings[0].approximate);
        assert!(findings[1].approximate);
        let json = serde_json::to_value(&findings[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"topic": "c", "check": "data", "partition": 0, "source": 9,
                "target": 4, "difference": 5, "approximate": true,
                "note": "approximate: compacted or transactional topic"})
        );
    }
}
