//! kafka-lag-check: consumer group offsets, lag and time lag, for cron, Nagios/Icinga,
//! Prometheus and people.
//!
//! Reads top-down: the arguments ([`Cli`]) → validated settings ([`query::Query`]) → the work
//! ([`query::collect`], under one global deadline) → the report ([`report::Report`]) → a
//! renderer ([`render`]) → the exit code (Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use cluster_config::exit::nagios;
use cluster_config::ConnectionArgs;

pub mod probe;
pub mod query;
pub mod range;
pub mod render;
pub mod report;
pub mod teardown;

use query::{GroupSelection, Query};
use range::Range;
pub use render::Format;
use report::Thresholds;

const TOOL: &str = "kafka-lag-check";

const EXAMPLES: &str = "\
Examples:
  kafka-lag-check --bootstrap-server kafka1:9092 --group mirror
  kafka-lag-check --command-config client.properties --group-regex 'billing-.*' --format json
  kafka-lag-check --bootstrap-server kafka1:9092 --group mirror --format nagios \\
      --warning 10000 --critical 100000 --warning-time 5m --critical-time 30m

Exit codes (every format): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (missing group, cluster not
reachable within --timeout, bad arguments). --help and --version exit 0.";

/// librdkafka settings of the tool's clients (the user's own take precedence). A check is a few
/// round trips, so waits that librdkafka's defaults add around them are most of its time:
/// - `reconnect.backoff.ms`: after the first metadata answer librdkafka drops the bootstrap
///   connection and, with no broker connected, may open the next connection only after half
///   of this (50 ms by default; 10 gives librdkafka's floor of 11 ms). Failed connections are
///   still retried with an exponential backoff, up to `reconnect.backoff.max.ms`.
/// - `socket.nagle.disable`: requests are small and pipelined (as Kafka's Java client does).
const CLIENT_DEFAULTS: [(&str, &str); 2] = [
    ("reconnect.backoff.ms", "10"),
    ("socket.nagle.disable", "true"),
];

/// Consumer group offsets, lag and time lag, as a table, JSON, a Nagios check or Prometheus
/// metrics.
#[derive(Parser, Debug)]
#[command(
    name = TOOL,
    version,
    after_help = EXAMPLES,
    max_term_width = 100,
    override_usage = "kafka-lag-check (--bootstrap-server HOST:PORT | --command-config FILE)\n       \
                      (--group GROUP... | --group-regex REGEX | --all-groups) [OPTIONS]"
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// A consumer group to check; repeatable.
    #[arg(
        long = "group",
        short = 'g',
        value_name = "GROUP",
        help_heading = "Groups"
    )]
    pub groups: Vec<String>,
    /// Check every group whose whole id matches this regular expression.
    #[arg(long, value_name = "REGEX", help_heading = "Groups")]
    pub group_regex: Option<String>,
    /// Check every consumer group of the cluster.
    #[arg(long, help_heading = "Groups")]
    pub all_groups: bool,
    /// Only these topics (repeatable); every partition of them is listed, committed or not.
    #[arg(
        long = "topic",
        short = 't',
        value_name = "TOPIC",
        help_heading = "Groups"
    )]
    pub topics: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,

    /// WARNING when a group's total lag (records) is outside this Nagios range
    /// (1000, ~:1000, 10:, @10:20).
    #[arg(long, short = 'w', value_name = "RANGE", help_heading = "Thresholds")]
    pub warning: Option<Range>,
    /// CRITICAL when a group's total lag (records) is outside this Nagios range.
    #[arg(long, short = 'c', value_name = "RANGE", help_heading = "Thresholds")]
    pub critical: Option<Range>,
    /// WARNING when a group's largest time lag is above this duration (90s, 5m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, help_heading = "Thresholds")]
    pub warning_time: Option<Duration>,
    /// CRITICAL when a group's largest time lag is above this duration.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, help_heading = "Thresholds")]
    pub critical_time: Option<Duration>,

    /// Give up (UNKNOWN) when the whole check takes longer than this.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, help_heading = "Connection")]
    pub timeout: Duration,

    /// Old ConsumerOffsetChecker flag, refused with an explanation.
    #[arg(long, hide = true, value_name = "HOSTS")]
    pub zookeeper: Option<String>,
    /// Old ConsumerOffsetChecker flag, refused with an explanation.
    #[arg(long, hide = true, value_name = "HOSTS")]
    pub zkconnect: Option<String>,
}

/// Everything that makes the check UNKNOWN. `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] cluster_config::Error),
    #[error("{0}")]
    Query(String),
}

impl Cli {
    /// Validates the arguments into a query, before any network traffic.
    pub fn query(&self) -> Result<Query, Error> {
        for (flag, value) in [
            ("--zookeeper", &self.zookeeper),
            ("--zkconnect", &self.zkconnect),
        ] {
            if value.is_some() {
                return Err(Error::Usage(format!(
                    "{flag} is no longer supported: Kafka keeps consumer group offsets in the \
                     brokers, not in ZooKeeper; give --bootstrap-server HOST:PORT (or \
                     --command-config FILE) instead"
                )));
            }
        }
        let groups =
            match (self.groups.is_empty(), &self.group_regex, self.all_groups) {
                (false, None, false) => GroupSelection::Named(self.groups.clone()),
                (true, Some(re), false) => GroupSelection::Regex(
                    regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| {
                        Error::Usage(format!(
                            "invalid --group-regex '{re}': {}",
                            one_line(&e.to_string())
                        ))
                    })?,
                ),
                (true, None, true) => GroupSelection::All,
                (true, None, false) => return Err(Error::Usage(
                    "no group to check: give --group GROUP, --group-regex REGEX or --all-groups"
                        .into(),
                )),
                _ => {
                    return Err(Error::Usage(
                        "give only one of --group, --group-regex and --all-groups".into(),
                    ))
                }
            };
        if let Some(g) = self.groups.iter().find(|g| g.is_empty()) {
            return Err(Error::Usage(format!("invalid --group '{g}': empty")));
        }
        if self.timeout.is_zero() {
            return Err(Error::Usage("--timeout must be more than 0s".into()));
        }
        let mut client = self.connection.settings("Kafka")?;
        for (key, value) in CLIENT_DEFAULTS {
            client.set_default(key, value);
        }
        Ok(Query {
            client,
            groups,
            topics: self.topics.clone(),
            thresholds: Thresholds {
                warning: self.warning.clone(),
                critical: self.critical.clone(),
                warning_time: self.warning_time,
                critical_time: self.critical_time,
            },
            timeout: self.timeout,
        })
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs the check for a validated query under its global deadline.
pub fn check(query: &Query) -> Result<report::Report, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Query(format!("cannot start the async runtime: {e}")))?;
    let phase = query::Phase::default();
    let retired = teardown::Retired::default();
    let deadline = Instant::now() + query.timeout;
    let result = runtime.block_on(async {
        match tokio::time::timeout_at(
            deadline.into(),
            query::collect(query, deadline, &phase, &retired),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(Error::Query(format!(
                "timed out after {} while {} (Kafka cluster at {})",
                humantime::format_duration(query.timeout),
                phase.get(),
                query.client.bootstrap()
            ))),
        }
    });
    // Blocking librdkafka calls that outlived the deadline must not delay the exit.
    runtime.shutdown_background();
    // Nor must the clients' destruction (100 ms or more, see teardown.rs), unless OpenSSL is in
    // use: then it must end before the process does (within the deadline).
    let left = deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(1));
    retired
        .destroy_in_background()
        .wait_if(query.client.uses_openssl(), left);
    result
}

/// The whole tool; `main.rs` only calls this.
pub fn main() -> ExitCode {
    cluster_config::logging::init(TOOL, "warn");
    run(std::env::args_os())
}

/// Parses `args`, runs the check, prints the result and returns the Nagios exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let nagios_wanted = wants_nagios(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::from(nagios::OK);
            }
            return fail(&Error::Usage(clap_one_line(&e)), nagios_wanted);
        }
    };
    let nagios_wanted = cli.format == Format::Nagios;
    let query = match cli.query() {
        Ok(q) => q,
        Err(e) => return fail(&e, nagios_wanted),
    };
    for w in query.client.warnings() {
        log::warn!("{w}");
    }
    let report = match check(&query) {
        Ok(r) => r,
        Err(e) => return fail(&e, nagios_wanted),
    };
    for g in &report.groups {
        if let Some(error) = &g.error {
            eprintln!("{TOOL}: error: {error}");
        }
    }
    print_stdout(&render::render(&report, cli.format));
    ExitCode::from(report.status.exit_code())
}

fn fail(error: &Error, nagios_wanted: bool) -> ExitCode {
    let message = one_line(&error.to_string());
    eprintln!("{TOOL}: error: {message}");
    if nagios_wanted {
        print_stdout(&render::nagios_error(&message));
    }
    ExitCode::from(nagios::UNKNOWN)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// `--format nagios` among raw arguments that clap refused, so the error still gets its
/// Nagios line.
fn wants_nagios(args: &[OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1))
        .any(|(a, b)| a == "--format" && b == "nagios")
        || args.iter().any(|a| a == "--format=nagios")
}

/// Clap's error without its usage block and tips: the first line, minus `error: `.
fn clap_one_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    let first = first.trim().strip_prefix("error: ").unwrap_or(first.trim());
    format!("{first} (see --help)")
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Query, Error> {
        let mut all = vec![TOOL];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map_err(|e| Error::Usage(clap_one_line(&e)))?
            .query()
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn zookeeper_flags_explain_the_change() {
        for flag in ["--zookeeper", "--zkconnect"] {
            let err = parse(&[flag, "zk:2181", "--group", "g"])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("{flag} is no longer supported")),
                "{err}"
            );
            assert!(err.contains("--bootstrap-server"), "{err}");
        }
    }

    #[test]
    fn group_selection_rules() {
        let err = parse(&["--bootstrap-server", "h:1"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no group to check"), "{err}");
        let err = parse(&["--bootstrap-server", "h:1", "--group", "g", "--all-groups"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("give only one of"), "{err}");
        let q = parse(&["--bootstrap-server", "h:1", "--group-regex", "a.*"]).unwrap();
        match q.groups {
            GroupSelection::Regex(re) => {
                assert!(re.is_match("abc"));
                assert!(!re.is_match("xabc"), "the whole id must match");
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&["--bootstrap-server", "h:1", "--group-regex", "("])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid --group-regex '('"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn thresholds_and_durations_parse() {
        let q = parse(&[
            "--bootstrap-server",
            "h:1",
            "-g",
            "g",
            "-w",
            "@10:20",
            "-c",
            "~:100",
            "--warning-time",
            "90s",
            "--critical-time",
            "5m",
            "--timeout",
            "3s",
        ])
        .unwrap();
        assert_eq!(q.thresholds.warning.unwrap().to_string(), "@10:20");
        assert_eq!(q.thresholds.critical_time, Some(Duration::from_secs(300)));
        assert_eq!(q.timeout, Duration::from_secs(3));
        let err = parse(&["--bootstrap-server", "h:1", "-g", "g", "-w", "20:10"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid range '20:10'"), "{err}");
        assert!(err.ends_with("(see --help)"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn missing_bootstrap_is_a_usage_error() {
        let err = parse(&["--group", "g"]).unwrap_err().to_string();
        assert!(err.contains("no bootstrap servers"), "{err}");
    }

    #[test]
    fn client_defaults_and_openssl_detection() {
        let q = parse(&["--bootstrap-server", "h:1", "-g", "g"]).unwrap();
        assert_eq!(q.client.get("reconnect.backoff.ms"), Some("10"));
        assert_eq!(q.client.get("socket.nagle.disable"), Some("true"));
        assert!(!q.client.uses_openssl());
        let q = parse(&[
            "--bootstrap-server",
            "h:1",
            "-g",
            "g",
            "-X",
            "reconnect.backoff.ms=250",
            "-X",
            "security.protocol=SASL_SSL",
        ])
        .unwrap();
        assert_eq!(
            q.client.get("reconnect.backoff.ms"),
            Some("250"),
            "the user's wins"
        );
        assert!(q.client.uses_openssl());
        let q = parse(&[
            "--bootstrap-server",
            "h:1",
            "-g",
            "g",
            "-X",
            "security.protocol=plaintext",
        ])
        .unwrap();
        assert!(!q.client.uses_openssl());
    }

    #[test]
    fn nagios_is_detected_in_raw_arguments() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_nagios(&args(&["x", "--bogus", "--format", "nagios"])));
        assert!(wants_nagios(&args(&["x", "--format=nagios"])));
        assert!(!wants_nagios(&args(&["x", "--format", "json"])));
    }
}
