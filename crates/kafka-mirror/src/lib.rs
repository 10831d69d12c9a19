//! kafka-mirror: mirrors topics from one or more source clusters into a target cluster, as
//! Kafka's MirrorMaker does, without losing a record.
//!
//! Top-down: [`cli`] (arguments) → [`settings`] (validated, forced client properties) →
//! [`topics`] (what to mirror, target topics made ready) → [`engine`] (consumer loops, producer
//! pool, offset [`tracker`]s, commits) → [`metrics`] (summary, progress, Prometheus) → an exit
//! code from `cluster_config::exit::mirror`.

pub mod caught_up;
pub mod cli;
pub mod engine;
pub mod metrics;
pub mod murmur2;
pub mod settings;
pub mod topics;
pub mod tracker;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use cluster_config::exit::mirror as code;
use cluster_config::{Role, ToolContext};
use rdkafka::admin::AdminClient;

pub use cli::Cli;
use engine::{ConsumerLoop, MirrorConsumerContext, MirrorProducerContext, Shared, Stop};
use settings::MirrorSettings;
use topics::{Preparer, TopicPartitions};

/// Everything that ends a run early, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Bad arguments or configuration: nothing consumed or written.
    #[error("{0}")]
    Usage(String),
    /// A cluster unreachable, a target topic unusable, a fatal client error.
    #[error("{0}")]
    Failure(String),
    /// A record could not be delivered (abort.on.send.failure=true).
    #[error("{0}")]
    SendFailed(String),
}

impl MirrorError {
    pub fn exit_code(&self) -> u8 {
        match self {
            MirrorError::Usage(_) => code::USAGE,
            MirrorError::Failure(_) => code::FAILURE,
            MirrorError::SendFailed(_) => code::SEND_FAILED,
        }
    }
}

fn usage(e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Usage(e.to_string())
}

fn failure(e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Failure(e.to_string())
}

/// The whole program: parse, run, print at most one error line, return the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> u8 {
    cluster_config::logging::init("kafka-mirror", "info");
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return code::OK;
            }
            eprintln!("kafka-mirror: error: {}", one_line(&e.render().to_string()));
            return code::USAGE;
        }
    };
    // Everything is committed and flushed when `mirror` returns: the process leaves without
    // waiting for its clients' teardown, except over OpenSSL (see `Finished::openssl`).
    let result = match mirror(&cli) {
        Ok(finished) => {
            if finished.openssl {
                finished.teardown.wait(TEARDOWN_LIMIT);
            }
            finished.result
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => code::OK,
        Err(e) => {
            eprintln!("kafka-mirror: error: {e}");
            e.exit_code()
        }
    }
}

/// How long a teardown is waited for at most; past it the rest is left to the process exit.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(5);

/// A run that has stopped: every record acknowledged was committed, the consumers have left
/// their groups, the producers are flushed. Only the clients' destruction is left.
struct Finished {
    result: Result<(), MirrorError>,
    /// The producers and admin clients being destroyed side by side, in the background:
    /// rust-rdkafka waits up to 100 ms in each one's polling thread, and the producers'
    /// contexts hold the single-record producer and the shared state (so those go after).
    teardown: cluster_config::teardown::Teardown,
    /// A client uses OpenSSL, whose exit handler must not run while a librdkafka thread still
    /// shuts a connection down (cluster_config::ClientSettings::uses_openssl).
    openssl: bool,
}

/// clap's message without its usage block, on one line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_string()
}

/// Runs the mirror until a signal, --until-caught-up's end, or a failure, and destroys its
/// clients.
pub fn run(cli: &Cli) -> Result<(), MirrorError> {
    let finished = mirror(cli)?;
    finished.teardown.wait(TEARDOWN_LIMIT);
    finished.result
}

fn mirror(cli: &Cli) -> Result<Finished, MirrorError> {
    let started = Instant::now();
    let settings = MirrorSettings::from_cli(cli).map_err(usage)?;
    for w in &settings.warnings {
        log::warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kafka-mirror-rt")
        .enable_all()
        .build()
        .map_err(failure)?;

    // Every client is built before any cluster is contacted: a bad property is a usage error.
    let labels: Vec<String> = settings.sources.iter().map(|s| s.label.clone()).collect();
    let preparer = Preparer::new(
        settings
            .sources
            .iter()
            .map(|s| (s.label.clone(), s.settings.clone()))
            .collect(),
        settings.target.clone(),
        settings.create_topics,
        settings.partition_mode,
        settings.connect_timeout.max(Duration::from_secs(10)),
        runtime.handle().clone(),
    )
    .map_err(usage)?;
    let shared = Arc::new(Shared::new(
        labels,
        preparer,
        settings.partition_mode,
        settings.abort_on_send_failure,
        settings.queue_size,
        settings.shutdown_timeout,
    ));
    let single: Arc<engine::MirrorProducer> = Arc::new(
        settings
            .single_record_target()
            .create(
                Role::Producer,
                MirrorProducerContext::new(Arc::clone(&shared), None),
            )
            .map_err(usage)?,
    );
    let make_producers = |target: &cluster_config::ClientSettings| {
        (0..settings.num_producers)
            .map(|_| {
                target.create(
                    Role::Producer,
                    MirrorProducerContext::new(Arc::clone(&shared), Some(Arc::clone(&single))),
                )
            })
            .collect::<Result<Vec<engine::MirrorProducer>, _>>()
            .map_err(usage)
    };
    let mut producers = make_producers(&settings.target)?;
    let mut consumers = Vec::new();
    for (cluster, source) in settings.sources.iter().enumerate() {
        for _ in 0..settings.num_streams {
            let consumer: engine::MirrorConsumer = source
                .settings
                .create(
                    Role::Consumer,
                    MirrorConsumerContext::new(Arc::clone(&shared), cluster),
                )
                .map_err(usage)?;
            consumers.push((cluster, consumer));
        }
    }
    let admins = settings
        .sources
        .iter()
        .map(|s| s.settings.admin())
        .collect::<Result<Vec<AdminClient<ToolContext>>, _>>()
        .map_err(usage)?;

    log::debug!("start-up: clients created after {:?}", started.elapsed());
    // Reachable, all of them, within a bounded time.
    runtime
        .block_on(shared.preparer.check_reachable(settings.connect_timeout))
        .map_err(failure)?;

    log::debug!("start-up: clusters reachable after {:?}", started.elapsed());
    // The topics to mirror, with their target topics ready, before anything is consumed.
    let mut known: Vec<TopicPartitions> = Vec::new();
    for cluster in 0..settings.sources.len() {
        let topics = shared
            .preparer
            .source_topics(cluster, &settings.filter)
            .map_err(failure)?;
        shared
            .preparer
            .prepare(cluster, &topics, &shared.topics)
            .map_err(failure)?;
        if topics.is_empty() {
            log::warn!(
                "no topic of the {} cluster matches {} yet",
                shared.cluster_label(cluster),
                settings.filter.describe()
            );
        } else {
            log::info!(
                "mirroring {} topics from the {} cluster ({} partitions)",
                topics.len(),
                shared.cluster_label(cluster),
                topics.values().sum::<i32>()
            );
        }
        shared.subscriptions[cluster].set(topics.keys().cloned().collect());
        known.push(topics);
    }

    log::debug!(
        "start-up: target topics ready after {:?}",
        started.elapsed()
    );
    // Batches the target topics always accept: a batch the broker rejects as a whole is
    // re-sent one record at a time, after later records (see engine::MirrorProducerContext).
    let mut batch_size = settings.batch_size();
    let all_topics: Vec<String> = known.iter().flat_map(|k| k.keys().cloned()).collect();
    match shared.preparer.max_message_bytes(&all_topics) {
        Ok(Some(limit)) if topics::batch_size_for(limit) < batch_size => {
            batch_size = topics::batch_size_for(limit);
            log::info!(
                "producer batch.size {batch_size}: the smallest max.message.bytes of the target topics is {limit}"
            );
            let mut target = settings.target.clone();
            target.force("batch.size", &batch_size.to_string(), "kafka-mirror");
            drop(producers);
            producers = make_producers(&target)?;
        }
        Ok(_) => {}
        Err(e) => log::warn!("describing the target topics (batch.size not adapted): {e}"),
    }
    shared.preparer.set_batch_size(batch_size);
    let producers = Arc::new(producers);

    log::debug!("start-up: batch.size known after {:?}", started.elapsed());
    let mut ends = Vec::new();
    if settings.until_caught_up {
        for (cluster, source) in settings.sources.iter().enumerate() {
            let read_committed = source.settings.get("isolation.level") != Some("read_uncommitted");
            let e = runtime
                .block_on(caught_up::end_offsets(
                    &admins[cluster],
                    &known[cluster],
                    read_committed,
                    settings.connect_timeout,
                ))
                .map_err(failure)?;
            ends.push(e);
        }
    }

    log::debug!("start-up: end offsets known after {:?}", started.elapsed());
    if let Some(addr) = settings.metrics_addr {
        let bound = runtime
            .block_on(metrics::serve(Arc::clone(&shared), addr))
            .map_err(|e| failure(format!("cannot serve metrics on {addr}: {e}")))?;
        log::info!("metrics on http://{bound}/metrics");
    }

    runtime.spawn(handle_signals(Arc::clone(&shared)));

    // The caught-up check's offset readers: destroyed with the other clients at the end (a
    // consumer with a group id waits up to 100 ms in its drop), not when the check ends.
    let mut readers = Vec::new();
    if settings.until_caught_up {
        let shared = Arc::clone(&shared);
        readers = settings
            .sources
            .iter()
            .map(|s| caught_up::offset_reader(&s.settings).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failure)?;
        let task_readers = readers.clone();
        let timeout = settings.connect_timeout;
        runtime.spawn(async move {
            watch_caught_up(shared, task_readers, ends, timeout).await;
        });
    }

    let mut threads = Vec::new();
    for (cluster, consumer) in consumers {
        let job = ConsumerLoop {
            shared: Arc::clone(&shared),
            cluster,
            consumer,
            producers: Arc::clone(&producers),
            commit_interval: settings.effective_commit_interval(),
            idle_poll: settings.idle_poll(),
            cache: Default::default(),
            group_id: settings.sources[cluster].group_id.clone(),
            principal: settings.sources[cluster]
                .settings
                .get("sasl.username")
                .map(str::to_string),
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("consumer-{cluster}"))
                .spawn(move || job.run())
                .map_err(failure)?,
        );
    }
    let watcher = {
        let shared = Arc::clone(&shared);
        let filter = settings.filter.clone();
        let interval = settings.topic_refresh_interval;
        std::thread::Builder::new()
            .name("topic-watcher".into())
            .spawn(move || watch_topics(shared, filter, known, interval))
            .map_err(failure)?
    };
    let reporter = {
        let shared = Arc::clone(&shared);
        let (interval, progress) = (settings.report_interval, settings.progress);
        let target = settings.target.bootstrap().to_string();
        std::thread::Builder::new()
            .name("reporter".into())
            .spawn(move || metrics::report_loop(shared, interval, progress, target))
            .map_err(failure)?
    };

    for t in threads {
        if t.join().is_err() {
            shared.request_stop(Stop::Fatal("a consumer thread panicked".into()));
        }
    }
    log::debug!("shutdown: consumers closed");
    engine::flush_producers(&producers, Instant::now() + Duration::from_secs(5));
    engine::flush_producers(
        std::slice::from_ref(&*single),
        Instant::now() + Duration::from_secs(5),
    );
    log::debug!("shutdown: producers flushed");
    let _ = watcher.join();
    let _ = reporter.join();
    log::debug!("shutdown: threads joined");
    runtime.shutdown_timeout(Duration::from_secs(1));
    log::debug!("shutdown: runtime stopped");
    let result = match shared.stop_reason() {
        None | Some(Stop::Signal) | Some(Stop::CaughtUp) => Ok(()),
        Some(Stop::SendFailed(line)) => Err(MirrorError::SendFailed(line)),
        Some(Stop::Fatal(line)) => Err(MirrorError::Failure(line)),
    };
    let openssl = settings
        .sources
        .iter()
        .map(|s| &s.settings)
        .chain([&settings.target])
        .any(|s| s.uses_openssl());
    // Nothing is in flight and the consumers have left their groups: what is left is
    // destroying the producers and admin clients (see `Finished::teardown`).
    let teardown = cluster_config::teardown::destroy_in_background(vec![
        Box::new(producers),
        Box::new(single),
        Box::new(admins),
        Box::new(readers),
        Box::new(shared),
    ]);
    Ok(Finished {
        result,
        teardown,
        openssl,
    })
}

/// SIGINT/SIGTERM: stop fetching, flush, commit, exit 0. A second one exits at once (nothing
/// more is committed: records are mirrored again on restart, none is lost).
async fn handle_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        log::warn!("cannot install signal handlers");
        return;
    };
    let mut first = true;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        if first {
            log::info!(
                "stopping: waiting for {} records in flight, then committing",
                shared.in_flight()
            );
            shared.request_stop(Stop::Signal);
            first = false;
        } else {
            log::warn!("second signal: exiting now without committing");
            std::process::exit(i32::from(code::FAILURE));
        }
    }
}

/// Stops the mirror once every group has committed every partition up to its end at start.
async fn watch_caught_up(
    shared: Arc<Shared>,
    readers: Vec<Arc<caught_up::OffsetReader>>,
    ends: Vec<Vec<caught_up::EndOffset>>,
    timeout: Duration,
) {
    let mut last_error = None;
    while !shared.stopping() {
        let mut done = true;
        for (cluster, end) in ends.iter().enumerate() {
            match caught_up::behind(&readers[cluster], end, timeout).await {
                Ok(behind) if behind.is_empty() => {}
                Ok(_) => done = false,
                Err(e) => {
                    let text = e.to_string();
                    if last_error.as_ref() != Some(&text) {
                        log::warn!("checking the committed offsets: {text}");
                    }
                    last_error = Some(text);
                    done = false;
                }
            }
        }
        if done {
            log::info!("caught up: every partition is committed up to its end offset at start");
            shared.request_stop(Stop::CaughtUp);
            return;
        }
        // Checked again after the next commit of this instance (or in 500 ms: other instances
        // of the group commit too).
        tokio::select! {
            _ = shared.committed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Every `interval`: topics that started matching (or gained partitions) get their target
/// topics made ready, then join the subscription.
fn watch_topics(
    shared: Arc<Shared>,
    filter: cluster_config::TopicFilter,
    mut known: Vec<TopicPartitions>,
    interval: Duration,
) {
    let mut next = Instant::now() + interval;
    while !shared.stopping() {
        shared.sleep_unless_stopping(Duration::from_millis(200));
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + interval;
        for (cluster, known) in known.iter_mut().enumerate() {
            let current = match shared.preparer.source_topics(cluster, &filter) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("refreshing topics: {e}");
                    continue;
                }
            };
            let changed: TopicPartitions = current
                .iter()
                .filter(|(t, n)| known.get(*t).is_none_or(|k| k < n))
                .map(|(t, n)| (t.clone(), *n))
                .collect();
            let removed = known.keys().any(|t| !current.contains_key(t));
            if changed.is_empty() && !removed {
                continue;
            }
            if let Err(e) = shared.preparer.prepare(cluster, &changed, &shared.topics) {
                log::warn!(
                    "new topics of the {} cluster not mirrored yet: {e}",
                    shared.cluster_label(cluster)
                );
                continue;
            }
            for t in changed.keys() {
                if !known.contains_key(t) {
                    log::info!(
                        "now mirroring {t} from the {} cluster",
                        shared.cluster_label(cluster)
                    );
                }
            }
            *known = current;
            shared.subscriptions[cluster].set(known.keys().cloned().collect());
        }
    }
}
