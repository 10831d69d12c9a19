//! The kafka-topic-sync command: arguments → settings → snapshot and plan → apply (with
//! --apply) → report → exit code.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cluster_config::exit::compare::{DIFFERENT, SAME, TROUBLE};
use cluster_config::{ClientSettings, Error, TopicFilter};
use comfy_table::{presets, ContentArrangement, Table};

use crate::actions;
use crate::apply::{apply, ActionResult};
use crate::args::{self, ClusterArgs, Format, SelectionArgs};
use crate::compare::{self, Snapshot};
use crate::ignore::IgnoreList;
use crate::plan::{plan, Plan, PlanAction, ReplicationChoice};

const TOOL: &str = "kafka-topic-sync";

/// A progress bar is worth drawing from this many changes on.
const PROGRESS_FROM: usize = 20;

/// Create and align the target cluster's topics with the source's: missing topics, partition
/// counts, config overrides. Prints the plan; changes nothing without --apply.
#[derive(Parser, Debug)]
#[command(
    name = "kafka-topic-sync",
    version,
    after_help = "Example:\n  kafka-topic-sync --source-config consumer.properties --target-config producer.properties \\\n      --include 'orders.*' --apply\n\nExit codes: 0 plan printed or fully applied, 1 --apply left differences it cannot fix\n(more partitions on the target, another replication factor), 2 error (a failed action too)."
)]
pub struct Cli {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Carry the plan out (without it nothing is changed).
    #[arg(long, help_heading = "Changes")]
    pub apply: bool,
    /// Replication factor of created topics [default: the source's, capped at the target's
    /// broker count].
    #[arg(long, value_name = "N", help_heading = "Changes", value_parser = clap::value_parser!(i32).range(1..))]
    pub replication_factor: Option<i32>,
    /// Output format of the plan and the results.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
}

/// Validated settings.
pub struct Settings {
    pub source: ClientSettings,
    pub target: ClientSettings,
    pub filter: TopicFilter,
    pub ignore: IgnoreList,
    pub apply: bool,
    pub replication_factor: Option<i32>,
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
            ignore: cli.selection.ignore_list(),
            apply: cli.apply,
            replication_factor: cli.replication_factor,
            format: cli.format,
            timeout: cli.clusters.timeout,
        })
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

/// Runs the tool; the exit code on success, an error for trouble before any report.
pub async fn run(cli: &Cli) -> Result<u8, Error> {
    let settings = Settings::from_cli(cli)?;
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
    let replication = replication_choice(&settings, &snapshot)?;
    let plan = plan(&snapshot, &settings.ignore, replication);
    warn_capped(&plan, &snapshot, replication);

    if !settings.apply {
        args::print(&render_plan(&plan, settings.format))?;
        return Ok(if plan.errors.is_empty() {
            SAME
        } else {
            TROUBLE
        });
    }
    let progress = std::io::stderr().is_terminal()
        && settings.format == Format::Table
        && plan.actions.len() >= PROGRESS_FROM;
    let results = apply(&target_admin, &plan.actions, timeout, progress).await?;
    let changed: Vec<(String, i32)> = results
        .iter()
        .filter(|r| !r.failed())
        .filter_map(|r| match r.planned.action {
            PlanAction::CreateTopic { partitions, .. } => {
                Some((r.planned.topic.clone(), partitions))
            }
            PlanAction::AddPartitions { to, .. } => Some((r.planned.topic.clone(), to)),
            _ => None,
        })
        .collect();
    let invisible =
        actions::wait_until_visible(&target_admin, &settings.target, &changed, timeout).await?;
    if let Some(first) = invisible.first() {
        log::warn!(
            "{} created or extended topic(s) (e.g. '{first}') not yet in the target's metadata after {}",
            invisible.len(),
            humantime::format_duration(timeout)
        );
    }
    args::print(&render_results(&plan, &results, settings.format))?;
    Ok(
        if !plan.errors.is_empty() || results.iter().any(ActionResult::failed) {
            TROUBLE
        } else if !plan.unfixable.is_empty() {
            DIFFERENT
        } else {
            SAME
        },
    )
}

fn replication_choice(
    settings: &Settings,
    snapshot: &Snapshot,
) -> Result<ReplicationChoice, Error> {
    match settings.replication_factor {
        Some(n) if n as usize > snapshot.target_brokers => Err(Error::Usage(format!(
            "--replication-factor {n}: the target cluster has only {} broker(s)",
            snapshot.target_brokers
        ))),
        Some(n) => Ok(ReplicationChoice::Fixed(n)),
        None => Ok(ReplicationChoice::SourceCapped {
            target_brokers: snapshot.target_brokers,
        }),
    }
}

/// One warning for the topics to be created with fewer replicas than on the source.
fn warn_capped(plan: &Plan, snapshot: &Snapshot, replication: ReplicationChoice) {
    if !matches!(replication, ReplicationChoice::SourceCapped { .. }) {
        return;
    }
    let capped = plan
        .actions
        .iter()
        .filter_map(|a| match (&a.action, snapshot.topics.get(&a.topic)) {
            (
                PlanAction::CreateTopic {
                    replication_factor, ..
                },
                Some((compare::TopicState::Present(s), _)),
            ) if s.layout.replication_factor > *replication_factor => Some(a.topic.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>();
    if let Some(first) = capped.first() {
        log::warn!(
            "{} topic(s) (e.g. '{first}') have a higher replication factor on the source than the target's {} broker(s): they are created with {}; give --replication-factor to choose",
            capped.len(),
            snapshot.target_brokers,
            snapshot.target_brokers
        );
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn render_plan(plan: &Plan, format: Format) -> String {
    if format == Format::Json {
        let value = serde_json::json!({
            "mode": "plan",
            "topics_checked": plan.topics_checked,
            "actions": plan.actions,
            "unfixable": plan.unfixable,
            "errors": plan.errors,
        });
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    if !plan.actions.is_empty() || !plan.unfixable.is_empty() || !plan.errors.is_empty() {
        let mut t = table();
        t.set_header(["Topic", "Planned change"]);
        for a in &plan.actions {
            t.add_row([a.topic.clone(), a.action.describe()]);
        }
        add_problem_rows(&mut t, plan);
        out.push_str(&format!("{t}\n"));
    }
    let topics = plan
        .actions
        .iter()
        .map(|a| a.topic.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    out.push_str(&format!(
        "{} topic(s) checked: {} change(s) planned on {topics} topic(s), {} difference(s) it cannot fix, {} error(s); nothing changed{}\n",
        plan.topics_checked,
        plan.actions.len(),
        plan.unfixable.len(),
        plan.errors.len(),
        if plan.actions.is_empty() { "" } else { " (run with --apply to carry the plan out)" }
    ));
    out
}

fn add_problem_rows(t: &mut Table, plan: &Plan) {
    for u in &plan.unfixable {
        t.add_row([
            u.topic.clone(),
            format!("cannot fix: {}", u.difference.describe()),
        ]);
    }
    for e in &plan.errors {
        t.add_row([e.topic.clone(), format!("error: {}", e.error)]);
    }
}

fn render_results(plan: &Plan, results: &[ActionResult], format: Format) -> String {
    if format == Format::Json {
        let value = serde_json::json!({
            "mode": "apply",
            "topics_checked": plan.topics_checked,
            "results": results,
            "unfixable": plan.unfixable,
            "errors": plan.errors,
        });
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    if !results.is_empty() || !plan.unfixable.is_empty() || !plan.errors.is_empty() {
        let mut t = table();
        t.set_header(["Topic", "Change", "Result"]);
        for r in results {
            t.add_row([
                r.planned.topic.clone(),
                r.planned.action.describe(),
                match &r.error {
                    Some(e) => format!("FAILED: {e}"),
                    None => "done".into(),
                },
            ]);
        }
        for u in &plan.unfixable {
            t.add_row([
                u.topic.clone(),
                u.difference.describe(),
                "not changed".into(),
            ]);
        }
        for e in &plan.errors {
            t.add_row([e.topic.clone(), e.error.clone(), "not compared".into()]);
        }
        out.push_str(&format!("{t}\n"));
    }
    let failed = results.iter().filter(|r| r.failed()).count();
    out.push_str(&format!(
        "{} topic(s) checked: {} of {} change(s) applied, {failed} failed; {} difference(s) it cannot fix, {} error(s)\n",
        plan.topics_checked,
        results.len() - failed,
        results.len(),
        plan.unfixable.len(),
        plan.errors.len(),
    ));
    out
}
