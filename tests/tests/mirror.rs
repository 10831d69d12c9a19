//! kafka-mirror end to end, against the local clusters (`bin/kafka-local up --third`).
//!
//! Every test uses its own topics and groups, is bounded in time, and checks what a user would:
//! the records in the target (record by record, or by sequence number per partition), the
//! committed offsets, the exit code and the error line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e_tests::*;

/// A mirror run's files: a consumer config per source, a producer config for the target.
struct Setup {
    dir: tempfile::TempDir,
    consumer_configs: Vec<PathBuf>,
    producer_config: PathBuf,
}

impl Setup {
    /// One consumer config per `(cluster, group)`, plus `extra` consumer properties.
    fn new(sources: &[(&Cluster, &str)], extra_consumer: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let consumer_configs = sources
            .iter()
            .enumerate()
            .map(|(i, (cluster, group))| {
                let mut entries = vec![
                    ("bootstrap.servers", cluster.bootstrap.as_str()),
                    ("group.id", *group),
                ];
                entries.extend_from_slice(extra_consumer);
                write_properties(dir.path(), &format!("consumer-{i}.properties"), &entries)
            })
            .collect();
        let target = target();
        let producer_config = write_properties(
            dir.path(),
            "producer.properties",
            &[("bootstrap.servers", target.bootstrap.as_str())],
        );
        Self {
            dir,
            consumer_configs,
            producer_config,
        }
    }

    fn command(&self, include: &str, extra: &[&str]) -> Command {
        let mut cmd = Command::new(bin("kafka-mirror"));
        for c in &self.consumer_configs {
            cmd.arg("--consumer.config").arg(c);
        }
        cmd.arg("--producer.config")
            .arg(&self.producer_config)
            .args(["--include", include, "--report-interval", "2s"])
            .args(extra)
            .env("RUST_LOG", "info");
        cmd
    }

    /// Runs to completion (bounded).
    fn run(&self, include: &str, extra: &[&str], timeout: Duration) -> Run {
        run_with_timeout(self.command(include, extra), timeout)
    }

    /// Starts in the background; stderr goes to a file in the setup's directory.
    fn spawn(&self, include: &str, extra: &[&str], name: &str) -> Background {
        let log = self.dir.path().join(format!("{name}.stderr"));
        let mut cmd = self.command(include, extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Background {
            child: cmd.spawn().expect("spawning kafka-mirror"),
            log,
        }
    }
}

struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the exit code.
    fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "kafka-mirror did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The error lines of a run's stderr.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("kafka-mirror: error:"))
        .collect()
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code,
        Some(code),
        "exit code; stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

/// Records whose value is `p<partition>-<seq>` plus `pad` bytes of padding.
fn sequenced(partitions: i32, per_partition: usize, pad: usize) -> Vec<TestRecord> {
    let padding = "x".repeat(pad);
    let mut out = Vec::new();
    for i in 0..per_partition {
        for p in 0..partitions {
            out.push(TestRecord::new(
                p,
                &format!("k{}", i % 97),
                &format!("p{p}-{i}-{padding}"),
            ));
        }
    }
    out
}

/// The sequence number in a `sequenced` record's value.
fn seq(record: &TestRecord) -> usize {
    let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
    value.split('-').nth(1).unwrap().parse().unwrap()
}

/// Checks that every source record is in the target, per partition, in order of first
/// appearance; returns the number of duplicates (re-sent after a crash).
fn assert_no_loss(source: &Cluster, target: &Cluster, topic: &str) -> usize {
    let src = source.read_all(topic);
    let tgt = target.read_all(topic);
    let mut by_partition: BTreeMap<i32, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for r in &src {
        by_partition.entry(r.partition).or_default().0.push(seq(r));
    }
    for r in &tgt {
        by_partition.entry(r.partition).or_default().1.push(seq(r));
    }
    let mut duplicates = 0;
    for (p, (want, got)) in &by_partition {
        let mut seen = std::collections::HashSet::new();
        let mut first_order = Vec::new();
        for s in got {
            if seen.insert(*s) {
                first_order.push(*s);
            } else {
                duplicates += 1;
            }
        }
        let missing: Vec<_> = want.iter().filter(|s| !seen.contains(s)).collect();
        assert!(
            missing.is_empty(),
            "{topic} partition {p}: {} of {} records missing in the target (first: {:?})",
            missing.len(),
            want.len(),
            &missing[..missing.len().min(10)]
        );
        assert_eq!(
            &first_order, want,
            "{topic} partition {p}: order of first appearance differs"
        );
    }
    println!(
        "{topic}: {} source records, {} in the target, {duplicates} duplicates",
        src.len(),
        tgt.len()
    );
    duplicates
}

fn total(marks: &[(i32, i64, i64)]) -> i64 {
    marks.iter().map(|(_, lo, hi)| hi - lo).sum()
}

fn wait_for_target_records(target: &Cluster, topic: &str, at_least: i64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if target.partition_count(topic).is_some() && total(&target.watermarks(topic)) >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: fewer than {at_least} records in the target after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ends(cluster: &Cluster, topic: &str) -> Vec<Option<i64>> {
    cluster
        .watermarks(topic)
        .iter()
        .map(|(_, _, hi)| Some(*hi))
        .collect()
}

const RUN: Duration = Duration::from_secs(120);

#[test]
fn every_kind_of_record_arrives_identical_and_in_order() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-fidelity");
    let group = unique("mirror-fidelity-g");
    source.create_topic(&topic, 3, &[]);

    let mut plain = Vec::new();
    let mut gzip = Vec::new();
    let mut zstd = Vec::new();
    for i in 0..40 {
        let mut r = TestRecord::new(i % 3, &format!("key-{i}"), &format!("value-{i}"));
        match i % 5 {
            0 => r.key = None,
            1 => r.value = None,
            2 => {
                r.headers = vec![
                    ("h".into(), Some(b"1".to_vec())),
                    ("h".into(), Some(b"2".to_vec())),
                    ("empty".into(), Some(Vec::new())),
                    ("null".into(), None),
                    ("a".into(), Some(vec![0, 255, 7])),
                ]
            }
            3 => r.timestamp = Some(1_500_000_000_000 + i as i64),
            _ => r.value = Some(Vec::new()),
        }
        match i % 3 {
            0 => plain.push(r),
            1 => gzip.push(r),
            _ => zstd.push(r),
        }
    }
    // A record near 1 MB (the target's default max.message.bytes is 1,048,588).
    let mut big = TestRecord::new(2, "big", "");
    big.value = Some((0..1_000_000u32).map(|i| (i % 251) as u8).collect());
    plain.push(big);
    source.produce_with(&topic, &plain, &[("message.max.bytes", "2000000")]);
    source.produce_with(&topic, &gzip, &[("compression.type", "gzip")]);
    source.produce_with(&topic, &zstd, &[("compression.type", "zstd")]);

    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], RUN);
    assert_exit(&run, 0);

    let want = source.read_all(&topic);
    let got = target.read_all(&topic);
    assert_eq!(want.len(), 41);
    assert_eq!(got.len(), want.len(), "record count");
    for (w, g) in want.iter().zip(&got) {
        // Same partition and offset (a fresh target topic), key, value, headers, timestamp.
        assert_eq!(
            g, w,
            "partition {} offset {} differs",
            w.partition, w.offset
        );
    }
    assert_eq!(
        target.partition_count(&topic),
        Some(3),
        "created with the source's partition count"
    );
    // --until-caught-up: everything committed, up to the end offsets.
    assert_eq!(
        source.committed_offsets(&group, &topic, 3),
        ends(&source, &topic)
    );
}

#[test]
fn missing_topic_is_created_with_partition_count_and_overrides() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-create");
    let group = unique("mirror-create-g");
    source.create_topic(
        &topic,
        5,
        &[
            ("retention.ms", "123456789"),
            ("max.message.bytes", "2000000"),
        ],
    );
    source.produce(&topic, &sequenced(5, 20, 10));
    assert_eq!(target.partition_count(&topic), None);

    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], RUN);
    assert_exit(&run, 0);
    assert!(
        run.stderr
            .contains(&format!("created target topic {topic} (5 partitions")),
        "{}",
        run.stderr
    );
    assert_eq!(target.partition_count(&topic), Some(5));
    let configs = target_topic_overrides(&target, &topic);
    assert_eq!(
        configs.get("retention.ms").map(String::as_str),
        Some("123456789")
    );
    assert_eq!(
        configs.get("max.message.bytes").map(String::as_str),
        Some("2000000")
    );
    assert_eq!(assert_no_loss(&source, &target, &topic), 0);
}

fn target_topic_overrides(cluster: &Cluster, topic: &str) -> BTreeMap<String, String> {
    use cluster_config::admin_ext::{describe_topic_configs, ConfigSource};
    let admin = cluster.admin();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt
        .block_on(describe_topic_configs(
            &admin,
            &[topic.to_string()],
            Duration::from_secs(10),
        ))
        .expect("describe configs");
    let entries = result[0].1.clone().expect("topic configs");
    entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .filter_map(|e| Some((e.name, e.value?)))
        .collect()
}

#[test]
fn partitions_are_preserved_and_a_smaller_target_topic_is_refused() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-preserve");
    source.create_topic(&topic, 4, &[]);
    // Every record with the same key, spread over all partitions: a hashing producer would put
    // them all in one partition.
    let records: Vec<TestRecord> = (0..40)
        .map(|i| TestRecord::new(i % 4, "same-key", &format!("p{}-{i}", i % 4)))
        .collect();
    source.produce(&topic, &records);
    let setup = Setup::new(&[(&source, &unique("mirror-preserve-g"))], &[]);
    assert_exit(&setup.run(&topic, &["--until-caught-up"], RUN), 0);
    let want = source.read_all(&topic);
    let got = target.read_all(&topic);
    let place = |rs: &[TestRecord]| -> Vec<(i32, Option<Vec<u8>>)> {
        rs.iter().map(|r| (r.partition, r.value.clone())).collect()
    };
    assert_eq!(place(&got), place(&want));

    // A target topic with fewer partitions and --no-create-topics: refused before writing.
    let small = unique("mirror-small");
    source.create_topic(&small, 3, &[]);
    source.produce(&small, &sequenced(3, 5, 0));
    target.create_topic(&small, 2, &[]);
    let setup = Setup::new(&[(&source, &unique("mirror-small-g"))], &[]);
    let run = setup.run(&small, &["--no-create-topics", "--until-caught-up"], RUN);
    assert_exit(&run, 1);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&format!(
            "target topic {small} has 2 partitions, fewer than the source's 3"
        )),
        "{}",
        errors[0]
    );
    assert_eq!(total(&target.watermarks(&small)), 0, "nothing written");
}

#[test]
fn hash_mode_places_keyed_records_like_the_java_producer() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-hash");
    source.create_topic(&topic, 1, &[]);
    target.create_topic(&topic, 10, &[]);
    // murmur2 of "21" is -973932308: toPositive & 0x7fffffff = 1173551340, % 10 = 0.
    // murmur2 of "foobar" is -790332482: 1357151166 % 10 = 6. "abc": 479470107 % 10 = 7.
    let records = vec![
        TestRecord::new(0, "21", "a"),
        TestRecord::new(0, "foobar", "b"),
        TestRecord::new(0, "abc", "c"),
    ];
    source.produce(&topic, &records);
    let setup = Setup::new(&[(&source, &unique("mirror-hash-g"))], &[]);
    assert_exit(
        &setup.run(
            &topic,
            &["--until-caught-up", "--partition-mode", "hash"],
            RUN,
        ),
        0,
    );
    let got: Vec<(i32, Vec<u8>)> = target
        .read_all(&topic)
        .into_iter()
        .map(|r| (r.partition, r.key.unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, b"21".to_vec()),
            (6, b"foobar".to_vec()),
            (7, b"abc".to_vec())
        ]
    );
}

#[test]
fn include_exclude_and_internal_topics() {
    let (source, target) = (source(), target());
    let base = unique("mirror-filter");
    let (keep1, keep2, skip) = (
        format!("{base}-keep1"),
        format!("{base}-keep2"),
        format!("{base}-skip"),
    );
    for t in [&keep1, &keep2, &skip] {
        source.create_topic(t, 1, &[]);
        source.produce(t, &sequenced(1, 3, 0));
    }
    let setup = Setup::new(&[(&source, &unique("mirror-filter-g"))], &[]);
    // Internal topics named explicitly are still never mirrored.
    let include = format!("__consumer_offsets,__transaction_state,{base}-.*");
    let run = setup.run(
        &include,
        &["--exclude", ".*-skip", "--until-caught-up"],
        RUN,
    );
    assert_exit(&run, 0);
    assert!(
        run.stderr
            .contains("mirroring 2 topics from the source cluster"),
        "{}",
        run.stderr
    );
    assert_eq!(target.read_all(&keep1).len(), 3);
    assert_eq!(target.read_all(&keep2).len(), 3);
    assert_eq!(
        target.partition_count(&skip),
        None,
        "excluded topic not created"
    );
}

#[test]
fn two_source_clusters_into_one_target() {
    let (source, third, target) = (source(), third(), target());
    let from_source = unique("mirror-two-a");
    let from_third = unique("mirror-two-b");
    source.create_topic(&from_source, 2, &[]);
    third.create_topic(&from_third, 3, &[]);
    source.produce(&from_source, &sequenced(2, 50, 20));
    third.produce(&from_third, &sequenced(3, 50, 20));
    let (g1, g2) = (unique("mirror-two-g1"), unique("mirror-two-g2"));
    let setup = Setup::new(&[(&source, &g1), (&third, &g2)], &[]);
    let include = format!("{from_source},{from_third}");
    let run = setup.run(&include, &["--until-caught-up"], RUN);
    assert_exit(&run, 0);
    assert_eq!(assert_no_loss(&source, &target, &from_source), 0);
    assert_eq!(assert_no_loss(&third, &target, &from_third), 0);
    assert_eq!(target.partition_count(&from_third), Some(3));
    assert_eq!(
        source.committed_offsets(&g1, &from_source, 2),
        ends(&source, &from_source)
    );
    assert_eq!(
        third.committed_offsets(&g2, &from_third, 3),
        ends(&third, &from_third)
    );
}

#[test]
fn kill_9_mid_run_then_restart_loses_nothing() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-kill");
    let group = unique("mirror-kill-g");
    source.create_topic(&topic, 4, &[]);
    source.produce_with(&topic, &sequenced(4, 25_000, 40), &[("linger.ms", "50")]);
    let setup = Setup::new(&[(&source, &group)], &[]);
    let mut first = setup.spawn(
        &topic,
        &["--offset.commit.interval.ms", "200", "--queue.size", "200"],
        "first",
    );
    wait_for_target_records(&target, &topic, 5_000, RUN);
    first.kill9();
    let mirrored_before = total(&target.watermarks(&topic));
    let committed: i64 = source
        .committed_offsets(&group, &topic, 4)
        .iter()
        .map(|c| c.unwrap_or(0))
        .sum();
    println!("killed with {mirrored_before} records in the target, {committed} committed");
    assert!(
        mirrored_before < 100_000,
        "the kill came too late to test anything"
    );
    assert!(
        committed <= mirrored_before,
        "committed {committed} > mirrored {mirrored_before}: a commit passed unacknowledged records"
    );

    let run = setup.run(&topic, &["--until-caught-up"], RUN);
    assert_exit(&run, 0);
    let duplicates = assert_no_loss(&source, &target, &topic);
    assert_eq!(
        total(&target.watermarks(&topic)),
        100_000 + duplicates as i64
    );
}

#[test]
fn two_instances_in_one_group_one_killed_loses_nothing() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-ha");
    let group = unique("mirror-ha-g");
    source.create_topic(&topic, 6, &[]);
    source.produce_with(&topic, &sequenced(6, 8_000, 40), &[("linger.ms", "50")]);
    let setup = Setup::new(
        &[(&source, &group)],
        &[
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    );
    // Slowed down (small queue, long linger) so the kill lands mid-run.
    let slow = ["--queue.size", "30", "--offset.commit.interval.ms", "300"];
    let mut a = setup.spawn(&topic, &slow, "a");
    wait_for_target_records(&target, &topic, 500, RUN);
    let mut b_args = slow.to_vec();
    b_args.push("--until-caught-up");
    let mut b = setup.spawn(&topic, &b_args, "b");
    // Let the group rebalance so that both instances own partitions.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.stderr().contains("partitions assigned") {
        assert!(
            Instant::now() < deadline,
            "b never got partitions:\n{}",
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let before = total(&target.watermarks(&topic));
    a.kill9();
    println!("killed a with {before} records in the target");
    assert!(before < 48_000, "a was killed too late to test anything");
    assert_eq!(b.wait(RUN), Some(0), "b:\n{}", b.stderr());
    assert_no_loss(&source, &target, &topic);
    assert_eq!(
        source.committed_offsets(&group, &topic, 6),
        ends(&source, &topic)
    );
}

/// Source: 5 small records, one of 50 kB, then `after` small ones. Target topic:
/// max.message.bytes 10000.
fn too_large_setup(name: &str, after: usize) -> (String, String) {
    let (source, target) = (source(), target());
    let topic = unique(name);
    source.create_topic(&topic, 1, &[]);
    target.create_topic(&topic, 1, &[("max.message.bytes", "10000")]);
    let mut records = sequenced(1, 6 + after, 10);
    records[5].value = Some(format!("p0-5-{}", "y".repeat(50_000)).into_bytes());
    // Separate produce calls: the big record is alone in its source batch.
    source.produce(&topic, &records[..5]);
    source.produce(&topic, &records[5..6]);
    source.produce(&topic, &records[6..]);
    (topic, unique(&format!("{name}-g")))
}

#[test]
fn record_too_large_with_abort_on_stops_before_it() {
    let (source, target) = (source(), target());
    let (topic, group) = too_large_setup("mirror-large-abort", 5);
    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], RUN);
    assert_exit(&run, 3);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&format!("{topic} partition 0 offset 5"))
            && errors[0].contains("max.message.bytes"),
        "{}",
        errors[0]
    );
    // The records before it are committed, it is not: a restart reads it again.
    assert_eq!(source.committed_offsets(&group, &topic, 1), vec![Some(5)]);
    let got = target.read_all(&topic);
    assert!(
        got.iter().all(|r| seq(r) != 5),
        "the big record cannot be in the target"
    );
    for s in 0..5 {
        assert!(got.iter().any(|r| seq(r) == s), "record {s} missing");
    }
}

#[test]
fn record_too_large_with_abort_off_is_skipped_and_later_records_arrive() {
    let (source, target) = (source(), target());
    let (topic, group) = too_large_setup("mirror-large-skip", 5_000);
    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(
        &topic,
        &[
            "--until-caught-up",
            "--abort.on.send.failure",
            "false",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        RUN,
    );
    assert_exit(&run, 0);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("skipped") && l.contains(&format!("{topic} partition 0 offset 5"))),
        "{}",
        run.stderr
    );
    // The broker rejected the whole batch holding the big record: its neighbours were sent
    // again one by one, so they are all there, once each (possibly after later records).
    let mut got: Vec<usize> = target.read_all(&topic).iter().map(seq).collect();
    got.sort_unstable();
    let want: Vec<usize> = (0..5_006).filter(|s| *s != 5).collect();
    assert_eq!(got, want);
    assert_eq!(
        source.committed_offsets(&group, &topic, 1),
        vec![Some(5_006)]
    );
    assert_eq!(
        run.stderr.matches("skipped:").count(),
        1,
        "only the big record is skipped:\n{}",
        run.stderr
    );
}

#[test]
fn small_max_message_bytes_keeps_order_at_full_speed() {
    // The target topic's max.message.bytes (copied from the source) is far below librdkafka's
    // default batch.size: batches must be sized for it, or the broker rejects whole batches
    // and their records are re-sent one by one, after later ones.
    let (source, target) = (source(), target());
    let topic = unique("mirror-small-batches");
    let group = unique("mirror-small-batches-g");
    source.create_topic(&topic, 1, &[("max.message.bytes", "50000")]);
    // The test's own producer must size its batches for the source topic too.
    source.produce_with(
        &topic,
        &sequenced(1, 300_000, 0),
        &[("batch.size", "40000")],
    );
    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], Duration::from_secs(180));
    assert_exit(&run, 0);
    assert!(
        !run.stderr.contains("MessageSizeTooLarge") && !run.stderr.contains("skipped"),
        "{}",
        run.stderr
    );
    assert_eq!(
        target_topic_overrides(&target, &topic).get("max.message.bytes"),
        Some(&"50000".to_string())
    );
    assert_eq!(assert_no_loss(&source, &target, &topic), 0, "no duplicates");
}

/// Mirrors a 3-partition topic, SIGTERMs the mirror once `stop_at` records reached the target,
/// and checks that every committed offset is exactly what reached the target.
fn sigterm_mid_run(name: &str, per_partition: usize, queue_size: &str, stop_at: i64) {
    let (source, target) = (source(), target());
    let topic = unique(name);
    let group = unique(&format!("{name}-g"));
    source.create_topic(&topic, 3, &[]);
    source.produce_with(
        &topic,
        &sequenced(3, per_partition, 40),
        &[("linger.ms", "50")],
    );
    let setup = Setup::new(&[(&source, &group)], &[]);
    // A long commit interval: only the shutdown commits.
    let mut m = setup.spawn(
        &topic,
        &[
            "--offset.commit.interval.ms",
            "600000",
            "--queue.size",
            queue_size,
        ],
        "term",
    );
    wait_for_target_records(&target, &topic, stop_at, RUN);
    m.signal("-TERM");
    assert_eq!(m.wait(Duration::from_secs(60)), Some(0), "{}", m.stderr());
    // Every committed offset is exactly what reached the target (a fresh target topic with the
    // same offsets): nothing acked left uncommitted, nothing committed that is not there.
    // No commit for a partition means nothing of it was mirrored (the log starts at 0).
    let committed: Vec<i64> = source
        .committed_offsets(&group, &topic, 3)
        .iter()
        .map(|c| c.unwrap_or(0))
        .collect();
    let in_target: Vec<i64> = target
        .watermarks(&topic)
        .iter()
        .map(|(_, _, hi)| *hi)
        .collect();
    assert_eq!(committed, in_target, "{}", m.stderr());
    let mirrored: i64 = in_target.iter().sum();
    assert!(
        (stop_at..3 * per_partition as i64).contains(&mirrored),
        "stopped mid-run: {mirrored}"
    );
}

#[test]
fn sigterm_commits_what_was_acknowledged() {
    // A small queue.size: fetching is paused at the signal most of the time.
    sigterm_mid_run("mirror-term", 10_000, "50", 2_000);
}

#[test]
fn sigterm_with_records_prefetched_commits_only_what_was_acknowledged() {
    // The default queue.size: at the signal the consumer holds prefetched records, which
    // closing the consumer polls and drops. They must not move the commit (they did once: the
    // close moved the consumer's position past them and the last commit followed it).
    sigterm_mid_run("mirror-term-prefetched", 100_000, "10000", 20_000);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let source = source();
    let dir = tempfile::tempdir().unwrap();
    let good = write_properties(
        dir.path(),
        "c.properties",
        &[("bootstrap.servers", &source.bootstrap), ("group.id", "g")],
    );
    let no_group = write_properties(
        dir.path(),
        "nogroup.properties",
        &[("bootstrap.servers", &source.bootstrap)],
    );
    let producer = write_properties(
        dir.path(),
        "p.properties",
        &[("bootstrap.servers", &target().bootstrap)],
    );
    let lossy = write_properties(
        dir.path(),
        "lossy.properties",
        &[("bootstrap.servers", &target().bootstrap), ("acks", "1")],
    );
    let missing = dir.path().join("missing.properties");
    let p = |p: &Path| p.display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--consumer.config".into(),
                p(&missing),
                "--producer.config".into(),
                p(&producer),
                "--include".into(),
                "x".into(),
            ],
            "missing.properties: cannot read",
        ),
        (
            vec![
                "--consumer.config".into(),
                p(&no_group),
                "--producer.config".into(),
                p(&producer),
                "--include".into(),
                "x".into(),
            ],
            "no group.id",
        ),
        (
            vec![
                "--consumer.config".into(),
                p(&good),
                "--producer.config".into(),
                p(&producer),
                "--include".into(),
                "x(".into(),
            ],
            "invalid topic pattern 'x('",
        ),
        (
            vec![
                "--consumer.config".into(),
                p(&good),
                "--producer.config".into(),
                p(&producer),
                "--include".into(),
                "x".into(),
                "--whitelist".into(),
                "y".into(),
            ],
            "cannot be used with",
        ),
        (
            vec![
                "--consumer.config".into(),
                p(&good),
                "--producer.config".into(),
                p(&lossy),
                "--include".into(),
                "x".into(),
            ],
            "acks: 1 would lose records",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_bin("kafka-mirror", &args);
        assert_exit(&run, 2);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {args:?}: {}", run.stderr);
        assert!(
            lines[0].starts_with("kafka-mirror: error: ") && lines[0].contains(expected),
            "{args:?}: {}",
            lines[0]
        );
    }
}

#[test]
fn unreachable_source_fails_within_a_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let consumer = write_properties(
        dir.path(),
        "c.properties",
        &[("bootstrap.servers", "127.0.0.1:1"), ("group.id", "g")],
    );
    let producer = write_properties(
        dir.path(),
        "p.properties",
        &[("bootstrap.servers", &target().bootstrap)],
    );
    // Build (or find) the binary first: the bound is on the run, not the build.
    bin("kafka-mirror");
    let started = Instant::now();
    let mut cmd = Command::new(bin("kafka-mirror"));
    cmd.arg("--consumer.config")
        .arg(&consumer)
        .arg("--producer.config")
        .arg(&producer)
        .args(["--include", "x", "--connect-timeout", "3s"]);
    let run = run_with_timeout(cmd, Duration::from_secs(30));
    assert_exit(&run, 1);
    assert!(started.elapsed() < Duration::from_secs(15));
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("cannot reach the source cluster at 127.0.0.1:1"),
        "{}",
        errors[0]
    );
}

/// Produces `values` to partition 0 of `topic` in one transaction, committed or aborted.
fn produce_in_transaction(cluster: &Cluster, topic: &str, values: &[&str], commit: bool) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = cluster
        .config()
        .set("transactional.id", unique("mirror-txn-producer"))
        .create()
        .expect("transactional producer");
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    producer.begin_transaction().unwrap();
    for v in values {
        producer
            .send(
                BaseRecord::<str, str>::to(topic)
                    .partition(0)
                    .key("k")
                    .payload(*v),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    if commit {
        producer
            .commit_transaction(Duration::from_secs(30))
            .unwrap();
    } else {
        producer.abort_transaction(Duration::from_secs(30)).unwrap();
    }
}

#[test]
fn transactional_topic_mirrors_committed_records_and_commits_past_markers() {
    let (source, target) = (source(), target());
    let topic = unique("mirror-txn");
    let group = unique("mirror-txn-g");
    source.create_topic(&topic, 1, &[]);
    produce_in_transaction(&source, &topic, &["p0-0-", "p0-1-"], true);
    produce_in_transaction(&source, &topic, &["aborted-a", "aborted-b"], false);
    produce_in_transaction(&source, &topic, &["p0-2-"], true);
    // 5 records + 3 markers.
    assert_eq!(source.watermarks(&topic), vec![(0, 0, 8)]);
    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], Duration::from_secs(60));
    assert_exit(&run, 0);
    let got: Vec<usize> = target.read_all(&topic).iter().map(seq).collect();
    assert_eq!(got, vec![0, 1, 2], "aborted records are not mirrored");
    // The commit passes the final transaction marker: the group's lag is 0, not 1.
    assert_eq!(source.committed_offsets(&group, &topic, 1), vec![Some(8)]);
}

#[test]
fn partition_of_aborted_records_only_is_caught_up_and_committed() {
    // Nothing to hand over: the consumer's position alone moves (past the aborted batch and
    // its marker). --until-caught-up must still commit the end offset and exit.
    let source = source();
    let topic = unique("mirror-aborted-only");
    let group = unique("mirror-aborted-only-g");
    source.create_topic(&topic, 1, &[]);
    produce_in_transaction(&source, &topic, &["a-0", "a-1", "a-2", "a-3", "a-4"], false);
    assert_eq!(source.watermarks(&topic), vec![(0, 0, 6)]);
    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], Duration::from_secs(60));
    assert_exit(&run, 0);
    assert_eq!(source.committed_offsets(&group, &topic, 1), vec![Some(6)]);
    let (_, _, hi) = target().watermarks(&topic)[0];
    assert_eq!(hi, 0, "aborted records are not mirrored");
}

#[test]
fn restart_at_a_commit_marker_commits_past_it() {
    // A previous run committed the offset of a commit marker: the restart receives only the
    // marker, and must commit past it.
    let source = source();
    let topic = unique("mirror-at-marker");
    let group = unique("mirror-at-marker-g");
    source.create_topic(&topic, 1, &[]);
    produce_in_transaction(&source, &topic, &["p0-0-", "p0-1-"], true);
    assert_eq!(source.watermarks(&topic), vec![(0, 0, 3)]);
    source.commit_offsets(&group, &[(&topic, 0, 2)]);
    let setup = Setup::new(&[(&source, &group)], &[]);
    let run = setup.run(&topic, &["--until-caught-up"], Duration::from_secs(60));
    assert_exit(&run, 0);
    assert_eq!(source.committed_offsets(&group, &topic, 1), vec![Some(3)]);
}

/// GET `path` from `addr` (HTTP/1.1, Connection: close): the body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn new_topics_are_picked_up_and_metrics_are_served() {
    let (source, target) = (source(), target());
    let base = unique("mirror-new");
    let (first, second) = (format!("{base}-first"), format!("{base}-second"));
    source.create_topic(&first, 2, &[]);
    source.produce(&first, &sequenced(2, 5, 0));
    let setup = Setup::new(&[(&source, &unique("mirror-new-g"))], &[]);
    let mut m = setup.spawn(
        &format!("{base}-.*"),
        &[
            "--topic-refresh-interval",
            "1s",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "new",
    );
    wait_for_target_records(&target, &first, 10, RUN);

    source.create_topic(&second, 3, &[]);
    source.produce(&second, &sequenced(3, 4, 0));
    wait_for_target_records(&target, &second, 12, Duration::from_secs(60));
    assert_eq!(target.partition_count(&second), Some(3));

    let log = m.stderr();
    let addr = log
        .lines()
        .find_map(|l| l.split("metrics on http://").nth(1))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in:\n{log}"))
        .to_string();
    assert_eq!(http_get(&addr, "/healthz"), "ok\n");
    let metrics = http_get(&addr, "/metrics");
    for line in [
        format!("kafka_mirror_records_total{{topic=\"{first}\"}} 10"),
        format!("kafka_mirror_records_total{{topic=\"{second}\"}} 12"),
        format!("kafka_mirror_send_errors_total{{topic=\"{first}\"}} 0"),
        "kafka_mirror_in_flight_records 0".to_string(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in:\n{metrics}"
        );
    }
    assert!(metrics.contains("# TYPE kafka_mirror_consumer_lag gauge"));
    assert!(metrics.contains("kafka_mirror_rebalances_total "));

    m.signal("-INT");
    assert_eq!(m.wait(Duration::from_secs(60)), Some(0), "{}", m.stderr());
    assert!(m.stderr().contains(&format!("now mirroring {second}")));
}

#[test]
fn partitions_added_to_a_source_topic_are_mirrored() {
    use rdkafka::admin::{AdminOptions, NewPartitions};
    let (source, target) = (source(), target());
    let topic = unique("mirror-grow");
    source.create_topic(&topic, 2, &[]);
    source.produce(&topic, &sequenced(2, 5, 0));
    let setup = Setup::new(&[(&source, &unique("mirror-grow-g"))], &[]);
    let mut m = setup.spawn(&topic, &["--topic-refresh-interval", "1s"], "grow");
    wait_for_target_records(&target, &topic, 10, RUN);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(
            source
                .admin()
                .create_partitions(&[NewPartitions::new(&topic, 4)], &AdminOptions::new()),
        )
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    source.wait_for_partitions(&topic, 4);
    let new_partitions: Vec<TestRecord> = sequenced(4, 5, 0)
        .into_iter()
        .filter(|r| r.partition >= 2)
        .collect();
    source.produce(&topic, &new_partitions);
    wait_for_target_records(&target, &topic, 20, Duration::from_secs(60));
    assert_eq!(target.partition_count(&topic), Some(4));

    m.signal("-TERM");
    assert_eq!(m.wait(Duration::from_secs(60)), Some(0), "{}", m.stderr());
    assert_eq!(assert_no_loss(&source, &target, &topic), 0);
    assert!(
        m.stderr()
            .contains(&format!("added partitions to target topic {topic}: 2 -> 4")),
        "{}",
        m.stderr()
    );
}
