//! `admin_ext` against the real local Kafka 4.x source cluster (`bin/kafka-local up`).
//!
//! Each test makes its own topics and groups (unique names), so tests can run in parallel and
//! share the cluster. An unreachable cluster fails the test; it is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cluster_config::admin_ext::{
    describe_consumer_groups, describe_topic_configs, incremental_alter_configs,
    list_consumer_group_offsets, list_consumer_group_offsets_for, list_consumer_groups,
    list_offsets, AdminError, AlterConfigOp, CommittedOffset, ConfigEntry, ConfigSource,
    GroupState, GroupType, IsolationLevel, OffsetSpec,
};
use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Generous: the shared machine has two cores and several brokers.
const TIMEOUT: Duration = Duration::from_secs(30);

type Admin = AdminClient<DefaultClientContext>;

fn bootstrap() -> String {
    std::env::var("KAFKA_SOURCE_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:19092".to_owned())
}

/// A name no other test (or test run) uses.
fn unique(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("admin-ext-{label}-{}-{nanos}-{n}", std::process::id())
}

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap());
    config
}

/// An admin client for the source cluster; panics when the cluster does not answer within
/// 10 s (retrying meanwhile, so a cluster that is just starting is waited for).
fn admin() -> Admin {
    let bootstrap = bootstrap();
    let admin: Admin = client_config().create().expect("create admin client");
    let started = Instant::now();
    let limit = Duration::from_secs(10);
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match admin
            .inner()
            .fetch_metadata(None, left.max(Duration::from_millis(100)))
        {
            Ok(_) => return admin,
            Err(err) if started.elapsed() >= limit => panic!(
                "Kafka source cluster not reachable at {bootstrap}: start it with \
                 `bin/kafka-local up` (or run `bin/test`) [{err}]"
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

async fn create_topic(admin: &Admin, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .expect("create_topics");
    for result in results {
        result.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
    // The controller has the topic; wait until the broker's metadata has it too.
    let started = Instant::now();
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(name), Duration::from_secs(5))
            .expect("fetch_metadata");
        let known = metadata.topics().iter().any(|t| {
            t.name() == name && t.error().is_none() && t.partitions().len() == partitions as usize
        });
        if known {
            return;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "topic {name} never appeared in metadata"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn delete_topics(admin: &Admin, names: &[&str]) {
    let _ = admin.delete_topics(names, &AdminOptions::new()).await;
}

fn producer(extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = client_config();
    config.set("linger.ms", "5");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("create producer")
}

/// Produces one record per entry (partition, optional timestamp) and returns their offsets.
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    records: &[(i32, Option<i64>)],
) -> Vec<i64> {
    let sends = records.iter().enumerate().map(|(i, (partition, ts))| {
        let payload = format!("value-{i}");
        async move {
            let mut record = FutureRecord::<(), _>::to(topic)
                .partition(*partition)
                .payload(&payload);
            if let Some(ts) = ts {
                record = record.timestamp(*ts);
            }
            producer.send(record, TIMEOUT).await
        }
    });
    join_all(sends)
        .await
        .into_iter()
        .map(|r| r.map_err(|(e, _)| e).expect("delivery").offset)
        .collect()
}

/// Commits `offsets` (topic, partition, offset, metadata) for `group` as an assign-only
/// consumer, like a tool that manages its own partitions.
fn commit_offsets(group: &str, offsets: &[(&str, i32, i64, &str)]) {
    let consumer: BaseConsumer = client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset, metadata) in offsets {
        let mut elem = tpl.add_partition(topic, *partition);
        elem.set_offset(Offset::Offset(*offset)).unwrap();
        elem.set_metadata(*metadata);
    }
    consumer.assign(&tpl).expect("assign");
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

fn committed(topic: &str, partition: i32, offset: Option<i64>, metadata: &str) -> CommittedOffset {
    CommittedOffset {
        topic: topic.to_owned(),
        partition,
        offset,
        metadata: metadata.to_owned(),
        leader_epoch: None,
        error: None,
    }
}

/// Leader epochs depend on the cluster's history; compare everything else.
fn without_epochs(mut offsets: Vec<CommittedOffset>) -> Vec<CommittedOffset> {
    for o in &mut offsets {
        o.leader_epoch = None;
    }
    offsets
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_are_exact_and_uncommitted_partitions_are_none() {
    let admin = admin();
    let topic = unique("offsets");
    create_topic(&admin, &topic, 3, &[]).await;
    let producer = producer(&[]);
    let mut records = vec![(0, None); 10];
    records.extend(vec![(1, None); 5]);
    produce(&producer, &topic, &records).await;

    let group = unique("offsets-group");
    commit_offsets(
        &group,
        &[(&topic, 0, 7, "checkpoint-7"), (&topic, 1, 5, "")],
    );
    let missing_group = unique("no-such-group");

    // All committed partitions of each group; partition 2 was never committed.
    let groups = vec![group.clone(), missing_group.clone()];
    let result = assert_send(list_consumer_group_offsets(&admin, &groups, TIMEOUT))
        .await
        .expect("list_consumer_group_offsets");
    assert_eq!(result.len(), 2);
    assert_eq!(result[0].group_id, group);
    assert_eq!(result[0].error, None);
    assert_eq!(
        without_epochs(result[0].offsets.clone()),
        vec![
            committed(&topic, 0, Some(7), "checkpoint-7"),
            committed(&topic, 1, Some(5), ""),
        ]
    );
    // The commit carried no leader epoch, so none comes back.
    assert_eq!(result[0].offsets[0].leader_epoch, None);
    // A group that never existed has no committed offsets and no error.
    assert_eq!(result[1].group_id, missing_group);
    assert_eq!(result[1].error, None);
    assert_eq!(result[1].offsets, vec![]);

    // Named partitions: the uncommitted one comes back as None, not -1 or -1001.
    let asked = vec![(topic.clone(), 0), (topic.clone(), 1), (topic.clone(), 2)];
    let result = list_consumer_group_offsets_for(&admin, &[(group.clone(), asked)], TIMEOUT)
        .await
        .expect("list_consumer_group_offsets_for");
    assert_eq!(
        without_epochs(result[0].offsets.clone()),
        vec![
            committed(&topic, 0, Some(7), "checkpoint-7"),
            committed(&topic, 1, Some(5), ""),
            committed(&topic, 2, None, ""),
        ]
    );

    delete_topics(&admin, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_many_groups_are_fetched_concurrently_in_order() {
    let admin = admin();
    let topic = unique("many-groups");
    create_topic(&admin, &topic, 1, &[]).await;
    let committed_groups: Vec<String> = (0..5).map(|i| unique(&format!("many-{i}"))).collect();
    for (i, group) in committed_groups.iter().enumerate() {
        commit_offsets(group, &[(&topic, 0, i as i64 + 1, "")]);
    }
    // 300 groups: the 5 real ones spread among groups that do not exist.
    let mut groups: Vec<String> = (0..295).map(|i| unique(&format!("absent-{i}"))).collect();
    for (i, group) in committed_groups.iter().enumerate() {
        groups.insert(i * 60, group.clone());
    }
    let started = Instant::now();
    let result = list_consumer_group_offsets(&admin, &groups, TIMEOUT)
        .await
        .expect("list_consumer_group_offsets");
    let took = started.elapsed();
    assert_eq!(result.len(), groups.len());
    for (asked, got) in groups.iter().zip(&result) {
        assert_eq!(&got.group_id, asked);
        assert_eq!(got.error, None, "{asked}");
    }
    for (i, group) in committed_groups.iter().enumerate() {
        let got = &result[i * 60];
        assert_eq!(&got.group_id, group);
        assert_eq!(got.offsets.len(), 1);
        assert_eq!(got.offsets[0].offset, Some(i as i64 + 1));
    }
    // Sequentially, 300 coordinator round trips take far longer on this machine.
    println!("{} groups took {took:?}", groups.len());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    delete_topics(&admin, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_by_spec_and_timestamp() {
    let admin = admin();
    let topic = unique("list-offsets");
    create_topic(&admin, &topic, 2, &[]).await;
    // Five records on partition 0, one second apart, starting a day ago; partition 1 empty.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = now_ms - 86_400_000;
    let records: Vec<(i32, Option<i64>)> = (0..5).map(|i| (0, Some(base + i * 1000))).collect();
    let offsets = produce(&producer(&[]), &topic, &records).await;
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);

    let t = |p: i32, spec: OffsetSpec| (topic.clone(), p, spec);
    let asked = vec![
        t(0, OffsetSpec::Earliest),
        t(0, OffsetSpec::Latest),
        t(1, OffsetSpec::Earliest),
        t(1, OffsetSpec::Latest),
        t(0, OffsetSpec::Timestamp(base + 2000)), // exactly the third record
        t(0, OffsetSpec::Timestamp(base + 2500)), // between the third and fourth
        t(0, OffsetSpec::Timestamp(base + 10_000)), // after every record
        t(0, OffsetSpec::MaxTimestamp),
    ];
    let result = assert_send(list_offsets(
        &admin,
        &asked,
        IsolationLevel::ReadUncommitted,
        TIMEOUT,
    ))
    .await
    .expect("list_offsets");
    let summary: Vec<(i32, OffsetSpec, Option<i64>)> = result
        .iter()
        .map(|r| (r.partition, r.spec, r.offset))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, OffsetSpec::Earliest, Some(0)),
            (0, OffsetSpec::Latest, Some(5)),
            (1, OffsetSpec::Earliest, Some(0)),
            (1, OffsetSpec::Latest, Some(0)),
            (0, OffsetSpec::Timestamp(base + 2000), Some(2)),
            (0, OffsetSpec::Timestamp(base + 2500), Some(3)),
            (0, OffsetSpec::Timestamp(base + 10_000), None),
            (0, OffsetSpec::MaxTimestamp, Some(4)),
        ]
    );
    assert!(result.iter().all(|r| r.error.is_none() && r.topic == topic));
    // Timestamp lookups report the timestamp of the record found.
    assert_eq!(result[4].timestamp, Some(base + 2000));
    assert_eq!(result[5].timestamp, Some(base + 3000));
    assert_eq!(result[7].timestamp, Some(base + 4000));
    assert_eq!(result[1].leader_epoch, Some(0));

    // A partition that does not exist is a per-partition error, the others still answer.
    let missing = unique("missing-topic");
    let result = list_offsets(
        &admin,
        &[
            t(0, OffsetSpec::Latest),
            (missing.clone(), 0, OffsetSpec::Latest),
        ],
        IsolationLevel::ReadUncommitted,
        TIMEOUT,
    )
    .await
    .expect("list_offsets with a missing topic");
    assert_eq!(result[0].offset, Some(5));
    let err = result[1]
        .error
        .clone()
        .expect("error for the missing topic");
    println!("missing topic: {err} [{:?}]", err.code());
    assert!(err.is_unknown_topic(), "{err}");
    assert_eq!(result[1].offset, None);

    delete_topics(&admin, &[&topic]).await;
}

/// Latest offset of partition 0 as (read_uncommitted, read_committed).
async fn end_offsets(admin: &Admin, topic: &str) -> (Option<i64>, Option<i64>) {
    let mut ends = Vec::new();
    for isolation in [
        IsolationLevel::ReadUncommitted,
        IsolationLevel::ReadCommitted,
    ] {
        let asked = vec![(topic.to_owned(), 0, OffsetSpec::Latest)];
        let result = list_offsets(admin, &asked, isolation, TIMEOUT)
            .await
            .expect("list_offsets");
        assert_eq!(result[0].error, None);
        ends.push(result[0].offset);
    }
    (ends[0], ends[1])
}

/// [`end_offsets`] once the read_uncommitted end offset has reached `end` (transaction markers
/// are written asynchronously).
async fn end_offsets_once_at(admin: &Admin, topic: &str, end: i64) -> (Option<i64>, Option<i64>) {
    let started = Instant::now();
    loop {
        let ends = end_offsets(admin, topic).await;
        if ends.0 >= Some(end) || started.elapsed() > Duration::from_secs(10) {
            return ends;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_end_offset_stops_at_open_transaction() {
    let admin = admin();
    let topic = unique("txn");
    create_topic(&admin, &topic, 1, &[]).await;
    let producer = producer(&[("transactional.id", &unique("txn-id"))]);
    // The first transactional producer on a fresh cluster may find the transaction
    // coordinator still loading (NOT_COORDINATOR): retry.
    let started = Instant::now();
    while let Err(err) = producer.init_transactions(TIMEOUT) {
        assert!(started.elapsed() < TIMEOUT, "init_transactions: {err}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    producer.begin_transaction().expect("begin");
    produce(&producer, &topic, &[(0, None); 3]).await;
    producer.commit_transaction(TIMEOUT).expect("commit");

    // The coordinator writes the commit marker after commit_transaction returns: wait for it.
    // 3 records + the marker: the end offset is 4 at both isolation levels.
    assert_eq!(
        end_offsets_once_at(&admin, &topic, 4).await,
        (Some(4), Some(4))
    );

    // An open transaction with 2 records: read_uncommitted sees them, read_committed stops at
    // the last stable offset (the first offset of the open transaction).
    producer.begin_transaction().expect("begin");
    let offsets = produce(&producer, &topic, &[(0, None); 2]).await;
    assert_eq!(offsets, vec![4, 5]);
    assert_eq!(end_offsets(&admin, &topic).await, (Some(6), Some(4)));

    // The abort marker closes the transaction: both levels agree again.
    producer.abort_transaction(TIMEOUT).expect("abort");
    assert_eq!(
        end_offsets_once_at(&admin, &topic, 7).await,
        (Some(7), Some(7))
    );

    delete_topics(&admin, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_states_empty_stable_and_missing() {
    let admin = admin();
    let topic = unique("groups");
    create_topic(&admin, &topic, 2, &[]).await;

    // A group with committed offsets and no members.
    let empty_group = unique("empty-group");
    commit_offsets(&empty_group, &[(&topic, 0, 1, "")]);

    // A group with one active, subscribed member.
    let stable_group = unique("stable-group");
    let client_id = unique("client");
    let consumer: BaseConsumer = client_config()
        .set("group.id", &stable_group)
        .set("client.id", &client_id)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let started = Instant::now();
    while consumer.assignment().expect("assignment").count() == 0 {
        assert!(
            started.elapsed() < TIMEOUT,
            "no assignment within {TIMEOUT:?}"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }

    let missing_group = unique("missing-group");
    let asked = vec![
        stable_group.clone(),
        empty_group.clone(),
        missing_group.clone(),
    ];
    let described = assert_send(describe_consumer_groups(&admin, &asked, TIMEOUT))
        .await
        .expect("describe_consumer_groups");
    let ids: Vec<&str> = described.iter().map(|d| d.group_id.as_str()).collect();
    assert_eq!(ids, vec![&stable_group, &empty_group, &missing_group]);

    let stable = &described[0];
    assert_eq!(stable.error, None);
    assert_eq!(stable.state, GroupState::Stable);
    assert_eq!(stable.group_type, GroupType::Classic);
    assert!(!stable.is_simple_consumer_group);
    assert_eq!(stable.partition_assignor, "range");
    assert!(stable.coordinator.is_some());
    assert!(stable.exists());
    assert_eq!(stable.members.len(), 1);
    let member = &stable.members[0];
    assert_eq!(member.client_id, client_id);
    assert!(member.host.contains("127.0.0.1"), "host {}", member.host);
    assert!(!member.member_id.is_empty());
    assert_eq!(member.group_instance_id, None);
    assert_eq!(
        member.assignment,
        vec![(topic.clone(), 0), (topic.clone(), 1)]
    );

    // Offsets committed without a subscription make a "simple" classic group.
    let empty = &described[1];
    assert_eq!(empty.error, None);
    assert_eq!(empty.state, GroupState::Empty);
    assert_eq!(empty.group_type, GroupType::Classic);
    assert!(empty.is_simple_consumer_group);
    assert!(empty.members.is_empty());
    assert!(empty.coordinator.is_some());
    assert!(empty.exists());

    // Kafka 4 describes a group that does not exist as Dead, without an error.
    let missing = &described[2];
    assert_eq!(missing.error, None);
    assert_eq!(missing.state, GroupState::Dead);
    assert!(missing.members.is_empty());
    assert!(!missing.exists());

    let listed = assert_send(list_consumer_groups(&admin, TIMEOUT))
        .await
        .expect("list_consumer_groups");
    assert_eq!(listed.errors, vec![]);
    let find = |id: &str| listed.groups.iter().find(|g| g.group_id == id).cloned();
    let stable_listing = find(&stable_group).expect("stable group listed");
    assert_eq!(stable_listing.state, GroupState::Stable);
    assert_eq!(stable_listing.group_type, GroupType::Classic);
    assert!(!stable_listing.is_simple_consumer_group);
    let empty_listing = find(&empty_group).expect("empty group listed");
    assert_eq!(empty_listing.state, GroupState::Empty);
    assert_eq!(empty_listing.state.as_str(), "Empty");
    assert!(empty_listing.is_simple_consumer_group);
    assert!(find(&missing_group).is_none());

    drop(consumer);
    delete_topics(&admin, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_group_is_described() {
    let admin = admin();
    let topic = unique("kip848");
    create_topic(&admin, &topic, 2, &[]).await;
    let group = unique("kip848-group");
    let client_id = unique("kip848-client");
    let consumer: BaseConsumer = client_config()
        .set("group.id", &group)
        .set("group.protocol", "consumer")
        .set("client.id", &client_id)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let started = Instant::now();
    while consumer.assignment().expect("assignment").count() < 2 {
        assert!(
            started.elapsed() < TIMEOUT,
            "no assignment within {TIMEOUT:?}"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }

    // The group settles in Stable (librdkafka reports Assigning/Reconciling as Unknown).
    let started = Instant::now();
    let description = loop {
        let described = describe_consumer_groups(&admin, std::slice::from_ref(&group), TIMEOUT)
            .await
            .expect("describe_consumer_groups");
        let description = described.into_iter().next().unwrap();
        if description.state == GroupState::Stable || started.elapsed() > TIMEOUT {
            break description;
        }
        let _ = consumer.poll(Duration::from_millis(100));
    };
    assert_eq!(description.error, None);
    assert_eq!(description.state, GroupState::Stable);
    assert_eq!(description.group_type, GroupType::Consumer);
    assert!(!description.is_simple_consumer_group);
    // Kafka 4's default server-side assignor.
    assert_eq!(description.partition_assignor, "uniform");
    assert_eq!(description.members.len(), 1);
    let member = &description.members[0];
    assert_eq!(member.client_id, client_id);
    assert_eq!(
        member.assignment,
        vec![(topic.clone(), 0), (topic.clone(), 1)]
    );

    let listed = list_consumer_groups(&admin, TIMEOUT)
        .await
        .expect("list_consumer_groups");
    let listing = listed
        .groups
        .iter()
        .find(|g| g.group_id == group)
        .expect("group listed");
    assert_eq!(listing.group_type, GroupType::Consumer);
    assert_eq!(listing.state, GroupState::Stable);

    drop(consumer);
    delete_topics(&admin, &[&topic]).await;
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no config entry {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_topic_configs_shows_overrides_defaults_and_missing_topics() {
    let admin = admin();
    let topic = unique("configs");
    create_topic(&admin, &topic, 1, &[("retention.ms", "3600000")]).await;
    let missing = unique("missing-topic");

    let result = assert_send(describe_topic_configs(
        &admin,
        &[topic.clone(), missing.clone()],
        TIMEOUT,
    ))
    .await
    .expect("describe_topic_configs");
    assert_eq!(result.len(), 2);
    assert_eq!(result[0].0, topic);
    let entries = result[0].1.as_ref().expect("configs of the topic");
    let retention = entry(entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default);
    assert!(!retention.is_read_only);
    let cleanup = entry(entries, "cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.source, ConfigSource::Default);
    assert!(cleanup.is_default);
    // is_default is true only for Kafka's built-in defaults, never for inherited values.
    assert!(entries
        .iter()
        .all(|e| e.is_default == (e.source == ConfigSource::Default)));
    assert!(entries.iter().any(|e| e.source == ConfigSource::Default));
    // Only the override is a topic override.
    let overrides: Vec<&str> = entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(overrides, vec!["retention.ms"]);

    assert_eq!(result[1].0, missing);
    let err = result[1]
        .1
        .clone()
        .expect_err("a missing topic is an error");
    println!("missing topic: {err}");
    assert!(err.is_unknown_topic(), "{err}");
    assert_eq!(err.code(), Some(RDKafkaErrorCode::UnknownTopicOrPartition));
    assert!(
        err.to_string().starts_with(&format!(
            "DescribeConfigs for topic '{missing}' failed: Broker: Unknown topic or partition"
        )),
        "{err}"
    );

    delete_topics(&admin, &[&topic]).await;
}

async fn overrides(admin: &Admin, topic: &str) -> Vec<(String, String)> {
    let result = describe_topic_configs(admin, &[topic.to_owned()], TIMEOUT)
        .await
        .expect("describe_topic_configs");
    let entries = result[0].1.as_ref().expect("topic configs");
    entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

/// [`overrides`] once they equal `want` (brokers apply config changes from the metadata log a
/// moment after the controller accepted them), or the last seen after 10 s.
async fn overrides_become(
    admin: &Admin,
    topic: &str,
    want: &[(&str, &str)],
) -> Vec<(String, String)> {
    let want = pairs(want);
    let started = Instant::now();
    loop {
        let seen = overrides(admin, topic).await;
        if seen == want || started.elapsed() > Duration::from_secs(10) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_alter_configs_changes_only_named_keys() {
    let admin = admin();
    let topic = unique("alter");
    let other = unique("alter-other");
    create_topic(&admin, &topic, 1, &[("retention.ms", "3600000")]).await;
    create_topic(&admin, &other, 1, &[]).await;

    // Set one key: the existing override survives (legacy AlterConfigs would reset it).
    let result = assert_send(incremental_alter_configs(
        &admin,
        &[(
            topic.clone(),
            vec![AlterConfigOp::set("max.message.bytes", "200000")],
        )],
        false,
        TIMEOUT,
    ))
    .await
    .expect("incremental_alter_configs");
    assert_eq!(result, vec![(topic.clone(), Ok(()))]);
    assert_eq!(
        overrides_become(
            &admin,
            &topic,
            &[("max.message.bytes", "200000"), ("retention.ms", "3600000")]
        )
        .await,
        pairs(&[("max.message.bytes", "200000"), ("retention.ms", "3600000")])
    );

    // validate_only checks without applying (checked below: changes reach the brokers in
    // order, so once the later delete is visible this one would be too).
    let result = incremental_alter_configs(
        &admin,
        &[(
            topic.clone(),
            vec![AlterConfigOp::set("retention.ms", "7200000")],
        )],
        true,
        TIMEOUT,
    )
    .await
    .expect("validate only");
    assert_eq!(result, vec![(topic.clone(), Ok(()))]);

    // Delete one key: only that override goes.
    let result = incremental_alter_configs(
        &admin,
        &[(
            topic.clone(),
            vec![AlterConfigOp::delete("max.message.bytes")],
        )],
        false,
        TIMEOUT,
    )
    .await
    .expect("delete");
    assert_eq!(result, vec![(topic.clone(), Ok(()))]);
    assert_eq!(
        overrides_become(&admin, &topic, &[("retention.ms", "3600000")]).await,
        pairs(&[("retention.ms", "3600000")])
    );

    // An invalid value fails that topic only, with the broker's message; the other topic in
    // the same request is changed; a missing topic is its own error.
    let missing = unique("missing-topic");
    let result = incremental_alter_configs(
        &admin,
        &[
            (
                topic.clone(),
                vec![AlterConfigOp::set("retention.ms", "not-a-number")],
            ),
            (
                other.clone(),
                vec![AlterConfigOp::set("cleanup.policy", "compact")],
            ),
            (
                missing.clone(),
                vec![AlterConfigOp::set("retention.ms", "1000")],
            ),
        ],
        false,
        TIMEOUT,
    )
    .await
    .expect("mixed request");
    assert_eq!(result.len(), 3);
    assert_eq!(result[0].0, topic);
    let err = result[0].1.clone().expect_err("invalid value rejected");
    assert!(err.is_invalid_config(), "{err}");
    let line = err.to_string();
    println!("invalid value: {line}");
    assert!(
        line.starts_with(&format!(
            "IncrementalAlterConfigs for topic '{topic}' failed: Broker: "
        )),
        "{line}"
    );
    assert!(
        line.contains("not-a-number") && line.contains("retention.ms"),
        "{line}"
    );
    assert!(!line.contains('\n'));
    assert_eq!(result[1], (other.clone(), Ok(())));
    let missing_err = result[2].1.clone().expect_err("missing topic");
    println!("missing topic: {missing_err}");
    assert!(missing_err.is_unknown_topic(), "{missing_err}");
    assert_eq!(
        overrides_become(&admin, &other, &[("cleanup.policy", "compact")]).await,
        pairs(&[("cleanup.policy", "compact")])
    );
    assert_eq!(
        overrides(&admin, &topic).await,
        pairs(&[("retention.ms", "3600000")])
    );

    // Naming a topic twice is refused before anything is sent.
    let err = incremental_alter_configs(
        &admin,
        &[(topic.clone(), vec![]), (topic.clone(), vec![])],
        false,
        TIMEOUT,
    )
    .await
    .expect_err("duplicate topic");
    assert!(matches!(err, AdminError::InvalidRequest { .. }), "{err}");

    delete_topics(&admin, &[&topic, &other]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_times_out_instead_of_hanging() {
    let admin: Admin = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:1")
        .create()
        .expect("create admin client");
    let timeout = Duration::from_secs(2);
    // The wait gives librdkafka's own timeout a moment to arrive first.
    let limit = timeout + Duration::from_secs(2);
    let topics = vec!["t".to_owned()];
    let groups = vec!["g".to_owned()];

    let check = |name: &str, started: Instant, err: AdminError| {
        let took = started.elapsed();
        assert!(took < limit, "{name} took {took:?}");
        assert!(err.is_timeout(), "{name}: {err}");
        println!("{name}: {err} (after {took:?})");
    };
    let started = Instant::now();
    let err = list_consumer_groups(&admin, timeout)
        .await
        .expect_err("list groups");
    check("list_consumer_groups", started, err);
    let started = Instant::now();
    let err = describe_consumer_groups(&admin, &groups, timeout)
        .await
        .expect_err("describe groups");
    check("describe_consumer_groups", started, err);
    let started = Instant::now();
    let err = list_consumer_group_offsets(&admin, &groups, timeout)
        .await
        .expect_err("group offsets");
    check("list_consumer_group_offsets", started, err);
    let started = Instant::now();
    let err = list_offsets(
        &admin,
        &[("t".to_owned(), 0, OffsetSpec::Latest)],
        IsolationLevel::ReadCommitted,
        timeout,
    )
    .await
    .expect_err("list offsets");
    check("list_offsets", started, err);
    let started = Instant::now();
    let err = describe_topic_configs(&admin, &topics, timeout)
        .await
        .expect_err("describe configs");
    check("describe_topic_configs", started, err);
    let started = Instant::now();
    let err = incremental_alter_configs(
        &admin,
        &[("t".to_owned(), vec![AlterConfigOp::delete("retention.ms")])],
        false,
        timeout,
    )
    .await
    .expect_err("alter configs");
    check("incremental_alter_configs", started, err);

    // A call abandoned mid-flight (its future dropped) frees its queue and requests; late
    // results are discarded and the client stays usable.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        list_consumer_group_offsets(&admin, &groups, timeout),
    )
    .await;
    assert!(abandoned.is_err(), "finished before the cancel");
    tokio::time::sleep(timeout + Duration::from_millis(500)).await;
    let err = describe_topic_configs(&admin, &topics, Duration::from_millis(500))
        .await
        .expect_err("describe configs");
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn errors_render_as_one_line() {
    let err = AdminError::Resource {
        op: "DescribeConfigs",
        resource: "topic 'orders'".to_owned(),
        code: RDKafkaErrorCode::UnknownTopicOrPartition,
        message: String::new(),
    };
    assert_eq!(
        err.to_string(),
        "DescribeConfigs for topic 'orders' failed: Broker: Unknown topic or partition"
    );
    assert!(err.is_unknown_topic());
    let err = AdminError::Timeout {
        op: "ListOffsets",
        after: Duration::from_secs(5),
    };
    assert_eq!(err.to_string(), "ListOffsets timed out after 5s");
    assert!(err.is_timeout());
}
