//! Arguments of `kafka-bench` and the dispatch to the driver or the bare clients.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::load::{ConsumeSpec, ProduceSpec};
use crate::BenchError;

#[derive(Parser, Debug)]
#[command(
    name = "kafka-bench",
    version,
    about = "Benchmark kafka-mirror against MirrorMaker 2/1 and the librdkafka limit (run by bin/bench)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the benchmark on the local clusters and print the table.
    Run(RunArgs),
    /// Bare librdkafka producer: write N records of SIZE bytes (acks=all, keys = sequence numbers).
    Produce {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        records: u64,
        #[arg(long)]
        size: usize,
        #[arg(long, default_value = "none")]
        compression: String,
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Bare librdkafka consumer: read every partition to its end offset; print counts as JSON.
    Consume {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 8)]
        partitions: i32,
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Smaller version of every case (100,000 records per mirror case).
    #[arg(long)]
    pub quick: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Records per mirror case (default 1,000,000; 100,000 with --quick).
    #[arg(long)]
    pub records: Option<u64>,
    /// Mirror cases to run (default all): mirror-1KiB, mirror-100B, mirror-1KiB-zstd.
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Tools to run (default all): kafka-mirror, mirrormaker2, mirrormaker1, limit-consume,
    /// limit-produce.
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// A tool that is not available, with the reason (TOOL=REASON; repeatable). Set by bin/bench
    /// for tools that failed to build.
    #[arg(long, value_name = "TOOL=REASON")]
    pub unavailable: Vec<String>,
    /// Consumer groups for the lag-check comparison.
    #[arg(long, default_value_t = 500)]
    pub groups: usize,
    /// Topics (on each cluster) for the topic-parity timing.
    #[arg(long, default_value_t = 1000)]
    pub parity_topics: usize,
    /// Skip the lag-check comparison.
    #[arg(long)]
    pub no_lag_check: bool,
    /// Skip the topic-parity timing.
    #[arg(long)]
    pub no_parity: bool,
    /// Heap (-Xmx) of the MirrorMaker JVMs.
    #[arg(long, default_value = "1g")]
    pub mm_heap: String,
    /// Runs of kafka-mirror and of the two limit clients per case, interleaved (round 1: each
    /// tool once, round 2: ...); the table shows each tool's median run by seconds and the JSON
    /// every run's seconds (`runs_s`). The MirrorMakers run once. An odd N is best.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub repeat: u32,
    /// An extra argument for kafka-mirror (repeatable, in order), to measure a setting against
    /// the defaults: `--mirror-arg=--queue.size --mirror-arg=50000`. The table then measures
    /// these settings, not the defaults.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub mirror_arg: Vec<String>,
    #[arg(
        long,
        env = "KAFKA_SOURCE_BOOTSTRAP",
        default_value = "127.0.0.1:19092"
    )]
    pub source: String,
    #[arg(
        long,
        env = "KAFKA_TARGET_BOOTSTRAP",
        default_value = "127.0.0.1:29092"
    )]
    pub target: String,
    /// bin/kafka-local (runs the Kafka JVM tools).
    #[arg(long, default_value = "bin/kafka-local")]
    pub kafka_local: PathBuf,
    /// Folder with the release binaries (kafka-mirror, kafka-lag-check, kafka-topic-parity).
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Folder for configs and the logs of every run.
    #[arg(long, default_value = "target/bench")]
    pub work_dir: PathBuf,
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kafka-bench: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, BenchError> {
    match cli.command {
        Command::Run(args) => crate::driver::run(args),
        Command::Produce {
            bootstrap,
            topic,
            records,
            size,
            compression,
            timeout,
        } => {
            let secs = crate::load::produce(&ProduceSpec {
                bootstrap: &bootstrap,
                topic: &topic,
                records,
                size,
                compression: &compression,
                timeout,
            })?;
            println!("{{\"records\":{records},\"seconds\":{secs:.3}}}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Consume {
            bootstrap,
            topic,
            partitions,
            timeout,
        } => {
            let consumed = crate::load::consume(&ConsumeSpec {
                bootstrap: &bootstrap,
                topic: &topic,
                partitions,
                timeout,
            })?;
            let json =
                serde_json::to_string(&consumed).map_err(|e| BenchError::Io(e.to_string()))?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
