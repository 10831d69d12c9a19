//! Support for the end-to-end tests: the local clusters (started by `bin/kafka-local up --third`
//! or `bin/test`), unique names, producing and reading back records, and running the built
//! binaries and Kafka's own tools.
//!
//! A test that needs a cluster and cannot reach it fails with a message saying how to start it:
//! nothing skips silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A local cluster the tests run against.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: &'static str,
    pub bootstrap: String,
}

fn cluster(name: &'static str, var: &str, default: &str) -> Cluster {
    static CHECKED: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let bootstrap = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let cluster = Cluster { name, bootstrap };
    let checked = CHECKED.get_or_init(|| Mutex::new(Vec::new()));
    let mut checked = checked.lock().unwrap_or_else(|e| e.into_inner());
    if !checked.contains(&name) {
        if let Err(e) = cluster
            .admin()
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
        {
            panic!(
                "Kafka {name} cluster not reachable at {} ({e}): start the local clusters with \
                 `bin/kafka-local up --third`, or run every test with `bin/test`",
                cluster.bootstrap
            );
        }
        checked.push(name);
    }
    cluster
}

/// The "source" cluster (KAFKA_SOURCE_BOOTSTRAP, default 127.0.0.1:19092).
pub fn source() -> Cluster {
    cluster("source", "KAFKA_SOURCE_BOOTSTRAP", "127.0.0.1:19092")
}

/// The "target" cluster (KAFKA_TARGET_BOOTSTRAP, default 127.0.0.1:29092).
pub fn target() -> Cluster {
    cluster("target", "KAFKA_TARGET_BOOTSTRAP", "127.0.0.1:29092")
}

/// The "third" cluster, a second source (KAFKA_THIRD_BOOTSTRAP, default 127.0.0.1:39092).
pub fn third() -> Cluster {
    cluster("third", "KAFKA_THIRD_BOOTSTRAP", "127.0.0.1:39092")
}

/// A name no other test (or earlier run) uses: `prefix-<pid>-<n>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A record to produce, or one read back. `None` key or value is a null (a tombstone value).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TestRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch; `None` when producing means "now".
    pub timestamp: Option<i64>,
}

impl TestRecord {
    pub fn new(partition: i32, key: &str, value: &str) -> Self {
        Self {
            partition,
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
            ..Self::default()
        }
    }
}

impl Cluster {
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.config().create().expect("admin client")
    }

    /// Creates a topic with `partitions` partitions and config overrides, and waits until the
    /// broker's metadata shows all its partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin();
        let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            new = new.set(k, v);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let results = rt
            .block_on(admin.create_topics(
                [&new],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            ))
            .expect("create_topics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t} on {}: {e}", self.name));
        }
        self.wait_for_partitions(topic, partitions);
    }

    /// Waits (up to 30 s) until `topic` has `partitions` partitions in the metadata.
    pub fn wait_for_partitions(&self, topic: &str, partitions: i32) {
        let admin = self.admin();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(md) = admin
                .inner()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
            {
                if md.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error().is_none()
                        && t.partitions().len() as i32 == partitions
                }) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} did not get {partitions} partitions on {}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The number of partitions of `topic`, or `None` if it does not exist.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        let md = self
            .admin()
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        md.topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
    }

    /// Produces `records` (each to its own partition, with its key, value, headers and
    /// timestamp), waits for every acknowledgement and panics on any failure.
    pub fn produce(&self, topic: &str, records: &[TestRecord]) {
        self.produce_with(topic, records, &[]);
    }

    /// Like `produce`, with extra producer properties (compression.type, linger.ms, ...).
    pub fn produce_with(&self, topic: &str, records: &[TestRecord], props: &[(&str, &str)]) {
        let mut config = self.config();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5");
        for (k, v) in props {
            config.set(*k, *v);
        }
        let producer: ThreadedProducer<CountingContext> = config
            .create_with_context(CountingContext::default())
            .expect("producer");
        for r in records {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).partition(r.partition);
            if let Some(k) = &r.key {
                record = record.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                record = record.payload(v.as_slice());
            }
            if let Some(ts) = r.timestamp {
                record = record.timestamp(ts);
            }
            if !r.headers.is_empty() {
                let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
                for (k, v) in &r.headers {
                    headers = headers.insert(Header {
                        key: k,
                        value: v.as_deref(),
                    });
                }
                record = record.headers(headers);
            }
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        r,
                    )) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => panic!("producing to {topic}: {e}"),
                }
            }
        }
        producer.flush(Duration::from_secs(60)).expect("flush");
        let failures = producer.context().failures.lock().unwrap().clone();
        assert!(
            failures.is_empty(),
            "delivery failures producing to {topic}: {failures:?}"
        );
    }

    /// Per partition: (partition, low watermark, high watermark).
    pub fn watermarks(&self, topic: &str) -> Vec<(i32, i64, i64)> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", unique("wm"))
            .create()
            .expect("consumer");
        let partitions = self
            .partition_count(topic)
            .unwrap_or_else(|| panic!("topic {topic} missing on {}", self.name));
        (0..partitions)
            .map(|p| {
                let (lo, hi) = consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .expect("watermarks");
                (p, lo, hi)
            })
            .collect()
    }

    /// Every record of `topic` from the low to the high watermark, in partition then offset
    /// order, read uncommitted (as stored).
    pub fn read_all(&self, topic: &str) -> Vec<TestRecord> {
        let marks = self.watermarks(topic);
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_uncommitted")
            .set("enable.partition.eof", "true")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for (p, lo, hi) in &marks {
            if hi > lo {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*lo))
                    .unwrap();
            }
        }
        consumer.assign(&tpl).expect("assign");
        let mut remaining: Vec<(i32, i64)> = marks
            .iter()
            .filter(|(_, lo, hi)| hi > lo)
            .map(|(p, _, hi)| (*p, *hi))
            .collect();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !remaining.is_empty() {
            assert!(
                Instant::now() < deadline,
                "reading {topic} from {}: timed out, still waiting for {remaining:?}",
                self.name
            );
            let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let msg = match msg {
                Ok(m) => m,
                Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                    remaining.retain(|(rp, _)| *rp != p);
                    continue;
                }
                Err(e) => panic!("reading {topic}: {e}"),
            };
            let headers = msg
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            out.push(TestRecord {
                partition: msg.partition(),
                offset: msg.offset(),
                key: msg.key().map(<[u8]>::to_vec),
                value: msg.payload().map(<[u8]>::to_vec),
                headers,
                timestamp: msg.timestamp().to_millis(),
            });
            if let Some(pos) = remaining
                .iter()
                .position(|(p, hi)| *p == msg.partition() && msg.offset() + 1 >= *hi)
            {
                remaining.remove(pos);
            }
        }
        out.sort_by_key(|r| (r.partition, r.offset));
        out
    }

    /// Commits offsets for `group` (which must have no active members): (topic, partition, offset).
    pub fn commit_offsets(&self, group: &str, offsets: &[(&str, i32, i64)]) {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o)).unwrap();
        }
        consumer
            .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .expect("commit");
    }

    /// The committed offset of `group` on each given partition (None when there is none).
    pub fn committed_offsets(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        committed_offsets(self.config(), group, topic, partitions)
    }
}

/// The committed offset of `group` on each given partition (None when there is none), read
/// with a consumer made from `config` (any cluster, any security settings).
pub fn committed_offsets(
    mut config: ClientConfig,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = config.set("group.id", group).create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect()
}

#[derive(Default)]
struct CountingContext {
    failures: Mutex<Vec<String>>,
}

impl rdkafka::ClientContext for CountingContext {}

impl rdkafka::producer::ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failures.lock().unwrap().push(e.to_string());
        }
    }
}

// Keep the default producer context type reachable for tests that want a plain producer.
pub type PlainProducer = ThreadedProducer<DefaultProducerContext>;

/// The path of one of the workspace's binaries, built (once per test process) with the same
/// profile as the tests, so a test never runs a stale binary.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(repo_root())
            .args(["build", "--quiet", "--workspace", "--bins"])
            .status()
            .expect("running cargo build for the binaries");
        assert!(status.success(), "cargo build --workspace --bins failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "binary {} not found after building",
        path.display()
    );
    path
}

/// The captured result of running a command.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion, killing it after `timeout` (then panicking: a hang is a failure).
/// stdout and stderr are drained while it runs, so a chatty child never blocks on a full pipe.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Run {
    use std::io::Read;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {shown}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if status.is_none() {
        panic!(
            "{shown} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
    }
    run
}

/// Runs one of the workspace's binaries with `args` (timeout 120 s).
pub fn run_bin(name: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin(name));
    cmd.args(args);
    run_with_timeout(cmd, Duration::from_secs(120))
}

/// Runs a main class of the Kafka jars through `bin/kafka-local run-class` (timeout 120 s).
pub fn kafka_class(class: &str, args: &[&str]) -> Run {
    let script = std::env::var_os("KAFKA_LOCAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("bin/kafka-local"));
    let mut cmd = Command::new(script);
    cmd.arg("run-class").arg(class).args(args);
    run_with_timeout(cmd, Duration::from_secs(120))
}

/// Writes a properties file `name` in `dir` from `(key, value)` pairs.
pub fn write_properties(dir: &Path, name: &str, entries: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let text: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&path, text).expect("writing properties");
    path
}
