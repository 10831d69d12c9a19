//! `--until-caught-up`: the end offsets of the selected partitions when the mirror starts, and
//! the check that the consumer group has committed at or past every one of them. The group's
//! committed offsets are read from the cluster, so partitions owned by other instances of the
//! same group count too.

use std::time::Duration;

use cluster_config::admin_ext::{list_offsets, IsolationLevel, OffsetSpec};
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

/// A consumer handle of the group that never subscribes: it only reads the group's committed
/// offsets (OffsetFetch). The admin ListConsumerGroupOffsets call would do too, but librdkafka
/// 2.12.1 can abort the process in its admin coordinator path when the source broker restarts
/// mid-call (use-after-free, librdkafka issues #4605/#3663); the consumer's path is not affected.
pub type OffsetReader = rdkafka::consumer::BaseConsumer;

/// Builds the offset reader for a source cluster's group.
pub fn offset_reader(settings: &cluster_config::ClientSettings) -> Result<OffsetReader, Error> {
    let mut config = settings.client_config(cluster_config::Role::Consumer);
    config
        .set("enable.auto.commit", "false")
        .set("client.id", "kafka-mirror-caught-up")
        // Its statistics would only be logged: the mirror's own consumers report lag.
        .set("statistics.interval.ms", "0");
    config
        .create()
        .map_err(|e| Error::kafka("creating the caught-up offset reader", e))
}

/// The partitions of `ends` that the reader's group has not committed up to their end yet.
pub async fn behind(
    reader: &std::sync::Arc<OffsetReader>,
    ends: &[EndOffset],
    timeout: Duration,
) -> Result<Vec<EndOffset>, Error> {
    use rdkafka::consumer::Consumer;
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (t, p, _) in ends {
        tpl.add_partition(t, *p);
    }
    let reader = std::sync::Arc::clone(reader);
    let committed = tokio::task::spawn_blocking(move || reader.committed_offsets(tpl, timeout))
        .await
        .map_err(|e| Error::Usage(format!("caught-up check panicked: {e}")))?
        .map_err(|e| Error::kafka("reading the group's committed offsets", e))?;
    Ok(ends
        .iter()
        .filter(|(t, p, end)| {
            let offset = committed
                .find_partition(t, *p)
                .and_then(|e| match e.offset() {
                    rdkafka::Offset::Offset(o) => Some(o),
                    _ => None,
                });
            offset.is_none_or(|c| c < *end)
        })
        .cloned()
        .collect())
}
