//! The library against the local clusters (`bin/kafka-local up`): `ensure_topics`, as
//! kafka-mirror calls it, and per-topic failures while applying a plan. The command-line tool is
//! tested end to end in `tests/tests/topic_sync.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster_config::admin_ext::{self, ConfigSource};
use cluster_config::ClientSettings;
use kafka_topic_sync::actions::{self, TopicOutcome, TopicSpec};
use kafka_topic_sync::apply::apply;
use kafka_topic_sync::compare::{self, Admin};
use kafka_topic_sync::plan::{PlanAction, PlannedAction};
use kafka_topic_sync::{ensure_topics, EnsureAction, EnsureOutcome};

const TIMEOUT: Duration = Duration::from_secs(30);

fn settings(label: &str, var: &str, default: &str) -> ClientSettings {
    let bootstrap = std::env::var(var).unwrap_or_else(|_| default.to_string());
    ClientSettings::from_parts(label, None, Some((&bootstrap, "--bootstrap")), &[]).unwrap()
}

fn source() -> ClientSettings {
    settings("source", "KAFKA_SOURCE_BOOTSTRAP", "127.0.0.1:19092")
}

fn target() -> ClientSettings {
    settings("target", "KAFKA_TARGET_BOOTSTRAP", "127.0.0.1:29092")
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn admin(settings: &ClientSettings) -> Admin {
    settings
        .check_reachable(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}: start the local clusters with `bin/kafka-local up`"));
    compare::admin(settings).unwrap()
}

async fn create(admin: &Admin, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let spec = TopicSpec {
        name: name.to_string(),
        partitions,
        replication_factor: 1,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let result = actions::create_topics(admin, &[spec], TIMEOUT)
        .await
        .unwrap();
    assert_eq!(result[0].1, TopicOutcome::Done, "creating {name}");
}

async fn layout(settings: &ClientSettings, admin: &Admin, topic: &str) -> Option<(i32, i32)> {
    let topology = compare::fetch_topology(admin, settings, TIMEOUT)
        .await
        .unwrap();
    topology
        .topics
        .get(topic)
        .map(|l| (l.partitions, l.replication_factor))
}

async fn overrides(admin: &Admin, topic: &str) -> BTreeMap<String, String> {
    let result = admin_ext::describe_topic_configs(admin.as_ref(), &[topic.to_string()], TIMEOUT)
        .await
        .unwrap();
    result[0]
        .1
        .as_ref()
        .unwrap()
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ensure_topics_creates_extends_and_reports_per_topic() {
    let (src, tgt) = (source(), target());
    let (src_admin, tgt_admin) = (admin(&src).await, admin(&tgt).await);
    let prefix = unique("ensure");
    let new = format!("{prefix}-new");
    let short = format!("{prefix}-short");
    let fine = format!("{prefix}-fine");
    let absent = format!("{prefix}-absent");
    create(
        &src_admin,
        &new,
        3,
        &[
            ("cleanup.policy", "compact"),
            ("min.insync.replicas", "1"), // ignored: cluster policy
        ],
    )
    .await;
    create(&src_admin, &short, 4, &[("retention.ms", "1000")]).await;
    create(&tgt_admin, &short, 2, &[]).await;
    create(&src_admin, &fine, 1, &[("retention.ms", "1000")]).await;
    create(&tgt_admin, &fine, 2, &[("retention.ms", "5")]).await;

    let topics = vec![
        new.clone(),
        short.clone(),
        fine.clone(),
        absent.clone(),
        new.clone(),
    ];
    let outcomes = ensure_topics(&src, &tgt, &topics, TIMEOUT).await.unwrap();
    let outcome = |topic: &str, action: EnsureAction| EnsureOutcome {
        topic: topic.to_string(),
        action,
    };
    assert_eq!(
        outcomes,
        vec![
            outcome(
                &new,
                EnsureAction::Created {
                    partitions: 3,
                    replication_factor: 1
                }
            ),
            outcome(&short, EnsureAction::PartitionsAdded { from: 2, to: 4 }),
            outcome(&fine, EnsureAction::Existed),
            outcome(
                &absent,
                EnsureAction::Failed {
                    reason: format!("topic '{absent}' does not exist on the source cluster")
                }
            ),
        ]
    );
    assert_eq!(layout(&tgt, &tgt_admin, &new).await, Some((3, 1)));
    assert_eq!(
        overrides(&tgt_admin, &new).await,
        BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())])
    );
    assert_eq!(layout(&tgt, &tgt_admin, &short).await, Some((4, 1)));
    // Configs of existing topics are never touched, more partitions never reduced.
    assert!(overrides(&tgt_admin, &short).await.is_empty());
    assert_eq!(
        overrides(&tgt_admin, &fine).await,
        BTreeMap::from([("retention.ms".to_string(), "5".to_string())])
    );
    assert_eq!(layout(&tgt, &tgt_admin, &fine).await, Some((2, 1)));

    // A second call changes nothing.
    let again = ensure_topics(&src, &tgt, &topics[..3], TIMEOUT)
        .await
        .unwrap();
    assert!(
        again.iter().all(|o| o.action == EnsureAction::Existed),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_ensure_topics_for_the_same_new_topic_both_succeed() {
    let (src, tgt) = (source(), target());
    let src_admin = admin(&src).await;
    let tgt_admin = admin(&tgt).await;
    let prefix = unique("ensure-race");
    let new = format!("{prefix}-new");
    let grow = format!("{prefix}-grow");
    create(&src_admin, &new, 2, &[]).await;
    create(&src_admin, &grow, 6, &[]).await;
    create(&tgt_admin, &grow, 1, &[]).await;
    let topics = vec![new.clone(), grow.clone()];
    let (a, b) = tokio::join!(
        ensure_topics(&src, &tgt, &topics, TIMEOUT),
        ensure_topics(&src, &tgt, &topics, TIMEOUT)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    for outcomes in [&a, &b] {
        assert!(outcomes.iter().all(|o| o.action.is_ok()), "{a:?} {b:?}");
    }
    // Each topic was changed by exactly one caller; the other saw it exist, or lost the race
    // (TOPIC_ALREADY_EXISTS, or INVALID_PARTITIONS for partitions added meanwhile).
    for i in 0..2 {
        let changed = [&a[i], &b[i]]
            .iter()
            .filter(|o| o.action != EnsureAction::Existed)
            .count();
        assert_eq!(changed, 1, "{a:?} {b:?}");
    }
    assert_eq!(layout(&tgt, &tgt_admin, &new).await, Some((2, 1)));
    assert_eq!(layout(&tgt, &tgt_admin, &grow).await, Some((6, 1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_action_is_reported_for_its_topic_and_the_others_go_on() {
    let tgt = target();
    let tgt_admin = admin(&tgt).await;
    let prefix = unique("apply-fail");
    let good = format!("{prefix}-good");
    let bad = format!("{prefix}-bad");
    let gone = format!("{prefix}-gone");
    create(&tgt_admin, &good, 1, &[]).await;
    create(&tgt_admin, &bad, 1, &[]).await;
    let set = |topic: &str, key: &str, value: &str| PlannedAction {
        topic: topic.to_string(),
        action: PlanAction::SetConfig {
            key: key.into(),
            value: value.into(),
            from: None,
        },
    };
    let plan = vec![
        PlannedAction {
            topic: gone.clone(),
            action: PlanAction::AddPartitions { from: 1, to: 2 },
        },
        set(&bad, "retention.ms", "not-a-number"),
        set(&good, "retention.ms", "1000"),
    ];
    let results = apply(&tgt_admin, &plan, TIMEOUT, false).await.unwrap();
    let summary: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r.planned.topic.as_str(), r.result))
        .collect();
    assert_eq!(
        summary,
        vec![
            (gone.as_str(), "failed"),
            (bad.as_str(), "failed"),
            (good.as_str(), "applied")
        ]
    );
    let bad_error = results[1].error.as_deref().unwrap();
    assert!(
        bad_error.contains(&bad) && bad_error.contains("retention.ms"),
        "{bad_error}"
    );
    assert_eq!(
        overrides(&tgt_admin, &good).await,
        BTreeMap::from([("retention.ms".to_string(), "1000".to_string())])
    );
    assert!(overrides(&tgt_admin, &bad).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn describing_a_missing_topic_is_an_unknown_topic_error_for_that_topic_only() {
    let tgt = target();
    let tgt_admin = admin(&tgt).await;
    let present = unique("describe-present");
    let missing = unique("describe-missing");
    create(&tgt_admin, &present, 1, &[("retention.ms", "1000")]).await;
    // Right after CreateTopics the broker may still answer "unknown topic" for the new one
    // (its metadata propagates asynchronously): ask until the present topic is known.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let configs = loop {
        let configs =
            compare::describe_configs(&tgt_admin, &[missing.clone(), present.clone()], TIMEOUT)
                .await
                .unwrap();
        if configs[&present].is_ok() || std::time::Instant::now() > deadline {
            break configs;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let err = configs[&missing].as_ref().unwrap_err();
    assert!(err.is_unknown_topic(), "{err}");
    let present = configs[&present].as_ref().unwrap();
    assert_eq!(present["retention.ms"].value.as_deref(), Some("1000"));
    assert!(present["retention.ms"].is_override);
    assert!(!present["segment.bytes"].is_override);
}
