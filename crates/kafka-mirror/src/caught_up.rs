//! `--until-caught-up`: the end offsets of the selected partitions when the mirror starts, and
//! the check that the consumer group has committed at or past every one of them. The group's
//! committed offsets are read from the cluster, so partitions owned by other instances of the
//! same group count too.

use std::time::Duration;

use cluster_config::admin_ext::{
    list_consumer_group_offsets_for, list_offsets, IsolationLevel, OffsetSpec,
};
use cluster_config::{Error, ToolContext};
use rdkafka::admin::AdminClient;

use crate::topics::TopicPartitions;

/// A partition to reach: (topic, partition, end offset at start).
pub type EndOffset = (String, i32, i64);

/// The end offsets of every partition of `topics` that has records to mirror. `read_committed`
/// asks for the last stable offset, which is what a read_committed consumer can reach.
pub async fn end_offsets(
    admin: &AdminClient<ToolContext>,
    topics: &TopicPartitions,
    read_committed: bool,
    timeout: Duration,
) -> Result<Vec<EndOffset>, Error> {
    let mut request = Vec::new();
    for (topic, &n) in topics {
        for p in 0..n {
            request.push((topic.clone(), p, OffsetSpec::Earliest));
            request.push((topic.clone(), p, OffsetSpec::Latest));
        }
    }
    let isolation = if read_committed {
        IsolationLevel::ReadCommitted
    } else {
        IsolationLevel::ReadUncommitted
    };
    let listed = list_offsets(admin, &request, isolation, timeout).await?;
    let mut ends = Vec::new();
    for pair in listed.chunks(2) {
        let (earliest, latest) = (&pair[0], &pair[1]);
        for l in pair {
            if let Some(e) = &l.error {
                return Err(Error::Admin(e.clone()));
            }
        }
        let (lo, hi) = (earliest.offset.unwrap_or(0), latest.offset.unwrap_or(0));
        // An empty partition (or one whose records are all deleted) has nothing to mirror.
        if hi > lo {
            ends.push((latest.topic.clone(), latest.partition, hi));
        }
    }
    Ok(ends)
}

/// The partitions of `ends` that `group` has not committed up to their end yet.
pub async fn behind(
    admin: &AdminClient<ToolContext>,
    group: &str,
    ends: &[EndOffset],
    timeout: Duration,
) -> Result<Vec<EndOffset>, Error> {
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<(String, i32)> = ends.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let answer =
        list_consumer_group_offsets_for(admin, &[(group.to_string(), parts)], timeout).await?;
    let offsets = &answer[0];
    if let Some(e) = &offsets.error {
        return Err(Error::Admin(e.clone()));
    }
    Ok(ends
        .iter()
        .filter(|(t, p, end)| {
            let committed = offsets
                .offsets
                .iter()
                .find(|c| &c.topic == t && c.partition == *p)
                .and_then(|c| c.offset);
            committed.is_none_or(|c| c < *end)
        })
        .cloned()
        .collect())
}
