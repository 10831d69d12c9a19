//! Command-line options shared by kafka-topic-sync and kafka-topic-parity, and their validation
//! into settings: the two clusters, the topic selection and the ignore list.

use std::path::PathBuf;
use std::time::Duration;

use cluster_config::{ClientSettings, Error, TopicFilter};

use crate::ignore::IgnoreList;

/// The source and target clusters. A mirror's consumer.config and producer.config serve as they
/// are: what only a consumer or a producer understands is left out for admin use.
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Clusters")]
pub struct ClusterArgs {
    /// Client properties of the source cluster (Java or librdkafka keys), e.g. the mirror's
    /// consumer.config.
    #[arg(long, value_name = "FILE")]
    pub source_config: Option<PathBuf>,
    /// Source brokers (needed unless --source-config sets bootstrap.servers).
    #[arg(long, value_name = "HOST:PORT,...")]
    pub source_bootstrap: Option<String>,
    /// Client properties of the target cluster, e.g. the mirror's producer.config.
    #[arg(long, value_name = "FILE")]
    pub target_config: Option<PathBuf>,
    /// Target brokers (needed unless --target-config sets bootstrap.servers).
    #[arg(long, value_name = "HOST:PORT,...")]
    pub target_bootstrap: Option<String>,
    /// Give up on a cluster that does not answer within this time.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl ClusterArgs {
    /// Both clusters' settings; loading warnings are logged.
    pub fn settings(&self) -> Result<(ClientSettings, ClientSettings), Error> {
        let source = ClientSettings::from_parts(
            "source",
            self.source_config.as_deref(),
            self.source_bootstrap
                .as_deref()
                .map(|b| (b, "--source-bootstrap")),
            &[],
        )?;
        let target = ClientSettings::from_parts(
            "target",
            self.target_config.as_deref(),
            self.target_bootstrap
                .as_deref()
                .map(|b| (b, "--target-bootstrap")),
            &[],
        )?;
        for w in source.warnings().iter().chain(target.warnings()) {
            log::warn!("{w}");
        }
        Ok((source, target))
    }
}

/// Which source topics, and which config keys are left alone.
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Selection")]
pub struct SelectionArgs {
    /// Source topics to include: a regular expression on the whole name, `,` meaning `|`
    /// (MirrorMaker's semantics). Internal topics are never selected.
    #[arg(long, value_name = "REGEX", default_value = ".*")]
    pub include: String,
    /// Source topics to leave out, same syntax.
    #[arg(long, value_name = "REGEX")]
    pub exclude: Option<String>,
    /// A config key to leave alone besides the default list (see README); repeatable; `*`
    /// matches any run of characters (`confluent.*`).
    #[arg(long = "ignore-config", value_name = "KEY")]
    pub ignore_config: Vec<String>,
}

impl SelectionArgs {
    pub fn filter(&self) -> Result<TopicFilter, Error> {
        TopicFilter::new(&self.include, self.exclude.as_deref())
    }

    pub fn ignore_list(&self) -> IgnoreList {
        IgnoreList::new(&self.ignore_config)
    }
}

/// Output for people or for machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Checks that both clusters answer, concurrently, so an unreachable one fails within the
/// timeout with one line naming it.
pub async fn check_reachable(
    source: &ClientSettings,
    target: &ClientSettings,
    timeout: Duration,
) -> Result<(), Error> {
    tokio::try_join!(
        source.check_reachable(timeout),
        target.check_reachable(timeout)
    )?;
    Ok(())
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Usage(format!("cannot write the report: {e}")))
        }
        _ => Ok(()),
    }
}

/// A runtime for the one-shot tools.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}
