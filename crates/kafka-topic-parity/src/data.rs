//! `--check-data`: per-partition record counts, high minus low watermark, on both clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cluster_config::admin_ext::{self, IsolationLevel, OffsetSpec};
use cluster_config::Error;
use kafka_topic_sync::compare::{Admin, Snapshot, TopicState};

use crate::findings::PartitionCounts;

/// Counts of one cluster: per partition, `high - low`, or the error of that partition.
type Counts = BTreeMap<(String, i32), Result<i64, String>>;

/// What the data check found: counts of the partitions both sides have, per-partition errors,
/// and the topics whose counts are approximate.
#[derive(Debug, Default)]
pub struct DataCheck {
    pub counts: BTreeMap<(String, i32), PartitionCounts>,
    pub errors: Vec<(String, i32, String)>,
    pub approximate: BTreeSet<String>,
}

/// Counts records of every partition that exists on both sides, both clusters at once, one
/// batched ListOffsets call per cluster and spec.
pub async fn check_data(
    source: &Admin,
    target: &Admin,
    snapshot: &Snapshot,
    timeout: Duration,
) -> Result<DataCheck, Error> {
    let mut partitions = Vec::new();
    let mut approximate = BTreeSet::new();
    for (topic, states) in &snapshot.topics {
        let (TopicState::Present(s), TopicState::Present(t)) = states else {
            continue;
        };
        let compacted = [s, t].iter().any(|d| {
            d.effective("cleanup.policy")
                .is_some_and(|p| p.contains("compact"))
        });
        if compacted {
            approximate.insert(topic.clone());
        }
        for p in 0..s.layout.partitions.min(t.layout.partitions) {
            partitions.push((topic.clone(), p));
        }
    }
    let (src, tgt, open_transactions) = tokio::try_join!(
        counts(source, &partitions, timeout),
        counts(target, &partitions, timeout),
        open_transactions(source, &partitions, timeout),
    )?;
    approximate.extend(open_transactions);
    let mut check = DataCheck {
        approximate,
        ..DataCheck::default()
    };
    for (tp, s) in src {
        let t = tgt
            .get(&tp)
            .cloned()
            .unwrap_or_else(|| Err("no answer".into()));
        match (s, t) {
            (Ok(source), Ok(target)) => {
                check.counts.insert(tp, PartitionCounts { source, target });
            }
            (Err(e), _) => check.errors.push((tp.0, tp.1, format!("source: {e}"))),
            (_, Err(e)) => check.errors.push((tp.0, tp.1, format!("target: {e}"))),
        }
    }
    Ok(check)
}

async fn counts(
    admin: &Admin,
    partitions: &[(String, i32)],
    timeout: Duration,
) -> Result<Counts, Error> {
    let request: Vec<(String, i32, OffsetSpec)> = partitions
        .iter()
        .flat_map(|(t, p)| {
            [
                (t.clone(), *p, OffsetSpec::Earliest),
                (t.clone(), *p, OffsetSpec::Latest),
            ]
        })
        .collect();
    let listed = admin_ext::list_offsets(
        admin.as_ref(),
        &request,
        IsolationLevel::ReadUncommitted,
        timeout,
    )
    .await?;
    let mut low: BTreeMap<(String, i32), Result<i64, String>> = BTreeMap::new();
    let mut out = Counts::new();
    for o in listed {
        let key = (o.topic.clone(), o.partition);
        let value = match (o.error, o.offset) {
            (Some(e), _) => Err(e.to_string()),
            (None, Some(offset)) => Ok(offset),
            (None, None) => Err("no offset returned".into()),
        };
        match o.spec {
            OffsetSpec::Earliest => {
                low.insert(key, value);
            }
            _ => {
                let lo = low
                    .remove(&key)
                    .unwrap_or_else(|| Err("no low watermark".into()));
                out.insert(key, value.and_then(|hi| lo.map(|lo| hi - lo)));
            }
        }
    }
    Ok(out)
}

/// Topics with an open transaction on the source right now (last stable offset below the high
/// watermark): their counts include records that may yet be aborted.
async fn open_transactions(
    admin: &Admin,
    partitions: &[(String, i32)],
    timeout: Duration,
) -> Result<BTreeSet<String>, Error> {
    let request: Vec<(String, i32, OffsetSpec)> = partitions
        .iter()
        .map(|(t, p)| (t.clone(), *p, OffsetSpec::Latest))
        .collect();
    let (committed, uncommitted) = tokio::try_join!(
        admin_ext::list_offsets(
            admin.as_ref(),
            &request,
            IsolationLevel::ReadCommitted,
            timeout
        ),
        admin_ext::list_offsets(
            admin.as_ref(),
            &request,
            IsolationLevel::ReadUncommitted,
            timeout
        ),
    )?;
    Ok(committed
        .iter()
        .zip(&uncommitted)
        .filter(|(c, u)| c.offset.is_some() && u.offset.is_some() && c.offset < u.offset)
        .map(|(c, _)| c.topic.clone())
        .collect())
}
