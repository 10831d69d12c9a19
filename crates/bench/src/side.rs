//! The side benchmarks: kafka-lag-check against Kafka's ConsumerGroupCommand, and
//! kafka-topic-parity over many topics.

use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::driver::{progress, round, Bench, PARTITIONS};
use crate::load::{self, ProduceSpec};
use crate::measure::MeasuredProcess;
use crate::BenchError;

/// One timed run of a command: wall seconds, exit code, and its output (stdout + stderr).
struct Timed {
    seconds: f64,
    code: i32,
    cpu_s: f64,
    peak_rss_mb: f64,
    output: String,
}

fn timed(b: &Bench, name: &str, cmd: Command, timeout: Duration) -> Result<Timed, BenchError> {
    let log = b.dir.join(format!("{name}.log"));
    let mut p = MeasuredProcess::spawn(name, cmd, &log)?;
    let code = p.wait_exit(timeout, Duration::from_millis(5))?;
    let seconds = p.started.elapsed().as_secs_f64();
    let cost = p.cost();
    Ok(Timed {
        seconds,
        code,
        cpu_s: cost.cpu_s,
        peak_rss_mb: cost.peak_rss_mb,
        output: std::fs::read_to_string(&log).unwrap_or_default(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Commits offsets (half of each partition) for `groups` groups, no members: a throwaway consumer
/// per group commits directly. Several threads, as each commit is a round trip.
fn commit_groups(
    bootstrap: &str,
    topic: &str,
    highs: &[i64],
    groups: &[String],
) -> Result<(), BenchError> {
    let threads = 8;
    let chunk = groups.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .chunks(chunk)
            .map(|names| {
                s.spawn(move || -> Result<(), BenchError> {
                    for g in names {
                        let c: BaseConsumer = ClientConfig::new()
                            .set("bootstrap.servers", bootstrap)
                            .set("group.id", g)
                            .set("enable.auto.commit", "false")
                            .create()
                            .map_err(BenchError::kafka("consumer"))?;
                        let mut tpl = TopicPartitionList::new();
                        for (p, hi) in highs.iter().enumerate() {
                            tpl.add_partition_offset(topic, p as i32, Offset::Offset(hi / 2))
                                .map_err(BenchError::kafka("offsets"))?;
                        }
                        c.commit(&tpl, CommitMode::Sync)
                            .map_err(|e| BenchError::Kafka(format!("commit for {g}: {e}")))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Io("commit thread panicked".into())))
            })
            .collect::<Result<Vec<()>, BenchError>>()
    })?;
    Ok(())
}

pub fn lag_check(b: &Bench) -> Result<Value, BenchError> {
    if let Some(reason) = b.unavailable.get("kafka-lag-check") {
        progress(format!(
            "lag check: kafka-lag-check not available: {reason}"
        ));
        return Ok(json!({"not_available": reason}));
    }
    let topic = format!("bench-{}-lag", b.run_id);
    let groups: Vec<String> = (0..b.args.groups)
        .map(|i| format!("bench-{}-lag-{i:04}", b.run_id))
        .collect();
    progress(format!(
        "lag check: topic {topic}, committing offsets for {} groups",
        groups.len()
    ));
    let result = (|| {
        b.source
            .create_topics(std::slice::from_ref(&topic), PARTITIONS, &[])?;
        load::produce(&ProduceSpec {
            bootstrap: &b.source.bootstrap,
            topic: &topic,
            records: 8_000,
            size: 100,
            compression: "none",
            timeout: Duration::from_secs(60),
        })?;
        let highs: Vec<i64> = b
            .source
            .watermarks(&topic, PARTITIONS)?
            .into_iter()
            .map(|(_, hi)| hi)
            .collect();
        let expected_lag: i64 = highs.iter().map(|h| h - h / 2).sum();
        let t0 = Instant::now();
        commit_groups(&b.source.bootstrap, &topic, &highs, &groups)?;
        progress(format!(
            "lag check: {} groups committed in {:.1} s",
            groups.len(),
            t0.elapsed().as_secs_f64()
        ));
        let on_cluster = b.source.group_count()?;
        let one = &groups[0];
        let lag_bin = b.args.bin_dir.join("kafka-lag-check");
        let ours = |args: &[&str]| {
            let mut c = Command::new(&lag_bin);
            c.args([
                "--bootstrap-server",
                &b.source.bootstrap,
                "--format",
                "json",
            ])
            .args(args);
            c
        };
        let kafkas = |args: &[&str]| {
            let mut c = Command::new(&b.args.kafka_local);
            c.args([
                "run-class",
                "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                "--bootstrap-server",
                &b.source.bootstrap,
                "--describe",
            ])
            .args(args);
            c
        };
        // One group: three runs each, the median wall time.
        let (mut t_ours, mut t_kafka) = (Vec::new(), Vec::new());
        let (mut ours_ok, mut kafka_ok) = (true, true);
        let (mut ours_last, mut kafka_last) = (None, None);
        for i in 0..3 {
            let r = timed(
                b,
                &format!("lag-one-kafka-lag-check-{i}"),
                ours(&["--group", one, "--timeout", "60s"]),
                Duration::from_secs(90),
            )?;
            ours_ok &= r.code <= 2 && r.output.contains(one.as_str());
            t_ours.push(r.seconds);
            ours_last = Some(r);
            let r = timed(
                b,
                &format!("lag-one-consumer-group-command-{i}"),
                kafkas(&["--group", one]),
                Duration::from_secs(120),
            )?;
            kafka_ok &= r.code == 0 && r.output.contains(one.as_str());
            t_kafka.push(r.seconds);
            kafka_last = Some(r);
        }
        let ours_lag = ours_last.as_ref().and_then(|r| total_lag(&r.output));
        let one_ours = median(t_ours.clone());
        let one_kafka = median(t_kafka.clone());
        progress(format!(
            "lag check, one group: kafka-lag-check {one_ours:.3} s, ConsumerGroupCommand {one_kafka:.3} s"
        ));
        // All groups: one run each.
        let all_ours = timed(
            b,
            "lag-all-kafka-lag-check",
            ours(&["--all-groups", "--timeout", "300s"]),
            Duration::from_secs(330),
        )?;
        let all_kafka = timed(
            b,
            "lag-all-consumer-group-command",
            kafkas(&["--all-groups"]),
            Duration::from_secs(600),
        )?;
        let seen = |out: &str| groups.iter().filter(|g| out.contains(g.as_str())).count();
        let (seen_ours, seen_kafka) = (seen(&all_ours.output), seen(&all_kafka.output));
        progress(format!(
            "lag check, all groups: kafka-lag-check {:.2} s ({seen_ours} of ours listed), ConsumerGroupCommand {:.2} s ({seen_kafka} listed)",
            all_ours.seconds, all_kafka.seconds
        ));
        Ok(json!({
            "groups_created": groups.len(),
            "groups_on_cluster": on_cluster,
            "partitions_per_group": PARTITIONS,
            "expected_lag_per_group": expected_lag,
            "one_group": {
                "runs": 3,
                "kafka_lag_check_s": round(one_ours, 3),
                "consumer_group_command_s": round(one_kafka, 3),
                "kafka_lag_check_runs_s": t_ours.iter().map(|s| round(*s, 3)).collect::<Vec<_>>(),
                "consumer_group_command_runs_s": t_kafka.iter().map(|s| round(*s, 3)).collect::<Vec<_>>(),
                "speedup": round(one_kafka / one_ours, 1),
                "kafka_lag_check_cpu_s": ours_last.as_ref().map(|r| round(r.cpu_s, 3)),
                "kafka_lag_check_peak_rss_mb": ours_last.as_ref().map(|r| round(r.peak_rss_mb, 1)),
                "consumer_group_command_cpu_s": kafka_last.as_ref().map(|r| round(r.cpu_s, 3)),
                "consumer_group_command_peak_rss_mb": kafka_last.as_ref().map(|r| round(r.peak_rss_mb, 1)),
                "kafka_lag_check_total_lag": ours_lag,
                "verified": ours_ok && kafka_ok && ours_lag.is_none_or(|l| l == expected_lag),
            },
            "all_groups": {
                "kafka_lag_check_s": round(all_ours.seconds, 3),
                "consumer_group_command_s": round(all_kafka.seconds, 3),
                "speedup": round(all_kafka.seconds / all_ours.seconds, 1),
                "kafka_lag_check_exit_code": all_ours.code,
                "consumer_group_command_exit_code": all_kafka.code,
                "kafka_lag_check_cpu_s": round(all_ours.cpu_s, 3),
                "consumer_group_command_cpu_s": round(all_kafka.cpu_s, 3),
                "kafka_lag_check_peak_rss_mb": round(all_ours.peak_rss_mb, 1),
                "consumer_group_command_peak_rss_mb": round(all_kafka.peak_rss_mb, 1),
                "our_groups_listed_by_kafka_lag_check": seen_ours,
                "our_groups_listed_by_consumer_group_command": seen_kafka,
                "verified": seen_ours == groups.len() && seen_kafka == groups.len()
                    && all_ours.code <= 2 && all_kafka.code == 0,
            },
        }))
    })();
    b.source.delete_groups(&groups);
    b.source.delete_topics(&[topic]);
    result
}

/// The total lag of the first group in kafka-lag-check's JSON, if the output has a recognisable
/// `total_lag` (or `lag`) field; None when the shape is unknown (not a failure).
fn total_lag(output: &str) -> Option<i64> {
    let start = output.find(['{', '['])?;
    let v: Value = serde_json::from_str(output[start..].trim()).ok()?;
    fn find(v: &Value) -> Option<i64> {
        match v {
            Value::Object(m) => {
                for key in ["total_lag", "lag"] {
                    if let Some(n) = m.get(key).and_then(Value::as_i64) {
                        return Some(n);
                    }
                }
                m.values().find_map(find)
            }
            Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    find(&v)
}

pub fn parity(b: &Bench) -> Result<Value, BenchError> {
    if let Some(reason) = b.unavailable.get("kafka-topic-parity") {
        progress(format!("topic parity: not available: {reason}"));
        return Ok(json!({"not_available": reason}));
    }
    let n = b.args.parity_topics;
    let topics: Vec<String> = (0..n)
        .map(|i| format!("bench-{}-parity-{i:04}", b.run_id))
        .collect();
    progress(format!(
        "topic parity: creating {n} topics on both clusters"
    ));
    let result = (|| {
        let t0 = Instant::now();
        b.source.create_topics(&topics, 1, &[])?;
        b.target.create_topics(&topics, 1, &[])?;
        b.source
            .wait_for_topics(&topics, Duration::from_secs(120))?;
        b.target
            .wait_for_topics(&topics, Duration::from_secs(120))?;
        let create_s = t0.elapsed().as_secs_f64();
        progress(format!(
            "topic parity: created in {create_s:.1} s; timing kafka-topic-parity"
        ));
        let mut cmd = Command::new(b.args.bin_dir.join("kafka-topic-parity"));
        cmd.args(["--source-bootstrap", &b.source.bootstrap])
            .args(["--target-bootstrap", &b.target.bootstrap])
            .args(["--include", &format!("bench-{}-parity-.*", b.run_id)]);
        let r = timed(b, "parity", cmd, Duration::from_secs(300))?;
        progress(format!(
            "topic parity: {:.2} s, exit code {}",
            r.seconds, r.code
        ));
        Ok(json!({
            "topics": n,
            "partitions_per_topic": 1,
            "create_topics_s": round(create_s, 1),
            "seconds": round(r.seconds, 3),
            "cpu_s": round(r.cpu_s, 3),
            "peak_rss_mb": round(r.peak_rss_mb, 1),
            "exit_code": r.code,
            "verified": r.code == 0,
        }))
    })();
    b.source.delete_topics(&topics);
    b.target.delete_topics(&topics);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_lag_finds_the_field() {
        assert_eq!(
            total_lag(r#"{"groups":[{"group":"g","total_lag":42}]}"#),
            Some(42)
        );
        assert_eq!(total_lag("no json"), None);
    }
}
