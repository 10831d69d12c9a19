//! The work: ask the cluster for the groups, their members, committed offsets, log-end offsets
//! and the timestamps behind the time lag, and build the report.
//!
//! Requests, in order; a step waits only for what it needs:
//! 1. two clients start connecting at once: the admin client and the consumer of the time-lag
//!    probe, whose first answer from the cluster is the reachability check (an unreachable
//!    cluster is explained with librdkafka's connection error), while the admin requests go
//!    out;
//! 2. ListConsumerGroups (only for `--group-regex` and `--all-groups`);
//! 3. DescribeConsumerGroups (state, members, assignments) and ListConsumerGroupOffsets
//!    (committed offsets), side by side, in batches (see `GROUPS_PER_CALL`); listed groups
//!    in state `Empty` have no members to describe;
//! 4. Metadata of the `--topic` topics (so uncommitted partitions are listed too);
//! 5. ListOffsets Latest, read_uncommitted: the log-end offsets, as Kafka's own tool reads them;
//! 6. the time-lag probe (`probe.rs`) for lagging partitions only.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cluster_config::admin_ext::{
    self, AdminError, GroupDescription, GroupOffsets, GroupState, GroupType, IsolationLevel,
    OffsetSpec,
};
use cluster_config::{ClientSettings, ToolContext};
use futures::StreamExt;
use rdkafka::admin::AdminClient;

use crate::probe::{self, Found, Position, ProbeConsumer};
use crate::report::{GroupLag, Note, PartitionLag, Report, Thresholds};
use crate::teardown::{Held, Retired};
use crate::Error;

/// Groups per DescribeConsumerGroups or ListConsumerGroupOffsets call. librdkafka sends one
/// request per group (DescribeConsumerGroups: two for a classic group, ConsumerGroupDescribe
/// then DescribeGroups) and the coordinator answers a connection's requests one at a time, so
/// thousands of groups in one call queue thousands of requests, and those at the back time out
/// (librdkafka caps every request at `socket.timeout.ms`, 60 s) on a busy broker.
const GROUPS_PER_CALL: usize = 50;

/// Calls of each kind in flight at once: at most 2 × 4 × 50 groups wait on the coordinators.
const CALLS_IN_FLIGHT: usize = 4;

/// A call's timeout: this much, plus [`PER_GROUP_IN_FLIGHT`] for each group in flight (its
/// requests may wait behind all of theirs), never past the deadline. A call that times out is
/// tried once more with all the time left.
const MIN_CALL_TIMEOUT: Duration = Duration::from_secs(5);
const PER_GROUP_IN_FLIGHT: Duration = Duration::from_millis(25);

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

/// The groups to report, with what the cluster said about them.
struct Groups {
    names: Vec<String>,
    descriptions: Vec<GroupDescription>,
    offsets: Vec<GroupOffsets>,
    topic_partitions: BTreeMap<String, i32>,
}

/// Runs the query; the caller puts the global deadline around it. Every client created is
/// handed to `retired`, to be destroyed after the answer.
pub async fn collect(
    query: &Query,
    deadline: Instant,
    phase: &Phase,
    retired: &Retired,
) -> Result<Report, Error> {
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
    let admin = Arc::new(query.client.admin()?);
    retired.keep(Arc::clone(&admin));
    let admin: &AdminClient<ToolContext> = &admin;
    let probe_settings = probe::settings(&query.client);
    // Leave a moment so this explains an unreachable cluster before the global deadline cuts
    // it short; the message names the user's --timeout.
    let reach_time = remaining().saturating_sub(Duration::from_millis(100));
    let reach = reach(query, &probe_settings, reach_time, retired);
    let work = async {
        let names = group_names(query, admin, remaining(), phase, &admin_error).await?;
        phase.set("describing consumer groups and reading their committed offsets");
        let (descriptions, offsets) = futures::join!(
            describe(admin, &names.names, &names.empty, deadline),
            committed(admin, &names.names, deadline),
        );
        let descriptions =
            descriptions.map_err(|e| admin_error("describing consumer groups", e))?;
        let offsets = offsets.map_err(|e| admin_error("reading committed offsets", e))?;
        phase.set("reading topic metadata");
        let topic_partitions = topic_partitions(admin, &query.topics, remaining())?;
        Ok(Groups {
            names: names.names,
            descriptions,
            offsets,
            topic_partitions,
        })
    };
    let (consumer, found_groups) = reachable_and(reach, work, retired).await?;
    let mut consumer = Held::new(consumer, retired);
    let Groups {
        names: groups,
        descriptions,
        offsets,
        topic_partitions,
    } = found_groups;

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
    let request = |spec: OffsetSpec| -> Vec<(String, i32, OffsetSpec)> {
        partitions
            .iter()
            .map(|(t, p)| (t.clone(), *p, spec))
            .collect()
    };
    let (latest, earliest) = (request(OffsetSpec::Latest), request(OffsetSpec::Earliest));
    // The log start offsets, asked for at the same time, only let the time-lag probe skip
    // librdkafka's offset reset when records were deleted: they may fail.
    let (ends, starts) = futures::join!(
        admin_ext::list_offsets(admin, &latest, IsolationLevel::ReadUncommitted, remaining()),
        admin_ext::list_offsets(
            admin,
            &earliest,
            IsolationLevel::ReadUncommitted,
            remaining()
        ),
    );
    let ends = ends.map_err(|e| admin_error("reading log-end offsets", e))?;
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
    let starts: HashMap<(String, i32), i64> = match starts {
        Ok(starts) => starts
            .into_iter()
            .filter_map(|o| match (o.error, o.offset) {
                (None, Some(offset)) => Some(((o.topic, o.partition), offset)),
                _ => None,
            })
            .collect(),
        Err(e) => {
            log::debug!("reading log start offsets: {e}");
            HashMap::new()
        }
    };

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
                                start: starts.get(&(p.topic.clone(), p.partition)).copied(),
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
        probe::probe(
            &probe_settings,
            consumer.take(),
            positions,
            probe_deadline,
            retired,
        )
        .await
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
            // Records below the log start were deleted before the group read them: they are
            // lag (Kafka counts them), never "nothing readable".
            let expired = starts
                .get(&(p.topic.clone(), p.partition))
                .map(|start| start - committed)
                .filter(|e| *e > 0);
            if let Some(expired) = expired {
                p.note = Some(Note::CommittedBelowLogStart { expired });
                if let Some(Found::Timestamp(ts)) =
                    found.get(&(p.topic.clone(), p.partition, committed))
                {
                    p.time_lag_ms = Some((now_ms - ts).max(0));
                }
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

/// The consumer of the time-lag probe, created first, and whether the cluster answered it in
/// `timeout` (see [`ProbeConsumer::wait_for_cluster`]). If librdkafka refuses the consumer
/// (a consumer setting it does not accept), the reachability check is the admin settings'
/// own, as it always was, and the time lag reports the refusal.
async fn reach(
    query: &Query,
    settings: &ClientSettings,
    timeout: Duration,
    retired: &Retired,
) -> (Option<ProbeConsumer>, Result<(), cluster_config::Error>) {
    let (consumer, reached) = match ProbeConsumer::new(settings) {
        Ok(consumer) => {
            let settings = settings.clone();
            let waited = tokio::task::spawn_blocking(move || {
                let reached = consumer.wait_for_cluster(&settings, timeout);
                (consumer, reached)
            })
            .await;
            match waited {
                Ok((consumer, reached)) => (Some(consumer), reached),
                Err(e) => (
                    None,
                    Err(cluster_config::Error::Usage(format!(
                        "reachability check panicked: {e}"
                    ))),
                ),
            }
        }
        Err(e) => {
            log::debug!("time-lag consumer: {e}");
            (None, query.client.check_reachable(timeout).await)
        }
    };
    match reached {
        Ok(()) => (consumer, Ok(())),
        Err(e) => {
            if let Some(consumer) = consumer {
                retired.keep(consumer);
            }
            // The message names the user's --timeout, not the slightly shorter wait.
            let e = match e {
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
            };
            (None, Err(e))
        }
    }
}

/// Runs the reachability check and the first requests side by side. An unreachable cluster
/// is reported as such, whichever finishes first, exactly as if it had been checked before.
async fn reachable_and<T>(
    reach: impl Future<Output = (Option<ProbeConsumer>, Result<(), cluster_config::Error>)>,
    work: impl Future<Output = Result<T, Error>>,
    retired: &Retired,
) -> Result<(Option<ProbeConsumer>, T), Error> {
    tokio::pin!(reach);
    tokio::pin!(work);
    // The consumer is held from the moment it is back: if this future is dropped (the global
    // deadline), it is retired rather than destroyed on the spot.
    let (mut consumer, reached, result) = tokio::select! {
        (consumer, reached) = &mut reach => match reached {
            Err(e) => return Err(e.into()),
            Ok(()) => {
                let consumer = Held::new(consumer, retired);
                (consumer, Ok(()), work.await)
            }
        },
        result = &mut work => {
            let (consumer, reached) = reach.await;
            (Held::new(consumer, retired), reached, result)
        }
    };
    reached?;
    let value = result?;
    Ok((consumer.take(), value))
}

/// The groups to check, deduplicated; for listed groups also those listed in state `Empty`.
struct Names {
    names: Vec<String>,
    /// Listed in state `Empty`: no members, so nothing to describe.
    empty: HashSet<String>,
}

async fn group_names(
    query: &Query,
    admin: &AdminClient<ToolContext>,
    timeout: Duration,
    phase: &Phase,
    admin_error: &impl Fn(&str, AdminError) -> Error,
) -> Result<Names, Error> {
    let selection = match &query.groups {
        GroupSelection::Named(names) => {
            let mut seen = BTreeSet::new();
            let names = names
                .iter()
                .filter(|g| seen.insert(g.as_str()))
                .cloned()
                .collect();
            return Ok(Names {
                names,
                empty: HashSet::new(),
            });
        }
        selection => selection,
    };
    phase.set("listing consumer groups");
    let listing = admin_ext::list_consumer_groups(admin, timeout)
        .await
        .map_err(|e| admin_error("listing consumer groups", e))?;
    for e in &listing.errors {
        log::warn!("listing consumer groups: {e} (groups of that broker are missing)");
    }
    // A group counts as empty only if every listing of it says so.
    let mut empty: HashMap<String, bool> = HashMap::new();
    for g in listing.groups {
        let matches = match selection {
            GroupSelection::Regex(re) => re.is_match(&g.group_id),
            _ => true,
        };
        if matches {
            *empty.entry(g.group_id).or_insert(true) &= g.state == GroupState::Empty;
        }
    }
    let mut names: Vec<String> = empty.keys().cloned().collect();
    names.sort();
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
    let empty = empty
        .into_iter()
        .filter_map(|(name, empty)| empty.then_some(name))
        .collect();
    Ok(Names { names, empty })
}

/// DescribeConsumerGroups for `names`, in their order, in batches. A group in `empty` was
/// listed in state `Empty` a moment ago: it has no members, and is not described again.
async fn describe(
    admin: &AdminClient<ToolContext>,
    names: &[String],
    empty: &HashSet<String>,
    deadline: Instant,
) -> Result<Vec<GroupDescription>, AdminError> {
    let asked: Vec<String> = names
        .iter()
        .filter(|n| !empty.contains(*n))
        .cloned()
        .collect();
    let described = batched(
        &asked,
        names.len(),
        deadline,
        |batch, timeout| async move {
            admin_ext::describe_consumer_groups(admin, &batch, timeout).await
        },
        |name, e| description(name, GroupState::Unknown, Some(group_error(name, e))),
        |d| d.error.as_ref().is_some_and(AdminError::is_timeout),
    )
    .await?;
    let mut by_name: HashMap<String, GroupDescription> = asked.into_iter().zip(described).collect();
    Ok(names
        .iter()
        .map(|n| {
            by_name
                .remove(n)
                .unwrap_or_else(|| description(n, GroupState::Empty, None))
        })
        .collect())
}

/// A description without members.
fn description(name: &str, state: GroupState, error: Option<AdminError>) -> GroupDescription {
    GroupDescription {
        group_id: name.to_string(),
        state,
        group_type: GroupType::Unknown,
        is_simple_consumer_group: false,
        partition_assignor: String::new(),
        coordinator: None,
        members: Vec::new(),
        error,
    }
}

/// ListConsumerGroupOffsets for `names`, in their order, in batches.
async fn committed(
    admin: &AdminClient<ToolContext>,
    names: &[String],
    deadline: Instant,
) -> Result<Vec<GroupOffsets>, AdminError> {
    batched(
        names,
        names.len(),
        deadline,
        |batch, timeout| async move {
            admin_ext::list_consumer_group_offsets(admin, &batch, timeout).await
        },
        |name, e| GroupOffsets {
            group_id: name.to_string(),
            offsets: Vec::new(),
            error: Some(group_error(name, e)),
        },
        |o| o.error.as_ref().is_some_and(AdminError::is_timeout),
    )
    .await
}

/// A call's error as the error of one of its groups.
fn group_error(name: &str, e: &AdminError) -> AdminError {
    let resource = format!("group '{name}'");
    match e {
        AdminError::Timeout { op, .. } => AdminError::Resource {
            op,
            resource,
            code: rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
            message: String::new(),
        },
        AdminError::Request { op, code, message } => AdminError::Resource {
            op,
            resource,
            code: *code,
            message: message.clone(),
        },
        other => other.clone(),
    }
}

/// Runs `call` over `groups` in batches of [`GROUPS_PER_CALL`], [`CALLS_IN_FLIGHT`] at a time,
/// and returns one result per group, in order. `all` is the number of groups being asked
/// about by both kinds of call, for the timeout. Groups that timed out (their call, or they
/// alone) are asked once more with the time left. A call that fails makes `failed` results for
/// its groups; only when no call at all succeeded is the failure returned instead.
async fn batched<T, F, Fut>(
    groups: &[String],
    all: usize,
    deadline: Instant,
    call: F,
    failed: impl Fn(&str, &AdminError) -> T,
    timed_out: impl Fn(&T) -> bool,
) -> Result<Vec<T>, AdminError>
where
    F: Fn(Vec<String>, Duration) -> Fut,
    Fut: Future<Output = Result<Vec<T>, AdminError>>,
{
    let in_flight = 2 * all.min(GROUPS_PER_CALL * CALLS_IN_FLIGHT);
    let first_timeout = MIN_CALL_TIMEOUT + PER_GROUP_IN_FLIGHT * in_flight as u32;
    let mut results: Vec<Option<T>> = groups.iter().map(|_| None).collect();
    let mut todo: Vec<usize> = (0..groups.len()).collect();
    let mut answered = false;
    let mut last_error = None;
    let left = || deadline.saturating_duration_since(Instant::now());
    for attempt in 0..2 {
        if todo.is_empty() || (attempt > 0 && left().is_zero()) {
            break;
        }
        // Made when the call is issued, not when the attempt starts.
        let calls = todo.chunks(GROUPS_PER_CALL).map(|batch| {
            let names = batch.iter().map(|&i| groups[i].clone()).collect();
            let timeout = match attempt {
                0 => first_timeout.min(left()),
                _ => left(),
            };
            let answer = call(names, timeout);
            async move { (batch, answer.await) }
        });
        let answers: Vec<_> = futures::stream::iter(calls)
            .buffer_unordered(CALLS_IN_FLIGHT)
            .collect()
            .await;
        let mut again = Vec::new();
        for (batch, answer) in answers {
            match answer {
                Ok(values) => {
                    answered = true;
                    for (&i, value) in batch.iter().zip(values) {
                        if timed_out(&value) {
                            again.push(i);
                        }
                        results[i] = Some(value);
                    }
                }
                Err(e) => {
                    if e.is_timeout() {
                        again.extend_from_slice(batch);
                    }
                    for &i in batch {
                        results[i] = Some(failed(&groups[i], &e));
                    }
                    last_error = Some(e);
                }
            }
        }
        again.sort_unstable();
        todo = again;
    }
    match last_error {
        Some(e) if !answered => Err(e),
        _ => Ok(groups
            .iter()
            .zip(results)
            .map(|(name, r)| {
                r.unwrap_or_else(|| {
                    failed(
                        name,
                        &AdminError::Unexpected {
                            op: "batch",
                            message: "no answer".into(),
                        },
                    )
                })
            })
            .collect()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaErrorCode;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("g{i:04}")).collect()
    }

    fn timeout() -> AdminError {
        AdminError::Timeout {
            op: "DescribeConsumerGroups",
            after: Duration::from_secs(5),
        }
    }

    /// Runs `batched` with a fake call; returns the results and the batch sizes asked, in order.
    async fn run(
        groups: &[String],
        answer: impl Fn(&[String], usize) -> Result<Vec<String>, AdminError>,
    ) -> (Result<Vec<String>, AdminError>, Vec<usize>) {
        let calls = AtomicUsize::new(0);
        let sizes = Mutex::new(Vec::new());
        let result = batched(
            groups,
            groups.len(),
            Instant::now() + Duration::from_secs(30),
            |batch: Vec<String>, timeout: Duration| {
                assert!(timeout <= Duration::from_secs(30), "{timeout:?}");
                let n = calls.fetch_add(1, Ordering::SeqCst);
                sizes.lock().unwrap().push(batch.len());
                let answer = answer(&batch, n);
                async move { answer }
            },
            |name, e| format!("failed {name}: {e}"),
            |v| v.starts_with("slow"),
        )
        .await;
        (result, sizes.into_inner().unwrap())
    }

    #[tokio::test]
    async fn batches_keep_the_order_and_bound_the_calls() {
        let groups = names(420);
        let (result, sizes) = run(&groups, |batch, _| Ok(batch.to_vec())).await;
        assert_eq!(result.unwrap(), groups);
        assert_eq!(sizes.len(), 9);
        assert!(sizes.iter().all(|&s| s <= GROUPS_PER_CALL), "{sizes:?}");
        let (result, sizes) = run(&[], |_, _| unreachable!()).await;
        assert_eq!(result.unwrap(), Vec::<String>::new());
        assert!(sizes.is_empty());
    }

    #[tokio::test]
    async fn timed_out_groups_are_asked_once_more() {
        let groups = names(120);
        // The first call times out as a whole; in another, one group times out alone.
        let (result, sizes) = run(&groups, |batch, n| match n {
            0 => Err(timeout()),
            _ if n < 3 && batch.contains(&"g0070".to_string()) => Ok(batch
                .iter()
                .map(|g| {
                    if g == "g0070" {
                        format!("slow {g}")
                    } else {
                        g.clone()
                    }
                })
                .collect()),
            _ => Ok(batch.to_vec()),
        })
        .await;
        assert_eq!(result.unwrap(), groups);
        assert_eq!(sizes[..3], [50, 50, 20]);
        assert_eq!(sizes[3..].iter().sum::<usize>(), 51, "{sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_call_fails_only_its_groups_unless_all_fail() {
        let groups = names(60);
        let refused = AdminError::Request {
            op: "DescribeConsumerGroups",
            code: RDKafkaErrorCode::BrokerTransportFailure,
            message: String::new(),
        };
        let (result, sizes) = run(&groups, |batch, n| match n {
            0 => Err(refused.clone()),
            _ => Ok(batch.to_vec()),
        })
        .await;
        let result = result.unwrap();
        assert_eq!(
            sizes,
            [50, 10],
            "no retry for an error that is not a timeout"
        );
        assert_eq!(
            result[0],
            "failed g0000: DescribeConsumerGroups failed: Local: Broker transport failure"
        );
        assert_eq!(result[59], "g0059");
        // Nothing answered: the call's own error, as for a single call.
        let (result, sizes) = run(&groups, |_, _| Err(timeout())).await;
        assert_eq!(result.unwrap_err(), timeout());
        assert_eq!(sizes, [50, 10, 50, 10]);
    }

    #[test]
    fn a_call_error_becomes_the_error_of_each_group() {
        let e = group_error("billing", &timeout());
        assert!(e.is_timeout());
        assert_eq!(
            e.to_string(),
            "DescribeConsumerGroups for group 'billing' failed: Local: Timed out"
        );
    }
}
