//! [`ensure_topics`]: the call kafka-mirror makes before copying, so that every source topic has
//! a target topic with at least as many partitions.

use std::time::Duration;

use cluster_config::{ClientSettings, Error};
use serde::Serialize;

use crate::actions::{self, TopicOutcome, TopicSpec};
use crate::compare::{self, TopicLayout};
use crate::ignore::IgnoreList;

/// How long a refused partition addition is re-checked for a concurrent one.
const RECHECK_FOR: Duration = Duration::from_secs(5);

/// What [`ensure_topics`] did for one topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnsureOutcome {
    pub topic: String,
    pub action: EnsureAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EnsureAction {
    /// Already there with enough partitions, or created or extended meanwhile by someone else
    /// (another mirror instance): nothing was changed.
    Existed,
    Created {
        partitions: i32,
        replication_factor: i32,
    },
    PartitionsAdded {
        from: i32,
        to: i32,
    },
    /// This topic could not be ensured (missing on the source, rejected by the target, ...);
    /// the others were still handled.
    Failed {
        reason: String,
    },
}

impl EnsureAction {
    /// The target topic is usable for partition-preserving mirroring.
    pub fn is_ok(&self) -> bool {
        !matches!(self, EnsureAction::Failed { .. })
    }
}

/// Makes sure each of `topics` exists on the target with at least the source's partition count:
/// creates missing ones (source partition count, source's explicit overrides minus the default
/// ignore list, replication factor = source's capped at the target's broker count, with a
/// warning) and adds partitions where the target has fewer. Never deletes, never decreases,
/// never touches configs of existing topics.
///
/// One outcome per distinct topic, in the order given. A topic that another process creates or
/// extends at the same time counts as [`EnsureAction::Existed`]. Per-topic failures are
/// [`EnsureAction::Failed`]; the `Err` is for the whole call (a cluster not answering within
/// `timeout`, a client that cannot be built).
pub async fn ensure_topics(
    source: &ClientSettings,
    target: &ClientSettings,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<EnsureOutcome>, Error> {
    let src_admin = compare::admin(source)?;
    let tgt_admin = compare::admin(target)?;
    let outcome = ensure_topics_with(
        Cluster {
            admin: &src_admin,
            settings: source,
        },
        Cluster {
            admin: &tgt_admin,
            settings: target,
        },
        topics,
        timeout,
    )
    .await;
    // rust-rdkafka's AdminClient drop waits up to 100 ms for its polling thread: both side by
    // side, off the caller's path unless a client uses OpenSSL (a process that exits while a
    // librdkafka thread still shuts a TLS connection down can crash in OpenSSL's exit handler).
    let teardown = cluster_config::teardown::destroy_in_background(vec![
        Box::new(src_admin),
        Box::new(tgt_admin),
    ]);
    if source.uses_openssl() || target.uses_openssl() {
        teardown.wait(Duration::from_secs(5));
    }
    outcome
}

/// A cluster with an admin client for it, for a caller that keeps its clients between calls.
#[derive(Clone, Copy)]
pub struct Cluster<'a> {
    pub admin: &'a compare::Admin,
    pub settings: &'a ClientSettings,
}

/// [`ensure_topics`] with the caller's admin clients (kafka-mirror calls it at start and for
/// every new topic: clients of its own would each cost a connection and a teardown).
pub async fn ensure_topics_with(
    source: Cluster<'_>,
    target: Cluster<'_>,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<EnsureOutcome>, Error> {
    let (src_admin, source) = (source.admin, source.settings);
    let (tgt_admin, target) = (target.admin, target.settings);
    let mut seen = std::collections::HashSet::new();
    let names: Vec<String> = topics
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let (src_topology, tgt_topology) = tokio::try_join!(
        compare::fetch_topology(src_admin, source, timeout),
        compare::fetch_topology(tgt_admin, target, timeout)
    )?;

    let mut outcomes: Vec<Option<EnsureAction>> = vec![None; names.len()];
    let mut to_create = Vec::new();
    let mut to_extend = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match (src_topology.topics.get(name), tgt_topology.topics.get(name)) {
            (None, _) => {
                outcomes[i] = Some(EnsureAction::Failed {
                    reason: format!("topic '{name}' does not exist on the source cluster"),
                })
            }
            (Some(src), None) => to_create.push((i, *src)),
            (Some(src), Some(tgt)) if tgt.partitions < src.partitions => {
                to_extend.push((i, tgt.partitions, src.partitions))
            }
            (Some(_), Some(_)) => outcomes[i] = Some(EnsureAction::Existed),
        }
    }

    // Creations carry the source's overrides.
    let create_names: Vec<String> = to_create.iter().map(|(i, _)| names[*i].clone()).collect();
    let configs = compare::describe_configs(src_admin, &create_names, timeout).await?;
    let ignore = IgnoreList::default();
    let mut specs = Vec::new();
    let mut spec_index = Vec::new();
    for (i, layout) in &to_create {
        let name = &names[*i];
        let overrides = match configs.get(name) {
            Some(Ok(c)) => compare::TopicDescription {
                name: name.clone(),
                layout: *layout,
                configs: c.clone(),
            }
            .overrides(&ignore),
            Some(Err(e)) => {
                outcomes[*i] = Some(EnsureAction::Failed {
                    reason: format!("cannot read the source topic's configs: {e}"),
                });
                continue;
            }
            None => Default::default(),
        };
        specs.push(TopicSpec {
            name: name.clone(),
            partitions: layout.partitions,
            replication_factor: capped_replication(name, layout, tgt_topology.brokers),
            configs: overrides,
        });
        spec_index.push(*i);
    }
    let created = actions::create_topics(tgt_admin, &specs, timeout).await?;
    for ((spec, i), (_, outcome)) in specs.iter().zip(&spec_index).zip(created) {
        outcomes[*i] = Some(match outcome {
            TopicOutcome::Done => EnsureAction::Created {
                partitions: spec.partitions,
                replication_factor: spec.replication_factor,
            },
            TopicOutcome::AlreadyExists => EnsureAction::Existed,
            TopicOutcome::Failed(reason) => EnsureAction::Failed {
                reason: format!("creating it on the target failed: {reason}"),
            },
        });
    }

    let changes: Vec<(String, i32)> = to_extend
        .iter()
        .map(|(i, _, to)| (names[*i].clone(), *to))
        .collect();
    let extended = actions::add_partitions(tgt_admin, &changes, timeout).await?;
    let mut recheck = Vec::new();
    for ((i, from, to), (_, outcome)) in to_extend.iter().zip(extended) {
        outcomes[*i] = Some(match outcome {
            TopicOutcome::Done => EnsureAction::PartitionsAdded {
                from: *from,
                to: *to,
            },
            TopicOutcome::AlreadyExists => EnsureAction::Existed,
            TopicOutcome::Failed(reason) => {
                recheck.push((*i, *to));
                EnsureAction::Failed {
                    reason: format!(
                        "adding partitions {from} → {to} on the target failed: {reason}"
                    ),
                }
            }
        });
    }
    // Another instance may have added the partitions first (the broker then refuses ours with
    // INVALID_PARTITIONS); the broker's metadata can show the new count a moment after the
    // controller refused us, so look again for a little while.
    let deadline = tokio::time::Instant::now() + RECHECK_FOR.min(timeout);
    while !recheck.is_empty() {
        let now = compare::fetch_topology(tgt_admin, target, timeout).await?;
        recheck.retain(|(i, to)| {
            let done = now
                .topics
                .get(&names[*i])
                .is_some_and(|l| l.partitions >= *to);
            if done {
                outcomes[*i] = Some(EnsureAction::Existed);
            }
            !done
        });
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The caller produces right away: wait until the target's metadata shows the topics.
    let expected: Vec<(String, i32)> = names
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.as_ref().is_some_and(EnsureAction::is_ok))
        .filter_map(|(n, _)| {
            src_topology
                .topics
                .get(n)
                .map(|l| (n.clone(), l.partitions))
        })
        .collect();
    let invisible = actions::wait_until_visible(tgt_admin, target, &expected, timeout).await?;
    for name in invisible {
        log::warn!(
            "topic '{name}': the target's metadata does not show all its partitions yet after {}",
            humantime::format_duration(timeout)
        );
    }

    Ok(names
        .into_iter()
        .zip(outcomes)
        .map(|(topic, action)| EnsureOutcome {
            topic,
            action: action.unwrap_or(EnsureAction::Existed),
        })
        .collect())
}

/// The source's replication factor, capped at the target's broker count (with a warning).
fn capped_replication(topic: &str, layout: &TopicLayout, target_brokers: usize) -> i32 {
    let brokers = target_brokers.max(1) as i32;
    if layout.replication_factor > brokers {
        log::warn!(
            "topic '{topic}': replication factor {} on the source, the target has {brokers} broker(s): creating it with {brokers}",
            layout.replication_factor
        );
        brokers
    } else {
        layout.replication_factor.max(1)
    }
}
