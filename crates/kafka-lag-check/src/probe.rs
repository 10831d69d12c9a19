//! Time lag: the timestamp of the record at each lagging partition's committed offset (the
//! oldest record the group has not read yet).
//!
//! No admin API returns a record's timestamp by offset, so the record is fetched: a consumer
//! (no group membership, nothing committed) is `assign`ed every lagging partition at its
//! committed offset, takes the first record of each and pauses that partition. Cost per lagging
//! partition: one fetch of at most `fetch.message.max.bytes` (64 KiB here, or one record batch
//! if larger), and partitions that several groups read at the same offset are fetched once.
//! Groups at different offsets of the same partition need one assignment each ("rounds"): up to
//! four consumers work through the rounds at once, each re-assigning itself for its next round
//! (assign and pause raise librdkafka's fetch version, so nothing still in flight from an
//! earlier round is delivered).
//!
//! The first consumer is created at the very start of the check (see `query.rs`): its first
//! answer from the cluster is also the reachability check, and its connections are up by the
//! time the positions are known. Before an assignment the consumer asks for the metadata of
//! the round's topics (librdkafka would otherwise find their leaders with its once-a-second
//! topic scan), and a committed offset below the log start is fetched from the log start (the
//! oldest record left) rather than through librdkafka's offset reset and its 100 ms backoff.
//!
//! End-of-partition events name the partition number, not the topic: when several pending
//! partitions of a round share the number, they are looked at again in rounds where it is
//! unique (see `probe_round`).
//!
//! The consumer reads `read_committed`: when nothing readable lies between the committed offset
//! and the end (only transaction markers, aborted records or an open transaction), the partition
//! reaches end-of-partition without a record, which the report shows as caught up.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_config::{ClientSettings, Role, ToolContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::teardown::Retired;

/// A partition to look at: topic, partition, committed offset, log-end offset, and the log
/// start offset when known.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub end: i64,
    pub start: Option<i64>,
}

impl Position {
    /// Where the fetch starts: the committed offset, or the log start if the records before it
    /// were deleted (the oldest record left). librdkafka would get there too, by an offset
    /// reset, but only after a fixed 100 ms backoff.
    fn fetch_from(&self) -> i64 {
        self.start
            .map_or(self.offset, |start| self.offset.max(start))
    }
}

/// What was found at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The timestamp (ms since the epoch) of the first readable record at or after the offset.
    Timestamp(i64),
    /// The record has no timestamp.
    NoTimestamp,
    /// Nothing readable up to the end: only transaction markers or aborted/open transactions.
    NothingReadable,
    /// Not found before the deadline, or the fetch failed.
    Failed(String),
}

/// Consumers working through the rounds at once.
const PARALLEL_ROUNDS: usize = 4;

/// A consumer of the probe: group id `kafka-lag-check-probe`, which it never joins or commits.
pub struct ProbeConsumer(BaseConsumer<ProbeContext>);

impl ProbeConsumer {
    /// Creates the consumer from [`settings`]; [`ProbeConsumer::wait_for_cluster`] makes it
    /// connect.
    pub fn new(settings: &ClientSettings) -> Result<ProbeConsumer, cluster_config::Error> {
        settings
            .create(Role::Consumer, ProbeContext::default())
            .map(ProbeConsumer)
    }

    /// Waits until the cluster has answered this consumer, for at most `timeout`: the check
    /// that the cluster is reachable at all, and what makes the consumer connect at once (left
    /// alone, it would wait for its group coordinator timer, up to a second). The request is
    /// for the metadata of one small topic that every cluster with groups has. The error is
    /// the one `ClientSettings::check_reachable` gives (cluster, bootstrap servers, timeout and
    /// librdkafka's last connection error), without a client of its own.
    pub fn wait_for_cluster(
        &self,
        settings: &ClientSettings,
        timeout: Duration,
    ) -> Result<(), cluster_config::Error> {
        let err = match self.0.fetch_metadata(Some("__consumer_offsets"), timeout) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // Serve the error events queued while connecting, so the context has the cause.
        for _ in 0..1000 {
            if self.0.poll(Duration::ZERO).is_none() {
                break;
            }
        }
        Err(settings.unreachable(&self.0.context().0, timeout, &err))
    }
}

/// Looks up every position before `deadline`; `first` is the consumer created at the start of
/// the check (`None` if that failed). Positions missing from the answer were not fetched. The
/// consumers go to `retired`, to be destroyed after the answer.
pub async fn probe(
    settings: &ClientSettings,
    first: Option<ProbeConsumer>,
    positions: Vec<Position>,
    deadline: Instant,
    retired: &Retired,
) -> HashMap<(String, i32, i64), Found> {
    let rounds: Arc<Mutex<VecDeque<Vec<Position>>>> =
        Arc::new(Mutex::new(rounds(positions).into()));
    let workers = PARALLEL_ROUNDS.min(rounds.lock().map(|r| r.len()).unwrap_or(0));
    let mut first = first;
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let consumer = first.take();
        let settings = settings.clone();
        let rounds = rounds.clone();
        let retired = retired.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            work_through(&settings, consumer, &rounds, deadline, &retired)
        }));
    }
    if let Some(unused) = first {
        retired.keep(unused);
    }
    let mut found = HashMap::new();
    for task in tasks {
        match task.await {
            Ok(results) => found.extend(
                results
                    .into_iter()
                    .map(|(p, f)| ((p.topic, p.partition, p.offset), f)),
            ),
            // Its positions come back as not fetched.
            Err(e) => log::debug!("time-lag probe worker failed: {e}"),
        }
    }
    found
}

/// One worker: takes rounds until none is left, with one consumer for all of them.
fn work_through(
    settings: &ClientSettings,
    consumer: Option<ProbeConsumer>,
    rounds: &Mutex<VecDeque<Vec<Position>>>,
    deadline: Instant,
    retired: &Retired,
) -> Vec<(Position, Found)> {
    let next = || rounds.lock().ok().and_then(|mut r| r.pop_front());
    let mut done = Vec::new();
    let consumer = match consumer {
        Some(c) => Ok(c),
        None if Instant::now() >= deadline => Err("no record fetched before the deadline".into()),
        None => ProbeConsumer::new(settings).map_err(|e| e.to_string()),
    };
    match consumer {
        Ok(consumer) => {
            let mut known = BTreeSet::new();
            while let Some(round) = next() {
                let outcome = probe_round(&consumer.0, round, &mut known, deadline);
                done.extend(outcome.found);
                if !outcome.again.is_empty() {
                    if let Ok(mut rounds) = rounds.lock() {
                        rounds.extend(unambiguous(outcome.again));
                    }
                }
            }
            retired.keep(consumer);
        }
        Err(why) => {
            while let Some(round) = next() {
                done.extend(fail_all(round, &why));
            }
        }
    }
    done
}

fn fail_all(round: Vec<Position>, why: &str) -> Vec<(Position, Found)> {
    round
        .into_iter()
        .map(|p| (p, Found::Failed(why.to_string())))
        .collect()
}

/// Splits positions into rounds (one assignment each): round k holds the k-th distinct offset
/// of each partition, since a consumer has one position per partition. Duplicates go.
fn rounds(positions: Vec<Position>) -> Vec<Vec<Position>> {
    let mut by_partition: BTreeMap<(String, i32), Vec<Position>> = BTreeMap::new();
    for p in positions {
        let list = by_partition
            .entry((p.topic.clone(), p.partition))
            .or_default();
        if !list.iter().any(|q| q.offset == p.offset) {
            list.push(p);
        }
    }
    let mut rounds: Vec<Vec<Position>> = Vec::new();
    for list in by_partition.into_values() {
        for (k, p) in list.into_iter().enumerate() {
            if rounds.len() <= k {
                rounds.push(Vec::new());
            }
            rounds[k].push(p);
        }
    }
    rounds
}

/// The user's connection settings for a consumer that never joins a group or commits.
pub fn settings(settings: &ClientSettings) -> ClientSettings {
    let mut s = settings.clone();
    s.remove("group.instance.id");
    for (key, value) in [
        // librdkafka's assign() needs a group id; this one never joins, commits or shows up.
        ("group.id", "kafka-lag-check-probe"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "true"),
        ("isolation.level", "read_committed"),
        // A committed offset below the log start (records deleted): the oldest record left.
        ("auto.offset.reset", "earliest"),
    ] {
        s.force(key, value, "kafka-lag-check");
    }
    s.set_default("fetch.message.max.bytes", "65536");
    // The broker holds a fetch with nothing to return this long: only partitions with nothing
    // readable (an open transaction) wait for it, before their end-of-partition.
    s.set_default("fetch.wait.max.ms", "10");
    s.set_default("queued.max.messages.kbytes", "1024");
    s
}

/// Topics in a round up to which their metadata is asked for one by one; beyond, all at once.
const TOPICS_ASKED_ONE_BY_ONE: usize = 16;

/// Puts the leaders of the round's partitions in the consumer's metadata cache before the
/// assignment. librdkafka asks for the metadata of a topic that only an assignment introduced
/// with its once-a-second topic scan, which made the first fetch wait up to a second. `known`:
/// the topics this consumer has asked for already (in earlier rounds).
fn know_leaders(
    consumer: &BaseConsumer<ProbeContext>,
    round: &[Position],
    known: &mut BTreeSet<String>,
    deadline: Instant,
) {
    let topics: BTreeSet<&str> = round
        .iter()
        .map(|p| p.topic.as_str())
        .filter(|t| !known.contains(*t))
        .collect();
    if topics.is_empty() {
        return;
    }
    let left = || deadline.saturating_duration_since(Instant::now());
    let answered = if topics.len() <= TOPICS_ASKED_ONE_BY_ONE {
        topics
            .iter()
            .map(|topic| consumer.fetch_metadata(Some(topic), left()))
            .find_map(Result::err)
    } else {
        consumer.fetch_metadata(None, left()).err()
    };
    match answered {
        None => known.extend(topics.into_iter().map(String::from)),
        // The assignment still works, only later.
        Some(e) => log::debug!("time-lag probe: metadata: {e}"),
    }
}

/// What one round found, and the positions to look at again, in rounds of their own.
struct Outcome {
    found: Vec<(Position, Found)>,
    again: Vec<Position>,
}

fn probe_round(
    consumer: &BaseConsumer<ProbeContext>,
    round: Vec<Position>,
    known: &mut BTreeSet<String>,
    deadline: Instant,
) -> Outcome {
    let failed = |round, why: &str| Outcome {
        found: fail_all(round, why),
        again: Vec::new(),
    };
    if Instant::now() >= deadline {
        return failed(round, "no record fetched before the deadline");
    }
    let mut tpl = TopicPartitionList::new();
    for p in &round {
        let from = Offset::Offset(p.fetch_from());
        if let Err(e) = tpl.add_partition_offset(&p.topic, p.partition, from) {
            return failed(round, &e.to_string());
        }
    }
    know_leaders(consumer, &round, known, deadline);
    // A partition paused in an earlier round of this consumer stays paused through assign().
    // Resuming first is safe: assign() then raises the fetch version again.
    let _ = consumer.resume(&tpl);
    if let Err(e) = consumer.assign(&tpl) {
        return failed(round, &format!("assign failed: {e}"));
    }
    let mut pending: HashMap<(String, i32), Position> = round
        .into_iter()
        .map(|p| ((p.topic.clone(), p.partition), p))
        .collect();
    // End-of-partition events name the partition number, not the topic (rust-rdkafka drops
    // it). One pending partition of that number: the event is its own. Several: the events are
    // counted, and once they can explain every one of them, or nothing happens for a while,
    // those partitions are set aside to be looked at again in rounds where their number is
    // unique. A partition reaches its end at most once without a record, and the events of a
    // partition that gave its record are dropped by the pause (fetch version), so the count
    // never blames a partition wrongly; at worst one is looked at once more.
    let mut ends: HashMap<i32, usize> = HashMap::new();
    let mut again = Vec::new();
    let mut found = Vec::new();
    let mut last_error = None;
    while !pending.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        let resolved: Vec<((String, i32), Found)> = match consumer.poll(wait) {
            None => {
                // Quiet for a while: the partitions behind ends not yet explained go again.
                for partition in std::mem::take(&mut ends).into_keys() {
                    set_aside(consumer, &mut pending, partition, &mut again);
                }
                continue;
            }
            Some(Ok(msg)) => {
                let key = (msg.topic().to_string(), msg.partition());
                // A fetch never returns a record before where it started.
                if pending
                    .get(&key)
                    .is_some_and(|p| msg.offset() < p.fetch_from())
                {
                    continue;
                }
                let found = match msg.timestamp().to_millis() {
                    Some(ts) => Found::Timestamp(ts),
                    None => Found::NoTimestamp,
                };
                vec![(key, found)]
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                let mut candidates = pending.keys().filter(|k| k.1 == partition);
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => vec![(only.clone(), Found::NothingReadable)],
                    (Some(_), Some(_)) => {
                        *ends.entry(partition).or_default() += 1;
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::TopicAuthorizationFailed,
            ))) => {
                // Waiting cannot help: a monitoring principal with DESCRIBE only may not fetch.
                last_error = Some(
                    "not authorized: time lag needs READ on the topic (lag needs only DESCRIBE)"
                        .into(),
                );
                break;
            }
            Some(Err(e)) => {
                log::debug!("time-lag probe: {e}");
                last_error = Some(e.to_string());
                continue;
            }
        };
        for (key, value) in resolved {
            if let Some(p) = pending.remove(&key) {
                pause(consumer, &p);
                found.push((p, value));
            }
        }
        // Ends that explain every pending partition of their number.
        ends.retain(|&partition, &mut count| {
            let left = pending.keys().filter(|k| k.1 == partition).count();
            if left > 0 && count >= left {
                set_aside(consumer, &mut pending, partition, &mut again);
            }
            left > count
        });
    }
    let why = last_error.unwrap_or_else(|| "no record fetched before the deadline".into());
    found.extend(
        pending
            .into_values()
            .map(|p| (p, Found::Failed(why.clone()))),
    );
    Outcome { found, again }
}

fn pause(consumer: &BaseConsumer<ProbeContext>, p: &Position) {
    let mut paused = TopicPartitionList::new();
    paused.add_partition(&p.topic, p.partition);
    let _ = consumer.pause(&paused);
}

/// Moves the pending partitions numbered `partition` to `again`, paused.
fn set_aside(
    consumer: &BaseConsumer<ProbeContext>,
    pending: &mut HashMap<(String, i32), Position>,
    partition: i32,
    again: &mut Vec<Position>,
) {
    let keys: Vec<(String, i32)> = pending
        .keys()
        .filter(|k| k.1 == partition)
        .cloned()
        .collect();
    for key in keys {
        if let Some(p) = pending.remove(&key) {
            pause(consumer, &p);
            again.push(p);
        }
    }
}

/// Rounds in which no two positions share a partition number, so that an end-of-partition
/// event can only be one partition's.
fn unambiguous(positions: Vec<Position>) -> Vec<Vec<Position>> {
    let mut by_number: BTreeMap<i32, Vec<Position>> = BTreeMap::new();
    for p in positions {
        by_number.entry(p.partition).or_default().push(p);
    }
    let mut rounds: Vec<Vec<Position>> = Vec::new();
    for list in by_number.into_values() {
        for (k, p) in list.into_iter().enumerate() {
            if rounds.len() <= k {
                rounds.push(Vec::new());
            }
            rounds[k].push(p);
        }
    }
    rounds
}

/// The tool's quiet context, usable by a consumer.
#[derive(Clone, Default)]
struct ProbeContext(ToolContext);

impl ClientContext for ProbeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(error, reason);
    }
}

impl ConsumerContext for ProbeContext {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(topic: &str, partition: i32, offset: i64) -> Position {
        Position {
            topic: topic.into(),
            partition,
            offset,
            end: 100,
            start: None,
        }
    }

    #[test]
    fn one_round_per_distinct_offset_of_a_partition() {
        let rounds = rounds(vec![
            pos("a", 0, 5),
            pos("a", 0, 5),
            pos("a", 0, 7),
            pos("a", 1, 5),
            pos("b", 0, 1),
        ]);
        assert_eq!(
            rounds,
            vec![
                vec![pos("a", 0, 5), pos("a", 1, 5), pos("b", 0, 1)],
                vec![pos("a", 0, 7)],
            ]
        );
        assert!(super::rounds(Vec::new()).is_empty());
    }

    #[test]
    fn set_aside_positions_go_again_with_unique_partition_numbers() {
        let rounds = unambiguous(vec![
            pos("a", 0, 5),
            pos("b", 0, 5),
            pos("c", 0, 1),
            pos("a", 1, 5),
            pos("b", 2, 5),
        ]);
        assert_eq!(
            rounds,
            vec![
                vec![pos("a", 0, 5), pos("a", 1, 5), pos("b", 2, 5)],
                vec![pos("b", 0, 5)],
                vec![pos("c", 0, 1)],
            ]
        );
    }

    #[test]
    fn probe_settings_never_commit_and_read_committed() {
        let mut user = ClientSettings::from_parts(
            "source",
            None,
            Some(("h:1", "--bootstrap-server")),
            &[
                "group.id=app".into(),
                "enable.auto.commit=true".into(),
                "isolation.level=read_uncommitted".into(),
            ],
        )
        .unwrap();
        user.set_default("client.id", "mine");
        let s = settings(&user);
        assert_eq!(s.get("group.id"), Some("kafka-lag-check-probe"));
        assert_eq!(s.get("enable.auto.commit"), Some("false"));
        assert_eq!(s.get("isolation.level"), Some("read_committed"));
        assert_eq!(s.get("enable.partition.eof"), Some("true"));
        assert_eq!(s.get("client.id"), Some("mine"));
        assert_eq!(s.bootstrap(), "h:1");
    }
}
