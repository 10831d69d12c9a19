//! Which source topics are mirrored, and their target topics: discovered from the source's
//! metadata with the topic filter, created or extended on the target (kafka-topic-sync's
//! `ensure_topics`) and checked before a single record is written to them.
//!
//! Why an explicit subscription list refreshed from metadata rather than a librdkafka regex
//! subscription: a record may only be written once its target topic exists with enough
//! partitions, and a regex subscription would hand the consumer records of a new topic before
//! anyone created it. MirrorMaker's filter (comma as `|`, exclude pattern, internal topics never
//! selected) is also not expressible as one librdkafka (POSIX) regex.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cluster_config::{ClientSettings, Error, ToolContext, TopicFilter};
use kafka_topic_sync::compare::Admin;
use rdkafka::admin::AdminClient;

use crate::cli::PartitionMode;

/// Source topic name → partition count.
pub type TopicPartitions = BTreeMap<String, i32>;

/// A target topic as the copy loop sees it, with its counters (the target topic has the source
/// topic's name).
#[derive(Debug)]
pub struct TargetTopic {
    pub name: String,
    /// Partition count on the target once checked; 0 until then.
    pub partitions: AtomicI32,
    /// Spreads topics over the producer pool.
    pub seed: usize,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub send_errors: AtomicU64,
}

/// Every target topic the mirror has seen, by name.
#[derive(Debug, Default)]
pub struct TargetTopics {
    topics: RwLock<HashMap<String, Arc<TargetTopic>>>,
}

impl TargetTopics {
    pub fn get(&self, name: &str) -> Arc<TargetTopic> {
        if let Some(t) = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Arc::clone(t);
        }
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let seed = topics.len();
        Arc::clone(topics.entry(name.to_string()).or_insert_with(|| {
            Arc::new(TargetTopic {
                name: name.to_string(),
                partitions: AtomicI32::new(0),
                seed,
                records: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                send_errors: AtomicU64::new(0),
            })
        }))
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<TargetTopic>> {
        let mut v: Vec<_> = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// Topic and partition counts of a cluster, `filter` applied (`None`: all topics).
pub fn list_topics(
    admin: &AdminClient<ToolContext>,
    filter: Option<&TopicFilter>,
    label: &str,
    timeout: Duration,
) -> Result<TopicPartitions, Error> {
    let md = admin
        .inner()
        .fetch_metadata(None, timeout)
        .map_err(|e| Error::kafka(format!("reading the {label} cluster's topics"), e))?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .filter(|t| filter.is_none_or(|f| f.matches(t.name())))
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// Makes target topics ready: created or extended (unless --no-create-topics), then checked.
pub struct Preparer {
    sources: Vec<ClientSettings>,
    source_labels: Vec<String>,
    source_admins: Vec<Admin>,
    target: ClientSettings,
    target_admin: Admin,
    create: bool,
    mode: PartitionMode,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
    /// One preparation at a time: the topic watcher and consumer threads may both ask.
    busy: Mutex<()>,
    /// The producers' batch.size once set (0 before): a target topic prepared later whose
    /// max.message.bytes cannot take such a batch is warned about.
    batch_size: AtomicI64,
}

/// Room left in a batch for the record batch header and framing.
pub const BATCH_OVERHEAD: i64 = 1024;

/// The largest producer batch.size a target topic with `max_message_bytes` always accepts.
pub fn batch_size_for(max_message_bytes: i64) -> i64 {
    (max_message_bytes - BATCH_OVERHEAD)
        .max(max_message_bytes / 2)
        .max(1)
}

impl Preparer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sources: Vec<(String, ClientSettings)>,
        target: ClientSettings,
        create: bool,
        mode: PartitionMode,
        timeout: Duration,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, Error> {
        let source_admins = sources
            .iter()
            .map(|(_, s)| kafka_topic_sync::compare::admin(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            source_labels: sources.iter().map(|(l, _)| l.clone()).collect(),
            sources: sources.into_iter().map(|(_, s)| s).collect(),
            source_admins,
            target_admin: kafka_topic_sync::compare::admin(&target)?,
            target,
            create,
            mode,
            timeout,
            runtime,
            busy: Mutex::new(()),
            batch_size: AtomicI64::new(0),
        })
    }

    /// Every cluster answers a metadata request within `timeout`; the error names the first
    /// that does not. Asked through the admin clients kept for later calls, whose connections
    /// the topic listing and preparation then reuse.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<(), Error> {
        let clusters = self
            .source_admins
            .iter()
            .zip(&self.sources)
            .chain([(&self.target_admin, &self.target)]);
        let checks = clusters.map(|(admin, settings)| {
            let (admin, settings) = (Arc::clone(admin), settings.clone());
            tokio::task::spawn_blocking(move || match admin.inner().fetch_metadata(None, timeout) {
                Ok(_) => Ok(()),
                Err(e) => Err(settings.unreachable(admin.inner().context(), timeout, &e)),
            })
        });
        for check in futures::future::join_all(checks).await {
            check.map_err(|e| Error::Usage(format!("reachability check panicked: {e}")))??;
        }
        Ok(())
    }

    /// Records the producers' batch.size (see [`max_message_bytes`](Self::max_message_bytes)).
    pub fn set_batch_size(&self, batch_size: i64) {
        self.batch_size.store(batch_size, Ordering::Release);
    }

    /// The smallest effective max.message.bytes among the target topics `topics` (`None`
    /// when there is none, or the target does not say).
    pub fn max_message_bytes(&self, topics: &[String]) -> Result<Option<i64>, Error> {
        if topics.is_empty() {
            return Ok(None);
        }
        let described = self
            .runtime
            .block_on(cluster_config::admin_ext::describe_topic_configs(
                &self.target_admin,
                topics,
                self.timeout,
            ))
            .map_err(Error::Admin)?;
        let mut smallest: Option<i64> = None;
        for (topic, entries) in described {
            let entries = entries.map_err(|e| {
                Error::Usage(format!("describing target topic {topic}'s configs: {e}"))
            })?;
            let limit = entries
                .iter()
                .find(|e| e.name == "max.message.bytes")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.trim().parse::<i64>().ok());
            if let Some(l) = limit {
                smallest = Some(smallest.map_or(l, |s| s.min(l)));
            }
        }
        Ok(smallest)
    }

    /// The source cluster's topics selected by `filter`.
    pub fn source_topics(
        &self,
        cluster: usize,
        filter: &TopicFilter,
    ) -> Result<TopicPartitions, Error> {
        list_topics(
            &self.source_admins[cluster],
            Some(filter),
            &self.source_labels[cluster],
            self.timeout,
        )
    }

    /// One source topic's partition count, `None` if it is gone.
    pub fn source_partitions(&self, cluster: usize, topic: &str) -> Result<Option<i32>, Error> {
        let all = list_topics(
            &self.source_admins[cluster],
            None,
            &self.source_labels[cluster],
            self.timeout,
        )?;
        Ok(all.get(topic).copied())
    }

    /// Makes every topic of `wanted` (source partition counts of cluster `cluster`) usable on
    /// the target and records its partition count in `registry`. The error names the topic.
    pub fn prepare(
        &self,
        cluster: usize,
        wanted: &TopicPartitions,
        registry: &TargetTopics,
    ) -> Result<(), Error> {
        if wanted.is_empty() {
            return Ok(());
        }
        let _one_at_a_time = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if self.create {
            let names: Vec<String> = wanted.keys().cloned().collect();
            let outcomes = self.runtime.block_on(kafka_topic_sync::ensure_topics_with(
                kafka_topic_sync::Cluster {
                    admin: &self.source_admins[cluster],
                    settings: &self.sources[cluster],
                },
                kafka_topic_sync::Cluster {
                    admin: &self.target_admin,
                    settings: &self.target,
                },
                &names,
                self.timeout,
            ))?;
            for o in outcomes {
                match o.action {
                    kafka_topic_sync::EnsureAction::Existed => {}
                    kafka_topic_sync::EnsureAction::Created {
                        partitions,
                        replication_factor,
                    } => log::info!(
                        "created target topic {} ({partitions} partitions, replication factor {replication_factor})",
                        o.topic
                    ),
                    kafka_topic_sync::EnsureAction::PartitionsAdded { from, to } => log::info!(
                        "added partitions to target topic {}: {from} -> {to}",
                        o.topic
                    ),
                    kafka_topic_sync::EnsureAction::Failed { reason } => {
                        // A topic deleted from the source meanwhile is not the target's fault.
                        if wanted.contains_key(&o.topic)
                            && !reason.contains("does not exist on the source")
                        {
                            return Err(Error::Usage(format!(
                                "cannot create target topic {}: {reason}",
                                o.topic
                            )));
                        }
                    }
                }
            }
        }
        // Created topics take a moment to show in the metadata of every broker.
        let deadline = Instant::now() + self.timeout;
        loop {
            let target = list_topics(&self.target_admin, None, "target", self.timeout)?;
            match self.check(wanted, &target) {
                Ok(()) => {
                    for topic in wanted.keys() {
                        registry
                            .get(topic)
                            .partitions
                            .store(target[topic], Ordering::Release);
                    }
                    self.check_batch_size(wanted);
                    return Ok(());
                }
                Err(e) if !self.create || Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// A topic added after the producers were made whose max.message.bytes is below their
    /// batch.size: the broker may reject whole batches, and their records are re-sent one by
    /// one, after later records of their partitions. Warned about (restart to adapt).
    fn check_batch_size(&self, wanted: &TopicPartitions) {
        let batch_size = self.batch_size.load(Ordering::Acquire);
        if batch_size == 0 {
            return;
        }
        let names: Vec<String> = wanted.keys().cloned().collect();
        match self.max_message_bytes(&names) {
            Ok(Some(limit)) if batch_size_for(limit) < batch_size => log::warn!(
                "a target topic among {} has max.message.bytes={limit}, below the producer's \
                 batch.size={batch_size} plus overhead: batches may be rejected and re-sent one \
                 record at a time, out of order; restart the mirror to size batches for it",
                names.join(", ")
            ),
            Ok(_) => {}
            Err(e) => log::warn!("describing target topics: {e}"),
        }
    }

    fn check(&self, wanted: &TopicPartitions, target: &TopicPartitions) -> Result<(), Error> {
        for (topic, &source_partitions) in wanted {
            match target.get(topic) {
                None => {
                    return Err(Error::Usage(format!(
                        "target topic {topic} does not exist{}",
                        if self.create {
                            ""
                        } else {
                            ": create it, or run without --no-create-topics"
                        }
                    )))
                }
                Some(&n) if self.mode == PartitionMode::Preserve && n < source_partitions => {
                    return Err(Error::Usage(format!(
                        "target topic {topic} has {n} partitions, fewer than the source's {source_partitions}: \
                         add partitions to it, or use --partition-mode hash"
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_the_topic_limit() {
        assert_eq!(batch_size_for(50_000), 50_000 - BATCH_OVERHEAD);
        assert_eq!(batch_size_for(1_048_588), 1_048_588 - BATCH_OVERHEAD);
        assert_eq!(batch_size_for(1_500), 750, "small limits keep half");
        assert_eq!(batch_size_for(1), 1);
    }
}
