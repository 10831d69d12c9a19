//! The few cluster operations the benchmark needs: create/delete topics, end offsets, groups.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::BenchError;

const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// One cluster: an admin client and a metadata/offsets consumer (no group membership).
pub struct Cluster {
    pub bootstrap: String,
    admin: AdminClient<DefaultClientContext>,
    probe: BaseConsumer,
    rt: tokio::runtime::Runtime,
}

impl Cluster {
    pub fn connect(bootstrap: &str) -> Result<Self, BenchError> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", bootstrap)
            .set("client.id", "kafka-bench");
        let admin = cfg.create().map_err(BenchError::kafka("admin client"))?;
        let probe = cfg
            .clone()
            .set("group.id", "kafka-bench-probe")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(BenchError::kafka("probe consumer"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::io("tokio runtime", e))?;
        let c = Self {
            bootstrap: bootstrap.to_string(),
            admin,
            probe,
            rt,
        };
        c.probe
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(|e| BenchError::Kafka(format!("{bootstrap} does not answer: {e}")))?;
        Ok(c)
    }

    /// Creates topics (in batches); a topic still being deleted is retried until `OP_TIMEOUT`.
    pub fn create_topics(
        &self,
        names: &[String],
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<(), BenchError> {
        let opts = AdminOptions::new().operation_timeout(Some(OP_TIMEOUT));
        for chunk in names.chunks(100) {
            let deadline = Instant::now() + OP_TIMEOUT;
            let mut pending: Vec<String> = chunk.to_vec();
            while !pending.is_empty() {
                let new: Vec<NewTopic> = pending
                    .iter()
                    .map(|n| {
                        configs.iter().fold(
                            NewTopic::new(n, partitions, TopicReplication::Fixed(1)),
                            |t, (k, v)| t.set(k, v),
                        )
                    })
                    .collect();
                let results = self
                    .rt
                    .block_on(self.admin.create_topics(new.iter(), &opts))
                    .map_err(BenchError::kafka("create topics"))?;
                let mut retry = Vec::new();
                for r in results {
                    match r {
                        Ok(_) => {}
                        Err((name, RDKafkaErrorCode::TopicAlreadyExists))
                            if Instant::now() < deadline =>
                        {
                            // Usually a same-named topic whose deletion has not finished yet.
                            retry.push(name)
                        }
                        Err((name, code)) => {
                            return Err(BenchError::Kafka(format!(
                                "creating topic {name} on {}: {code}",
                                self.bootstrap
                            )))
                        }
                    }
                }
                if !retry.is_empty() {
                    std::thread::sleep(Duration::from_millis(500));
                }
                pending = retry;
            }
        }
        // Wait until every partition has a leader, so clients do not start against a half topic.
        let deadline = Instant::now() + OP_TIMEOUT;
        for n in names.iter().take(20) {
            while self.partition_count(n).unwrap_or(0) < partitions as usize {
                if Instant::now() > deadline {
                    return Err(BenchError::Timeout(format!("topic {n} has no leaders")));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Deletes topics that exist (missing ones are ignored); errors are logged, not fatal.
    /// Writes one record with an idempotent producer to a throwaway topic and waits for it: a
    /// fresh cluster's transaction coordinator, which hands out producer ids, is loaded on the
    /// first such request ("Coordinator load in progress" for a second or more). Whichever
    /// tool ran first would otherwise pay for it alone.
    pub fn warm_up_producer_ids(&self, topic: &str) -> Result<(), BenchError> {
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        self.create_topics(&[topic.to_string()], 1, &[])?;
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "kafka-bench-warm-up")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "60000")
            .create()
            .map_err(BenchError::kafka("warm-up producer"))?;
        let sent = producer
            .send(BaseRecord::<(), [u8]>::to(topic).payload(b"warm-up"))
            .map_err(|(e, _)| BenchError::Kafka(format!("warm-up record: {e}")))
            .and_then(|()| {
                producer
                    .flush(Duration::from_secs(60))
                    .map_err(|e| BenchError::Timeout(format!("warm-up record: {e}")))
            });
        self.delete_topics(&[topic.to_string()]);
        sent
    }

    pub fn delete_topics(&self, names: &[String]) {
        let opts = AdminOptions::new().operation_timeout(Some(OP_TIMEOUT));
        for chunk in names.chunks(100) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            match self.rt.block_on(self.admin.delete_topics(&refs, &opts)) {
                Ok(results) => {
                    for r in results {
                        if let Err((name, code)) = r {
                            if code != RDKafkaErrorCode::UnknownTopicOrPartition {
                                log::warn!("deleting {name} on {}: {code}", self.bootstrap);
                            }
                        }
                    }
                }
                Err(e) => log::warn!("deleting topics on {}: {e}", self.bootstrap),
            }
        }
    }

    pub fn delete_groups(&self, names: &[String]) {
        let opts = AdminOptions::new().operation_timeout(Some(OP_TIMEOUT));
        for chunk in names.chunks(100) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            match self.rt.block_on(self.admin.delete_groups(&refs, &opts)) {
                Ok(results) => {
                    for r in results {
                        if let Err((name, code)) = r {
                            if code != RDKafkaErrorCode::GroupIdNotFound {
                                log::warn!("deleting group {name} on {}: {code}", self.bootstrap);
                            }
                        }
                    }
                }
                Err(e) => log::warn!("deleting groups on {}: {e}", self.bootstrap),
            }
        }
    }

    /// Waits until the cluster's metadata lists every one of `names` (CreateTopics may answer
    /// before the broker's metadata cache has them all).
    pub fn wait_for_topics(&self, names: &[String], timeout: Duration) -> Result<(), BenchError> {
        let deadline = Instant::now() + timeout;
        loop {
            let have: std::collections::HashSet<String> = self.topic_names()?.into_iter().collect();
            let missing = names.iter().filter(|n| !have.contains(*n)).count();
            if missing == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(format!(
                    "{missing} of {} new topics still not in the metadata of {}",
                    names.len(),
                    self.bootstrap
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Topic names on the cluster.
    pub fn topic_names(&self) -> Result<Vec<String>, BenchError> {
        let md = self
            .probe
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(BenchError::kafka("metadata"))?;
        Ok(md.topics().iter().map(|t| t.name().to_string()).collect())
    }

    pub fn partition_count(&self, topic: &str) -> Result<usize, BenchError> {
        let md = self
            .probe
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(BenchError::kafka("metadata"))?;
        Ok(md
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().iter().filter(|p| p.leader() >= 0).count())
            .unwrap_or(0))
    }

    /// (low, high) watermark per partition 0..partitions.
    pub fn watermarks(&self, topic: &str, partitions: i32) -> Result<Vec<(i64, i64)>, BenchError> {
        (0..partitions)
            .map(|p| {
                self.probe
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .map_err(|e| BenchError::Kafka(format!("end offsets of {topic}[{p}]: {e}")))
            })
            .collect()
    }

    /// Records per partition (high - low).
    pub fn counts(&self, topic: &str, partitions: i32) -> Result<Vec<i64>, BenchError> {
        Ok(self
            .watermarks(topic, partitions)?
            .into_iter()
            .map(|(lo, hi)| hi - lo)
            .collect())
    }

    pub fn group_count(&self) -> Result<usize, BenchError> {
        let groups = self
            .probe
            .fetch_group_list(None, Duration::from_secs(30))
            .map_err(BenchError::kafka("list groups"))?;
        Ok(groups.groups().len())
    }
}
