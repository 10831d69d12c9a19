//! The three changes the tools make on a target cluster, each batched and checked per topic:
//! create topics, add partitions, and change single config keys (IncrementalAlterConfigs,
//! never the legacy AlterConfigs, which resets every override it is not given).

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_config::admin_ext::{self, AlterConfigOp};
use cluster_config::Error;
use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use crate::compare::Admin;

/// A topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub configs: BTreeMap<String, String>,
}

/// How one create or add-partitions request ended for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicOutcome {
    Done,
    /// CreateTopics said TOPIC_ALREADY_EXISTS: someone else created it meanwhile.
    AlreadyExists,
    Failed(String),
}

fn options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

/// One line for a per-topic error code. rust-rdkafka keeps only the code of a CreateTopics or
/// CreatePartitions result, not the broker's message.
fn describe_code(code: RDKafkaErrorCode) -> String {
    match code {
        RDKafkaErrorCode::PolicyViolation => {
            "the broker's policy rejected it (POLICY_VIOLATION)".into()
        }
        RDKafkaErrorCode::InvalidReplicationFactor => {
            "invalid replication factor (more than the target's brokers?)".into()
        }
        RDKafkaErrorCode::InvalidConfig => "a config value was rejected (INVALID_CONFIG)".into(),
        RDKafkaErrorCode::InvalidTopic => {
            "the target refuses the name (INVALID_TOPIC_EXCEPTION; does a topic differing only in '.' and '_' exist?)"
                .into()
        }
        other => other.to_string(),
    }
}

/// Creates `specs` in one request; one outcome per spec, in order.
pub async fn create_topics(
    admin: &Admin,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<(String, TopicOutcome)>, Error> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            let mut t = NewTopic::new(
                &s.name,
                s.partitions,
                TopicReplication::Fixed(s.replication_factor),
            );
            for (k, v) in &s.configs {
                t = t.set(k, v);
            }
            t
        })
        .collect();
    let results = with_deadline(
        "CreateTopics",
        timeout,
        admin.create_topics(&new_topics, &options(timeout)),
    )
    .await?;
    Ok(collect_outcomes(
        specs.iter().map(|s| s.name.as_str()),
        results,
    ))
}

/// Raises the partition count of each `(topic, new_count)` in one request.
pub async fn add_partitions(
    admin: &Admin,
    changes: &[(String, i32)],
    timeout: Duration,
) -> Result<Vec<(String, TopicOutcome)>, Error> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let new_partitions: Vec<NewPartitions<'_>> = changes
        .iter()
        .map(|(t, n)| NewPartitions::new(t, (*n).max(0) as usize))
        .collect();
    let results = with_deadline(
        "CreatePartitions",
        timeout,
        admin.create_partitions(&new_partitions, &options(timeout)),
    )
    .await?;
    Ok(collect_outcomes(
        changes.iter().map(|(t, _)| t.as_str()),
        results,
    ))
}

/// Sets and deletes single config keys, one request for all topics; one outcome per topic.
pub async fn alter_configs(
    admin: &Admin,
    changes: &[(String, Vec<AlterConfigOp>)],
    timeout: Duration,
) -> Result<Vec<(String, TopicOutcome)>, Error> {
    let results =
        admin_ext::incremental_alter_configs(admin.as_ref(), changes, false, timeout).await?;
    Ok(results
        .into_iter()
        .map(|(topic, r)| {
            let outcome = match r {
                Ok(()) => TopicOutcome::Done,
                Err(e) => TopicOutcome::Failed(e.to_string()),
            };
            (topic, outcome)
        })
        .collect())
}

async fn with_deadline<T>(
    op: &str,
    timeout: Duration,
    call: impl std::future::Future<Output = rdkafka::error::KafkaResult<T>>,
) -> Result<T, Error> {
    // librdkafka answers by itself within the request timeout; the grace covers a stuck queue.
    match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
        Ok(result) => result.map_err(|e| Error::kafka(format!("{op} on the target"), e)),
        Err(_) => Err(Error::Usage(format!(
            "{op} on the target: no answer within {}",
            humantime::format_duration(timeout)
        ))),
    }
}

fn collect_outcomes<'a>(
    names: impl Iterator<Item = &'a str>,
    results: Vec<rdkafka::admin::TopicResult>,
) -> Vec<(String, TopicOutcome)> {
    let mut by_name: BTreeMap<String, TopicOutcome> = results
        .into_iter()
        .map(|r| match r {
            Ok(name) => (name, TopicOutcome::Done),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                (name, TopicOutcome::AlreadyExists)
            }
            Err((name, code)) => (name, TopicOutcome::Failed(describe_code(code))),
        })
        .collect();
    names
        .map(|n| {
            let outcome = by_name
                .remove(n)
                .unwrap_or_else(|| TopicOutcome::Failed("no result from the broker".into()));
            (n.to_string(), outcome)
        })
        .collect()
}

/// Waits until the target's metadata shows each `(topic, partitions)` with at least that many
/// partitions, or `timeout` passes; returns the topics still not visible. The controller
/// confirms a creation before every broker's metadata shows it (seconds on a busy cluster), and
/// a producer or a comparison right after would not find the topic yet.
pub async fn wait_until_visible(
    admin: &Admin,
    settings: &cluster_config::ClientSettings,
    expected: &[(String, i32)],
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pending: Vec<&(String, i32)> = expected.iter().collect();
    while !pending.is_empty() {
        let topology = crate::compare::fetch_topology(admin, settings, timeout).await?;
        pending.retain(|(topic, partitions)| {
            topology
                .topics
                .get(topic)
                .is_none_or(|l| l.partitions < *partitions)
        });
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(pending.into_iter().map(|(t, _)| t.clone()).collect())
}
