//! Carrying out a plan: creations, then partition additions, then config changes, each batched
//! across topics. A failure on one topic is recorded for that topic and the others go on.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_config::admin_ext::AlterConfigOp;
use cluster_config::Error;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::actions::{self, TopicOutcome, TopicSpec};
use crate::compare::Admin;
use crate::plan::{PlanAction, PlannedAction};

/// Topics per request while applying: small enough for the progress bar to move.
const APPLY_BATCH: usize = 50;

/// The indexes of a topic's config actions, and their operations.
type ConfigChanges = (Vec<usize>, Vec<AlterConfigOp>);

/// How one planned action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    #[serde(flatten)]
    pub planned: PlannedAction,
    /// `applied` or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ActionResult {
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// Applies `actions` on the target. `progress` shows a bar on stderr.
pub async fn apply(
    admin: &Admin,
    actions: &[PlannedAction],
    timeout: Duration,
    progress: bool,
) -> Result<Vec<ActionResult>, Error> {
    let mut outcome: Vec<Option<TopicOutcome>> = vec![None; actions.len()];
    let bar = progress_bar(progress, actions.len());

    // 1. Creations.
    let creates: Vec<(usize, TopicSpec)> = actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match &a.action {
            PlanAction::CreateTopic {
                partitions,
                replication_factor,
                configs,
            } => Some((
                i,
                TopicSpec {
                    name: a.topic.clone(),
                    partitions: *partitions,
                    replication_factor: *replication_factor,
                    configs: configs.clone(),
                },
            )),
            _ => None,
        })
        .collect();
    for batch in creates.chunks(APPLY_BATCH) {
        let specs: Vec<TopicSpec> = batch.iter().map(|(_, s)| s.clone()).collect();
        let results = actions::create_topics(admin, &specs, timeout).await?;
        for ((i, _), (_, o)) in batch.iter().zip(results) {
            outcome[*i] = Some(match o {
                // Someone else created it between our look and our request: its configs are
                // theirs, a second run compares them.
                TopicOutcome::AlreadyExists => TopicOutcome::Failed(
                    "the topic was created meanwhile by someone else: run again to compare it"
                        .into(),
                ),
                o => o,
            });
        }
        bar.inc(batch.len() as u64);
    }

    // 2. Partition additions.
    let extends: Vec<(usize, (String, i32))> = actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match &a.action {
            PlanAction::AddPartitions { to, .. } => Some((i, (a.topic.clone(), *to))),
            _ => None,
        })
        .collect();
    for batch in extends.chunks(APPLY_BATCH) {
        let changes: Vec<(String, i32)> = batch.iter().map(|(_, c)| c.clone()).collect();
        let results = actions::add_partitions(admin, &changes, timeout).await?;
        for ((i, _), (_, o)) in batch.iter().zip(results) {
            outcome[*i] = Some(o);
        }
        bar.inc(batch.len() as u64);
    }

    // 3. Config changes, all keys of a topic in one resource.
    let mut per_topic: BTreeMap<&str, ConfigChanges> = BTreeMap::new();
    for (i, a) in actions.iter().enumerate() {
        let op = match &a.action {
            PlanAction::SetConfig { key, value, .. } => AlterConfigOp::set(key, value),
            PlanAction::DeleteConfig { key, .. } => AlterConfigOp::delete(key),
            _ => continue,
        };
        let entry = per_topic.entry(&a.topic).or_default();
        entry.0.push(i);
        entry.1.push(op);
    }
    let per_topic: Vec<(&str, ConfigChanges)> = per_topic.into_iter().collect();
    for batch in per_topic.chunks(APPLY_BATCH) {
        let changes: Vec<(String, Vec<AlterConfigOp>)> = batch
            .iter()
            .map(|(t, (_, ops))| (t.to_string(), ops.clone()))
            .collect();
        let results = actions::alter_configs(admin, &changes, timeout).await?;
        for ((_, (indexes, _)), (_, o)) in batch.iter().zip(results) {
            for i in indexes {
                outcome[*i] = Some(o.clone());
            }
            bar.inc(indexes.len() as u64);
        }
    }
    bar.finish_and_clear();

    Ok(actions
        .iter()
        .zip(outcome)
        .map(|(planned, o)| {
            let error = match o {
                Some(TopicOutcome::Done) => None,
                Some(TopicOutcome::AlreadyExists) => None,
                Some(TopicOutcome::Failed(e)) => Some(e),
                None => Some("not carried out".into()),
            };
            ActionResult {
                planned: planned.clone(),
                result: if error.is_some() { "failed" } else { "applied" },
                error,
            }
        })
        .collect())
}

fn progress_bar(show: bool, len: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} changes {elapsed}") {
        bar.set_style(style);
    }
    bar
}
