//! The command line: MirrorMaker's options (dotted and dashed spellings) plus what operators
//! need today. Nothing here is validated beyond syntax: see `settings`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Parser, ValueEnum};

const AFTER_HELP: &str = "\
Example:
  kafka-mirror --consumer.config source.properties --producer.config target.properties \\
               --include 'orders.*,payments' --num.streams 4 --metrics-addr 0.0.0.0:9108

Each --consumer.config is one source cluster with its own group.id; every source is mirrored
into the one target of --producer.config, keeping partition, key, value, headers and timestamp.
Exit codes: 0 stopped by SIGINT/SIGTERM or caught up, 1 runtime failure, 2 bad usage or
configuration, 3 a record could not be delivered (abort.on.send.failure=true).";

/// How records are placed in the target topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PartitionMode {
    /// The same partition number as in the source.
    Preserve,
    /// The Java producer's murmur2 key hash (records without a key keep their source partition
    /// modulo the target's partition count).
    Hash,
}

/// Mirror topics from one or more source clusters into a target cluster, as MirrorMaker does,
/// without losing a record.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "kafka-mirror",
    version,
    about,
    after_help = AFTER_HELP,
    group(ArgGroup::new("topics").required(true).args(["include", "whitelist"]))
)]
pub struct Cli {
    /// Consumer properties of a source cluster (bootstrap.servers and group.id required).
    /// Repeat for several source clusters, each mirrored with its own consumer group.
    #[arg(
        long = "consumer.config",
        visible_alias = "consumer-config",
        value_name = "FILE",
        required = true,
        action = ArgAction::Append,
        help_heading = "Clusters"
    )]
    pub consumer_config: Vec<PathBuf>,

    /// Producer properties of the target cluster (bootstrap.servers required; acks must be
    /// all if set).
    #[arg(
        long = "producer.config",
        visible_alias = "producer-config",
        value_name = "FILE",
        required = true,
        help_heading = "Clusters"
    )]
    pub producer_config: PathBuf,

    /// Topics to mirror: a regular expression matched against the whole name; ',' means '|'.
    /// Internal topics are never mirrored.
    #[arg(long, value_name = "REGEX", help_heading = "Topics")]
    pub include: Option<String>,

    /// Old name of --include.
    #[arg(long, value_name = "REGEX", help_heading = "Topics")]
    pub whitelist: Option<String>,

    /// Topics not to mirror, even when --include matches them.
    #[arg(long, value_name = "REGEX", help_heading = "Topics")]
    pub exclude: Option<String>,

    /// Old name of --exclude.
    #[arg(
        long,
        value_name = "REGEX",
        conflicts_with = "exclude",
        help_heading = "Topics"
    )]
    pub blacklist: Option<String>,

    /// How often to look for topics that start matching the filter (and partitions added to
    /// mirrored topics).
    #[arg(long = "topic-refresh-interval", value_name = "DURATION", default_value = "30s",
          value_parser = parse_duration, help_heading = "Topics")]
    pub topic_refresh_interval: Duration,

    /// Do not create missing target topics (nor add partitions); a missing or too small target
    /// topic is then an error.
    #[arg(long = "no-create-topics", help_heading = "Topics")]
    pub no_create_topics: bool,

    /// Where records go in the target topic: the source's partition number, or the Java
    /// producer's key hash.
    #[arg(long = "partition-mode", value_enum, default_value_t = PartitionMode::Preserve,
          help_heading = "Topics")]
    pub partition_mode: PartitionMode,

    /// Consumers per source cluster (all in the cluster's consumer group).
    #[arg(long = "num.streams", visible_alias = "num-streams", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256), help_heading = "Mirroring")]
    pub num_streams: u32,

    /// Producers to the target; a source partition always uses the same one.
    #[arg(long = "num.producers", visible_alias = "num-producers", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64), help_heading = "Mirroring")]
    pub num_producers: u32,

    /// Records in flight (consumed, not yet acknowledged by the target) at most; when reached,
    /// fetching pauses.
    #[arg(long = "queue.size", visible_alias = "queue-size", value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000), help_heading = "Mirroring")]
    pub queue_size: u32,

    /// Stop (exit 3) when a record cannot be delivered; with false the record is skipped,
    /// counted and logged.
    #[arg(long = "abort.on.send.failure", visible_alias = "abort-on-send-failure", value_name = "true|false",
          default_value_t = true, action = ArgAction::Set, value_parser = clap::value_parser!(bool),
          help_heading = "Mirroring")]
    pub abort_on_send_failure: bool,

    /// How often acknowledged offsets are committed to the source cluster.
    #[arg(long = "offset.commit.interval.ms", visible_alias = "offset-commit-interval-ms", value_name = "MS",
          default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..), help_heading = "Mirroring")]
    pub offset_commit_interval_ms: u64,

    /// Exit 0 once every selected partition has been mirrored and committed up to the end
    /// offset it had at start (commits then happen at least every second).
    #[arg(long = "until-caught-up", help_heading = "Mirroring")]
    pub until_caught_up: bool,

    /// On SIGINT/SIGTERM (or a send failure), how long to wait for records in flight before
    /// committing only what was acknowledged.
    #[arg(long = "shutdown-timeout", value_name = "DURATION", default_value = "30s",
          value_parser = parse_duration, help_heading = "Mirroring")]
    pub shutdown_timeout: Duration,

    /// How long each cluster may take to answer at start.
    #[arg(long = "connect-timeout", value_name = "DURATION", default_value = "15s",
          value_parser = parse_duration, help_heading = "Mirroring")]
    pub connect_timeout: Duration,

    /// Serve Prometheus metrics on http://ADDR/metrics and `ok` on /healthz.
    #[arg(
        long = "metrics-addr",
        value_name = "HOST:PORT",
        help_heading = "Observability"
    )]
    pub metrics_addr: Option<String>,

    /// How often the one-line summary is logged on stderr (0s: never).
    #[arg(long = "report-interval", value_name = "DURATION", default_value = "10s",
          value_parser = parse_duration, help_heading = "Observability")]
    pub report_interval: Duration,

    /// No live progress display, even when stderr is a terminal.
    #[arg(long = "no-progress", help_heading = "Observability")]
    pub no_progress: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 500ms, 30s, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kafka-mirror").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn mirror_maker_spellings_and_defaults() {
        let cli = parse(&[
            "--consumer.config",
            "a.properties",
            "--consumer-config",
            "b.properties",
            "--producer.config",
            "t.properties",
            "--whitelist",
            "x.*",
        ])
        .unwrap();
        assert_eq!(cli.consumer_config.len(), 2);
        assert_eq!(cli.whitelist.as_deref(), Some("x.*"));
        assert_eq!(cli.num_streams, 1);
        assert_eq!(cli.num_producers, 1);
        assert_eq!(cli.queue_size, 10_000);
        assert!(cli.abort_on_send_failure);
        assert_eq!(cli.offset_commit_interval_ms, 60_000);
        assert_eq!(cli.partition_mode, PartitionMode::Preserve);

        let cli = parse(&[
            "--consumer-config",
            "a",
            "--producer-config",
            "t",
            "--include",
            "x",
            "--num-streams",
            "3",
            "--num.producers",
            "2",
            "--queue-size",
            "50",
            "--abort.on.send.failure",
            "false",
            "--offset-commit-interval-ms",
            "1000",
            "--partition-mode",
            "hash",
        ])
        .unwrap();
        assert_eq!(
            (cli.num_streams, cli.num_producers, cli.queue_size),
            (3, 2, 50)
        );
        assert!(!cli.abort_on_send_failure);
        assert_eq!(cli.offset_commit_interval_ms, 1000);
        assert_eq!(cli.partition_mode, PartitionMode::Hash);
    }

    #[test]
    fn conflicts_and_requirements() {
        let base = ["--consumer.config", "a", "--producer.config", "t"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v)
        };
        assert!(with(&[]).is_err(), "a topic filter is required");
        let err = with(&["--include", "a", "--whitelist", "b"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--whitelist") || err.contains("--include"),
            "{err}"
        );
        assert!(with(&["--include", "a", "--exclude", "b", "--blacklist", "c"]).is_err());
        assert!(with(&["--include", "a", "--abort.on.send.failure", "maybe"]).is_err());
        assert!(with(&["--include", "a", "--num.streams", "0"]).is_err());
        assert!(parse(&["--producer.config", "t", "--include", "a"]).is_err());
    }
}
