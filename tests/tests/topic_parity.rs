//! kafka-topic-parity against the local clusters: parity gives 0, each kind of difference is
//! found and reported exactly once, ignored keys are ignored, broker defaults count only with
//! --compare effective, an unreachable cluster gives 2.

use std::time::{Duration, Instant};

use e2e_tests::*;
use serde_json::{json, Value};

fn parity(include: &str, extra: &[&str]) -> Run {
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
    run_bin("kafka-topic-parity", &args)
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    })
}

fn records(partition: i32, n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| TestRecord::new(partition, &format!("k{i}"), &format!("v{i}")))
        .collect()
}

#[test]
fn identical_topics_are_in_parity_with_mirror_config_files() {
    let (src, tgt) = (source(), target());
    let prefix = unique("tparity-same");
    for (name, partitions) in [("a", 2), ("b", 1)] {
        let topic = format!("{prefix}-{name}");
        let configs = [("retention.ms", "86400000"), ("cleanup.policy", "delete")];
        src.create_topic(&topic, partitions, &configs);
        tgt.create_topic(&topic, partitions, &configs);
        src.produce(&topic, &records(0, 3));
        tgt.produce(&topic, &records(0, 3));
    }
    // The mirror's consumer.config and producer.config, consumer- and producer-only keys and
    // Java-only keys included, serve as the clusters' configs.
    let dir = tempfile::tempdir().unwrap();
    let consumer = write_properties(
        dir.path(),
        "consumer.properties",
        &[
            ("bootstrap.servers", &src.bootstrap),
            ("group.id", "mirror"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            (
                "key.deserializer",
                "org.apache.kafka.common.serialization.ByteArrayDeserializer",
            ),
        ],
    );
    let producer = write_properties(
        dir.path(),
        "producer.properties",
        &[
            ("bootstrap.servers", &tgt.bootstrap),
            ("acks", "all"),
            ("linger.ms", "5"),
        ],
    );
    let run = run_bin(
        "kafka-topic-parity",
        &[
            "--source-config",
            consumer.to_str().unwrap(),
            "--target-config",
            producer.to_str().unwrap(),
            "--include",
            &format!("{prefix}-.*"),
            "--check-replication",
            "--check-data",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "2 topics checked, 0 differ\n");
}

#[test]
fn each_kind_of_difference_is_reported_exactly_once() {
    let (src, tgt) = (source(), target());
    let prefix = unique("tparity-diff");
    let t = |name: &str| format!("{prefix}-{name}");
    // Missing on the target.
    src.create_topic(&t("missing"), 1, &[]);
    // Fewer partitions on the target.
    src.create_topic(&t("fewer"), 4, &[]);
    tgt.create_topic(&t("fewer"), 2, &[]);
    // A differing override.
    src.create_topic(&t("config"), 1, &[("retention.ms", "1000")]);
    tgt.create_topic(&t("config"), 1, &[("retention.ms", "2000")]);
    // Differences in ignored keys only: default list and --ignore-config.
    src.create_topic(
        &t("ignored"),
        1,
        &[("min.insync.replicas", "1"), ("segment.ms", "600000")],
    );
    tgt.create_topic(
        &t("ignored"),
        1,
        &[
            ("leader.replication.throttled.replicas", "*"),
            ("segment.ms", "700000"),
        ],
    );
    // Record counts: 5 on the source, 3 on the target, in partition 1.
    src.create_topic(&t("data"), 2, &[]);
    tgt.create_topic(&t("data"), 2, &[]);
    src.produce(&t("data"), &records(1, 5));
    tgt.produce(&t("data"), &records(1, 3));
    // Compacted: the same count difference, marked approximate.
    src.create_topic(&t("compacted"), 1, &[("cleanup.policy", "compact")]);
    tgt.create_topic(&t("compacted"), 1, &[("cleanup.policy", "compact")]);
    src.produce(&t("compacted"), &records(0, 2));

    let include = format!("{prefix}-.*");
    let run = parity(
        &include,
        &[
            "--check-data",
            "--check-replication",
            "--ignore-config",
            "segment.*",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    let report = json_of(&run);
    assert_eq!(
        report["findings"],
        json!([
            {"topic": t("compacted"), "check": "data", "partition": 0, "source": 2, "target": 0,
             "difference": 2, "approximate": true,
             "note": "approximate: compacted or transactional topic"},
            {"topic": t("config"), "check": "config", "key": "retention.ms", "source": "1000",
             "target": "2000"},
            {"topic": t("data"), "check": "data", "partition": 1, "source": 5, "target": 3,
             "difference": 2},
            {"topic": t("fewer"), "check": "partitions", "source": 4, "target": 2,
             "note": "the target has fewer partitions: partition-preserving mirroring cannot write partitions 2..3"},
            {"topic": t("missing"), "check": "exists", "source": "exists", "target": "missing"},
        ]),
        "{report:#}"
    );
    assert_eq!(
        report["summary"],
        json!({"topics_checked": 6, "topics_differing": 5, "findings": 5, "errors": 0,
               "compare": "overrides", "text": "6 topics checked, 5 differ"})
    );

    // The table says the same, once each; without --ignore-config the segment.ms override counts.
    let table = parity(&include, &["--check-data"]);
    assert_eq!(table.code, Some(1), "{table:?}");
    assert!(
        table.stdout.ends_with("6 topics checked, 6 differ\n"),
        "{}",
        table.stdout
    );
    for (needle, times) in [
        (t("missing").as_str(), 1),
        ("fewer partitions", 1),
        ("retention.ms", 1),
        ("segment.ms", 1),
        ("throttled", 0),
        ("min.insync.replicas", 0),
    ] {
        assert_eq!(
            table.stdout.matches(needle).count(),
            times,
            "{needle} in:\n{}",
            table.stdout
        );
    }
}

/// Sets a cluster-wide dynamic broker default on the target for the test's duration.
struct BrokerDefault {
    bootstrap: String,
    key: &'static str,
}

impl BrokerDefault {
    fn set(bootstrap: &str, key: &'static str, value: &str) -> Self {
        let run = kafka_class(
            "kafka.admin.ConfigCommand",
            &[
                "--bootstrap-server",
                bootstrap,
                "--entity-type",
                "brokers",
                "--entity-default",
                "--alter",
                "--add-config",
                &format!("{key}={value}"),
            ],
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        Self {
            bootstrap: bootstrap.to_string(),
            key,
        }
    }
}

impl Drop for BrokerDefault {
    fn drop(&mut self) {
        kafka_class(
            "kafka.admin.ConfigCommand",
            &[
                "--bootstrap-server",
                &self.bootstrap,
                "--entity-type",
                "brokers",
                "--entity-default",
                "--alter",
                "--delete-config",
                self.key,
            ],
        );
    }
}

#[test]
fn broker_default_differences_count_only_with_compare_effective() {
    let (src, tgt) = (source(), target());
    let prefix = unique("tparity-default");
    let topic = format!("{prefix}-t");
    src.create_topic(&topic, 1, &[]);
    tgt.create_topic(&topic, 1, &[]);
    let include = format!("{prefix}-.*");
    // The topic inherits delete.retention.ms from the broker's log.cleaner.delete.retention.ms
    // (default 86400000): a cluster-wide default on the target changes only its effective value.
    let _default = BrokerDefault::set(
        &tgt.bootstrap,
        "log.cleaner.delete.retention.ms",
        "86400001",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let (code, found) = loop {
        let run = parity(&include, &["--compare", "effective", "--format", "json"]);
        let found: Vec<Value> = json_of(&run)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["key"] == "delete.retention.ms")
            .cloned()
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            break (run.code, found);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(code, Some(1));
    assert_eq!(
        found,
        vec![
            json!({"topic": topic, "check": "config", "key": "delete.retention.ms",
                    "source": "86400000", "target": "86400001"})
        ]
    );
    let overrides = parity(&include, &[]);
    assert_eq!(overrides.code, Some(0), "{overrides:?}");
    assert_eq!(overrides.stdout, "1 topics checked, 0 differ\n");
}

#[test]
fn unreachable_cluster_exits_2_within_the_timeout() {
    let s = source();
    for (args, cluster) in [
        (
            [
                "--source-bootstrap",
                "127.0.0.1:1",
                "--target-bootstrap",
                s.bootstrap.as_str(),
            ],
            "source",
        ),
        (
            [
                "--source-bootstrap",
                s.bootstrap.as_str(),
                "--target-bootstrap",
                "127.0.0.1:1",
            ],
            "target",
        ),
    ] {
        // Build (or find) the binary first: the bound is on the run, not the build.
        bin("kafka-topic-parity");
        let started = Instant::now();
        let mut all = args.to_vec();
        all.extend(["--timeout", "3s"]);
        let run = run_bin("kafka-topic-parity", &all);
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        assert!(
            run.stderr.starts_with(&format!(
                "kafka-topic-parity: error: cannot reach the {cluster} cluster at 127.0.0.1:1 within 3s"
            )),
            "{run:?}"
        );
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn bad_arguments_exit_2() {
    let s = source();
    let run = parity("x(", &[]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .starts_with("kafka-topic-parity: error: invalid topic pattern 'x('"),
        "{run:?}"
    );
    let run = run_bin(
        "kafka-topic-parity",
        &[
            "--source-bootstrap",
            &s.bootstrap,
            "--compare",
            "everything",
        ],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    let dir = tempfile::tempdir().unwrap();
    let conflicting = write_properties(
        dir.path(),
        "c.properties",
        &[("bootstrap.servers", "127.0.0.1:9")],
    );
    let run = run_bin(
        "kafka-topic-parity",
        &[
            "--source-config",
            conflicting.to_str().unwrap(),
            "--source-bootstrap",
            &s.bootstrap,
            "--target-bootstrap",
            &s.bootstrap,
        ],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("--source-bootstrap") && run.stderr.contains("conflicts"),
        "{run:?}"
    );
}
