//! Time lag: the timestamp of the record at each lagging partition's committed offset (the
//! oldest record the group has not read yet).
//!
//! No admin API returns a record's timestamp by offset, so the record is fetched: one consumer
//! (no group, nothing committed) is `assign`ed every lagging partition at its committed offset,
//! takes the first record of each and pauses that partition. Cost per lagging partition: one
//! fetch of at most `fetch.message.max.bytes` (64 KiB here, or one record batch if larger), and
//! partitions that several groups read at the same offset are fetched once. Groups at different
//! offsets of the same partition need one consumer each ("rounds", at most four at a time).
//!
//! The consumer reads `read_committed`: when nothing readable lies between the committed offset
//! and the end (only transaction markers, aborted records or an open transaction), the partition
//! reaches end-of-partition without a record, which the report shows as caught up.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cluster_config::{ClientSettings, Role, ToolContext};
use futures::StreamExt;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// A partition to look at: topic, partition, committed offset, log-end offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub end: i64,
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

const PARALLEL_ROUNDS: usize = 4;

/// Looks up every position before `deadline`. Positions missing from the answer failed.
pub async fn probe(
    settings: &ClientSettings,
    positions: Vec<Position>,
    deadline: Instant,
) -> HashMap<(String, i32, i64), Found> {
    let rounds = rounds(positions);
    let settings = probe_settings(settings);
    let results: Vec<Vec<(Position, Found)>> = futures::stream::iter(rounds)
        .map(|round| {
            let settings = settings.clone();
            async move {
                let fallback = round.clone();
                match tokio::task::spawn_blocking(move || probe_round(&settings, round, deadline))
                    .await
                {
                    Ok(found) => found,
                    Err(e) => fallback
                        .into_iter()
                        .map(|p| (p, Found::Failed(format!("probe panicked: {e}"))))
                        .collect(),
                }
            }
        })
        .buffer_unordered(PARALLEL_ROUNDS)
        .collect()
        .await;
    results
        .into_iter()
        .flatten()
        .map(|(p, f)| ((p.topic, p.partition, p.offset), f))
        .collect()
}

/// Splits positions into rounds (one consumer each): round k holds the k-th distinct offset of
/// each partition, since one consumer has one position per partition. Duplicates go.
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
fn probe_settings(settings: &ClientSettings) -> ClientSettings {
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
    s.set_default("fetch.wait.max.ms", "100");
    s.set_default("queued.max.messages.kbytes", "1024");
    s
}

fn probe_round(
    settings: &ClientSettings,
    round: Vec<Position>,
    deadline: Instant,
) -> Vec<(Position, Found)> {
    let fail_all = |round: Vec<Position>, why: String| {
        round
            .into_iter()
            .map(|p| (p, Found::Failed(why.clone())))
            .collect::<Vec<_>>()
    };
    let consumer: BaseConsumer<ProbeContext> =
        match settings.create(Role::Consumer, ProbeContext::default()) {
            Ok(c) => c,
            Err(e) => return fail_all(round, e.to_string()),
        };
    let mut tpl = TopicPartitionList::new();
    for p in &round {
        if let Err(e) = tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.offset)) {
            return fail_all(round, e.to_string());
        }
    }
    if let Err(e) = consumer.assign(&tpl) {
        return fail_all(round, format!("assign failed: {e}"));
    }
    let mut pending: HashMap<(String, i32), Position> = round
        .into_iter()
        .map(|p| ((p.topic.clone(), p.partition), p))
        .collect();
    let mut done = Vec::new();
    let mut last_error = None;
    while !pending.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        let resolved: Vec<((String, i32), Found)> = match consumer.poll(wait) {
            None => continue,
            Some(Ok(msg)) => {
                let key = (msg.topic().to_string(), msg.partition());
                let found = match msg.timestamp().to_millis() {
                    Some(ts) => Found::Timestamp(ts),
                    None => Found::NoTimestamp,
                };
                vec![(key, found)]
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                // The error names no topic: resolve it when only one pending partition has
                // this number, otherwise by the fetch position having reached the end.
                let candidates: Vec<&Position> = pending
                    .values()
                    .filter(|p| p.partition == partition)
                    .collect();
                let positions = consumer.position().ok();
                candidates
                    .iter()
                    .filter(|p| {
                        candidates.len() == 1
                            || positions.as_ref().is_some_and(|tpl| {
                                tpl.find_partition(&p.topic, p.partition)
                                    .and_then(|e| match e.offset() {
                                        Offset::Offset(o) => Some(o >= p.end),
                                        _ => None,
                                    })
                                    .unwrap_or(false)
                            })
                    })
                    .map(|p| ((p.topic.clone(), p.partition), Found::NothingReadable))
                    .collect()
            }
            Some(Err(KafkaError::MessageConsumption(
                rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed,
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
        for (key, found) in resolved {
            if let Some(p) = pending.remove(&key) {
                let mut paused = TopicPartitionList::new();
                paused.add_partition(&p.topic, p.partition);
                let _ = consumer.pause(&paused);
                done.push((p, found));
            }
        }
    }
    let why = last_error.unwrap_or_else(|| "no record fetched before the deadline".into());
    done.extend(
        pending
            .into_values()
            .map(|p| (p, Found::Failed(why.clone()))),
    );
    done
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
        let s = probe_settings(&user);
        assert_eq!(s.get("group.id"), Some("kafka-lag-check-probe"));
        assert_eq!(s.get("enable.auto.commit"), Some("false"));
        assert_eq!(s.get("isolation.level"), Some("read_committed"));
        assert_eq!(s.get("enable.partition.eof"), Some("true"));
        assert_eq!(s.get("client.id"), Some("mine"));
        assert_eq!(s.bootstrap(), "h:1");
    }
}
