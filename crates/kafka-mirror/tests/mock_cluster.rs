//! The copy loop under injected faults, against librdkafka's mock clusters (one as the source,
//! one as the target). Not a stand-in for the real brokers (tests/tests/mirror.rs): these check
//! the loop's reaction to produce errors that real brokers give only in bad moments.

use std::time::Duration;

use clap::Parser;
use kafka_mirror::Cli;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 300;

fn produce_source(bootstrap: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for i in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            let value = format!("{p}-{i}");
            producer
                .send(BaseRecord::to(TOPIC).partition(p).key("k").payload(&value))
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Every value of the target topic, per partition, in offset order.
fn read_target(bootstrap: &str) -> Vec<Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut out = vec![Vec::new(); PARTITIONS as usize];
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0;
    for p in 0..PARTITIONS {
        let (_, hi) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .unwrap();
        remaining += hi;
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while remaining > 0 {
        assert!(std::time::Instant::now() < deadline, "reading the target");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out[m.partition() as usize]
                .push(String::from_utf8_lossy(m.payload().unwrap()).into_owned());
            remaining -= 1;
        }
    }
    out
}

fn committed(bootstrap: &str, group: &str) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let c = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    (0..PARTITIONS)
        .map(|p| match c.find_partition(TOPIC, p).unwrap().offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// A source and a target mock cluster; the source holds PER_PARTITION records per partition.
struct Mocks {
    source: MockCluster<'static, DefaultProducerContext>,
    target: MockCluster<'static, DefaultProducerContext>,
}

impl Mocks {
    fn new() -> Self {
        let source = MockCluster::new(1).unwrap();
        let target = MockCluster::new(1).unwrap();
        source.create_topic(TOPIC, PARTITIONS, 1).unwrap();
        target.create_topic(TOPIC, PARTITIONS, 1).unwrap();
        produce_source(&source.bootstrap_servers());
        Self { source, target }
    }

    /// Runs the mirror (`--until-caught-up`) after `faults` are queued on the target's
    /// Produce requests.
    fn mirror(
        &self,
        faults: &[RDKafkaRespErr],
        extra: &[&str],
    ) -> Result<(), kafka_mirror::MirrorError> {
        self.target.request_errors(RDKafkaApiKey::Produce, faults);
        let dir = tempfile::tempdir().unwrap();
        let consumer = dir.path().join("consumer.properties");
        let producer = dir.path().join("producer.properties");
        std::fs::write(
            &consumer,
            format!(
                "bootstrap.servers={}\ngroup.id=mirror\n",
                self.source.bootstrap_servers()
            ),
        )
        .unwrap();
        std::fs::write(
            &producer,
            format!("bootstrap.servers={}\n", self.target.bootstrap_servers()),
        )
        .unwrap();
        let mut args = vec![
            "kafka-mirror".to_string(),
            "--consumer.config".into(),
            consumer.display().to_string(),
            "--producer.config".into(),
            producer.display().to_string(),
            "--include".into(),
            TOPIC.into(),
            "--no-create-topics".into(),
            "--until-caught-up".into(),
            "--shutdown-timeout".into(),
            "10s".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        kafka_mirror::run(&Cli::parse_from(args))
    }
}

fn expected() -> Vec<Vec<String>> {
    (0..PARTITIONS)
        .map(|p| (0..PER_PARTITION).map(|i| format!("{p}-{i}")).collect())
        .collect()
}

#[test]
fn transient_produce_errors_lose_nothing_and_keep_order() {
    use RDKafkaRespErr::*;
    let mocks = Mocks::new();
    let faults = [
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ];
    mocks.mirror(&faults, &[]).unwrap();
    assert_eq!(read_target(&mocks.target.bootstrap_servers()), expected());
    let end = Some(PER_PARTITION as i64);
    assert_eq!(
        committed(&mocks.source.bootstrap_servers(), "mirror"),
        vec![end; PARTITIONS as usize]
    );
}

#[test]
fn a_batch_rejected_once_as_too_large_is_sent_again_record_by_record() {
    // The broker refuses a whole batch for one big record; here the refusal is injected once,
    // so every record of the batch is fine on its own: none may be skipped, even with
    // abort.on.send.failure=false.
    let mocks = Mocks::new();
    mocks
        .mirror(
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
            &["--abort.on.send.failure", "false"],
        )
        .unwrap();
    let mut got = read_target(&mocks.target.bootstrap_servers());
    for values in &mut got {
        // Re-sent records may land after later ones: compare as sets, each exactly once.
        values.sort_by_key(|v| v.split('-').nth(1).unwrap().parse::<usize>().unwrap());
    }
    assert_eq!(got, expected());
}

#[test]
fn a_record_refused_for_good_stops_the_mirror_before_it() {
    // Every Produce request fails: the first record cannot be delivered, alone either.
    let mocks = Mocks::new();
    let faults = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 5_000];
    let err = mocks.mirror(&faults, &[]).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let line = err.to_string();
    assert!(
        line.starts_with(&format!("cannot mirror {TOPIC} partition ")) && line.contains("offset 0"),
        "{line}"
    );
    assert!(line.contains("max.message.bytes"), "{line}");
    let committed = committed(&mocks.source.bootstrap_servers(), "mirror");
    assert!(
        committed.iter().all(|c| c.unwrap_or(0) == 0),
        "nothing was delivered, nothing may be committed: {committed:?}"
    );
}

#[test]
fn a_slow_target_means_back_pressure_not_loss() {
    // Each target round trip takes 700 ms while at most 150 records may be in flight: the
    // consumer waits, pauses its partitions, keeps polling, and resumes.
    let mocks = Mocks::new();
    mocks
        .target
        .broker_round_trip_time(1, Duration::from_millis(700))
        .unwrap();
    mocks.mirror(&[], &["--queue.size", "150"]).unwrap();
    mocks
        .target
        .broker_round_trip_time(1, Duration::ZERO)
        .unwrap();
    assert_eq!(read_target(&mocks.target.bootstrap_servers()), expected());
    let end = Some(PER_PARTITION as i64);
    assert_eq!(
        committed(&mocks.source.bootstrap_servers(), "mirror"),
        vec![end; PARTITIONS as usize]
    );
}

#[test]
fn a_topic_level_error_is_never_skipped() {
    // abort.on.send.failure=false skips bad records, not whole topics: an authorization error
    // of the target topic stops the mirror, and nothing past the delivered records is committed.
    let mocks = Mocks::new();
    let faults = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 5_000];
    let err = mocks
        .mirror(&faults, &["--abort.on.send.failure", "false"])
        .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let line = err.to_string();
    assert!(line.contains("cannot mirror"), "{line}");
    let committed = committed(&mocks.source.bootstrap_servers(), "mirror");
    assert!(
        committed.iter().all(|c| c.unwrap_or(0) == 0),
        "nothing was delivered, nothing may be committed: {committed:?}"
    );
}
