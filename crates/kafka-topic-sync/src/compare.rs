//! The comparison model both tools share: what a cluster says about the selected topics
//! (partitions, replication factor, configs) and the differences between a source topic and its
//! target counterpart. kafka-topic-sync plans from these differences; kafka-topic-parity reports
//! them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cluster_config::admin_ext::{self, AdminError, ConfigEntry, ConfigSource};
use cluster_config::{ClientSettings, Error, ToolContext};
use rdkafka::admin::AdminClient;
use serde::Serialize;

use crate::ignore::IgnoreList;

/// Topics per DescribeConfigs request: small enough for any broker's request size limit, large
/// enough that 1,000 topics are a couple of round trips (the requests run concurrently).
const DESCRIBE_BATCH: usize = 250;

/// An admin client shared with the blocking metadata calls.
pub type Admin = Arc<AdminClient<ToolContext>>;

/// Creates the admin client for `settings`.
pub fn admin(settings: &ClientSettings) -> Result<Admin, Error> {
    Ok(Arc::new(settings.admin()?))
}

/// Which config values are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareMode {
    /// Explicit per-topic overrides only (DescribeConfigs source DYNAMIC_TOPIC_CONFIG): broker
    /// defaults legitimately differ between clusters.
    #[default]
    Overrides,
    /// Every effective value, whatever its source.
    Effective,
}

/// One config value of a topic as DescribeConfigs reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigValue {
    /// `None` for sensitive values and configs without a value.
    pub value: Option<String>,
    /// A per-topic override (DYNAMIC_TOPIC_CONFIG). `is_default` is no substitute: it is false
    /// for values inherited from broker settings too.
    pub is_override: bool,
    pub is_sensitive: bool,
}

impl From<&ConfigEntry> for ConfigValue {
    fn from(e: &ConfigEntry) -> Self {
        Self {
            value: e.value.clone(),
            is_override: e.source == ConfigSource::DynamicTopic,
            is_sensitive: e.is_sensitive,
        }
    }
}

/// Partition count and replication factor of one topic, from the cluster metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicLayout {
    pub partitions: i32,
    /// The largest replica count of any partition.
    pub replication_factor: i32,
}

/// The cluster metadata: live brokers and every topic's layout.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub brokers: usize,
    pub topics: BTreeMap<String, TopicLayout>,
}

/// Fetches the metadata of all topics (never of named ones: a metadata request naming a missing
/// topic can auto-create it on brokers with auto.create.topics.enable).
pub async fn fetch_topology(
    admin: &Admin,
    settings: &ClientSettings,
    timeout: Duration,
) -> Result<Topology, Error> {
    let client = Arc::clone(admin);
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let metadata = client
            .inner()
            .fetch_metadata(None, timeout)
            .map_err(|e| settings.unreachable(client.inner().context(), timeout, &e))?;
        let topics = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let layout = TopicLayout {
                    partitions: t.partitions().len() as i32,
                    replication_factor: t
                        .partitions()
                        .iter()
                        .map(|p| p.replicas().len() as i32)
                        .max()
                        .unwrap_or(0),
                };
                (t.name().to_string(), layout)
            })
            .collect();
        Ok(Topology {
            brokers: metadata.brokers().len(),
            topics,
        })
    })
    .await
    .map_err(|e| Error::Usage(format!("metadata request panicked: {e}")))?
}

/// The configs of each named topic: an error for a topic that is gone or cannot be described
/// (the others still come back). Topics go in concurrent batches.
pub async fn describe_configs(
    admin: &Admin,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, Result<BTreeMap<String, ConfigValue>, AdminError>>, Error> {
    let batches = topics
        .chunks(DESCRIBE_BATCH)
        .map(|batch| admin_ext::describe_topic_configs(admin.as_ref(), batch, timeout));
    let mut out = BTreeMap::new();
    for batch in futures::future::try_join_all(batches).await? {
        for (topic, result) in batch {
            let configs = result.map(|entries| {
                entries
                    .iter()
                    .map(|e| (e.name.clone(), ConfigValue::from(e)))
                    .collect()
            });
            out.insert(topic, configs);
        }
    }
    Ok(out)
}

/// What one cluster says about one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub layout: TopicLayout,
    /// Every config of the topic (empty when configs were not asked for).
    pub configs: BTreeMap<String, ConfigValue>,
}

impl TopicDescription {
    /// The explicit overrides with a value (what a created copy of the topic should carry),
    /// minus the ignored keys.
    pub fn overrides(&self, ignore: &IgnoreList) -> BTreeMap<String, String> {
        self.compared_values(CompareMode::Overrides, ignore)
            .into_iter()
            .collect()
    }

    /// The values compared in `mode`: sensitive values (hidden by the broker) and ignored keys
    /// are left out.
    pub fn compared_values(
        &self,
        mode: CompareMode,
        ignore: &IgnoreList,
    ) -> BTreeMap<String, String> {
        self.configs
            .iter()
            .filter(|(key, c)| {
                !c.is_sensitive
                    && (mode == CompareMode::Effective || c.is_override)
                    && !ignore.ignores(key)
            })
            .filter_map(|(key, c)| c.value.clone().map(|v| (key.clone(), v)))
            .collect()
    }

    /// The effective value of `key`, whatever its source.
    pub fn effective(&self, key: &str) -> Option<&str> {
        self.configs.get(key).and_then(|c| c.value.as_deref())
    }
}

/// A topic as one cluster sees it: described, missing, or failing to describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicState {
    Present(TopicDescription),
    /// Not in the metadata, or deleted before its configs were described.
    Missing,
    /// The describe call failed for this topic (authorization, timeout, ...).
    Failed(String),
}

/// The selected topics on both clusters.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub source_brokers: usize,
    pub target_brokers: usize,
    /// Selected source topics (by name) with their state on each side.
    pub topics: BTreeMap<String, (TopicState, TopicState)>,
}

/// Describes the source topics `select` accepts and their namesakes on the target: metadata of
/// both clusters, then (with `with_configs`) the configs of every selected topic that exists,
/// all batched and both clusters at once. A topic deleted meanwhile is [`TopicState::Missing`].
pub async fn snapshot(
    source: (&Admin, &ClientSettings),
    target: (&Admin, &ClientSettings),
    select: &(dyn Fn(&str) -> bool + Sync),
    with_configs: bool,
    timeout: Duration,
) -> Result<Snapshot, Error> {
    let (src_topology, tgt_topology) = tokio::try_join!(
        fetch_topology(source.0, source.1, timeout),
        fetch_topology(target.0, target.1, timeout)
    )?;
    let selected: Vec<String> = src_topology
        .topics
        .keys()
        .filter(|t| select(t))
        .cloned()
        .collect();
    let on_target: Vec<String> = selected
        .iter()
        .filter(|t| tgt_topology.topics.contains_key(*t))
        .cloned()
        .collect();
    let (mut src_configs, mut tgt_configs) = if with_configs {
        tokio::try_join!(
            describe_configs(source.0, &selected, timeout),
            describe_configs(target.0, &on_target, timeout)
        )?
    } else {
        Default::default()
    };
    let state = |name: &str,
                 topology: &Topology,
                 configs: &mut BTreeMap<
        String,
        Result<BTreeMap<String, ConfigValue>, AdminError>,
    >| {
        let Some(layout) = topology.topics.get(name) else {
            return TopicState::Missing;
        };
        let configs = match configs.remove(name) {
            None => BTreeMap::new(),
            Some(Ok(c)) => c,
            Some(Err(e)) if e.is_unknown_topic() => return TopicState::Missing,
            Some(Err(e)) => return TopicState::Failed(e.to_string()),
        };
        TopicState::Present(TopicDescription {
            name: name.to_string(),
            layout: *layout,
            configs,
        })
    };
    let topics = selected
        .iter()
        .map(|name| {
            let s = state(name, &src_topology, &mut src_configs);
            let t = state(name, &tgt_topology, &mut tgt_configs);
            (name.clone(), (s, t))
        })
        .collect();
    Ok(Snapshot {
        source_brokers: src_topology.brokers,
        target_brokers: tgt_topology.brokers,
        topics,
    })
}

/// One way a target topic differs from its source topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The topic does not exist on the target.
    Missing,
    Partitions {
        source: i32,
        target: i32,
    },
    ReplicationFactor {
        source: i32,
        target: i32,
    },
    /// A compared config value differs; `None` means the side has no such value (in overrides
    /// mode: no override).
    Config {
        key: String,
        source: Option<String>,
        target: Option<String>,
    },
}

/// The differences of `target` from `source`: existence, partition count, replication factor
/// and the configs `mode` compares, ignored keys left out. Configs are compared only when both
/// sides were described with configs.
pub fn diff_topic(
    source: &TopicDescription,
    target: Option<&TopicDescription>,
    mode: CompareMode,
    ignore: &IgnoreList,
) -> Vec<Difference> {
    let Some(target) = target else {
        return vec![Difference::Missing];
    };
    let mut out = Vec::new();
    if source.layout.partitions != target.layout.partitions {
        out.push(Difference::Partitions {
            source: source.layout.partitions,
            target: target.layout.partitions,
        });
    }
    if source.layout.replication_factor != target.layout.replication_factor {
        out.push(Difference::ReplicationFactor {
            source: source.layout.replication_factor,
            target: target.layout.replication_factor,
        });
    }
    let src = source.compared_values(mode, ignore);
    let mut tgt = target.compared_values(mode, ignore);
    for (key, value) in src {
        match tgt.remove(&key) {
            Some(t) if t == value => {}
            other => out.push(Difference::Config {
                key,
                source: Some(value),
                target: other,
            }),
        }
    }
    for (key, value) in tgt {
        out.push(Difference::Config {
            key,
            source: None,
            target: Some(value),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A described topic with `overrides` as per-topic overrides and `inherited` as values from
    /// broker settings (not overrides).
    pub(crate) fn topic(
        name: &str,
        partitions: i32,
        rf: i32,
        overrides: &[(&str, &str)],
        inherited: &[(&str, &str)],
    ) -> TopicDescription {
        let mut configs = BTreeMap::new();
        for (k, v, is_override) in inherited
            .iter()
            .map(|(k, v)| (k, v, false))
            .chain(overrides.iter().map(|(k, v)| (k, v, true)))
        {
            configs.insert(
                k.to_string(),
                ConfigValue {
                    value: Some(v.to_string()),
                    is_override,
                    is_sensitive: false,
                },
            );
        }
        TopicDescription {
            name: name.into(),
            layout: TopicLayout {
                partitions,
                replication_factor: rf,
            },
            configs,
        }
    }

    fn config(key: &str, source: Option<&str>, target: Option<&str>) -> Difference {
        Difference::Config {
            key: key.into(),
            source: source.map(Into::into),
            target: target.map(Into::into),
        }
    }

    #[test]
    fn identical_topics_have_no_differences() {
        let t = topic(
            "t",
            3,
            1,
            &[("retention.ms", "1000")],
            &[("segment.ms", "5")],
        );
        let ignore = IgnoreList::default();
        assert!(diff_topic(&t, Some(&t), CompareMode::Overrides, &ignore).is_empty());
        assert!(diff_topic(&t, Some(&t), CompareMode::Effective, &ignore).is_empty());
        assert_eq!(
            diff_topic(&t, None, CompareMode::Overrides, &ignore),
            vec![Difference::Missing]
        );
    }

    #[test]
    fn layout_and_override_differences() {
        let ignore = IgnoreList::default();
        let s = topic(
            "t",
            6,
            3,
            &[("retention.ms", "1000"), ("cleanup.policy", "compact")],
            &[],
        );
        let t = topic(
            "t",
            3,
            1,
            &[("retention.ms", "2000"), ("max.message.bytes", "10")],
            &[("cleanup.policy", "compact")],
        );
        assert_eq!(
            diff_topic(&s, Some(&t), CompareMode::Overrides, &ignore),
            vec![
                Difference::Partitions {
                    source: 6,
                    target: 3
                },
                Difference::ReplicationFactor {
                    source: 3,
                    target: 1
                },
                // An inherited value is not an override, even when it is equal.
                config("cleanup.policy", Some("compact"), None),
                config("retention.ms", Some("1000"), Some("2000")),
                config("max.message.bytes", None, Some("10")),
            ]
        );
    }

    #[test]
    fn broker_defaults_count_only_in_effective_mode() {
        let ignore = IgnoreList::default();
        let s = topic(
            "t",
            1,
            1,
            &[],
            &[("message.timestamp.after.max.ms", "9223372036854775807")],
        );
        let t = topic(
            "t",
            1,
            1,
            &[],
            &[("message.timestamp.after.max.ms", "3600000")],
        );
        assert!(diff_topic(&s, Some(&t), CompareMode::Overrides, &ignore).is_empty());
        assert_eq!(
            diff_topic(&s, Some(&t), CompareMode::Effective, &ignore),
            vec![config(
                "message.timestamp.after.max.ms",
                Some("9223372036854775807"),
                Some("3600000")
            )]
        );
    }

    #[test]
    fn ignored_keys_are_not_compared() {
        let s = topic(
            "t",
            1,
            1,
            &[("confluent.tier.enable", "true"), ("retention.ms", "1")],
            &[],
        );
        let t = topic(
            "t",
            1,
            1,
            &[
                ("leader.replication.throttled.replicas", "*"),
                ("retention.ms", "1"),
            ],
            &[],
        );
        let ignore = IgnoreList::default();
        assert!(diff_topic(&s, Some(&t), CompareMode::Overrides, &ignore).is_empty());
        let strict = IgnoreList::new(&["retention.ms".into()]);
        let t2 = topic("t", 1, 1, &[("retention.ms", "2")], &[]);
        assert!(diff_topic(&s, Some(&t2), CompareMode::Overrides, &strict).is_empty());
        assert_eq!(
            diff_topic(&s, Some(&t2), CompareMode::Overrides, &ignore),
            vec![config("retention.ms", Some("1"), Some("2"))]
        );
    }

    #[test]
    fn sensitive_values_are_never_compared() {
        let mut s = topic("t", 1, 1, &[("x.secret", "a")], &[]);
        s.configs.get_mut("x.secret").unwrap().is_sensitive = true;
        let t = topic("t", 1, 1, &[], &[]);
        let ignore = IgnoreList::default();
        assert!(diff_topic(&s, Some(&t), CompareMode::Effective, &ignore).is_empty());
        assert!(s.overrides(&ignore).is_empty());
    }
}
