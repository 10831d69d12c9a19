//! The work: ask the cluster for the groups, their members, committed offsets, log-end offsets
//! and the timestamps behind the time lag, and build the report.
//!
//! Requests, in order (each one call for all groups; librdkafka fans out per coordinator or
//! partition leader and the offsets of every group are fetched concurrently):
//! 1. a metadata request (is the cluster there at all?);
//! 2. ListConsumerGroups (only for `--group-regex` and `--all-groups`);
//! 3. DescribeConsumerGroups: state, members, assignments;
//! 4. ListConsumerGroupOffsets: committed offsets;
//! 5. Metadata of the `--topic` topics (so uncommitted partitions are listed too);
//! 6. ListOffsets Latest, read_uncommitted: the log-end offsets, as Kafka's own tool reads them;
//! 7. the time-lag probe (`probe.rs`) for lagging partitions only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cluster_config::admin_ext::{
    self, AdminError, GroupDescription, GroupOffsets, IsolationLevel, OffsetSpec,
};
use cluster_config::ClientSettings;

use crate::probe::{self, Found, Position};
use crate::report::{GroupLag, Note, PartitionLag, Report, Thresholds};
use crate::Error;

/// Which groups to check.
#[derive(Clone, Debug)]
pub enum GroupSelection {
    Named(Vec<String>),
    Regex(regex::Regex),
    All,
}

/// What the query needs, validated.
#[derive(Clone, Debug)]
pub struct Query {
    pub client: ClientSettings,
    pub groups: GroupSelection,
    pub topics: Vec<String>,
    pub thresholds: Thresholds,
    pub timeout: Duration,
}

/// What the query is doing, for the timeout message.
#[derive(Clone, Default)]
pub struct Phase(Arc<Mutex<&'static str>>);

impl Phase {
    fn set(&self, what: &'static str) {
        if let Ok(mut p) = self.0.lock() {
            *p = what;
        }
    }

    pub fn get(&self) -> &'static str {
        self.0.lock().map(|p| *p).unwrap_or("working")
    }
}

/// Runs the query; the caller puts the global deadline around it.
pub async fn collect(query: &Query, deadline: Instant, phase: &Phase) -> Result<Report, Error> {
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let label = query.client.label().to_string();
    let bootstrap = query.client.bootstrap().to_string();
    let admin_error = move |what: &str, e: AdminError| -> Error {
        if e.is_timeout() {
            Error::Query(format!(
                "no answer from the {label} cluster at {bootstrap} while {what}: {e}"
            ))
        } else {
            Error::Query(format!("{what}: {e}"))
        }
    };

    phase.set("connecting");
    // Leave a moment so this explains an unreachable cluster before the global deadline cuts
    // it short; the message names the user's --timeout.
    let probe_time = remaining().saturating_sub(Duration::from_millis(100));
    query
        .client
        .check_reachable(probe_time)
        .await
        .map_err(|e| match e {
            cluster_config::Error::Unreachable {
                cluster,
                bootstrap,
                cause,
                ..
            } => cluster_config::Error::Unreachable {
                cluster,
                bootstrap,
                timeout: query.timeout,
                cause,
            },
            other => other,
        })?;
    let admin = query.client.admin()?;

    phase.set("listing consumer groups");
    let groups: Vec<String> = match &query.groups {
        GroupSelection::Named(names) => {
            let mut seen = BTreeSet::new();
            names
                .iter()
                .filter(|g| seen.insert(g.as_str()))
                .cloned()
                .collect()
        }
        selection => {
            let listing = admin_ext::list_consumer_groups(&admin, remaining())
                .await
                .map_err(|e| admin_error("listing consumer groups", e))?;
            for e in &listing.errors {
                log::warn!("listing consumer groups: {e} (groups of that broker are missing)");
            }
            let mut names: Vec<String> = listing
                .groups
                .into_iter()
                .map(|g| g.group_id)
                .filter(|g| match selection {
                    GroupSelection::Regex(re) => re.is_match(g),
                    _ => true,
                })
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                return Err(Error::Query(match selection {
                    GroupSelection::Regex(re) => {
                        let pattern = re.as_str();
                        let shown = pattern
                            .strip_prefix("^(?:")
                            .and_then(|p| p.strip_suffix(")$"))
                            .unwrap_or(pattern);
                        format!("no consumer group matches --group-regex '{shown}'")
                    }
                    _ => "the cluster has no consumer groups".to_string(),
                }));
            }
            names
        }
    };

    phase.set("describing consumer groups");
    let descriptions = admin_ext::describe_consumer_groups(&admin, &groups, remaining())
        .await
        .map_err(|e| admin_error("describing consumer groups", e))?;

    phase.set("reading committed offsets");
    let offsets = admin_ext::list_consumer_group_offsets(&admin, &groups, remaining())
        .await
        .map_err(|e| admin_error("reading committed offsets", e))?;

    phase.set("reading topic metadata");
    let topic_partitions = topic_partitions(&admin, &query.topics, remaining())?;

    let listed = !matches!(query.groups, GroupSelection::Named(_));
    let mut checked = Vec::new();
    let mut failed = Vec::new();
    for ((name, description), offsets) in groups.iter().zip(&descriptions).zip(&offsets) {
        let group = group_rows(name, description, offsets, &query.topics, &topic_partitions);
        if group.error.is_some() {
            failed.push(group);
        } else if listed && !query.topics.is_empty() && !reads_topics(&group) {
            // --group-regex/--all-groups with --topic: only the groups that read those topics.
            continue;
        } else {
            checked.push(group);
        }
    }
    if listed && checked.is_empty() && failed.is_empty() {
        return Err(Error::Query(format!(
            "no consumer group has committed offsets or members on topic(s) {}",
            query.topics.join(", ")
        )));
    }

    phase.set("reading log-end offsets");
    let partitions: BTreeSet<(String, i32)> = checked
        .iter()
        .flat_map(|g| g.partitions.iter().map(|p| (p.topic.clone(), p.partition)))
        .collect();
    let request: Vec<(String, i32, OffsetSpec)> = partitions
        .iter()
        .map(|(t, p)| (t.clone(), *p, OffsetSpec::Latest))
        .collect();
    let ends = admin_ext::list_offsets(
        &admin,
        &request,
        IsolationLevel::ReadUncommitted,
        remaining(),
    )
    .await
    .map_err(|e| admin_error("reading log-end offsets", e))?;
    let ends: HashMap<(String, i32), Result<i64, String>> = ends
        .into_iter()
        .map(|o| {
            let value = match (o.error, o.offset) {
                (Some(e), _) => Err(e.to_string()),
                (None, Some(offset)) => Ok(offset),
                (None, None) => Err("no offset returned".to_string()),
            };
            ((o.topic, o.partition), value)
        })
        .collect();

    let mut positions = Vec::new();
    for group in &mut checked {
        for p in &mut group.partitions {
            match ends.get(&(p.topic.clone(), p.partition)) {
                Some(Ok(end)) => {
                    p.log_end_offset = Some(*end);
                    if let Some(committed) = p.committed_offset {
                        let lag = end - committed;
                        p.lag = Some(lag.max(0));
                        if lag < 0 {
                            p.note = Some(Note::CommittedBeyondLogEnd);
                        }
                        if lag > 0 {
                            positions.push(Position {
                                topic: p.topic.clone(),
                                partition: p.partition,
                                offset: committed,
                                end: *end,
                            });
                        } else {
                            p.time_lag_ms = Some(0);
                        }
                    }
                }
                Some(Err(why)) => p.note = Some(Note::LogEndUnknown(why.clone())),
                None => p.note = Some(Note::LogEndUnknown("not returned".into())),
            }
        }
    }

    phase.set("fetching the records at the committed offsets (time lag)");
    // Keep a moment for rendering: an unresolved probe becomes "time lag unknown".
    let probe_deadline = deadline
        .checked_sub(Duration::from_millis(200))
        .unwrap_or(deadline);
    let found = if positions.is_empty() {
        HashMap::new()
    } else {
        probe::probe(&query.client, positions, probe_deadline).await
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for group in &mut checked {
        for p in &mut group.partitions {
            let (Some(committed), Some(lag)) = (p.committed_offset, p.lag) else {
                continue;
            };
            if lag == 0 {
                continue;
            }
            match found.get(&(p.topic.clone(), p.partition, committed)) {
                Some(Found::Timestamp(ts)) => p.time_lag_ms = Some((now_ms - ts).max(0)),
                Some(Found::NoTimestamp) => {
                    p.note = Some(Note::TimeLagUnknown("the record has no timestamp".into()))
                }
                Some(Found::NothingReadable) => {
                    p.note = Some(Note::TransactionMarkersOnly { skipped: lag });
                    p.lag = Some(0);
                    p.time_lag_ms = Some(0);
                }
                Some(Found::Failed(why)) => p.note = Some(Note::TimeLagUnknown(why.clone())),
                None => p.note = Some(Note::TimeLagUnknown("not fetched".into())),
            }
        }
    }

    // Report in the order asked (named groups) or sorted (listed groups).
    let mut all: Vec<GroupLag> = checked.into_iter().chain(failed).collect();
    let order: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    all.sort_by_key(|g| order.get(g.group.as_str()).copied().unwrap_or(usize::MAX));
    Ok(Report::new(all, query.thresholds.clone()))
}

/// The rows of one group as Kafka's tool lists them: every partition assigned to a member
/// (committed or not) and every committed partition; with `--topic`, only those topics, and all
/// their partitions. A group that cannot be checked comes back with its `error` set.
fn group_rows(
    name: &str,
    description: &GroupDescription,
    offsets: &GroupOffsets,
    topics: &[String],
    topic_partitions: &BTreeMap<String, i32>,
) -> GroupLag {
    let state = description.state.as_str();
    if let Some(e) = &description.error {
        if !e.is_group_not_found() {
            return GroupLag::failed(name, state, e.to_string());
        }
    }
    if let Some(e) = &offsets.error {
        if !e.is_group_not_found() {
            return GroupLag::failed(name, state, e.to_string());
        }
    }
    if !description.exists() && offsets.offsets.is_empty() {
        return GroupLag::failed(
            name,
            "Dead",
            format!("consumer group '{name}' does not exist"),
        );
    }
    let wanted = |topic: &str| topics.is_empty() || topics.iter().any(|t| t == topic);
    let mut rows: BTreeMap<(String, i32), PartitionLag> = BTreeMap::new();
    let row = |topic: &str, partition: i32| -> PartitionLag {
        PartitionLag {
            group: name.to_string(),
            topic: topic.to_string(),
            partition,
            committed_offset: None,
            log_end_offset: None,
            lag: None,
            time_lag_ms: None,
            consumer_id: None,
            host: None,
            client_id: None,
            note: Some(Note::NoCommit),
        }
    };
    for member in &description.members {
        for (topic, partition) in member.assignment.iter().filter(|(t, _)| wanted(t)) {
            let mut r = row(topic, *partition);
            r.consumer_id = Some(member.member_id.clone());
            r.host = Some(member.host.clone());
            r.client_id = Some(member.client_id.clone());
            rows.insert((topic.clone(), *partition), r);
        }
    }
    for (topic, count) in topic_partitions {
        for partition in 0..*count {
            rows.entry((topic.clone(), partition))
                .or_insert_with(|| row(topic, partition));
        }
    }
    for committed in offsets.offsets.iter().filter(|c| wanted(&c.topic)) {
        let Some(offset) = committed.offset else {
            continue;
        };
        let r = rows
            .entry((committed.topic.clone(), committed.partition))
            .or_insert_with(|| row(&committed.topic, committed.partition));
        r.committed_offset = Some(offset);
        r.note = None;
    }
    let mut group = GroupLag::failed(name, state, String::new());
    group.error = None;
    group.members = description.members.len();
    group.partitions = rows.into_values().collect();
    group
}

/// The group has a commit or a member on one of its rows.
fn reads_topics(group: &GroupLag) -> bool {
    group
        .partitions
        .iter()
        .any(|p| p.committed_offset.is_some() || p.consumer_id.is_some())
}

/// Partition counts of the `--topic` topics; a topic that does not exist is an error.
fn topic_partitions<C: rdkafka::ClientContext>(
    admin: &rdkafka::admin::AdminClient<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, i32>, Error> {
    let mut counts = BTreeMap::new();
    for topic in topics {
        let metadata =
            tokio::task::block_in_place(|| admin.inner().fetch_metadata(Some(topic), timeout))
                .map_err(|e| Error::Query(format!("reading metadata of topic '{topic}': {e}")))?;
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| Error::Query(format!("topic '{topic}' not in the metadata")))?;
        if let Some(e) = t.error() {
            return Err(Error::Query(format!(
                "topic '{topic}': {}",
                rdkafka::types::RDKafkaErrorCode::from(e)
            )));
        }
        counts.insert(topic.clone(), t.partitions().len() as i32);
    }
    Ok(counts)
}
