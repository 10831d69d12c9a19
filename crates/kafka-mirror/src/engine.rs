//! The copy engine: consumer threads (num.streams per source cluster) hand records to a pool of
//! producers; delivery callbacks release offsets in per-partition trackers; commits carry only
//! what the target acknowledged.
//!
//! Threads: one OS thread per consumer (it polls, produces, commits, and runs the rebalance
//! hooks, which librdkafka calls from inside poll), one polling thread per ThreadedProducer (it
//! runs the delivery callbacks), a topic watcher, a reporter, and a small tokio runtime for
//! signals, admin calls and the metrics endpoint.
//!
//! Commit protocol, per source partition: every consumed offset enters the partition's
//! tracker before it is produced; the delivery callback marks it done (or failed). A commit —
//! every commit interval, before partitions are revoked, at shutdown — carries the tracker's
//! committable offset: the first offset not yet acknowledged, or, when nothing is pending, the
//! consumer's position. A record that failed for good is never passed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use crate::cli::PartitionMode;
use crate::metrics::Metrics;
use crate::murmur2::java_partition;
use crate::topics::{Preparer, TargetTopic, TargetTopics};
use crate::tracker::{Consumed, OffsetTracker};

/// Why the mirror stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Signal,
    CaughtUp,
    /// A record could not be delivered (abort.on.send.failure=true): the error line.
    SendFailed(String),
    /// Anything else that stops the mirror: the error line.
    Fatal(String),
}

impl Stop {
    fn severity(&self) -> u8 {
        match self {
            Stop::Signal | Stop::CaughtUp => 0,
            Stop::SendFailed(_) => 1,
            Stop::Fatal(_) => 2,
        }
    }
}

/// One source cluster's subscription: the topics whose target topics are ready.
#[derive(Debug, Default)]
pub struct Subscription {
    topics: Mutex<Vec<String>>,
    generation: AtomicU64,
}

impl Subscription {
    pub fn set(&self, topics: Vec<String>) {
        *self.topics.lock().unwrap_or_else(|e| e.into_inner()) = topics;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current(&self) -> (u64, Vec<String>) {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        (self.generation.load(Ordering::Acquire), topics.clone())
    }
}

/// State shared by every thread of the mirror.
pub struct Shared {
    pub topics: TargetTopics,
    pub metrics: Metrics,
    pub subscriptions: Vec<Subscription>,
    pub preparer: Preparer,
    cluster_labels: Vec<String>,
    mode: PartitionMode,
    abort_on_send_failure: bool,
    queue_size: usize,
    shutdown_timeout: Duration,
    in_flight: AtomicUsize,
    /// Slots taken by consumers waiting in poll (not records yet).
    polling: AtomicUsize,
    stopping: AtomicBool,
    stop: Mutex<(Option<Stop>, Option<Instant>)>,
    /// Signalled with `stop` (see `sleep_unless_stopping`).
    stop_signal: std::sync::Condvar,
    skip_log: RateLimitedLog,
    /// Signalled after every successful commit (the --until-caught-up check waits on it).
    pub committed: tokio::sync::Notify,
}

impl Shared {
    pub fn new(
        cluster_labels: Vec<String>,
        preparer: Preparer,
        mode: PartitionMode,
        abort_on_send_failure: bool,
        queue_size: usize,
        shutdown_timeout: Duration,
    ) -> Self {
        Self {
            topics: TargetTopics::default(),
            metrics: Metrics::default(),
            subscriptions: cluster_labels
                .iter()
                .map(|_| Subscription::default())
                .collect(),
            preparer,
            cluster_labels,
            mode,
            abort_on_send_failure,
            queue_size,
            shutdown_timeout,
            in_flight: AtomicUsize::new(0),
            polling: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            stop: Mutex::new((None, None)),
            stop_signal: std::sync::Condvar::new(),
            skip_log: RateLimitedLog::default(),
            committed: tokio::sync::Notify::new(),
        }
    }

    pub fn cluster_label(&self, cluster: usize) -> &str {
        &self.cluster_labels[cluster]
    }

    /// Records consumed and not yet acknowledged (or failed).
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .load(Ordering::Acquire)
            .saturating_sub(self.polling.load(Ordering::Acquire))
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Asks every thread to stop; the most severe reason wins.
    pub fn request_stop(&self, why: Stop) {
        let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if stop
            .0
            .as_ref()
            .is_none_or(|s| why.severity() > s.severity())
        {
            stop.0 = Some(why);
        }
        if stop.1.is_none() {
            stop.1 = Some(Instant::now() + self.shutdown_timeout);
        }
        self.stopping.store(true, Ordering::Release);
        self.stop_signal.notify_all();
    }

    /// Sleeps for `duration`, or less if a stop is (or gets) requested.
    pub fn sleep_unless_stopping(&self, duration: Duration) {
        let stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .stop_signal
            .wait_timeout_while(stop, duration, |_| !self.stopping());
    }

    pub fn stop_reason(&self) -> Option<Stop> {
        self.stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// When waiting for records in flight gives up, once stopping.
    fn shutdown_deadline(&self) -> Instant {
        self.stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .unwrap_or_else(|| Instant::now() + self.shutdown_timeout)
    }

    /// Takes one of the queue.size slots for a record about to be consumed.
    fn try_reserve(&self) -> bool {
        let mut current = self.in_flight.load(Ordering::Acquire);
        loop {
            if current >= self.queue_size {
                return false;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    fn release_n(&self, n: usize) {
        if n > 0 {
            self.in_flight.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// `offset` was acknowledged (or skipped): releases the queue.size slots of the entries
    /// that left the front of its tracker. A slot is held until then, so acknowledged records
    /// waiting behind a slow one count against queue.size and the trackers stay bounded.
    fn acked(&self, state: &PartitionState, offset: i64) {
        let popped = state.tracker().done(offset);
        self.release_n(popped);
    }

    /// `offset` will not be delivered: it blocks the commits, and its slot is released.
    fn gave_up(&self, state: &PartitionState, offset: i64) {
        if state.tracker().failed(offset) {
            self.release();
        }
    }

    /// A record that failed for good: abort (stop, never commit past it) or, for an error of
    /// the record itself and abort.on.send.failure=false, skip it (count, log, release it).
    /// Errors of the topic or the cluster (authorization, unknown topic, ...) would fail
    /// every record of the topic: they always stop the mirror.
    fn send_failed(&self, state: &PartitionState, offset: i64, error: &KafkaError) {
        state.topic.send_errors.fetch_add(1, Ordering::Relaxed);
        let line = format!(
            "cannot mirror {} partition {} offset {offset} (from the {} cluster) to the target: {}{}",
            state.topic.name,
            state.partition,
            self.cluster_label(state.cluster),
            error,
            hint(error)
        );
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Fatal) | Some(RDKafkaErrorCode::InvalidProducerEpoch)
        ) {
            // The producer itself is broken: every later record would fail too. Never skip.
            self.gave_up(state, offset);
            self.request_stop(Stop::Fatal(line));
        } else if self.abort_on_send_failure || !record_level(error) {
            self.gave_up(state, offset);
            self.request_stop(Stop::SendFailed(line));
        } else {
            // One line per topic and error every 30 s; send_errors counts them all.
            let key = format!("{} {:?}", state.topic.name, error.rdkafka_error_code());
            self.skip_log.warn_keyed(&key, &format!("skipped: {line}"));
            self.acked(state, offset);
        }
    }
}

/// Errors of one record (its size, format or timestamp): skipping it loses that record only.
/// Any other error is the topic's or the cluster's and is never skipped.
fn record_level(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidTimestamp
                | RDKafkaErrorCode::MessageBatchTooLarge
        )
    )
}

/// What the operator can do about a send failure.
fn hint(error: &KafkaError) -> &'static str {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => {
            " (raise the target topic's max.message.bytes and, if needed, message.max.bytes in the producer config; \
             or run with --abort.on.send.failure false to skip such records)"
        }
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
        | Some(RDKafkaErrorCode::ClusterAuthorizationFailed) => {
            " (grant the mirror's principal Write on the target topic)"
        }
        _ => "",
    }
}

/// One assigned source partition: its tracker and its target topic.
pub struct PartitionState {
    cluster: usize,
    topic: Arc<TargetTopic>,
    partition: i32,
    tracker: Mutex<OffsetTracker>,
}

impl PartitionState {
    fn tracker(&self) -> std::sync::MutexGuard<'_, OffsetTracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a delivery callback needs to release the record's source offset.
pub struct Delivery {
    state: Arc<PartitionState>,
    offset: i64,
}

/// librdkafka's log lines and errors at warn, each distinct text at most once per 30 s.
#[derive(Default)]
pub struct RateLimitedLog {
    last: Mutex<HashMap<String, Instant>>,
}

impl RateLimitedLog {
    fn warn(&self, who: &str, text: &str) {
        let key = text.chars().take(200).collect::<String>();
        self.warn_keyed(&key, &format!("{who}: {text}"));
    }

    /// Logs `line` unless a line with the same `key` was logged in the last 30 s.
    fn warn_keyed(&self, key: &str, line: &str) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.len() > 1000 {
            last.clear();
        }
        let key = key.to_string();
        if last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(30))
        {
            return;
        }
        last.insert(key, now);
        log::warn!("{line}");
    }
}

/// The producers' context: delivery callbacks release offsets.
///
/// The broker rejects a whole batch when one record in it is too large (or otherwise invalid),
/// and librdkafka fails every record of that batch alike. So such a failure is not trusted:
/// the record is sent again, alone, through the `single` producer (one record per batch), and
/// only a failure there counts as the record's own. The re-sent records keep their order among
/// themselves but may land after later records of the same partition.
pub struct MirrorProducerContext {
    shared: Arc<Shared>,
    single: Option<Arc<MirrorProducer>>,
    log: RateLimitedLog,
}

impl MirrorProducerContext {
    /// `single`: where batch-level failures are retried one record at a time (`None` for that
    /// producer itself).
    pub fn new(shared: Arc<Shared>, single: Option<Arc<MirrorProducer>>) -> Self {
        Self {
            shared,
            single,
            log: RateLimitedLog::default(),
        }
    }

    /// Sends a record that failed in a batch again, alone.
    fn retry_alone(&self, msg: &BorrowedMessage<'_>, delivery: Box<Delivery>) -> Retry {
        let Some(single) = &self.single else {
            return Retry::NotQueued(delivery);
        };
        let mut record = copy_of(msg, msg.topic(), msg.partition(), delivery);
        // This runs on the delivery thread of the producer that failed the batch: while it
        // waits, none of that producer's acknowledgements is processed. `single`'s queue is
        // larger than queue.size, so it is full only when the target does not take anything;
        // past the shutdown deadline, give up (the record is not delivered, not committed).
        loop {
            match single.send(record) {
                Ok(()) => return Retry::Queued,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if self.shared.stopping() && Instant::now() >= self.shared.shutdown_deadline() {
                        return Retry::GaveUp(back.delivery_opaque);
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((_, back)) => return Retry::NotQueued(back.delivery_opaque),
            }
        }
    }
}

/// The record to produce for `msg`: its key, value, timestamp and headers, to `topic` and
/// `partition` of the target, carrying `delivery` to the delivery callback.
fn copy_of<'a>(
    msg: &'a BorrowedMessage<'_>,
    topic: &'a str,
    partition: i32,
    delivery: Box<Delivery>,
) -> BaseRecord<'a, [u8], [u8], Box<Delivery>> {
    let mut record = BaseRecord::with_opaque_to(topic, delivery).partition(partition);
    if let Some(key) = msg.key() {
        record = record.key(key);
    }
    if let Some(value) = msg.payload() {
        record = record.payload(value);
    }
    // A record without a timestamp (-1) keeps -1: left unset, librdkafka would stamp "now".
    record = record.timestamp(msg.timestamp().to_millis().unwrap_or(-1));
    if let Some(headers) = msg.headers() {
        record = record.headers(headers.detach());
    }
    record
}

/// What became of a record re-sent alone.
enum Retry {
    /// In flight again, in the single-record producer.
    Queued,
    /// Refused: the original failure stands.
    NotQueued(Box<Delivery>),
    /// Stopping, and the single-record producer's queue stayed full past the deadline.
    GaveUp(Box<Delivery>),
}

/// Errors the broker gives a whole batch for one bad record in it.
fn batch_level(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTimestamp
                | RDKafkaErrorCode::InvalidMessage
        )
    )
}

impl ClientContext for MirrorProducerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.log.warn("target", message);
        } else {
            log::debug!(target: "librdkafka", "{fac}: {message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::Fatal)) {
            self.shared
                .request_stop(Stop::Fatal(format!("target producer failed: {reason}")));
        }
        self.log.warn("target", reason);
    }
}

impl ProducerContext for MirrorProducerContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        let delivery = match result {
            Err((e, msg)) if batch_level(e) && self.single.is_some() => {
                match self.retry_alone(msg, delivery) {
                    // Still in flight, now in the single-record producer.
                    Retry::Queued => return,
                    Retry::NotQueued(d) => d,
                    Retry::GaveUp(d) => {
                        // Like a purge: not delivered, never committed past.
                        self.shared.gave_up(&d.state, d.offset);
                        return;
                    }
                }
            }
            _ => delivery,
        };
        let Delivery { state, offset } = *delivery;
        match result {
            Ok(msg) => {
                let bytes = msg.payload_len() + msg.key_len();
                state.topic.records.fetch_add(1, Ordering::Relaxed);
                state.topic.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                self.shared.acked(&state, offset);
            }
            // Purged at shutdown: not delivered, so never committed past; not a send failure.
            Err((
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight,
                ),
                _,
            )) => self.shared.gave_up(&state, offset),
            Err((e, _)) => self.shared.send_failed(&state, offset, e),
        }
    }
}

/// The partitions one consumer owns, by topic then partition.
type Owned = HashMap<String, HashMap<i32, Arc<PartitionState>>>;

/// A consumer's context: rebalance hooks (commit what is acked before giving partitions up),
/// statistics (lag), and librdkafka's errors at warn. It holds no reference to its consumer:
/// librdkafka passes it to the hooks.
pub struct MirrorConsumerContext {
    shared: Arc<Shared>,
    cluster: usize,
    owned: Mutex<Owned>,
    /// Bumped whenever an owned partition's state is replaced or dropped (see StateCache).
    owned_generation: AtomicU64,
    paused: AtomicBool,
    /// The consumer is being closed. rust-rdkafka's close polls the consumer and drops the
    /// records it gets, which moves the consumer's position past records never mirrored: from
    /// then on commits trust the trackers alone, never the position.
    closing: AtomicBool,
    log: RateLimitedLog,
}

pub type MirrorConsumer = BaseConsumer<MirrorConsumerContext>;
pub type MirrorProducer = ThreadedProducer<MirrorProducerContext>;

impl MirrorConsumerContext {
    pub fn new(shared: Arc<Shared>, cluster: usize) -> Self {
        Self {
            shared,
            cluster,
            owned: Mutex::new(HashMap::new()),
            owned_generation: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            log: RateLimitedLog::default(),
        }
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state of an owned partition, created if the assignment hook has not (defensive).
    fn state(&self, topic: &str, partition: i32) -> Arc<PartitionState> {
        let mut owned = self.owned();
        if let Some(s) = owned.get(topic).and_then(|t| t.get(&partition)) {
            return Arc::clone(s);
        }
        log::debug!("{topic} [{partition}]: a record of a partition not in the assignment");
        let state = self.new_state(topic, partition);
        owned
            .entry(topic.to_string())
            .or_default()
            .insert(partition, Arc::clone(&state));
        state
    }

    fn new_state(&self, topic: &str, partition: i32) -> Arc<PartitionState> {
        Arc::new(PartitionState {
            cluster: self.cluster,
            topic: self.shared.topics.get(topic),
            partition,
            tracker: Mutex::new(OffsetTracker::new()),
        })
    }

    fn all_states(&self) -> Vec<Arc<PartitionState>> {
        self.owned()
            .values()
            .flat_map(|t| t.values().cloned())
            .collect()
    }

    fn states_of(&self, tpl: &TopicPartitionList) -> Vec<Arc<PartitionState>> {
        let owned = self.owned();
        tpl.elements()
            .iter()
            .filter_map(|e| owned.get(e.topic()).and_then(|t| t.get(&e.partition())))
            .cloned()
            .collect()
    }

    /// Forgets the owned partitions that are no longer in `assignment`, as on a revoke.
    fn forget_unassigned(&self, assignment: &TopicPartitionList) {
        let mut gone = TopicPartitionList::new();
        for (topic, partitions) in self.owned().iter() {
            for p in partitions.keys() {
                if assignment.find_partition(topic, *p).is_none() {
                    gone.add_partition(topic, *p);
                }
            }
        }
        if gone.count() == 0 {
            return;
        }
        log::warn!(
            "{}: {} partitions dropped from the assignment after a rebalance error",
            self.shared.cluster_label(self.cluster),
            gone.count()
        );
        self.forget(&gone);
        let mut lag = self
            .shared
            .metrics
            .lag
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for e in gone.elements() {
            lag.remove(&(self.cluster, e.topic().to_string(), e.partition()));
        }
    }

    fn forget(&self, tpl: &TopicPartitionList) {
        let mut owned = self.owned();
        for e in tpl.elements() {
            if let Some(t) = owned.get_mut(e.topic()) {
                t.remove(&e.partition());
                if t.is_empty() {
                    owned.remove(e.topic());
                }
            }
        }
        // After the change (see ConsumerLoop::state).
        self.owned_generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl ClientContext for MirrorConsumerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.log
                .warn(self.shared.cluster_label(self.cluster), message);
        } else {
            log::debug!(target: "librdkafka", "{fac}: {message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::Fatal)) {
            self.shared.request_stop(Stop::Fatal(format!(
                "{} consumer failed: {reason}",
                self.shared.cluster_label(self.cluster)
            )));
        }
        self.log
            .warn(self.shared.cluster_label(self.cluster), reason);
    }

    fn stats(&self, statistics: Statistics) {
        let owned: Vec<(String, i32)> = self
            .owned()
            .iter()
            .flat_map(|(t, ps)| ps.keys().map(move |p| (t.clone(), *p)))
            .collect();
        let mut lag = self
            .shared
            .metrics
            .lag
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (topic, partition) in owned {
            if let Some(p) = statistics
                .topics
                .get(&topic)
                .and_then(|t| t.partitions.get(&partition))
            {
                if p.consumer_lag >= 0 {
                    lag.insert((self.cluster, topic, partition), p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for MirrorConsumerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.shared
                    .metrics
                    .rebalances
                    .fetch_add(1, Ordering::Relaxed);
                let states = self.states_of(tpl);
                if !consumer.assignment_lost() {
                    // Wait for the revoked partitions' records, then commit what the target has.
                    let deadline = if self.shared.stopping() {
                        self.shared.shutdown_deadline()
                    } else {
                        Instant::now() + self.shared.shutdown_timeout
                    };
                    if !wait_settled(&states, deadline) {
                        log::warn!(
                            "giving up {} partitions with records still in flight: the next owner will mirror them again",
                            states.len()
                        );
                    }
                    if let Err(e) = commit(consumer, &self.shared, &states) {
                        log::warn!(
                            "committing revoked partitions of the {} cluster: {e}",
                            self.shared.cluster_label(self.cluster)
                        );
                    }
                }
                for s in &states {
                    let t = s.tracker();
                    log::debug!(
                        "revoked {} [{}]: committed {:?}, {} in flight",
                        s.topic.name,
                        s.partition,
                        t.committed(),
                        t.in_flight()
                    );
                }
                self.forget(tpl);
                let mut lag = self
                    .shared
                    .metrics
                    .lag
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                for e in tpl.elements() {
                    lag.remove(&(self.cluster, e.topic().to_string(), e.partition()));
                }
                log::info!(
                    "{}: {} partitions revoked",
                    self.shared.cluster_label(self.cluster),
                    tpl.count()
                );
            }
            Rebalance::Assign(tpl) => {
                self.shared
                    .metrics
                    .rebalances
                    .fetch_add(1, Ordering::Relaxed);
                let mut owned = self.owned();
                for e in tpl.elements() {
                    let state = self.new_state(e.topic(), e.partition());
                    owned
                        .entry(e.topic().to_string())
                        .or_default()
                        .insert(e.partition(), state);
                }
                drop(owned);
                self.owned_generation.fetch_add(1, Ordering::AcqRel);
            }
            Rebalance::Error(e) => {
                // rust-rdkafka then unassigns (all of the assignment, or the partitions of the
                // error with the cooperative protocol): post_rebalance forgets what is gone.
                log::warn!(
                    "{}: rebalance error: {e}",
                    self.shared.cluster_label(self.cluster)
                );
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Error(_) = rebalance {
            // Partitions no longer assigned keep no state: a stale tracker would otherwise
            // be committed from, and the partition's next owner restarts from its commit.
            match consumer.assignment() {
                Ok(assignment) => self.forget_unassigned(&assignment),
                Err(_) => self.forget_unassigned(&TopicPartitionList::new()),
            }
        }
        if let Rebalance::Assign(tpl) = rebalance {
            // The position at assignment: one that differs later moved during this assignment
            // (see OffsetTracker::committable).
            if let Ok(positions) = consumer.position() {
                for s in self.states_of(tpl) {
                    let at = match positions
                        .find_partition(&s.topic.name, s.partition)
                        .map(|e| e.offset())
                    {
                        Some(Offset::Offset(o)) => Some(o),
                        _ => None,
                    };
                    log::debug!(
                        "assigned {} [{}], position {at:?}",
                        s.topic.name,
                        s.partition
                    );
                    s.tracker().set_assigned_at(at);
                }
            }
            log::info!(
                "{}: {} partitions assigned",
                self.shared.cluster_label(self.cluster),
                tpl.count()
            );
            if self.paused.load(Ordering::Acquire) {
                let _ = consumer.pause(tpl);
            }
        }
    }
}

/// Waits until none of `states` has a record in flight, or `deadline`. True when settled.
fn wait_settled(states: &[Arc<PartitionState>], deadline: Instant) -> bool {
    loop {
        if states.iter().all(|s| s.tracker().settled()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Commits (synchronously) the committable offsets of `states` that advanced.
fn commit(
    consumer: &MirrorConsumer,
    shared: &Shared,
    states: &[Arc<PartitionState>],
) -> Result<(), KafkaError> {
    if states.is_empty() {
        return Ok(());
    }
    // The position is trusted only while every record the consumer hands out comes to us.
    let positions = if consumer.context().closing.load(Ordering::Acquire) {
        None
    } else {
        consumer.position().ok()
    };
    let mut tpl = TopicPartitionList::new();
    let mut advanced = Vec::new();
    for s in states {
        let position = positions.as_ref().and_then(|p| {
            match p.find_partition(&s.topic.name, s.partition)?.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }
        });
        if let Some(offset) = s.tracker().to_commit(position) {
            tpl.add_partition_offset(&s.topic.name, s.partition, Offset::Offset(offset))?;
            advanced.push((Arc::clone(s), offset));
        }
    }
    if advanced.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => {
            shared.metrics.commit_done(started.elapsed());
            for (s, offset) in advanced {
                let mut tracker = s.tracker();
                log::debug!(
                    "committed {} [{}] at {offset} ({} in flight)",
                    s.topic.name,
                    s.partition,
                    tracker.in_flight()
                );
                tracker.mark_committed(offset);
            }
            shared.committed.notify_one();
            Ok(())
        }
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        Err(e) => {
            shared
                .metrics
                .commit_failures
                .fetch_add(1, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// How often at most a drained mirror commits what the target acknowledged since.
const IDLE_COMMIT: Duration = Duration::from_millis(100);

/// How long a target partition may stay unknown to the producer after the topic was prepared.
const UNKNOWN_PARTITION_PATIENCE: Duration = Duration::from_secs(60);

/// One consumer's loop: poll, produce, commit on time; on stop, wait for records in flight
/// (bounded), commit, close.
pub struct ConsumerLoop {
    pub shared: Arc<Shared>,
    pub cluster: usize,
    pub consumer: MirrorConsumer,
    pub producers: Arc<Vec<MirrorProducer>>,
    pub commit_interval: Duration,
    /// How long a poll waits when there is nothing to fetch: also how late a drained loop
    /// notices a stop, and commits what was acknowledged since its last poll.
    pub idle_poll: Duration,
    pub cache: StateCache,
    /// For error lines that name what the source refused.
    pub group_id: String,
    pub principal: Option<String>,
}

/// The consumer thread's last partition state, so consecutive records of one partition skip
/// the owned map's lock and hash lookups. Valid while the context's owned generation is.
#[derive(Default)]
pub struct StateCache(std::cell::RefCell<Option<CachedState>>);

/// (owned generation, topic, partition, state).
type CachedState = (u64, String, i32, Arc<PartitionState>);

impl ConsumerLoop {
    pub fn run(self) {
        let shared = Arc::clone(&self.shared);
        let label = shared.cluster_label(self.cluster).to_string();
        if let Err(e) = self.run_inner() {
            shared.request_stop(Stop::Fatal(format!("{label}: {e}")));
        }
    }

    fn run_inner(&self) -> Result<(), String> {
        let shared = &self.shared;
        let subscription = &shared.subscriptions[self.cluster];
        let mut generation = u64::MAX;
        let mut last_commit = Instant::now();
        let mut last_commit_error: Option<String> = None;
        // The last poll found nothing to fetch: the source is drained for now.
        let mut idle = false;
        // Reading the clock costs more than handing a record over on some VMs: the commit
        // timer is looked at every 16 records, and after any wait (a poll that found nothing,
        // a full queue.size): a flow under 10 records/s is never more than 1.6 s late.
        let mut tick: u32 = 0;
        // The last iteration got a queue.size slot at once (false: it waited for one).
        let mut reserved_before = true;
        while !shared.stopping() {
            if subscription.generation.load(Ordering::Acquire) != generation {
                let (g, topics) = subscription.current();
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                if names.is_empty() {
                    self.consumer.unsubscribe();
                } else {
                    self.consumer
                        .subscribe(&names)
                        .map_err(|e| format!("subscribing: {e}"))?;
                }
                generation = g;
            }
            // Due every commit interval, and also as soon as the source is drained (at most
            // every IDLE_COMMIT): a mirror that has caught up shows no lag in its group, and
            // --until-caught-up ends without waiting for the interval.
            tick = tick.wrapping_add(1);
            let since = if idle || !reserved_before || tick % 16 == 0 {
                last_commit.elapsed()
            } else {
                Duration::ZERO
            };
            if since >= self.commit_interval || (idle && since >= IDLE_COMMIT) {
                let states = self.consumer.context().all_states();
                match commit(&self.consumer, shared, &states) {
                    Ok(()) => last_commit_error = None,
                    Err(e) => {
                        // Transient (coordinator moving, group rebalancing): retried next
                        // time; the offsets stay uncommitted, nothing is lost. A rebalance
                        // refuses commits as a matter of course: not worth a warning.
                        let text = e.to_string();
                        if last_commit_error.as_deref() != Some(&text) {
                            if matches!(
                                e,
                                KafkaError::ConsumerCommit(
                                    RDKafkaErrorCode::RebalanceInProgress
                                        | RDKafkaErrorCode::IllegalGeneration
                                )
                            ) {
                                log::info!("commit deferred, the group is rebalancing: {text}");
                            } else {
                                log::warn!("commit failed, will retry: {text}");
                            }
                        }
                        last_commit_error = Some(text);
                    }
                }
                last_commit = Instant::now();
            }
            // Back-pressure: with queue.size records in flight, pause fetching but keep polling
            // so the group membership and rebalances are served.
            // A short wait for acknowledgements comes first: pausing makes librdkafka drop its
            // prefetched records and fetch them again on resume, which costs far more.
            let mut reserved = shared.try_reserve();
            reserved_before = reserved;
            if !reserved {
                let wait_until = Instant::now() + Duration::from_millis(500);
                while !reserved && Instant::now() < wait_until && !shared.stopping() {
                    std::thread::sleep(Duration::from_micros(500));
                    reserved = shared.try_reserve();
                }
            }
            let ctx = self.consumer.context();
            if !reserved {
                self.pause_fetching();
            } else if ctx.paused.swap(false, Ordering::AcqRel) {
                log::debug!("fetching resumed");
                if let Ok(assignment) = self.consumer.assignment() {
                    let _ = self.consumer.resume(&assignment);
                }
            }
            let timeout = if reserved {
                self.idle_poll
            } else {
                Duration::from_millis(20)
            };
            if reserved {
                shared.polling.fetch_add(1, Ordering::AcqRel);
            }
            // A poll that may wait makes librdkafka read the clock (on top of rust-rdkafka's
            // own read) for every record; one that may not, does not: with records queued,
            // which is the busy case, the first poll returns one.
            let polled = match self.consumer.poll(Duration::ZERO) {
                None => self.consumer.poll(timeout),
                found => found,
            };
            if reserved {
                shared.polling.fetch_sub(1, Ordering::AcqRel);
            }
            idle = reserved && polled.is_none();
            match polled {
                None => {
                    if reserved {
                        shared.release();
                    }
                }
                Some(Err(e)) => {
                    if reserved {
                        shared.release();
                    }
                    self.consumer_error(e)?;
                }
                Some(Ok(msg)) => {
                    if !reserved {
                        // Fetched before the pause took effect: take it anyway (rare).
                        shared.in_flight.fetch_add(1, Ordering::AcqRel);
                    }
                    self.mirror(&msg)?;
                }
            }
        }
        self.shutdown()
    }

    fn principal_name(&self) -> String {
        match &self.principal {
            Some(user) => format!("principal User:{user}"),
            None => "this client".to_string(),
        }
    }

    fn consumer_error(&self, e: KafkaError) -> Result<(), String> {
        match e {
            KafkaError::MessageConsumptionFatal(code) => Err(format!("consumer failed: {code}")),
            // Waiting cannot fix these: stop with a clear line rather than warn for ever.
            // rdkafka's poll error does not say which group or topic was refused: say it here.
            KafkaError::MessageConsumption(RDKafkaErrorCode::GroupAuthorizationFailed) => {
                Err(format!(
                    "not authorized: the source cluster refused READ on group '{}' to {}: grant it READ on the group",
                    self.group_id,
                    self.principal_name()
                ))
            }
            KafkaError::MessageConsumption(RDKafkaErrorCode::TopicAuthorizationFailed) => {
                let (_, topics) = self.shared.subscriptions[self.cluster].current();
                Err(format!(
                    "not authorized: the source cluster refused READ on topic(s) {} to {}: grant it READ and DESCRIBE on them",
                    topics.join(", "),
                    self.principal_name()
                ))
            }
            KafkaError::MessageConsumption(
                RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::Authentication,
            ) => Err(format!("consumer failed: {e}")),
            other => {
                self.consumer
                    .context()
                    .log
                    .warn(self.shared.cluster_label(self.cluster), &other.to_string());
                Ok(())
            }
        }
    }

    /// Hands one record to the producer. Its slot in queue.size is already taken.
    fn mirror(&self, msg: &BorrowedMessage<'_>) -> Result<(), String> {
        let shared = &self.shared;
        let state = self.state(msg.topic(), msg.partition());
        // Tracked first: from here on every path releases the offset (acked, skipped or
        // failed), so no commit can pass a record that was polled but not mirrored.
        let consumed = state.tracker().consumed(msg.offset());
        if consumed == Consumed::Backwards && !self.offsets_went_backwards(&state, msg.offset()) {
            shared.release();
            return Ok(());
        }
        let target_partition = match self.target_partition(&state, msg) {
            Ok(p) => p,
            Err(e) => {
                shared.gave_up(&state, msg.offset());
                return Err(e);
            }
        };
        let producer =
            &self.producers[(state.topic.seed + target_partition as usize) % self.producers.len()];
        let delivery = Box::new(Delivery {
            state: Arc::clone(&state),
            offset: msg.offset(),
        });
        let mut record = copy_of(msg, &state.topic.name, target_partition, delivery);
        // Partitions just added to the target are unknown to the producer until its metadata
        // is refreshed: refresh and retry for a while before calling it a send failure.
        let mut unknown_since: Option<Instant> = None;
        let mut full_since: Option<Instant> = None;
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if shared.stopping() && Instant::now() >= shared.shutdown_deadline() {
                        // Never sent: it stays uncommitted and is read again on restart.
                        shared.gave_up(&state, msg.offset());
                        return Ok(());
                    }
                    record = back;
                    // The producer's queue is full (queue.buffering.max.kbytes with large
                    // records, or the target down): past a short wait, pause fetching and keep
                    // polling, so the consumer stays in its group (max.poll.interval.ms).
                    if full_since
                        .get_or_insert_with(Instant::now)
                        .elapsed()
                        .as_millis()
                        >= 200
                    {
                        self.poll_paused();
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Err((
                    KafkaError::MessageProduction(
                        RDKafkaErrorCode::UnknownPartition | RDKafkaErrorCode::UnknownTopic,
                    ),
                    back,
                )) if unknown_since.is_none_or(|t| t.elapsed() < UNKNOWN_PARTITION_PATIENCE) => {
                    unknown_since.get_or_insert_with(Instant::now);
                    let _ = producer
                        .client()
                        .fetch_metadata(Some(&state.topic.name), Duration::from_secs(5));
                    record = back;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err((e, _)) => {
                    // Refused locally (e.g. larger than message.max.bytes): a send failure.
                    shared.send_failed(&state, msg.offset(), &e);
                    return Ok(());
                }
            }
        }
    }

    /// The owned state of a partition, through the one-entry cache.
    fn state(&self, topic: &str, partition: i32) -> Arc<PartitionState> {
        let ctx = self.consumer.context();
        let generation = ctx.owned_generation.load(Ordering::Acquire);
        let mut cache = self.cache.0.borrow_mut();
        if let Some((g, t, p, state)) = cache.as_ref() {
            if *g == generation && *p == partition && t == topic {
                return Arc::clone(state);
            }
        }
        let state = ctx.state(topic, partition);
        *cache = Some((generation, topic.to_string(), partition, Arc::clone(&state)));
        state
    }

    /// Pauses every assigned partition, once: while `paused` is set, partitions assigned later
    /// are paused by the assignment hook, and the main loop resumes them all.
    fn pause_fetching(&self) {
        if !self.consumer.context().paused.swap(true, Ordering::AcqRel) {
            log::debug!(
                "fetching paused: {} records in flight",
                self.shared.in_flight()
            );
            if let Ok(assignment) = self.consumer.assignment() {
                let _ = self.consumer.pause(&assignment);
            }
        }
    }

    /// Pauses the assignment (the main loop resumes it) and polls once, to serve the group
    /// membership and rebalances while waiting for the producer. A record fetched before the
    /// pause took effect is not mirrored now: the partition is rewound to it (and if that
    /// fails, nothing more is committed for the partition, so it is read again on restart).
    fn poll_paused(&self) {
        let ctx = self.consumer.context();
        self.pause_fetching();
        match self.consumer.poll(Duration::from_millis(20)) {
            None => {}
            Some(Err(e)) => {
                // Fatal ones are seen again by the main loop's poll.
                ctx.log
                    .warn(self.shared.cluster_label(self.cluster), &e.to_string());
            }
            Some(Ok(m)) => {
                let (topic, partition, offset) = (m.topic().to_string(), m.partition(), m.offset());
                drop(m);
                log::debug!("{topic} [{partition}]: fetched while pausing, rewinding to {offset}");
                if let Err(e) = self.consumer.seek(
                    &topic,
                    partition,
                    Offset::Offset(offset),
                    Duration::from_secs(5),
                ) {
                    log::error!(
                        "{topic} partition {partition}: cannot rewind to offset {offset} ({e}): \
                         nothing more is committed for it until restart"
                    );
                    ctx.state(&topic, partition).tracker().block();
                }
            }
        }
    }

    /// `offset` is at or below one consumed before on this partition: the source was
    /// truncated (unclean leader election, KIP-320), the topic deleted and recreated, or the
    /// offsets reset. Mirrors it like a new partition (duplicates, never gaps): waits for the
    /// partition's records in flight, then restarts its tracker at `offset` (a commit below
    /// the last one is allowed again). False if stopping cut the wait short: the record is not
    /// mirrored and nothing more is committed for the partition.
    fn offsets_went_backwards(&self, state: &PartitionState, offset: i64) -> bool {
        let shared = &self.shared;
        let last = state.tracker().committed();
        log::warn!(
            "{} partition {} of the {} cluster went back to offset {offset} (last commit {}): \
             the source was truncated or the topic recreated; mirroring from there again \
             (records may be duplicated in the target, none is skipped)",
            state.topic.name,
            state.partition,
            shared.cluster_label(self.cluster),
            last.map_or_else(|| "none".to_string(), |c| c.to_string()),
        );
        loop {
            {
                let mut tracker = state.tracker();
                if tracker.settled() {
                    let dropped = tracker.reset(offset);
                    drop(tracker);
                    shared.release_n(dropped);
                    return true;
                }
                if shared.stopping() && Instant::now() >= shared.shutdown_deadline() {
                    tracker.block();
                    log::error!(
                        "{} partition {}: stopped while waiting to mirror from offset {offset} \
                         again: nothing more is committed for it",
                        state.topic.name,
                        state.partition
                    );
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The target partition, after making sure the target topic can take it.
    fn target_partition(
        &self,
        state: &PartitionState,
        msg: &BorrowedMessage<'_>,
    ) -> Result<i32, String> {
        let mut partitions = state.topic.partitions.load(Ordering::Acquire);
        let needed = match self.shared.mode {
            PartitionMode::Preserve => msg.partition() + 1,
            PartitionMode::Hash => 1,
        };
        if partitions < needed {
            // A topic or partitions added to the source since the last refresh.
            let source = self
                .shared
                .preparer
                .source_partitions(self.cluster, &state.topic.name)
                .map_err(|e| e.to_string())?
                .unwrap_or(needed)
                .max(needed);
            let wanted = [(state.topic.name.clone(), source)].into_iter().collect();
            self.shared
                .preparer
                .prepare(self.cluster, &wanted, &self.shared.topics)
                .map_err(|e| e.to_string())?;
            partitions = state.topic.partitions.load(Ordering::Acquire);
        }
        Ok(match self.shared.mode {
            PartitionMode::Preserve => msg.partition(),
            PartitionMode::Hash => match msg.key() {
                Some(key) => java_partition(key, partitions),
                None => msg.partition() % partitions,
            },
        })
    }

    /// The last commit before leaving the group. A rebalance in progress (another instance
    /// joining or leaving) refuses it: the fetching stays paused, the group's rebalance is
    /// served (its revoke hook commits what it takes away) and the commit is tried again with
    /// the new generation, until the shutdown deadline (and at least a few seconds). Giving up
    /// loses nothing: the partitions' next owners mirror their uncommitted records again.
    fn final_commit(&self, deadline: Instant) -> Result<(), String> {
        let ctx = self.consumer.context();
        let retry_until = deadline.max(Instant::now() + Duration::from_secs(5));
        loop {
            let states = ctx.all_states();
            let refused = match commit(&self.consumer, &self.shared, &states) {
                Ok(()) => return Ok(()),
                Err(KafkaError::ConsumerCommit(
                    code @ (RDKafkaErrorCode::RebalanceInProgress
                    | RDKafkaErrorCode::IllegalGeneration),
                )) => code,
                // Not a member any more: the partitions belong to others already.
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::UnknownMemberId)) => {
                    log::warn!(
                        "{}: final commit refused: this instance is no longer in the group; the partitions' new owners mirror their unacknowledged records again",
                        self.shared.cluster_label(self.cluster)
                    );
                    return Ok(());
                }
                Err(e) => return Err(format!("final commit failed: {e}")),
            };
            if Instant::now() >= retry_until {
                log::warn!(
                    "{}: final commit refused ({refused:?}): the group kept rebalancing; the partitions' new owners mirror their unacknowledged records again",
                    self.shared.cluster_label(self.cluster)
                );
                return Ok(());
            }
            log::debug!("final commit refused ({refused:?}): serving the rebalance, then again");
            self.poll_for_rebalance();
        }
    }

    /// Polls once with every partition paused, so that librdkafka completes a rebalance (and
    /// runs the hooks) without handing over records. A record fetched before the pause took
    /// effect is not mirrored: nothing more is committed for its partition (it is read again
    /// from the last commit by its next owner).
    fn poll_for_rebalance(&self) {
        let ctx = self.consumer.context();
        self.pause_fetching();
        match self.consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => ctx
                .log
                .warn(self.shared.cluster_label(self.cluster), &e.to_string()),
            Some(Ok(m)) => {
                log::debug!(
                    "{} [{}]: record {} fetched while stopping: not mirrored, not committed past",
                    m.topic(),
                    m.partition(),
                    m.offset()
                );
                ctx.state(m.topic(), m.partition()).tracker().block();
            }
        }
    }

    fn shutdown(&self) -> Result<(), String> {
        let states = self.consumer.context().all_states();
        let deadline = self.shared.shutdown_deadline();
        if !wait_settled(&states, deadline) {
            let left: usize = states.iter().map(|s| s.tracker().in_flight()).sum();
            log::warn!(
                "{}: {left} records not acknowledged by the target in time: not committed, they will be mirrored again on restart",
                self.shared.cluster_label(self.cluster)
            );
        }
        // Then the loop is dropped: the consumer closes (see Drop).
        self.final_commit(deadline)
    }
}

/// On every way out (stop, error, panic): closing leaves the group and the revoke hook commits
/// once more. rust-rdkafka's close polls the consumer and drops what it gets, so fetching is
/// paused first and the position is no longer trusted (see `closing`).
impl Drop for ConsumerLoop {
    fn drop(&mut self) {
        self.consumer
            .context()
            .closing
            .store(true, Ordering::Release);
        self.pause_fetching();
        // The close rust-rdkafka's drop would do, with short polls: its own polls last 100 ms
        // each, and the last one usually waits out its whole timeout after the group is left.
        // Its drop then finds the consumer closed (a second close is a no-op in librdkafka).
        if self.consumer.close_queue().is_ok() {
            while !self.consumer.closed() {
                let _ = self.consumer.poll(CLOSE_POLL);
            }
        }
    }
}

/// The poll timeout while the consumer closes.
const CLOSE_POLL: Duration = Duration::from_millis(5);

/// Flushes every producer until `deadline`; what is still queued then is purged (and stays
/// uncommitted).
pub fn flush_producers(producers: &[MirrorProducer], deadline: Instant) {
    for p in producers {
        let left = deadline.saturating_duration_since(Instant::now());
        if p.flush(left.max(Duration::from_millis(10))).is_err() {
            log::warn!(
                "{} records still queued for the target at exit: not committed",
                p.in_flight_count()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_of_the_record_itself_may_be_skipped() {
        use RDKafkaErrorCode::*;
        for code in [
            MessageSizeTooLarge,
            InvalidRecord,
            InvalidMessage,
            InvalidTimestamp,
        ] {
            assert!(
                record_level(&KafkaError::MessageProduction(code)),
                "{code:?}"
            );
        }
        for code in [
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            UnknownTopicOrPartition,
            UnknownTopic,
            UnknownPartition,
            NotEnoughReplicas,
        ] {
            assert!(
                !record_level(&KafkaError::MessageProduction(code)),
                "{code:?}"
            );
        }
    }
}
