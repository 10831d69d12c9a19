//! kafka-topic-sync against the local clusters: the plan changes nothing, --apply creates,
//! extends and aligns, a second run plans nothing, ignored overrides survive, unfixable
//! differences are reported and left alone, and kafka-topic-parity agrees afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_config::admin_ext::{self, ConfigSource};
use e2e_tests::*;
use serde_json::Value;

/// The per-topic overrides (DYNAMIC_TOPIC_CONFIG) of `topic` on `cluster`.
fn overrides(cluster: &Cluster, topic: &str) -> BTreeMap<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = cluster.admin();
    let result = rt
        .block_on(admin_ext::describe_topic_configs(
            &admin,
            &[topic.to_string()],
            Duration::from_secs(10),
        ))
        .expect("describe configs");
    let entries = result[0]
        .1
        .as_ref()
        .unwrap_or_else(|e| panic!("describing {topic} on {}: {e}", cluster.name));
    entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `tool` on source → target for the topics matching `include`, with `extra` arguments.
fn run_tool(tool: &str, include: &str, extra: &[&str]) -> Run {
    let (s, t) = (source(), target());
    let mut args = vec![
        "--source-bootstrap",
        s.bootstrap.as_str(),
        "--target-bootstrap",
        t.bootstrap.as_str(),
        "--include",
        include,
    ];
    args.extend_from_slice(extra);
    run_bin(tool, &args)
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    })
}

/// The planned actions as (topic, action, detail) triples, for exact comparison.
fn actions(plan: &Value, key: &str) -> Vec<(String, String, Value)> {
    plan[key]
        .as_array()
        .unwrap_or_else(|| panic!("no '{key}' array in {plan}"))
        .iter()
        .map(|a| {
            let mut rest = a.clone();
            let obj = rest.as_object_mut().unwrap();
            let topic = obj.remove("topic").unwrap().as_str().unwrap().to_string();
            let action = obj.remove("action").unwrap().as_str().unwrap().to_string();
            (topic, action, rest)
        })
        .collect()
}

#[test]
fn plan_changes_nothing_then_apply_creates_extends_and_aligns() {
    let (src, tgt) = (source(), target());
    let prefix = unique("tsync-align");
    let created = format!("{prefix}-new");
    let extended = format!("{prefix}-old");
    src.create_topic(
        &created,
        3,
        &[("cleanup.policy", "compact"), ("retention.ms", "123456789")],
    );
    src.create_topic(&extended, 4, &[("retention.ms", "1000")]);
    tgt.create_topic(
        &extended,
        2,
        &[
            ("retention.ms", "2000"),
            ("max.message.bytes", "500000"),
            // An ignored key (a replication throttle set on the target): must survive.
            ("leader.replication.throttled.replicas", "*"),
        ],
    );
    let include = format!("{prefix}-.*");
    let before_old = overrides(&tgt, &extended);

    // The plan, for people and for machines; nothing changes.
    let plan = run_tool("kafka-topic-sync", &include, &[]);
    assert_eq!(plan.code, Some(0), "{plan:?}");
    for expected in [
        "create with 3 partition(s), replication factor 1, configs cleanup.policy=compact, retention.ms=123456789",
        "add partitions, 2 → 4",
        "set config retention.ms=1000 (was 2000)",
        "delete config override max.message.bytes (was 500000)",
        "2 topic(s) checked: 4 change(s) planned on 2 topic(s)",
    ] {
        assert!(plan.stdout.contains(expected), "missing {expected:?} in:\n{}", plan.stdout);
    }
    assert!(!plan.stdout.contains("throttled"), "{}", plan.stdout);
    let plan = json(&run_tool(
        "kafka-topic-sync",
        &include,
        &["--format", "json"],
    ));
    assert_eq!(plan["mode"], "plan");
    assert_eq!(plan["topics_checked"], 2);
    assert_eq!(
        actions(&plan, "actions"),
        vec![
            (
                created.clone(),
                "create_topic".into(),
                serde_json::json!({"partitions": 3, "replication_factor": 1,
                    "configs": {"cleanup.policy": "compact", "retention.ms": "123456789"}})
            ),
            (
                extended.clone(),
                "add_partitions".into(),
                serde_json::json!({"from": 2, "to": 4})
            ),
            (
                extended.clone(),
                "set_config".into(),
                serde_json::json!({"key": "retention.ms", "value": "1000", "from": "2000"})
            ),
            (
                extended.clone(),
                "delete_config".into(),
                serde_json::json!({"key": "max.message.bytes", "value": "500000"})
            ),
        ]
    );
    assert_eq!(
        tgt.partition_count(&created),
        None,
        "the plan created a topic"
    );
    assert_eq!(
        tgt.partition_count(&extended),
        Some(2),
        "the plan added partitions"
    );
    assert_eq!(
        overrides(&tgt, &extended),
        before_old,
        "the plan changed configs"
    );

    // Apply.
    let applied = run_tool(
        "kafka-topic-sync",
        &include,
        &["--apply", "--format", "json"],
    );
    assert_eq!(applied.code, Some(0), "{applied:?}");
    let applied = json(&applied);
    assert_eq!(applied["mode"], "apply");
    let results = applied["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{applied}");
    assert!(
        results.iter().all(|r| r["result"] == "applied"),
        "{applied}"
    );
    tgt.wait_for_partitions(&created, 3);
    assert_eq!(
        overrides(&tgt, &created),
        map(&[("cleanup.policy", "compact"), ("retention.ms", "123456789")])
    );
    tgt.wait_for_partitions(&extended, 4);
    assert_eq!(
        overrides(&tgt, &extended),
        map(&[
            ("leader.replication.throttled.replicas", "*"),
            ("retention.ms", "1000")
        ]),
        "the target-only override must be deleted, the ignored one kept"
    );

    // Idempotent: the second run plans nothing, and parity agrees.
    let again = run_tool("kafka-topic-sync", &include, &["--format", "json"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    let again = json(&again);
    assert_eq!(again["actions"], serde_json::json!([]), "{again}");
    assert_eq!(again["unfixable"], serde_json::json!([]), "{again}");
    let table = run_tool("kafka-topic-sync", &include, &["--apply"]);
    assert_eq!(table.code, Some(0), "{table:?}");
    assert!(
        table
            .stdout
            .contains("2 topic(s) checked: 0 of 0 change(s) applied"),
        "{}",
        table.stdout
    );
    let parity = run_tool("kafka-topic-parity", &include, &[]);
    assert_eq!(parity.code, Some(0), "{parity:?}");
    assert_eq!(parity.stdout.trim(), "2 topics checked, 0 differ");
}

#[test]
fn more_partitions_on_the_target_is_reported_and_left_alone() {
    let (src, tgt) = (source(), target());
    let prefix = unique("tsync-more");
    let topic = format!("{prefix}-t");
    src.create_topic(&topic, 2, &[]);
    tgt.create_topic(&topic, 5, &[]);
    let include = format!("{prefix}-.*");

    let plan = run_tool("kafka-topic-sync", &include, &[]);
    assert_eq!(
        plan.code,
        Some(0),
        "a plan is printed with exit 0: {plan:?}"
    );
    assert!(
        plan.stdout
            .contains("cannot fix: the target has more partitions (5) than the source (2)"),
        "{}",
        plan.stdout
    );
    let applied = run_tool(
        "kafka-topic-sync",
        &include,
        &["--apply", "--format", "json"],
    );
    assert_eq!(applied.code, Some(1), "{applied:?}");
    let applied = json(&applied);
    assert_eq!(applied["results"], serde_json::json!([]));
    assert_eq!(
        applied["unfixable"],
        serde_json::json!([{"topic": topic, "difference": "more_partitions", "source": 2, "target": 5}])
    );
    assert_eq!(tgt.partition_count(&topic), Some(5));
    let parity = run_tool("kafka-topic-parity", &include, &[]);
    assert_eq!(parity.code, Some(1), "{parity:?}");
}

#[test]
fn replication_factor_above_the_target_brokers_is_refused_before_any_change() {
    let src = source();
    let prefix = unique("tsync-rf");
    let topic = format!("{prefix}-t");
    src.create_topic(&topic, 1, &[]);
    let include = format!("{prefix}-.*");
    let run = run_tool(
        "kafka-topic-sync",
        &include,
        &["--apply", "--replication-factor", "2"],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "kafka-topic-sync: error: --replication-factor 2: the target cluster has only 1 broker(s)"
    );
    assert_eq!(target().partition_count(&topic), None);
    // An explicit factor the target can take is used for the creation.
    let run = run_tool(
        "kafka-topic-sync",
        &include,
        &["--apply", "--replication-factor", "1", "--format", "json"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        actions(&json(&run), "results")[0].2["replication_factor"],
        1
    );
    assert_eq!(target().partition_count(&topic), Some(1));
}

#[test]
fn a_failed_action_is_reported_and_the_others_go_on() {
    let (src, tgt) = (source(), target());
    let prefix = unique("tsync-fail");
    // Kafka refuses a topic whose name differs from an existing one only in '.' versus '_'.
    let refused = format!("{prefix}.x");
    let fine = format!("{prefix}-ok");
    tgt.create_topic(&format!("{prefix}_x"), 1, &[]);
    src.create_topic(&refused, 1, &[]);
    src.create_topic(&fine, 2, &[("retention.ms", "1000")]);
    let include = format!("{prefix}.*");
    let run = run_tool(
        "kafka-topic-sync",
        &include,
        &["--apply", "--format", "json"],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    let report = json(&run);
    let results: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["topic"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            (fine.clone(), "applied".to_string()),
            (refused.clone(), "failed".to_string())
        ]
    );
    assert!(
        report["results"][1]["error"]
            .as_str()
            .unwrap()
            .contains("INVALID_TOPIC_EXCEPTION"),
        "{report}"
    );
    assert_eq!(tgt.partition_count(&fine), Some(2));
    assert_eq!(overrides(&tgt, &fine), map(&[("retention.ms", "1000")]));
    assert_eq!(tgt.partition_count(&refused), None);
}

#[test]
fn usage_and_connection_errors_exit_2_with_one_line() {
    let t = target();
    let bad = run_bin(
        "kafka-topic-sync",
        &[
            "--source-bootstrap",
            &t.bootstrap,
            "--target-bootstrap",
            &t.bootstrap,
            "--include",
            "orders(",
        ],
    );
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr
            .starts_with("kafka-topic-sync: error: invalid topic pattern 'orders('"),
        "{bad:?}"
    );
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:?}");

    let missing = run_bin("kafka-topic-sync", &["--target-bootstrap", &t.bootstrap]);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing
            .stderr
            .contains("no bootstrap servers for the source cluster"),
        "{missing:?}"
    );

    let clap = run_bin("kafka-topic-sync", &["--format", "yaml"]);
    assert_eq!(clap.code, Some(2), "{clap:?}");

    let started = std::time::Instant::now();
    let down = run_bin(
        "kafka-topic-sync",
        &[
            "--source-bootstrap",
            &t.bootstrap,
            "--target-bootstrap",
            "127.0.0.1:1",
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(down.code, Some(2), "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        down.stderr.starts_with(
            "kafka-topic-sync: error: cannot reach the target cluster at 127.0.0.1:1 within 3s"
        ),
        "{down:?}"
    );
}
