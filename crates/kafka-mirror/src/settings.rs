//! The validated settings of one run: every file read, every property checked and every forced
//! value applied before any client is created. Anything wrong here is a usage error (exit 2)
//! and nothing has been consumed or written.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use cluster_config::{ClientSettings, Error, TopicFilter};

use crate::cli::{Cli, PartitionMode};

/// One source cluster: its consumer settings (forced values applied) and group.
#[derive(Clone, Debug)]
pub struct Source {
    /// "source" with one source cluster, "source N (file)" with several.
    pub label: String,
    pub settings: ClientSettings,
    pub group_id: String,
}

#[derive(Clone, Debug)]
pub struct MirrorSettings {
    pub sources: Vec<Source>,
    pub target: ClientSettings,
    pub filter: TopicFilter,
    pub partition_mode: PartitionMode,
    pub num_streams: usize,
    pub num_producers: usize,
    pub queue_size: usize,
    pub abort_on_send_failure: bool,
    pub commit_interval: Duration,
    pub until_caught_up: bool,
    pub create_topics: bool,
    pub topic_refresh_interval: Duration,
    pub shutdown_timeout: Duration,
    pub connect_timeout: Duration,
    pub metrics_addr: Option<SocketAddr>,
    pub report_interval: Duration,
    pub progress: bool,
    /// Things the user should know (dropped Java keys, overridden settings), logged at start.
    pub warnings: Vec<String>,
}

/// librdkafka's "infinite" for message.timeout.ms.
const UNBOUNDED: &str = "0";

impl MirrorSettings {
    pub fn from_cli(cli: &Cli) -> Result<Self, Error> {
        let include = match (&cli.include, &cli.whitelist) {
            (Some(_), Some(_)) => {
                return Err(Error::Usage(
                    "give one of --include and --whitelist (--whitelist is its old name)".into(),
                ))
            }
            (Some(p), None) | (None, Some(p)) => p.as_str(),
            (None, None) => return Err(Error::Usage("give --include REGEX".into())),
        };
        let exclude = cli.exclude.as_deref().or(cli.blacklist.as_deref());
        let filter = TopicFilter::new(include, exclude)?;

        let mut warnings = Vec::new();
        let several = cli.consumer_config.len() > 1;
        let mut sources = Vec::new();
        for (i, path) in cli.consumer_config.iter().enumerate() {
            let label = if several {
                format!("source {} ({})", i + 1, file_name(path))
            } else {
                "source".to_string()
            };
            let mut source = source_settings(&label, path, &mut warnings)?;
            // Partitions added to a mirrored topic reach the assignment at the same pace as
            // new topics reach the subscription.
            let refresh = cli.topic_refresh_interval.max(Duration::from_secs(1));
            source.settings.set_default(
                "topic.metadata.refresh.interval.ms",
                &refresh.as_millis().to_string(),
            );
            sources.push(source);
        }
        let target = target_settings(cli, &mut warnings)?;

        let metrics_addr = cli
            .metrics_addr
            .as_deref()
            .map(|addr| {
                addr.to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        Error::Usage(format!("--metrics-addr {addr}: expected HOST:PORT"))
                    })
            })
            .transpose()?;

        Ok(Self {
            sources,
            target,
            filter,
            partition_mode: cli.partition_mode,
            num_streams: cli.num_streams as usize,
            num_producers: cli.num_producers as usize,
            queue_size: cli.queue_size as usize,
            abort_on_send_failure: cli.abort_on_send_failure,
            commit_interval: Duration::from_millis(cli.offset_commit_interval_ms),
            until_caught_up: cli.until_caught_up,
            create_topics: !cli.no_create_topics,
            topic_refresh_interval: cli.topic_refresh_interval.max(Duration::from_secs(1)),
            shutdown_timeout: cli.shutdown_timeout,
            connect_timeout: cli.connect_timeout.max(Duration::from_millis(100)),
            metrics_addr,
            report_interval: cli.report_interval,
            progress: !cli.no_progress,
            warnings,
        })
    }

    /// The target settings of the producer that re-sends, one record per batch, the records of
    /// a batch the broker rejected as a whole.
    pub fn single_record_target(&self) -> ClientSettings {
        let mut s = self.target.clone();
        s.force("batch.num.messages", "1", "kafka-mirror");
        s.force("linger.ms", "0", "kafka-mirror");
        s.force("max.in.flight", "1", "kafka-mirror");
        s.remove("max.in.flight.requests.per.connection");
        s.force("client.id", "kafka-mirror-single", "kafka-mirror");
        // It takes the records of rejected batches from every producer of the pool, on their
        // delivery threads: a queue larger than all of queue.size is never full unless the
        // target takes nothing at all.
        s.force(
            "queue.buffering.max.messages",
            &(self.queue_size.saturating_mul(2).max(1000)).to_string(),
            "kafka-mirror",
        );
        s
    }

    /// The producers' batch.size (the mirror's default unless set).
    pub fn batch_size(&self) -> i64 {
        self.target
            .get("batch.size")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// How long the consumer loops' polls wait when the source has nothing new. With
    /// `--until-caught-up` the end comes from a drained source: the last commit and the exit
    /// follow within this time (10 ms polls of an idle consumer cost nothing measurable).
    pub fn idle_poll(&self) -> Duration {
        if self.until_caught_up {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(100)
        }
    }

    /// The interval between commits: `--until-caught-up` needs prompt commits to notice the end.
    pub fn effective_commit_interval(&self) -> Duration {
        if self.until_caught_up {
            self.commit_interval.min(Duration::from_secs(1))
        } else {
            self.commit_interval
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn source_settings(label: &str, path: &Path, warnings: &mut Vec<String>) -> Result<Source, Error> {
    let mut s = ClientSettings::from_parts(label, Some(path), None, &[])?;
    warnings.extend(s.warnings().iter().cloned());
    let group_id = match s.get("group.id") {
        Some(g) if !g.trim().is_empty() => g.to_string(),
        _ => {
            return Err(Error::Usage(format!(
                "{}: no group.id: the {label} cluster's consumer group must be named (it holds the mirror's committed offsets)",
                path.display()
            )))
        }
    };
    // The commit protocol needs these: offsets are committed only once the target has them.
    for (key, value) in [
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "false"),
    ] {
        if let Some(user) = s.force(key, value, "kafka-mirror") {
            warnings.push(format!(
                "{}: {key}={} overridden with {value}: the mirror commits only what the target acknowledged",
                user.origin, user.value
            ));
        }
    }
    // Cooperative rebalancing: a rebalance revokes only the partitions that move, so the rest
    // keep flowing. With the KIP-848 protocol the broker assigns and the key is not allowed.
    let new_protocol = s
        .get("group.protocol")
        .is_some_and(|p| p.eq_ignore_ascii_case("consumer"));
    if !new_protocol {
        if let Some(user) = s.force(
            "partition.assignment.strategy",
            "cooperative-sticky",
            "kafka-mirror",
        ) {
            warnings.push(format!(
                "{}: partition.assignment.strategy={} overridden with cooperative-sticky: eager rebalances stop the whole mirror",
                user.origin, user.value
            ));
        }
    }
    // No loss on a new group: start from the beginning (Java's default is latest).
    s.set_default("auto.offset.reset", "earliest");
    // Aborted transactions are not mirrored (the target has no transaction to abort them with).
    s.set_default("isolation.level", "read_committed");
    if s.get("isolation.level") == Some("read_uncommitted") {
        warnings.push(format!(
            "{label}: isolation.level=read_uncommitted: records of aborted transactions will be mirrored as ordinary records"
        ));
    }
    // Bound the prefetch: 32 MB per consumer, not librdkafka's 64 MB plus 100,000 records per
    // partition.
    s.set_default("queued.max.messages.kbytes", "32768");
    s.set_default("queued.min.messages", "20000");
    // librdkafka checks those bounds before a fetch and decompresses a whole response at once,
    // so one response can overshoot them by up to partitions x max.partition.fetch.bytes x
    // the compression ratio (1 MiB x 8 partitions x 19 with the benchmark's zstd data: 150 MB).
    // Half of librdkafka's 1 MiB halves that overshoot; a link with a long round trip and few
    // partitions per broker may want it back up (README: "Memory").
    s.set_default("max.partition.fetch.bytes", "524288");
    // librdkafka waits a whole second (its default) before fetching again once that prefetch
    // is full: the mirror drains it in milliseconds, so the second is mostly idle time.
    s.set_default("fetch.queue.backoff.ms", "10");
    s.set_default("client.id", "kafka-mirror");
    // Lag per partition for the metrics comes from librdkafka's statistics.
    s.set_default("statistics.interval.ms", "5000");
    Ok(Source {
        label: label.to_string(),
        settings: s,
        group_id,
    })
}

fn target_settings(cli: &Cli, warnings: &mut Vec<String>) -> Result<ClientSettings, Error> {
    let path = &cli.producer_config;
    let mut s = ClientSettings::from_parts("target", Some(path), None, &[])?;
    warnings.extend(s.warnings().iter().cloned());
    if let Some(acks) = s.setting("acks") {
        if !matches!(acks.value.trim(), "all" | "-1") {
            return Err(Error::Property {
                origin: acks.origin.clone(),
                key: "acks".into(),
                message: format!(
                    "{} would lose records when a broker fails: the mirror needs acks=all (or leave it out)",
                    acks.value
                ),
            });
        }
    }
    if let Some(idem) = s.setting("enable.idempotence") {
        if idem.value.trim() != "true" {
            return Err(Error::Property {
                origin: idem.origin.clone(),
                key: "enable.idempotence".into(),
                message: "the mirror needs the idempotent producer (retries must not reorder or duplicate records): remove the line".into(),
            });
        }
    }
    if let Some(t) = s.setting("transactional.id") {
        return Err(Error::Property {
            origin: t.origin.clone(),
            key: "transactional.id".into(),
            message: "the mirror does not produce in transactions: remove the line".into(),
        });
    }
    for key in ["message.timeout.ms", "delivery.timeout.ms"] {
        if let Some(t) = s.setting(key) {
            if t.value.trim() != UNBOUNDED {
                if !cli.abort_on_send_failure {
                    return Err(Error::Property {
                        origin: t.origin.clone(),
                        key: key.into(),
                        message: format!(
                            "{} with --abort.on.send.failure false would skip records the target was merely slow to take: remove the line (the mirror retries without limit)",
                            t.value
                        ),
                    });
                }
                warnings.push(format!(
                    "{}: {key}={}: a target slower than that stops the mirror (exit 3)",
                    t.origin, t.value
                ));
            }
        }
    }
    s.force("acks", "all", "kafka-mirror");
    s.force("enable.idempotence", "true", "kafka-mirror");
    if s.get("delivery.timeout.ms").is_none() {
        s.set_default("message.timeout.ms", UNBOUNDED);
    }
    s.set_default("queue.buffering.max.messages", &cli.queue_size.to_string());
    s.set_default("linger.ms", "10");
    s.set_default("batch.size", &DEFAULT_BATCH_SIZE.to_string());
    s.set_default(
        "queue.buffering.max.kbytes",
        &DEFAULT_QUEUE_KBYTES.to_string(),
    );
    s.set_default("message.max.bytes", "10485760");
    s.set_default("client.id", "kafka-mirror");
    Ok(s)
}

/// The producers' batch.size unless set: librdkafka's own 1,000,000 bytes, capped by the
/// smallest max.message.bytes of the target topics when they are prepared. librdkafka's
/// idempotent producer sends a partition's next request only once fewer than 5 of its records
/// are in flight, in practice one request per partition at a time: a partition moves at most
/// one batch per round trip, and smaller batches lower that ceiling. (While it waited, its
/// broker thread also polled without sleeping, librdkafka #3692: third_party/librdkafka.)
pub const DEFAULT_BATCH_SIZE: i64 = 1_000_000;

/// The producers' queue.buffering.max.kbytes unless set (librdkafka's default is 1 GiB per
/// producer): with large records, this bounds the memory before queue.size does.
pub const DEFAULT_QUEUE_KBYTES: u32 = 262_144;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn settings(consumer: &str, producer: &str, extra: &[&str]) -> Result<MirrorSettings, Error> {
        let dir = tempfile::tempdir().unwrap();
        let c = write(&dir, "c.properties", consumer);
        let p = write(&dir, "p.properties", producer);
        let mut args = vec![
            "kafka-mirror".to_string(),
            "--consumer.config".into(),
            c.display().to_string(),
            "--producer.config".into(),
            p.display().to_string(),
            "--include".into(),
            "t.*".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        MirrorSettings::from_cli(&Cli::try_parse_from(args).unwrap())
    }

    #[test]
    fn forced_and_default_properties() {
        let s = settings(
            "bootstrap.servers=a:1\ngroup.id=g\nenable.auto.commit=true\npartition.assignment.strategy=range\n",
            "bootstrap.servers=b:1\nlinger.ms=50\n",
            &["--queue.size", "500"],
        )
        .unwrap();
        let c = &s.sources[0].settings;
        assert_eq!(s.sources[0].group_id, "g");
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(
            c.get("partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("isolation.level"), Some("read_committed"));
        assert_eq!(c.get("max.partition.fetch.bytes"), Some("524288"));
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("enable.auto.commit=true")));
        assert!(s.warnings.iter().any(|w| w.contains("strategy=range")));
        let t = &s.target;
        assert_eq!(t.get("acks"), Some("all"));
        assert_eq!(t.get("enable.idempotence"), Some("true"));
        assert_eq!(t.get("message.timeout.ms"), Some("0"));
        assert_eq!(t.get("queue.buffering.max.messages"), Some("500"));
        assert_eq!(t.get("linger.ms"), Some("50"), "user's tuning is kept");
        assert_eq!(t.get("batch.size"), Some("1000000"));
        assert_eq!(s.batch_size(), DEFAULT_BATCH_SIZE);
        assert_eq!(t.get("queue.buffering.max.kbytes"), Some("262144"));
        // The one-record producer takes more than all of queue.size: it is never the one full.
        let single = s.single_record_target();
        assert_eq!(single.get("queue.buffering.max.messages"), Some("1000"));
        assert_eq!(single.get("batch.num.messages"), Some("1"));
    }

    #[test]
    fn unsafe_producer_settings_are_refused() {
        let c = "bootstrap.servers=a:1\ngroup.id=g\n";
        let err = settings(c, "bootstrap.servers=b:1\nacks=1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.properties:2: acks: 1 would lose records"),
            "{err}"
        );
        assert!(settings(c, "bootstrap.servers=b:1\nacks=-1\n", &[]).is_ok());
        let err = settings(c, "bootstrap.servers=b:1\nenable.idempotence=false\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("enable.idempotence"), "{err}");
        let err = settings(
            c,
            "bootstrap.servers=b:1\ndelivery.timeout.ms=120000\n",
            &["--abort.on.send.failure", "false"],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("delivery.timeout.ms: 120000"), "{err}");
        let s = settings(
            c,
            "bootstrap.servers=b:1\ndelivery.timeout.ms=120000\n",
            &[],
        )
        .unwrap();
        assert!(s.warnings.iter().any(|w| w.contains("exit 3")));
    }

    #[test]
    fn group_id_is_required() {
        let err = settings("bootstrap.servers=a:1\n", "bootstrap.servers=b:1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.properties: no group.id"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn filter_and_metrics_address_are_checked() {
        let c = "bootstrap.servers=a:1\ngroup.id=g\n";
        let p = "bootstrap.servers=b:1\n";
        let err = settings(c, p, &["--exclude", "a("])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid topic pattern 'a('"), "{err}");
        let err = settings(c, p, &["--metrics-addr", "nonsense"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--metrics-addr nonsense"), "{err}");
        let s = settings(
            c,
            p,
            &["--metrics-addr", "127.0.0.1:0", "--until-caught-up"],
        )
        .unwrap();
        assert_eq!(s.metrics_addr.unwrap().ip().to_string(), "127.0.0.1");
        assert_eq!(s.effective_commit_interval(), Duration::from_secs(1));
    }
}
