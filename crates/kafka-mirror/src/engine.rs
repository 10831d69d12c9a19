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
use crate::tracker::OffsetTracker;

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

    /// A record that failed for good: abort (stop, never commit past it) or skip (count, log,
    /// release it).
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
            state.tracker().failed(offset);
            self.request_stop(Stop::Fatal(line));
        } else if self.abort_on_send_failure {
            state.tracker().failed(offset);
            self.request_stop(Stop::SendFailed(line));
        } else {
            log::warn!("skipped: {line}");
            state.tracker().done(offset);
        }
    }
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
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.len() > 1000 {
            last.clear();
        }
        let key = text.chars().take(200).collect::<String>();
        if last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(30))
        {
            return;
        }
        last.insert(key, now);
        log::warn!("{who}: {text}");
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

    /// Sends a record that failed in a batch again, alone. False if it could not be queued.
    fn retry_alone(
        &self,
        msg: &BorrowedMessage<'_>,
        delivery: Box<Delivery>,
    ) -> Result<(), Box<Delivery>> {
        let Some(single) = &self.single else {
            return Err(delivery);
        };
        let mut record =
            BaseRecord::<[u8], [u8], Box<Delivery>>::with_opaque_to(msg.topic(), delivery)
                .partition(msg.partition());
        if let Some(key) = msg.key() {
            record = record.key(key);
        }
        if let Some(value) = msg.payload() {
            record = record.payload(value);
        }
        if let Some(ts) = msg.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        if let Some(headers) = msg.headers() {
            record = record.headers(headers.detach());
        }
        loop {
            match single.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((_, back)) => return Err(back.delivery_opaque),
            }
        }
    }
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
                    Ok(()) => return,
                    Err(d) => d,
                }
            }
            _ => delivery,
        };
        let Delivery { state, offset } = *delivery;
        match result {
            Ok(msg) => {
                state.tracker().done(offset);
                let bytes = msg.payload_len() + msg.key_len();
                state.topic.records.fetch_add(1, Ordering::Relaxed);
                state.topic.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            }
            // Purged at shutdown: not delivered, so never committed past; not a send failure.
            Err((
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight,
                ),
                _,
            )) => state.tracker().failed(offset),
            Err((e, _)) => self.shared.send_failed(&state, offset, e),
        }
        self.shared.release();
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
    paused: AtomicBool,
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
            paused: AtomicBool::new(false),
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
            }
            Rebalance::Error(e) => {
                log::warn!(
                    "{}: rebalance error: {e}",
                    self.shared.cluster_label(self.cluster)
                )
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
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
    let positions = consumer.position().ok();
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
                s.tracker().mark_committed(offset);
            }
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
}

impl ConsumerLoop {
    pub fn run(self) {
        let shared = Arc::clone(&self.shared);
        let label = shared.cluster_label(self.cluster).to_string();
        if let Err(e) = self.run_inner() {
            shared.request_stop(Stop::Fatal(format!("{label}: {e}")));
        }
    }

    fn run_inner(self) -> Result<(), String> {
        let shared = &self.shared;
        let subscription = &shared.subscriptions[self.cluster];
        let mut generation = u64::MAX;
        let mut last_commit = Instant::now();
        let mut last_commit_error: Option<String> = None;
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
            if last_commit.elapsed() >= self.commit_interval {
                let states = self.consumer.context().all_states();
                match commit(&self.consumer, shared, &states) {
                    Ok(()) => last_commit_error = None,
                    Err(e) => {
                        // Transient (coordinator moving): retried next interval; the offsets
                        // stay uncommitted, nothing is lost.
                        let text = e.to_string();
                        if last_commit_error.as_deref() != Some(&text) {
                            log::warn!("commit failed, will retry: {text}");
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
            let wait_until = Instant::now() + Duration::from_millis(500);
            while !reserved && Instant::now() < wait_until && !shared.stopping() {
                std::thread::sleep(Duration::from_micros(500));
                reserved = shared.try_reserve();
            }
            let ctx = self.consumer.context();
            if !reserved {
                if !ctx.paused.swap(true, Ordering::AcqRel) {
                    if let Ok(assignment) = self.consumer.assignment() {
                        let _ = self.consumer.pause(&assignment);
                    }
                }
            } else if ctx.paused.swap(false, Ordering::AcqRel) {
                if let Ok(assignment) = self.consumer.assignment() {
                    let _ = self.consumer.resume(&assignment);
                }
            }
            let timeout = if reserved { 100 } else { 20 };
            if reserved {
                shared.polling.fetch_add(1, Ordering::AcqRel);
            }
            let polled = self.consumer.poll(Duration::from_millis(timeout));
            if reserved {
                shared.polling.fetch_sub(1, Ordering::AcqRel);
            }
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

    fn consumer_error(&self, e: KafkaError) -> Result<(), String> {
        match e {
            KafkaError::MessageConsumptionFatal(code) => Err(format!("consumer failed: {code}")),
            // Waiting cannot fix these: stop with a clear line rather than warn for ever.
            KafkaError::MessageConsumption(
                RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
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
        let state = self.consumer.context().state(msg.topic(), msg.partition());
        let target_partition = self.target_partition(&state, msg)?;
        if !state.tracker().consumed(msg.offset()) {
            shared.release();
            return Ok(());
        }
        let producer =
            &self.producers[(state.topic.seed + target_partition as usize) % self.producers.len()];
        let mut record = BaseRecord::<[u8], [u8], Box<Delivery>>::with_opaque_to(
            &state.topic.name,
            Box::new(Delivery {
                state: Arc::clone(&state),
                offset: msg.offset(),
            }),
        )
        .partition(target_partition);
        if let Some(key) = msg.key() {
            record = record.key(key);
        }
        if let Some(value) = msg.payload() {
            record = record.payload(value);
        }
        if let Some(ts) = msg.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        if let Some(headers) = msg.headers() {
            record = record.headers(headers.detach());
        }
        // Partitions just added to the target are unknown to the producer until its metadata
        // is refreshed: refresh and retry for a while before calling it a send failure.
        let mut unknown_since: Option<Instant> = None;
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if shared.stopping() && Instant::now() >= shared.shutdown_deadline() {
                        // Never sent: it stays uncommitted and is read again on restart.
                        state.tracker().failed(msg.offset());
                        shared.release();
                        return Ok(());
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
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
                    shared.release();
                    return Ok(());
                }
            }
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

    fn shutdown(self) -> Result<(), String> {
        let states = self.consumer.context().all_states();
        let deadline = self.shared.shutdown_deadline();
        if !wait_settled(&states, deadline) {
            let left: usize = states.iter().map(|s| s.tracker().in_flight()).sum();
            log::warn!(
                "{}: {left} records not acknowledged by the target in time: not committed, they will be mirrored again on restart",
                self.shared.cluster_label(self.cluster)
            );
        }
        let result = commit(&self.consumer, &self.shared, &states)
            .map_err(|e| format!("final commit failed: {e}"));
        // Closing leaves the group (the revoke hook commits again: nothing new by then).
        drop(self.consumer);
        result
    }
}

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
