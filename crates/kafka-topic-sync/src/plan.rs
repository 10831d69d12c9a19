//! The plan: what kafka-topic-sync would change on the target, derived from the shared
//! [`diff_topic`](crate::compare::diff_topic), and the differences it must not fix.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::{diff_topic, CompareMode, Difference, Snapshot, TopicState};
use crate::ignore::IgnoreList;

/// One change on one target topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlanAction {
    CreateTopic {
        partitions: i32,
        replication_factor: i32,
        configs: BTreeMap<String, String>,
    },
    AddPartitions {
        from: i32,
        to: i32,
    },
    /// Set an override (`from` is the target's current override, if any).
    SetConfig {
        key: String,
        value: String,
        from: Option<String>,
    },
    /// Remove an override the source lacks (`value` is the target's current one).
    DeleteConfig {
        key: String,
        value: String,
    },
}

impl PlanAction {
    /// How a person reads it.
    pub fn describe(&self) -> String {
        match self {
            PlanAction::CreateTopic {
                partitions,
                replication_factor,
                configs,
            } => {
                let mut text = format!(
                    "create with {partitions} partition(s), replication factor {replication_factor}"
                );
                if !configs.is_empty() {
                    let list: Vec<String> =
                        configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    text.push_str(&format!(", configs {}", list.join(", ")));
                }
                text
            }
            PlanAction::AddPartitions { from, to } => format!("add partitions, {from} → {to}"),
            PlanAction::SetConfig { key, value, from } => match from {
                Some(old) => format!("set config {key}={value} (was {old})"),
                None => format!("set config {key}={value}"),
            },
            PlanAction::DeleteConfig { key, value } => {
                format!("delete config override {key} (was {value})")
            }
        }
    }
}

/// A planned action on a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedAction {
    pub topic: String,
    #[serde(flatten)]
    pub action: PlanAction,
}

/// A difference kafka-topic-sync never fixes: Kafka cannot decrease partitions, and changing a
/// replication factor is a reassignment, not a config change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "difference", rename_all = "snake_case")]
pub enum Unfixable {
    MorePartitions { source: i32, target: i32 },
    ReplicationFactor { expected: i32, target: i32 },
}

impl Unfixable {
    pub fn describe(&self) -> String {
        match self {
            Unfixable::MorePartitions { source, target } => format!(
                "the target has more partitions ({target}) than the source ({source}): Kafka cannot remove partitions"
            ),
            Unfixable::ReplicationFactor { expected, target } => format!(
                "replication factor {target} on the target, {expected} expected: change it with a partition reassignment"
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnfixableDifference {
    pub topic: String,
    #[serde(flatten)]
    pub difference: Unfixable,
}

/// A topic that could not be compared (describe failed on one side).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopicError {
    pub topic: String,
    pub error: String,
}

/// What a run would change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub topics_checked: usize,
    pub actions: Vec<PlannedAction>,
    pub unfixable: Vec<UnfixableDifference>,
    pub errors: Vec<TopicError>,
}

/// The replication factor a created or compared target topic should have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationChoice {
    /// `--replication-factor N`.
    Fixed(i32),
    /// The source's, capped at the target's broker count.
    SourceCapped { target_brokers: usize },
}

impl ReplicationChoice {
    pub fn for_source(self, source_rf: i32) -> i32 {
        match self {
            ReplicationChoice::Fixed(n) => n,
            ReplicationChoice::SourceCapped { target_brokers } => {
                source_rf.min(target_brokers.max(1) as i32).max(1)
            }
        }
    }
}

/// Plans the changes that make the target's topics match the source's: create missing topics,
/// add partitions, set and delete overrides (ignored keys are never touched on either side).
pub fn plan(snapshot: &Snapshot, ignore: &IgnoreList, replication: ReplicationChoice) -> Plan {
    let mut plan = Plan::default();
    for (topic, (source, target)) in &snapshot.topics {
        let source = match source {
            TopicState::Present(s) => s,
            // Deleted on the source since it was listed: nothing to mirror.
            TopicState::Missing => continue,
            TopicState::Failed(e) => {
                plan.topics_checked += 1;
                plan.errors.push(TopicError {
                    topic: topic.clone(),
                    error: format!("source: {e}"),
                });
                continue;
            }
        };
        plan.topics_checked += 1;
        let target = match target {
            TopicState::Present(t) => Some(t),
            TopicState::Missing => None,
            TopicState::Failed(e) => {
                plan.errors.push(TopicError {
                    topic: topic.clone(),
                    error: format!("target: {e}"),
                });
                continue;
            }
        };
        let expected_rf = replication.for_source(source.layout.replication_factor);
        let push = |plan: &mut Plan, action| {
            plan.actions.push(PlannedAction {
                topic: topic.clone(),
                action,
            })
        };
        for difference in diff_topic(source, target, CompareMode::Overrides, ignore) {
            match difference {
                Difference::Missing => push(
                    &mut plan,
                    PlanAction::CreateTopic {
                        partitions: source.layout.partitions,
                        replication_factor: expected_rf,
                        configs: source.overrides(ignore),
                    },
                ),
                Difference::Partitions { source, target } if target < source => push(
                    &mut plan,
                    PlanAction::AddPartitions {
                        from: target,
                        to: source,
                    },
                ),
                Difference::Partitions { source, target } => {
                    plan.unfixable.push(UnfixableDifference {
                        topic: topic.clone(),
                        difference: Unfixable::MorePartitions { source, target },
                    })
                }
                // Judged against the expected factor below, not the source's.
                Difference::ReplicationFactor { .. } => {}
                Difference::Config {
                    key,
                    source: Some(value),
                    target,
                } => push(
                    &mut plan,
                    PlanAction::SetConfig {
                        key,
                        value,
                        from: target,
                    },
                ),
                Difference::Config {
                    key,
                    source: None,
                    target: Some(value),
                } => push(&mut plan, PlanAction::DeleteConfig { key, value }),
                Difference::Config { .. } => {}
            }
        }
        if let Some(target) = target {
            if target.layout.replication_factor != expected_rf {
                plan.unfixable.push(UnfixableDifference {
                    topic: topic.clone(),
                    difference: Unfixable::ReplicationFactor {
                        expected: expected_rf,
                        target: target.layout.replication_factor,
                    },
                });
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tests::topic;

    fn snapshot(pairs: Vec<(TopicState, TopicState)>) -> Snapshot {
        Snapshot {
            source_brokers: 3,
            target_brokers: 1,
            topics: pairs
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("t{i}"), p))
                .collect(),
        }
    }

    const CAPPED: ReplicationChoice = ReplicationChoice::SourceCapped { target_brokers: 1 };

    #[test]
    fn missing_topic_is_created_with_overrides_minus_ignored_and_capped_rf() {
        let s = topic(
            "t0",
            6,
            3,
            &[
                ("cleanup.policy", "compact"),
                ("confluent.tier.enable", "true"),
            ],
            &[("retention.ms", "1")],
        );
        let plan = plan(
            &snapshot(vec![(TopicState::Present(s), TopicState::Missing)]),
            &IgnoreList::default(),
            CAPPED,
        );
        assert_eq!(plan.topics_checked, 1);
        assert_eq!(
            plan.actions,
            vec![PlannedAction {
                topic: "t0".into(),
                action: PlanAction::CreateTopic {
                    partitions: 6,
                    replication_factor: 1,
                    configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
                }
            }]
        );
        assert!(plan.unfixable.is_empty());
    }

    #[test]
    fn existing_topic_is_extended_and_aligned_but_ignored_keys_survive() {
        let s = topic(
            "t0",
            6,
            1,
            &[("retention.ms", "1000"), ("segment.ms", "5")],
            &[],
        );
        let t = topic(
            "t0",
            3,
            1,
            &[
                ("retention.ms", "2000"),
                ("max.message.bytes", "10"),
                ("leader.replication.throttled.replicas", "*"),
            ],
            &[],
        );
        let plan = plan(
            &snapshot(vec![(TopicState::Present(s), TopicState::Present(t))]),
            &IgnoreList::default(),
            CAPPED,
        );
        let actions: Vec<&PlanAction> = plan.actions.iter().map(|a| &a.action).collect();
        assert_eq!(
            actions,
            vec![
                &PlanAction::AddPartitions { from: 3, to: 6 },
                &PlanAction::SetConfig {
                    key: "retention.ms".into(),
                    value: "1000".into(),
                    from: Some("2000".into())
                },
                &PlanAction::SetConfig {
                    key: "segment.ms".into(),
                    value: "5".into(),
                    from: None
                },
                &PlanAction::DeleteConfig {
                    key: "max.message.bytes".into(),
                    value: "10".into()
                },
            ]
        );
    }

    #[test]
    fn more_partitions_and_rf_are_unfixable() {
        let s = topic("t0", 2, 1, &[], &[]);
        let t = topic("t0", 4, 1, &[], &[]);
        let s1 = topic("t1", 1, 3, &[], &[]);
        let t1 = topic("t1", 1, 1, &[], &[]);
        let snap = snapshot(vec![
            (TopicState::Present(s), TopicState::Present(t)),
            (
                TopicState::Present(s1.clone()),
                TopicState::Present(t1.clone()),
            ),
        ]);
        let p = plan(&snap, &IgnoreList::default(), CAPPED);
        assert!(p.actions.is_empty());
        // RF 3 on the source is capped at the single target broker: RF 1 is what is expected.
        assert_eq!(
            p.unfixable,
            vec![UnfixableDifference {
                topic: "t0".into(),
                difference: Unfixable::MorePartitions {
                    source: 2,
                    target: 4
                }
            }]
        );
        let p = plan(&snap, &IgnoreList::default(), ReplicationChoice::Fixed(2));
        // t0: more partitions and RF 1 ≠ 2; t1: RF 1 ≠ 2.
        assert_eq!(p.unfixable.len(), 3);
        assert_eq!(p.unfixable[2].topic, "t1");
        assert_eq!(
            p.unfixable[2].difference,
            Unfixable::ReplicationFactor {
                expected: 2,
                target: 1
            }
        );
    }

    #[test]
    fn identical_topics_plan_nothing_and_errors_are_per_topic() {
        let s = topic("t0", 2, 1, &[("retention.ms", "1")], &[]);
        let snap = snapshot(vec![
            (
                TopicState::Present(s.clone()),
                TopicState::Present(s.clone()),
            ),
            (TopicState::Missing, TopicState::Missing),
            (
                TopicState::Present(s.clone()),
                TopicState::Failed("denied".into()),
            ),
        ]);
        let p = plan(&snap, &IgnoreList::default(), CAPPED);
        assert!(p.actions.is_empty() && p.unfixable.is_empty());
        assert_eq!(p.topics_checked, 2);
        assert_eq!(
            p.errors,
            vec![TopicError {
                topic: "t2".into(),
                error: "target: denied".into()
            }]
        );
    }

    #[test]
    fn json_shape_of_actions() {
        let a = PlannedAction {
            topic: "orders".into(),
            action: PlanAction::AddPartitions { from: 3, to: 6 },
        };
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"topic": "orders", "action": "add_partitions", "from": 3, "to": 6})
        );
    }
}
