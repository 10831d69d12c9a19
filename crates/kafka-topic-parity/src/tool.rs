//! The kafka-topic-parity command: arguments → settings → snapshot of both clusters →
//! findings → report → exit code (0 parity, 1 differences, 2 error).

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cluster_config::exit::compare::{DIFFERENT, SAME, TROUBLE};
use cluster_config::{ClientSettings, Error, TopicFilter};
use comfy_table::{presets, ContentArrangement, Table};
use kafka_topic_sync::args::{self, ClusterArgs, Format, SelectionArgs};
use kafka_topic_sync::compare::{self, CompareMode};
use serde_json::Value;

use crate::data::check_data;
use crate::findings::{compare_topics, data_findings, Check, Checks, Finding};

const TOOL: &str = "kafka-topic-parity";

/// Check that the target cluster's topics match the source's (existence, partition counts,
/// config overrides; optionally replication factors and record counts), for CI preflight
/// before a mirror cutover.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-topic-parity",
    version,
    after_help = "Example:\n  kafka-topic-parity --source-config consumer.properties --target-config producer.properties \\\n      --include 'orders.*' --check-data\n\nExit codes (as diff(1)): 0 parity, 1 differences found, 2 error (unreachable cluster, bad\nconfig or pattern, a topic that could not be described)."
)]
pub struct Cli {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Which config values to compare: explicit per-topic overrides, or every effective value
    /// (broker defaults included).
    #[arg(long, value_enum, default_value_t = CompareMode::Overrides, help_heading = "Checks")]
    pub compare: CompareMode,
    /// Compare replication factors too.
    #[arg(long, help_heading = "Checks")]
    pub check_replication: bool,
    /// Compare per-partition record counts (high minus low watermark).
    #[arg(long, help_heading = "Checks")]
    pub check_data: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
}

/// Validated settings.
pub struct Settings {
    pub source: ClientSettings,
    pub target: ClientSettings,
    pub filter: TopicFilter,
    pub checks: Checks,
    pub check_data: bool,
    pub format: Format,
    pub timeout: Duration,
}

impl Settings {
    pub fn from_cli(cli: &Cli) -> Result<Self, Error> {
        let (source, target) = cli.clusters.settings()?;
        Ok(Self {
            source,
            target,
            filter: cli.selection.filter()?,
            checks: Checks {
                compare: cli.compare,
                ignore: cli.selection.ignore_list(),
                replication: cli.check_replication,
            },
            check_data: cli.check_data,
            format: cli.format,
            timeout: cli.clusters.timeout,
        })
    }
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Report {
    pub topics_checked: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn topics_differing(&self) -> usize {
        self.findings
            .iter()
            .map(|f| f.topic.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.check == Check::Error)
            .count()
    }

    pub fn exit_code(&self) -> u8 {
        if self.errors() > 0 {
            TROUBLE
        } else if self.findings.is_empty() {
            SAME
        } else {
            DIFFERENT
        }
    }
}

/// The binary's entry point: parses the arguments (usage errors exit 2), runs, prints one error
/// line on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    cluster_config::logging::init(TOOL, "warn");
    let result = args::runtime().and_then(|rt| rt.block_on(run(&cli)));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{TOOL}: error: {e}");
            ExitCode::from(TROUBLE)
        }
    }
}

/// Runs the tool and prints the report; returns the exit code.
pub async fn run(cli: &Cli) -> Result<u8, Error> {
    let settings = Settings::from_cli(cli)?;
    let report = compare_clusters(&settings).await?;
    args::print(&render(&report, &settings))?;
    Ok(report.exit_code())
}

/// Compares the selected topics of both clusters.
pub async fn compare_clusters(settings: &Settings) -> Result<Report, Error> {
    let timeout = settings.timeout;
    args::check_reachable(&settings.source, &settings.target, timeout).await?;
    let source_admin = compare::admin(&settings.source)?;
    let target_admin = compare::admin(&settings.target)?;
    let snapshot = compare::snapshot(
        (&source_admin, &settings.source),
        (&target_admin, &settings.target),
        &|t: &str| settings.filter.matches(t),
        true,
        timeout,
    )
    .await?;
    let (topics_checked, mut findings) = compare_topics(&snapshot, &settings.checks);
    if settings.check_data {
        let data = check_data(&source_admin, &target_admin, &snapshot, timeout).await?;
        findings.extend(data_findings(&data.counts, &|t: &str| {
            data.approximate.contains(t)
        }));
        for (topic, partition, e) in data.errors {
            findings.push(Finding {
                topic,
                check: Check::Error,
                key: None,
                partition: Some(partition),
                source: Value::Null,
                target: Value::Null,
                difference: None,
                approximate: false,
                note: Some(format!("cannot count records: {e}")),
            });
        }
    }
    // Sorted by topic, then check, then key or partition: stable output.
    findings.sort_by(|a, b| {
        (&a.topic, a.check, &a.key, a.partition).cmp(&(&b.topic, b.check, &b.key, b.partition))
    });
    Ok(Report {
        topics_checked,
        findings,
    })
}

fn render(report: &Report, settings: &Settings) -> String {
    let summary = format!(
        "{} topics checked, {} differ",
        report.topics_checked,
        report.topics_differing()
    );
    if settings.format == Format::Json {
        let value = serde_json::json!({
            "findings": report.findings,
            "summary": {
                "topics_checked": report.topics_checked,
                "topics_differing": report.topics_differing(),
                "findings": report.findings.len(),
                "errors": report.errors(),
                "compare": settings.checks.compare,
                "text": summary,
            },
        });
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    if !report.findings.is_empty() {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header([
                "Topic",
                "Check",
                "Key/partition",
                "Source",
                "Target",
                "Note",
            ]);
        for f in &report.findings {
            let detail = match (&f.key, f.partition) {
                (Some(k), _) => k.clone(),
                (None, Some(p)) => p.to_string(),
                (None, None) => String::new(),
            };
            t.add_row([
                f.topic.clone(),
                f.check.as_str().to_string(),
                detail,
                cell(&f.source),
                cell(&f.target),
                f.note.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    out.push_str(&summary);
    out.push('\n');
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
