//! kafka-lag-check end to end against the local source cluster: every column compared with what
//! Kafka's own ConsumerGroupCommand prints, thresholds and exit codes, time lag, the machine
//! formats, and the failures (missing group, unreachable cluster, bad or obsolete arguments).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e_tests::*;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

const CHECK: &str = "kafka-lag-check";

/// Runs the tool against the source cluster with `args`.
fn check(args: &[&str]) -> Run {
    let source = source();
    let mut all = vec!["--bootstrap-server", source.bootstrap.as_str()];
    all.extend_from_slice(args);
    run_bin(CHECK, &all)
}

/// Runs with `--format json` and parses stdout.
fn check_json(args: &[&str]) -> (Run, Value) {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let run = check(&all);
    let value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {run:?}"));
    (run, value)
}

/// One row of `ConsumerGroupCommand --describe`: every column as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KafkaRow {
    group: String,
    topic: String,
    partition: i32,
    current_offset: String,
    log_end_offset: String,
    lag: String,
    consumer_id: String,
    host: String,
    client_id: String,
}

/// Kafka's own view of `group`, keyed by (topic, partition).
fn kafka_describe(group: &str) -> BTreeMap<(String, i32), KafkaRow> {
    let run = kafka_class(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &[
            "--bootstrap-server",
            &source().bootstrap,
            "--describe",
            "--group",
            group,
        ],
    );
    assert_eq!(run.code, Some(0), "ConsumerGroupCommand failed: {run:?}");
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in run.stdout.lines() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.first() == Some(&"GROUP") {
            in_table = true;
            continue;
        }
        if !in_table || cells.is_empty() {
            continue;
        }
        assert_eq!(cells.len(), 9, "unexpected row in Kafka's output: {line}");
        let row = KafkaRow {
            group: cells[0].into(),
            topic: cells[1].into(),
            partition: cells[2].parse().unwrap(),
            current_offset: cells[3].into(),
            log_end_offset: cells[4].into(),
            lag: cells[5].into(),
            consumer_id: cells[6].into(),
            host: cells[7].into(),
            client_id: cells[8].into(),
        };
        rows.insert((row.topic.clone(), row.partition), row);
    }
    assert!(!rows.is_empty(), "no rows in Kafka's output: {run:?}");
    rows
}

/// Our JSON partitions in Kafka's textual form ("-" for null), keyed like `kafka_describe`.
fn our_rows(json: &Value) -> BTreeMap<(String, i32), KafkaRow> {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    json["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let row = KafkaRow {
                group: text(&p["group"]),
                topic: text(&p["topic"]),
                partition: p["partition"].as_i64().unwrap() as i32,
                current_offset: text(&p["committed_offset"]),
                log_end_offset: text(&p["log_end_offset"]),
                lag: text(&p["lag"]),
                consumer_id: text(&p["consumer_id"]),
                host: text(&p["host"]),
                client_id: text(&p["client_id"]),
            };
            ((row.topic.clone(), row.partition), row)
        })
        .collect()
}

fn partition<'a>(json: &'a Value, topic: &str, p: i64) -> &'a Value {
    json["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["topic"] == topic && r["partition"] == p)
        .unwrap_or_else(|| panic!("no row for {topic}-{p} in {json:#}"))
}

fn records(partition: i32, n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| TestRecord::new(partition, &format!("k{i}"), &format!("v{i}")))
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A live group member: subscribes, waits for its assignment, commits `commits`, then keeps
/// polling (staying in the group) until dropped.
struct Member {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn join(group: &str, topics: &[&str], client_id: &str, commits: &[(&str, i32, i64)]) -> Member {
        let consumer: BaseConsumer = source()
            .config()
            .set("group.id", group)
            .set("client.id", client_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .create()
            .expect("consumer");
        consumer.subscribe(topics).expect("subscribe");
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in commits {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o)).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut committed = false;
            while !stop_flag.load(Ordering::Relaxed) {
                let _ = consumer.poll(Duration::from_millis(50));
                if !committed
                    && consumer
                        .assignment()
                        .map(|a| a.count() > 0)
                        .unwrap_or(false)
                {
                    if tpl.count() > 0 {
                        consumer
                            .commit(&tpl, CommitMode::Sync)
                            .expect("member commit");
                    }
                    committed = true;
                    ready_tx.send(()).unwrap();
                }
                assert!(
                    committed || Instant::now() < deadline,
                    "no assignment within 60s"
                );
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("member did not get an assignment");
        Member {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn every_column_matches_consumer_group_command_for_a_stable_group() {
    let source = source();
    let topic = unique("lag-stable");
    let other = unique("lag-stable-other");
    let group = unique("lag-stable-group");
    source.create_topic(&topic, 3, &[]);
    source.create_topic(&other, 1, &[]);
    let mut all = records(0, 10);
    all.extend(records(1, 5));
    all.extend(records(2, 3));
    source.produce(&topic, &all);
    source.produce(&other, &records(0, 4));
    // A commit on a topic no member is assigned (made before anyone joins).
    source.commit_offsets(&group, &[(&other, 0, 1)]);
    // Partition 2 is assigned but never committed.
    let _member = Member::join(
        &group,
        &[&topic],
        "lag-member",
        &[(&topic, 0, 4), (&topic, 1, 5)],
    );

    let kafka = kafka_describe(&group);
    let (run, json) = check_json(&["--group", &group]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let ours = our_rows(&json);
    assert_eq!(
        ours, kafka,
        "every column, every row, as Kafka's tool prints them"
    );

    // And the values themselves, so the comparison cannot pass on two empty tables.
    let row = |t: &str, p| ours[&(t.to_string(), p)].clone();
    assert_eq!(
        (
            row(&topic, 0).current_offset.as_str(),
            row(&topic, 0).lag.as_str()
        ),
        ("4", "6")
    );
    assert_eq!(
        (
            row(&topic, 1).log_end_offset.as_str(),
            row(&topic, 1).lag.as_str()
        ),
        ("5", "0")
    );
    assert_eq!(
        (
            row(&topic, 2).current_offset.as_str(),
            row(&topic, 2).lag.as_str()
        ),
        ("-", "-")
    );
    assert_eq!(row(&topic, 2).client_id, "lag-member");
    assert!(
        row(&topic, 2).host.contains("127.0.0.1"),
        "{:?}",
        row(&topic, 2)
    );
    assert_ne!(row(&topic, 2).consumer_id, "-");
    assert_eq!(
        (
            row(&other, 0).lag.as_str(),
            row(&other, 0).consumer_id.as_str()
        ),
        ("3", "-")
    );
    assert_eq!(partition(&json, &topic, 2)["note"], "no_commit");

    let g = &json["groups"][0];
    assert_eq!(g["state"], "Stable");
    assert_eq!(g["members"], 1);
    assert_eq!(g["total_lag"], 9);
    assert_eq!(g["max_lag"], 6);
    assert_eq!(json["status"], "OK");

    // The table shows "-" for the uncommitted partition.
    let table = check(&["--group", &group]);
    assert_eq!(table.code, Some(0));
    let line = table
        .stdout
        .lines()
        .find(|l| l.contains(&topic) && l.contains("no committed offset"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[2..7], ["2", "-", "3", "-", "-"], "{line}");
}

#[test]
fn empty_group_still_reports_committed_offsets_like_kafka() {
    let source = source();
    let topic = unique("lag-empty");
    let group = unique("lag-empty-group");
    source.create_topic(&topic, 2, &[]);
    let mut all = records(0, 7);
    all.extend(records(1, 2));
    source.produce(&topic, &all);
    source.commit_offsets(&group, &[(&topic, 0, 2), (&topic, 1, 2)]);

    let kafka = kafka_describe(&group);
    let (run, json) = check_json(&["--group", &group]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(our_rows(&json), kafka);
    let g = &json["groups"][0];
    assert_eq!(g["state"], "Empty");
    assert_eq!(g["members"], 0);
    assert_eq!(g["total_lag"], 5);
    assert_eq!(partition(&json, &topic, 0)["lag"], 5);
    assert_eq!(partition(&json, &topic, 1)["lag"], 0);
    assert_eq!(partition(&json, &topic, 1)["time_lag_ms"], 0);
    assert_eq!(partition(&json, &topic, 0)["consumer_id"], Value::Null);
}

#[test]
fn topic_filter_lists_every_partition_and_marks_the_uncommitted_one() {
    let source = source();
    let topic = unique("lag-filter");
    let other = unique("lag-filter-other");
    let group = unique("lag-filter-group");
    source.create_topic(&topic, 3, &[]);
    source.create_topic(&other, 1, &[]);
    let mut all = records(0, 3);
    all.extend(records(2, 4));
    source.produce(&topic, &all);
    source.produce(&other, &records(0, 2));
    source.commit_offsets(&group, &[(&topic, 0, 1), (&topic, 1, 0), (&other, 0, 0)]);

    let (run, json) = check_json(&["--group", &group, "--topic", &topic]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rows = json["partitions"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        3,
        "only --topic, all of its partitions: {json:#}"
    );
    let p2 = partition(&json, &topic, 2);
    assert_eq!(p2["committed_offset"], Value::Null, "not 0, not -1");
    assert_eq!(p2["lag"], Value::Null);
    assert_eq!(p2["time_lag_ms"], Value::Null);
    assert_eq!(p2["log_end_offset"], 4);
    assert_eq!(p2["note"], "no_commit");
    assert_eq!(partition(&json, &topic, 0)["lag"], 2);
    assert_eq!(
        json["groups"][0]["total_lag"], 2,
        "the uncommitted partition adds nothing"
    );
}

/// A group whose total lag is 50 records.
fn group_with_lag_50() -> String {
    let source = source();
    let topic = unique("lag-thresholds");
    let group = unique("lag-thresholds-group");
    source.create_topic(&topic, 2, &[]);
    let mut all = records(0, 30);
    all.extend(records(1, 25));
    source.produce(&topic, &all);
    source.commit_offsets(&group, &[(&topic, 0, 0), (&topic, 1, 5)]);
    group
}

#[test]
fn record_thresholds_give_each_status_and_exit_code() {
    let group = group_with_lag_50();
    let cases: &[(&[&str], i32, &str)] = &[
        (&[], 0, "OK"),
        (&["--warning", "100", "--critical", "200"], 0, "OK"),
        (&["--warning", "50", "--critical", "200"], 0, "OK"),
        (&["--warning", "10", "--critical", "100"], 1, "WARNING"),
        (&["--warning", "10", "--critical", "40"], 2, "CRITICAL"),
        (&["--warning", "@40:60"], 1, "WARNING"),
        (&["--warning", "@10:20"], 0, "OK"),
        (&["--critical", "60:"], 2, "CRITICAL"),
        (&["--critical", "50:"], 0, "OK"),
        (&["--warning", "~:49"], 1, "WARNING"),
        (&["--warning", "~:50"], 0, "OK"),
        (&["-w", "10:20", "-c", "@0:10"], 1, "WARNING"),
    ];
    for (thresholds, code, status) in cases {
        let mut args = vec!["--group", group.as_str(), "--format", "nagios"];
        args.extend_from_slice(thresholds);
        let run = check(&args);
        assert_eq!(run.code, Some(*code), "{thresholds:?}: {run:?}");
        assert!(
            run.stdout.starts_with(&format!("KAFKA LAG {status} - ")),
            "{thresholds:?}: {}",
            run.stdout
        );
        assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    }
    let run = check(&[
        "--group", &group, "--format", "nagios", "-w", "10", "-c", "@40:60",
    ]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stdout
            .contains(&format!("{group}: lag 50 (critical @40:60)")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "| '{group} lag'=50;10;@40:60;0 '{group} time_lag'="
        )),
        "{}",
        run.stdout
    );
    // The exit code is the same in every format.
    for format in ["table", "json", "prometheus"] {
        let run = check(&["--group", &group, "--format", format, "-w", "10"]);
        assert_eq!(run.code, Some(1), "{format}: {run:?}");
    }
}

#[test]
fn time_lag_comes_from_the_record_at_the_committed_offset() {
    let source = source();
    let topic = unique("lag-time");
    let group = unique("lag-time-group");
    source.create_topic(&topic, 2, &[]);
    let base = now_ms() - 600_000;
    let mut all: Vec<TestRecord> = (0..5)
        .map(|i| {
            let mut r = TestRecord::new(0, "k", "v");
            r.timestamp = Some(base + i * 60_000);
            r
        })
        .collect();
    all.extend(records(1, 2));
    source.produce(&topic, &all);
    // Offset 2 is the record produced at base + 2 minutes: 8 minutes old.
    source.commit_offsets(&group, &[(&topic, 0, 2), (&topic, 1, 2)]);
    let started = now_ms();
    let (run, json) = check_json(&["--group", &group]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let expected = started - (base + 120_000);
    let got = partition(&json, &topic, 0)["time_lag_ms"].as_i64().unwrap();
    assert!(
        got >= expected && got < expected + 30_000,
        "time lag {got} ms, expected about {expected} ms"
    );
    assert_eq!(partition(&json, &topic, 1)["time_lag_ms"], 0, "caught up");
    assert_eq!(json["groups"][0]["max_time_lag_ms"].as_i64(), Some(got));

    let status = |args: &[&str]| {
        let mut all = vec!["--group", group.as_str(), "--format", "nagios"];
        all.extend_from_slice(args);
        check(&all)
    };
    let run = status(&["--warning-time", "5m", "--critical-time", "1h"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("time lag 8m"), "{}", run.stdout);
    assert!(run.stdout.contains(";300;3600;0"), "{}", run.stdout);
    assert_eq!(status(&["--critical-time", "5m"]).code, Some(2));
    assert_eq!(status(&["--warning-time", "20m"]).code, Some(0));
    // Record and time thresholds together: the worst wins.
    assert_eq!(
        status(&["--warning", "1", "--critical-time", "7m"]).code,
        Some(2)
    );
}

#[test]
fn groups_at_different_offsets_of_one_partition_each_get_their_time_lag() {
    let source = source();
    let topic = unique("lag-rounds");
    let early = unique("lag-rounds-early");
    let late = unique("lag-rounds-late");
    source.create_topic(&topic, 1, &[]);
    let base = now_ms() - 3_600_000;
    let all: Vec<TestRecord> = (0..4)
        .map(|i| {
            let mut r = TestRecord::new(0, "k", "v");
            r.timestamp = Some(base + i * 600_000);
            r
        })
        .collect();
    source.produce(&topic, &all);
    source.commit_offsets(&early, &[(&topic, 0, 0)]);
    source.commit_offsets(&late, &[(&topic, 0, 3)]);
    let started = now_ms();
    let (run, json) = check_json(&["--group", &late, "--group", &early]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let groups: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [late.as_str(), early.as_str()],
        "in the order asked"
    );
    let time_lag = |i: usize| json["groups"][i]["max_time_lag_ms"].as_i64().unwrap();
    // late reads offset 3 (base + 30 min: 30 min old), early offset 0 (60 min old).
    for (i, record) in [(0, 3), (1, 0)] {
        let expected = started - (base + record * 600_000);
        let got = time_lag(i);
        assert!(
            got >= expected && got < expected + 30_000,
            "group {i}: time lag {got}, expected about {expected}"
        );
    }
    assert_eq!(json["groups"][0]["total_lag"], 1);
    assert_eq!(json["groups"][1]["total_lag"], 4);
}

#[test]
fn lag_is_never_negative() {
    let source = source();
    let topic = unique("lag-beyond");
    let group = unique("lag-beyond-group");
    source.create_topic(&topic, 1, &[]);
    source.produce(&topic, &records(0, 3));
    // Kafka does not check committed offsets: one past the log end (a recreated topic) is
    // possible, and Kafka's tool would print -7.
    source.commit_offsets(&group, &[(&topic, 0, 10)]);
    assert_eq!(kafka_describe(&group)[&(topic.clone(), 0)].lag, "-7");
    let (run, json) = check_json(&["--group", &group, "--critical", "0"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let p = partition(&json, &topic, 0);
    assert_eq!(p["committed_offset"], 10);
    assert_eq!(p["log_end_offset"], 3);
    assert_eq!(p["lag"], 0);
    assert_eq!(p["note"], "committed_beyond_log_end");
    assert_eq!(json["groups"][0]["total_lag"], 0);
}

/// Deletes the records of `topic` partition 0 below `before` (DeleteRecords).
fn delete_records_before(topic: &str, before: i64) {
    let admin = source().admin();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(before))
        .unwrap();
    let low = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(admin.delete_records(&tpl, &AdminOptions::new()))
        .expect("DeleteRecords");
    assert_eq!(
        low.find_partition(topic, 0).unwrap().offset(),
        Offset::Offset(before)
    );
}

#[test]
fn records_deleted_before_the_group_read_them_are_lag() {
    let source = source();
    let topic = unique("lag-expired");
    let group = unique("lag-expired-group");
    source.create_topic(&topic, 1, &[]);
    source.produce(&topic, &records(0, 10));
    source.commit_offsets(&group, &[(&topic, 0, 2)]);
    // Retention took offsets 2..6 before the group read them: Kafka's tool counts them.
    delete_records_before(&topic, 6);
    assert_eq!(kafka_describe(&group)[&(topic.clone(), 0)].lag, "8");
    let (run, json) = check_json(&["--group", &group, "--critical", "5"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    let p = partition(&json, &topic, 0);
    assert_eq!(p["lag"], 8);
    assert_eq!(p["note"], "committed_below_log_start");
    // The age of the oldest record left.
    assert!(p["time_lag_ms"].as_i64().is_some_and(|t| t >= 0), "{p}");
    // Every record deleted: nothing left to read is still not "caught up".
    delete_records_before(&topic, 10);
    let (run, json) = check_json(&["--group", &group]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let p = partition(&json, &topic, 0);
    assert_eq!(p["lag"], 8);
    assert_eq!(p["note"], "committed_below_log_start");
    assert_eq!(json["groups"][0]["total_lag"], 8);
}

#[test]
fn missing_group_is_unknown() {
    let group = unique("lag-missing");
    let run = check(&["--group", &group]);
    assert_eq!(run.code, Some(3), "{run:?}");
    assert_eq!(
        run.stderr,
        format!("kafka-lag-check: error: consumer group '{group}' does not exist\n")
    );
    let run = check(&["--group", &group, "--format", "nagios"]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stdout.starts_with(&format!(
            "KAFKA LAG UNKNOWN - {group}: consumer group '{group}' does not exist"
        )),
        "{}",
        run.stdout
    );
    let (run, json) = check_json(&["--group", &group]);
    assert_eq!(run.code, Some(3));
    assert_eq!(json["groups"][0]["status"], "UNKNOWN");
    assert_eq!(json["groups"][0]["state"], "Dead");
}

#[test]
fn unreachable_cluster_is_unknown_within_the_timeout() {
    for format in ["table", "nagios"] {
        // Build (or find) the binary first: the bound is on the run, not the build.
        bin(CHECK);
        let started = Instant::now();
        let run = run_bin(
            CHECK,
            &[
                "--bootstrap-server",
                "127.0.0.1:1",
                "--group",
                "g",
                "--timeout",
                "2s",
                "--format",
                format,
            ],
        );
        let took = started.elapsed();
        assert_eq!(run.code, Some(3), "{run:?}");
        assert!(took < Duration::from_secs(6), "took {took:?}");
        assert!(
            run.stderr.starts_with(
                "kafka-lag-check: error: cannot reach the Kafka cluster at 127.0.0.1:1 within 2s:"
            ),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        if format == "nagios" {
            assert!(
                run.stdout
                    .starts_with("KAFKA LAG UNKNOWN - cannot reach the Kafka cluster"),
                "{}",
                run.stdout
            );
        } else {
            assert_eq!(run.stdout, "");
        }
    }
}

#[test]
fn a_broker_that_never_answers_is_unknown_at_the_deadline() {
    // Accepts connections and never says a word: only the global deadline can end the check.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    // Build (or find) the binary first: the bound is on the run, not the build.
    bin(CHECK);
    let started = Instant::now();
    let run = run_bin(
        CHECK,
        &[
            "--bootstrap-server",
            &address,
            "--group",
            "g",
            "--timeout",
            "2s",
            "--format",
            "nagios",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "kafka-lag-check: error: cannot reach the Kafka cluster at {address} within 2s"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with("KAFKA LAG UNKNOWN - cannot reach"),
        "{}",
        run.stdout
    );
}

#[test]
fn json_keys_are_the_documented_ones() {
    let source = source();
    let topic = unique("lag-json");
    let group = unique("lag-json-group");
    source.create_topic(&topic, 1, &[]);
    source.produce(&topic, &records(0, 3));
    source.commit_offsets(&group, &[(&topic, 0, 1)]);
    let (run, json) = check_json(&["--group", &group]);
    assert_eq!(run.code, Some(0));
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&json), ["groups", "partitions", "status"]);
    assert_eq!(
        keys(&json["groups"][0]),
        [
            "error",
            "group",
            "max_lag",
            "max_time_lag_ms",
            "members",
            "reasons",
            "state",
            "status",
            "topics",
            "total_lag"
        ]
    );
    assert_eq!(
        keys(&json["partitions"][0]),
        [
            "client_id",
            "committed_offset",
            "consumer_id",
            "group",
            "host",
            "lag",
            "log_end_offset",
            "note",
            "partition",
            "time_lag_ms",
            "topic"
        ]
    );
    assert_eq!(
        keys(&json["groups"][0]["topics"][0]),
        ["lag", "max_time_lag_ms", "partitions", "topic"]
    );
    let p = &json["partitions"][0];
    assert_eq!(
        (
            p["committed_offset"].as_i64(),
            p["log_end_offset"].as_i64(),
            p["lag"].as_i64()
        ),
        (Some(1), Some(3), Some(2))
    );
    assert!(p["time_lag_ms"].as_i64().unwrap() >= 0);
    assert_eq!(json["groups"][0]["status"], "OK");
}

#[test]
fn prometheus_output_is_valid_exposition_with_the_right_values() {
    let source = source();
    let topic = unique("lag-prom");
    let group = unique("lag-prom-group");
    source.create_topic(&topic, 2, &[]);
    source.produce(&topic, &records(0, 6));
    source.commit_offsets(&group, &[(&topic, 0, 2)]);
    let run = check(&[
        "--group",
        &group,
        "--topic",
        &topic,
        "--format",
        "prometheus",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in run.stdout.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge", "{line}");
            typed.push(name.to_string());
        } else if line.starts_with("# HELP ") {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = &series[..series.find('{').unwrap()];
            assert_eq!(
                typed.last().map(String::as_str),
                Some(name),
                "sample outside its block: {line}"
            );
            assert!(series.ends_with('}'), "{line}");
            samples.insert(series.to_string(), value.parse::<f64>().unwrap());
        }
    }
    let labels = |p: i32| format!("{{group=\"{group}\",topic=\"{topic}\",partition=\"{p}\"}}");
    assert_eq!(
        samples[&format!("kafka_consumergroup_lag{}", labels(0))],
        4.0
    );
    assert_eq!(
        samples[&format!("kafka_consumergroup_current_offset{}", labels(0))],
        2.0
    );
    assert!(samples[&format!("kafka_consumergroup_lag_seconds{}", labels(0))] >= 0.0);
    assert_eq!(
        samples[&format!("kafka_partition_latest_offset{{topic=\"{topic}\",partition=\"0\"}}")],
        6.0
    );
    assert_eq!(
        samples[&format!("kafka_partition_latest_offset{{topic=\"{topic}\",partition=\"1\"}}")],
        0.0
    );
    assert!(
        !samples.contains_key(&format!("kafka_consumergroup_lag{}", labels(1))),
        "no commit, no lag sample"
    );
    assert_eq!(
        samples[&format!("kafka_consumergroup_group_lag{{group=\"{group}\"}}")],
        4.0
    );
    assert_eq!(
        samples[&format!("kafka_consumergroup_lag_sum{{group=\"{group}\",topic=\"{topic}\"}}")],
        4.0
    );
    assert_eq!(
        samples[&format!("kafka_consumergroup_members{{group=\"{group}\"}}")],
        0.0
    );
    assert_eq!(
        samples[&format!("kafka_consumergroup_state{{group=\"{group}\",state=\"Empty\"}}")],
        1.0
    );
    assert_eq!(
        samples[&format!("kafka_lag_check_status{{group=\"{group}\"}}")],
        0.0
    );
}

#[test]
fn zookeeper_flags_are_refused_with_an_explanation() {
    for flag in ["--zookeeper", "--zkconnect"] {
        let run = run_bin(
            CHECK,
            &[flag, "zk:2181", "--group", "g", "--format", "nagios"],
        );
        assert_eq!(run.code, Some(3), "{run:?}");
        assert!(
            run.stderr.starts_with(&format!(
                "kafka-lag-check: error: {flag} is no longer supported: Kafka keeps consumer group offsets in the brokers"
            )),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1);
        assert!(
            run.stdout.starts_with(&format!(
                "KAFKA LAG UNKNOWN - {flag} is no longer supported"
            )),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn bad_arguments_are_unknown_and_help_is_ok() {
    let run = run_bin(
        CHECK,
        &[
            "--bootstrap-server",
            "h:1",
            "--group",
            "g",
            "--bogus",
            "--format",
            "nagios",
        ],
    );
    assert_eq!(run.code, Some(3), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("kafka-lag-check: error: unexpected argument '--bogus'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .starts_with("KAFKA LAG UNKNOWN - unexpected argument"),
        "{}",
        run.stdout
    );
    let run = run_bin(
        CHECK,
        &[
            "--bootstrap-server",
            "h:1",
            "--group",
            "g",
            "--warning",
            "9:1",
        ],
    );
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr
            .contains("invalid range '9:1': start is greater than end"),
        "{}",
        run.stderr
    );
    let run = run_bin(CHECK, &["--bootstrap-server", "h:1"]);
    assert_eq!(run.code, Some(3));
    assert!(run.stderr.contains("no group to check"), "{}", run.stderr);
    let run = run_bin(CHECK, &["--help"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("--warning-time") && run.stdout.contains("Examples:"));
    assert!(!run.stdout.contains("--zookeeper"), "hidden flag");
}

#[test]
fn group_regex_and_all_groups_find_the_groups() {
    let source = source();
    let topic = unique("lag-regex");
    let prefix = unique("lag-regex-group");
    source.create_topic(&topic, 1, &[]);
    source.produce(&topic, &records(0, 4));
    for (i, offset) in [1, 2, 3].iter().enumerate() {
        source.commit_offsets(&format!("{prefix}-{i}"), &[(&topic, 0, *offset)]);
    }
    let (run, json) = check_json(&["--group-regex", &format!("{prefix}-.*")]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let groups: Vec<(&str, i64)> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap(),
                g["total_lag"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = (0..3)
        .map(|i| (format!("{prefix}-{i}"), 3 - i as i64))
        .collect();
    assert_eq!(
        groups,
        want.iter()
            .map(|(g, l)| (g.as_str(), *l))
            .collect::<Vec<_>>()
    );
    // With --topic, only the groups that read the topic: exactly ours.
    let (run, json) = check_json(&["--all-groups", "--topic", &topic]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let found: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        want.iter().map(|(g, _)| g.as_str()).collect::<Vec<_>>()
    );
    let lonely = unique("lag-regex-unread");
    source.create_topic(&lonely, 1, &[]);
    let run = check(&["--all-groups", "--topic", &lonely, "--format", "nagios"]);
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stdout.starts_with(&format!(
            "KAFKA LAG UNKNOWN - no consumer group has committed offsets or members on topic(s) {lonely}"
        )),
        "{}",
        run.stdout
    );
    let run = check(&[
        "--group-regex",
        "no-such-group-[0-9]{40}",
        "--format",
        "nagios",
    ]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stdout
            .starts_with("KAFKA LAG UNKNOWN - no consumer group matches"),
        "{}",
        run.stdout
    );
}

/// Produces `count` records to partition 0 in one committed transaction.
fn produce_transaction(topic: &str, count: usize) {
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = source()
        .config()
        .set("transactional.id", unique("lag-txn-producer"))
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    producer.begin_transaction().expect("begin");
    for i in 0..count {
        let key = format!("k{i}");
        producer
            .send(
                BaseRecord::<str, str>::to(topic)
                    .partition(0)
                    .key(&key)
                    .payload("v"),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("commit");
}

#[test]
fn transaction_markers_do_not_count_as_lag() {
    let source = source();
    let topic = unique("lag-txn");
    let caught_up = unique("lag-txn-caught-up");
    let behind = unique("lag-txn-behind");
    source.create_topic(&topic, 1, &[]);
    produce_transaction(&topic, 3);
    // Records at 0..=2, the commit marker at 3: the log end is 4.
    assert_eq!(source.watermarks(&topic), vec![(0, 0, 4)]);
    // A consumer that commits "last record + 1" stops before the marker.
    source.commit_offsets(&caught_up, &[(&topic, 0, 3)]);
    source.commit_offsets(&behind, &[(&topic, 0, 1)]);

    // Kafka's tool says 1 forever; read_committed end offsets would not help either: once the
    // transaction is committed the last stable offset is the log end, marker included.
    assert_eq!(kafka_describe(&caught_up)[&(topic.clone(), 0)].lag, "1");
    let lso = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let settings = cluster_config::ClientSettings::from_parts(
            "source",
            None,
            Some((&source.bootstrap, "--bootstrap-server")),
            &[],
        )
        .unwrap();
        let admin = settings.admin().unwrap();
        cluster_config::admin_ext::list_offsets(
            &admin,
            &[(
                topic.clone(),
                0,
                cluster_config::admin_ext::OffsetSpec::Latest,
            )],
            cluster_config::admin_ext::IsolationLevel::ReadCommitted,
            Duration::from_secs(10),
        )
        .await
        .unwrap()[0]
            .offset
    });
    assert_eq!(lso, Some(4));

    let (run, json) = check_json(&["--group", &caught_up, "--warning", "0"]);
    assert_eq!(run.code, Some(0), "lag 0 is within --warning 0: {run:?}");
    let p = partition(&json, &topic, 0);
    assert_eq!(p["committed_offset"], 3);
    assert_eq!(
        p["log_end_offset"], 4,
        "the log end is shown as Kafka shows it"
    );
    assert_eq!(p["lag"], 0);
    assert_eq!(p["time_lag_ms"], 0);
    assert_eq!(p["note"], "transaction_markers_only");

    // Real records before the marker still count, marker included, as Kafka counts them.
    let (run, json) = check_json(&["--group", &behind]);
    assert_eq!(run.code, Some(0));
    let p = partition(&json, &topic, 0);
    assert_eq!(p["lag"], 3);
    assert_eq!(p["note"], Value::Null);
    assert!(p["time_lag_ms"].as_i64().is_some());
    assert_eq!(kafka_describe(&behind)[&(topic.clone(), 0)].lag, "3");
}

/// 500 groups in one `--group-regex` run: every group reported with its own lag. The time is
/// printed, not asserted: timing belongs in the benchmark.
#[test]
fn five_hundred_groups_are_all_reported() {
    let source = source();
    let topic = unique("lag-many");
    let prefix = unique("lag-many-group");
    source.create_topic(&topic, 4, &[]);
    let mut all = Vec::new();
    for p in 0..4 {
        all.extend(records(p, 100));
    }
    source.produce(&topic, &all);
    // 500 commits one after another take a minute; eight at a time take seconds.
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (source, topic, prefix) = (&source, &topic, &prefix);
            scope.spawn(move || {
                for i in (worker..500).step_by(8) {
                    let offset = (i % 100) as i64;
                    source.commit_offsets(
                        &format!("{prefix}-{i:03}"),
                        &[(topic, 0, offset), (topic, 1, 100)],
                    );
                }
            });
        }
    });
    // Build (or find) the binary first: the bound is on the run, not the build.
    bin(CHECK);
    let started = Instant::now();
    let run = check(&[
        "--group-regex",
        &format!("{prefix}-.*"),
        "--format",
        "json",
        "--timeout",
        "60s",
    ]);
    eprintln!("500 groups: {:?}", started.elapsed());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 500);
    for (i, g) in groups.iter().enumerate() {
        assert_eq!(g["group"], format!("{prefix}-{i:03}"));
        assert_eq!(g["total_lag"], 100 - (i % 100) as i64, "{g}");
        assert!(g["max_time_lag_ms"].as_i64().is_some(), "time lag of {g}");
    }
}
