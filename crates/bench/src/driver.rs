//! `kafka-bench run`: the mirror cases, then lag-check and topic-parity, then the report.
//!
//! Topic names carry a run id, so runs never see each other's data. Per case one source topic is
//! filled once; each mirror then copies it into a fresh target topic of the SAME name (MirrorMaker
//! 2 with the identity policy cannot rename), deleted after the tool's run before the next tool
//! starts. Nothing else is shared between tools: each has its own consumer group, MirrorMaker 2
//! gets cluster aliases unique to the run (its internal topics and Connect group carry them).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::RunArgs;
use crate::kafka::Cluster;
use crate::load::{self, ConsumeSpec, Consumed, ProduceSpec};
use crate::measure::{MeasuredProcess, ProcessCost};
use crate::report::{self, median_run, CaseResult, NotAvailable, Report};
use crate::BenchError;

pub const PARTITIONS: i32 = 8;

pub struct MirrorCase {
    pub name: &'static str,
    pub record_size: usize,
    /// Compression of the source batches (the fill producer's compression.type).
    pub compression: &'static str,
}

pub const CASES: [MirrorCase; 3] = [
    MirrorCase {
        name: "mirror-1KiB",
        record_size: 1024,
        compression: "none",
    },
    MirrorCase {
        name: "mirror-100B",
        record_size: 100,
        compression: "none",
    },
    MirrorCase {
        name: "mirror-1KiB-zstd",
        record_size: 1024,
        compression: "zstd",
    },
];

pub const TOOLS: [&str; 5] = [
    "limit-consume",
    "limit-produce",
    "kafka-mirror",
    "mirrormaker2",
    "mirrormaker1",
];

/// Everything a case needs, resolved before any work starts.
pub struct Bench {
    pub args: RunArgs,
    pub records: u64,
    pub run_id: String,
    pub dir: PathBuf,
    pub source: Cluster,
    pub target: Cluster,
    pub self_exe: PathBuf,
    pub unavailable: HashMap<String, String>,
    pub kafka_home: PathBuf,
}

pub fn progress(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

fn validate(args: &RunArgs) -> Result<(), BenchError> {
    for c in &args.cases {
        if !CASES.iter().any(|k| k.name == c) {
            return Err(BenchError::Usage(format!(
                "unknown case '{c}' (known: {})",
                CASES.map(|k| k.name).join(", ")
            )));
        }
    }
    for t in args.tools.iter().chain(
        args.unavailable
            .iter()
            .filter_map(|u| u.split('=').next())
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        if !TOOLS.contains(&t.as_str()) && t != "kafka-lag-check" && t != "kafka-topic-parity" {
            return Err(BenchError::Usage(format!(
                "unknown tool '{t}' (known: {}, kafka-lag-check, kafka-topic-parity)",
                TOOLS.join(", ")
            )));
        }
    }
    Ok(())
}

pub fn run(args: RunArgs) -> Result<ExitCode, BenchError> {
    validate(&args)?;
    let records = args
        .records
        .unwrap_or(if args.quick { 100_000 } else { 1_000_000 });
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let run_id = format!("{:06x}", epoch & 0xff_ffff);
    let dir = args.work_dir.join(&run_id);
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io(&dir, e))?;
    let self_exe = std::env::current_exe().map_err(|e| BenchError::io("current_exe", e))?;
    let kafka_home = std::env::var_os("KAFKA_LOCAL_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            args.kafka_local
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."))
                .join(".kafka-local")
        });
    let mut unavailable: HashMap<String, String> = args
        .unavailable
        .iter()
        .filter_map(|u| u.split_once('='))
        .map(|(t, r)| (t.to_string(), r.to_string()))
        .collect();
    for bin in ["kafka-mirror", "kafka-lag-check", "kafka-topic-parity"] {
        if !args.bin_dir.join(bin).is_file() {
            unavailable
                .entry(bin.to_string())
                .or_insert_with(|| format!("{} not built", args.bin_dir.join(bin).display()));
        }
    }
    if !kafka_home.join("lib-mm1/.stamp").is_file() {
        unavailable.entry("mirrormaker1".into()).or_insert_with(|| {
            "Kafka 3.9 jars not fetched (bin/kafka-local fetch-mm1 failed or was not run)".into()
        });
    }
    progress(format!(
        "run {run_id}: {records} records per mirror case; logs and configs in {}",
        dir.display()
    ));
    let source = Cluster::connect(&args.source)?;
    let target = Cluster::connect(&args.target)?;
    let bench = Bench {
        records,
        run_id,
        dir,
        source,
        target,
        self_exe,
        unavailable,
        kafka_home,
        args,
    };
    let machine = machine_info(&bench);
    let warm_up = format!("bench-{}-warm-up", bench.run_id);
    bench.target.warm_up_producer_ids(&warm_up)?;
    warm_up_brokers(&bench, &warm_up)?;

    let mut cases = Vec::new();
    let mut not_available = Vec::new();
    for case in CASES
        .iter()
        .filter(|c| bench.args.cases.is_empty() || bench.args.cases.iter().any(|n| n == c.name))
    {
        run_case(&bench, case, &mut cases, &mut not_available);
    }
    // Throughput relative to kafka-mirror, per case.
    let km: HashMap<String, f64> = cases
        .iter()
        .filter(|c| c.tool == "kafka-mirror" && c.verified)
        .map(|c| (c.case.clone(), c.records_per_s))
        .collect();
    for c in &mut cases {
        if let Some(k) = km.get(&c.case) {
            if c.verified && *k > 0.0 {
                c.throughput_vs_kafka_mirror = Some(c.records_per_s / k);
            }
        }
    }

    let lag_check = if bench.args.no_lag_check {
        json!({"skipped": "--no-lag-check"})
    } else {
        crate::side::lag_check(&bench).unwrap_or_else(|e| json!({"error": e.to_string()}))
    };
    let parity = if bench.args.no_parity {
        json!({"skipped": "--no-parity"})
    } else {
        crate::side::parity(&bench).unwrap_or_else(|e| json!({"error": e.to_string()}))
    };

    let size_of = |case: &str| {
        CASES
            .iter()
            .find(|c| c.name == case)
            .map_or(1.0, |c| c.record_size as f64)
    };
    let targets = report::judge(&cases, size_of, &lag_check);
    let command = std::env::var("BENCH_COMMAND")
        .unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "));
    let report = Report {
        machine,
        cases,
        lag_check,
        parity,
        not_available,
        targets,
        command,
    };
    print_report(&report);
    if let Some(path) = &bench.args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| BenchError::Io(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| BenchError::io(path, e))?;
        progress(format!("JSON written to {}", path.display()));
    }
    let failed = report.cases.iter().filter(|c| !c.verified).count();
    if failed > 0 {
        progress(format!("{failed} run(s) failed verification or broke"));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report) {
    println!("{}", report::case_table(&r.cases, &r.not_available));
    if let Some(n) = r
        .cases
        .iter()
        .map(|c| c.runs_s.len())
        .max()
        .filter(|n| *n > 1)
    {
        println!(
            "{}: the median run of {n}, interleaved (every run's seconds: runs_s in the JSON)",
            REPEATED.join(", ")
        );
    }
    println!();
    let mut side = String::new();
    if let Some(one) = r.lag_check.get("one_group") {
        let _ = writeln!(
            side,
            "lag check, one group: kafka-lag-check {} s, ConsumerGroupCommand {} s ({}x)",
            one["kafka_lag_check_s"], one["consumer_group_command_s"], one["speedup"]
        );
    }
    if let Some(all) = r.lag_check.get("all_groups") {
        let _ = writeln!(
            side,
            "lag check, all {} groups: kafka-lag-check {} s, ConsumerGroupCommand {} s ({}x)",
            r.lag_check["groups_on_cluster"],
            all["kafka_lag_check_s"],
            all["consumer_group_command_s"],
            all["speedup"]
        );
    }
    if let Some(e) = r
        .lag_check
        .get("error")
        .or(r.lag_check.get("not_available"))
    {
        let _ = writeln!(side, "lag check: {e}");
    }
    if let Some(s) = r.parity.get("seconds") {
        let _ = writeln!(
            side,
            "topic parity over {} topics: {s} s (exit code {}, verified {})",
            r.parity["topics"], r.parity["exit_code"], r.parity["verified"]
        );
    }
    if let Some(e) = r.parity.get("error").or(r.parity.get("not_available")) {
        let _ = writeln!(side, "topic parity: {e}");
    }
    print!("{side}");
    println!();
    println!("{}", report::targets_table(&r.targets));
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine_info(b: &Bench) -> Value {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_string(), |(_, v)| v.trim().to_string());
    let mem_gb = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| (kib * 1024.0 / 1e9 * 10.0).round() / 10.0);
    let kafka_version = std::fs::read_dir(b.kafka_home.join("lib"))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| {
            n.strip_prefix("kafka-clients-")?
                .strip_suffix(".jar")
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    let java = Command::new("java")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu_model,
        "memory_gb": mem_gb,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "kafka_version": kafka_version,
        "librdkafka_version": rdkafka::util::get_rdkafka_version().1,
        "librdkafka_patches": librdkafka_patches(),
        // bin/deps' stamp: the crate's checksum and a hash of the patches it applied.
        "librdkafka_deps_stamp": read(".deps/rdkafka-sys/.kafka-mirror-stamp").trim(),
        "java": java,
        "mirrormaker_heap": b.args.mm_heap,
        "load_average_at_start": read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "brokers": "one single-node KRaft broker per cluster (bin/kafka-local), on the same machine",
        "run_id": b.run_id,
        "records_per_case": b.records,
        "partitions": PARTITIONS,
    })
}

/// The patches the tools' librdkafka is built with (third_party/librdkafka, applied by
/// bin/deps), so that runs compare like with like. bin/bench runs from the repository root.
fn librdkafka_patches() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("third_party/librdkafka")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".patch"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Records written to and read back from each cluster before the first case.
const WARM_UP_RECORDS: u64 = 300_000;

/// Writes 300,000 records of 1 KiB to each cluster and reads them back. Freshly started
/// brokers run their produce and fetch paths interpreted until the JVM has compiled them: in
/// a run on new clusters, the first case's first runs took up to twice as long as its later
/// ones (kafka-mirror 11.4 s, then 6.4 and 6.1 s), and that case alone paid for it.
fn warm_up_brokers(b: &Bench, topic: &str) -> Result<(), BenchError> {
    progress(format!(
        "warming up both brokers: {WARM_UP_RECORDS} records of 1 KiB written and read back on each"
    ));
    for cluster in [&b.source, &b.target] {
        cluster.create_topics(&[topic.to_string()], PARTITIONS, &[])?;
        let timeout = copy_timeout(WARM_UP_RECORDS * 1024);
        let done = load::produce(&ProduceSpec {
            bootstrap: &cluster.bootstrap,
            topic,
            records: WARM_UP_RECORDS,
            size: 1024,
            compression: "none",
            timeout,
        })
        .and_then(|_| {
            load::consume(&ConsumeSpec {
                bootstrap: &cluster.bootstrap,
                topic,
                partitions: PARTITIONS,
                timeout,
            })
        });
        cluster.delete_topics(&[topic.to_string()]);
        done?;
    }
    Ok(())
}

/// Seconds allowed for one tool to copy `bytes`: generous (2 MB/s) but bounded.
fn copy_timeout(bytes: u64) -> Duration {
    Duration::from_secs(90 + bytes / 2_000_000)
}

fn run_case(
    b: &Bench,
    case: &MirrorCase,
    out: &mut Vec<CaseResult>,
    not_available: &mut Vec<NotAvailable>,
) {
    let tools: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| b.args.tools.is_empty() || b.args.tools.iter().any(|n| n == t))
        .collect();
    let topic = format!("bench-{}-{}", b.run_id, case.name);
    let bytes = b.records * case.record_size as u64;
    progress(format!(
        "{}: filling {topic} with {} records of {} bytes ({} batches)",
        case.name, b.records, case.record_size, case.compression
    ));
    let fill = b
        .source
        .create_topics(std::slice::from_ref(&topic), PARTITIONS, &[])
        .and_then(|_| {
            load::produce(&ProduceSpec {
                bootstrap: &b.source.bootstrap,
                topic: &topic,
                records: b.records,
                size: case.record_size,
                compression: case.compression,
                timeout: copy_timeout(bytes),
            })
        })
        .and_then(|secs| {
            let counts = b.source.counts(&topic, PARTITIONS)?;
            let total: i64 = counts.iter().sum();
            if total as u64 != b.records {
                return Err(BenchError::Verify(format!(
                    "source topic holds {total} records, not {}",
                    b.records
                )));
            }
            progress(format!("{}: filled in {secs:.1} s", case.name));
            Ok(counts)
        });
    let source_counts = match fill {
        Ok(c) => c,
        Err(e) => {
            progress(format!("{}: fill failed: {e}", case.name));
            for t in tools {
                not_available.push(NotAvailable {
                    case: case.name.into(),
                    tool: t.into(),
                    reason: format!("fill failed: {e}"),
                });
            }
            b.source.delete_topics(&[topic]);
            return;
        }
    };
    let ctx = CaseCtx {
        b,
        case,
        topic: &topic,
        source_counts: &source_counts,
    };
    let mut reference: Option<Consumed> = None;
    let rounds = b.args.repeat.max(1) as usize;
    let mut runs: Vec<(&str, Vec<CaseResult>)> = Vec::new();
    for round in 0..rounds {
        for &tool in &tools {
            if round > 0 && !REPEATED.contains(&tool) {
                continue;
            }
            if round > 0 && !runs.iter().any(|(t, _)| *t == tool) {
                continue; // not available: said once, in round 1
            }
            let Some(r) = run_tool(&ctx, tool, round, &mut reference, not_available) else {
                continue;
            };
            match runs.iter_mut().find(|(t, _)| *t == tool) {
                Some((_, list)) => list.push(r),
                None => runs.push((tool, vec![r])),
            }
        }
    }
    out.extend(runs.into_iter().filter_map(|(_, list)| median_run(list)));
    b.source.delete_topics(&[topic]);
}

/// The tools `--repeat` runs more than once (the MirrorMakers take half a minute a run).
const REPEATED: [&str; 3] = ["limit-consume", "limit-produce", "kafka-mirror"];

/// One run of `tool` on the case (`round` counts from 0); `None` if it is not available.
fn run_tool(
    ctx: &CaseCtx<'_>,
    tool: &str,
    round: usize,
    reference: &mut Option<Consumed>,
    not_available: &mut Vec<NotAvailable>,
) -> Option<CaseResult> {
    let (b, case, topic) = (ctx.b, ctx.case, ctx.topic);
    let binary = match tool {
        "kafka-mirror" => Some("kafka-mirror"),
        _ => None,
    };
    if let Some(reason) = b
        .unavailable
        .get(tool)
        .or_else(|| binary.and_then(|n| b.unavailable.get(n)))
    {
        progress(format!("{}: {tool}: not available: {reason}", case.name));
        not_available.push(NotAvailable {
            case: case.name.into(),
            tool: tool.into(),
            reason: reason.clone(),
        });
        return None;
    }
    if tool != "limit-consume" && tool != "limit-produce" && reference.is_none() {
        // The mirrors' output is compared with what the source holds.
        match ctx.consume_in_process(&b.source.bootstrap, topic) {
            Ok(c) => *reference = Some(c),
            Err(e) => progress(format!("{}: reading the source failed: {e}", case.name)),
        }
    }
    let of = if ctx.b.args.repeat > 1 {
        format!(" (run {} of {})", round + 1, ctx.b.args.repeat)
    } else {
        String::new()
    };
    progress(format!("{}: {tool}: running{of}", case.name));
    let result = match tool {
        "limit-consume" => ctx.limit_consume().map(|(r, consumed)| {
            if r.verified {
                *reference = Some(consumed);
            }
            r
        }),
        "limit-produce" => ctx.limit_produce(),
        mirror => ctx.mirror(mirror, round, reference.as_ref()),
    };
    let r = result.unwrap_or_else(|e| ctx.broken(tool, e.to_string()));
    progress(format!(
        "{}: {tool}: {:.2} s, {:.0} records/s, {:.1} MB/s, {:.2} CPU s, {:.0} MB peak RSS, verified {}{}",
        case.name,
        r.seconds,
        r.records_per_s,
        r.mb_per_s,
        r.cpu_s,
        r.peak_rss_mb,
        r.verified,
        r.error.as_ref().map_or(String::new(), |e| format!(" ({e})"))
    ));
    Some(r)
}

struct CaseCtx<'a> {
    b: &'a Bench,
    case: &'a MirrorCase,
    topic: &'a str,
    source_counts: &'a [i64],
}

/// When a mirror reached completion: seconds from spawn, first/last record seen on the target.
struct Watch {
    completed_s: f64,
    first_s: Option<f64>,
    last_s: Option<f64>,
    cost: ProcessCost,
}

impl CaseCtx<'_> {
    fn bytes(&self) -> u64 {
        self.b.records * self.case.record_size as u64
    }

    fn log(&self, tool: &str) -> PathBuf {
        self.b.dir.join(format!("{}-{tool}.log", self.case.name))
    }

    fn result(&self, tool: &str, seconds: f64, cost: ProcessCost) -> CaseResult {
        let records = self.b.records;
        CaseResult {
            case: self.case.name.into(),
            tool: tool.into(),
            records,
            seconds: round(seconds, 3),
            records_per_s: round(records as f64 / seconds, 0),
            mb_per_s: round(self.bytes() as f64 / 1e6 / seconds, 2),
            cpu_s: round(cost.cpu_s, 2),
            peak_rss_mb: round(cost.peak_rss_mb, 1),
            verified: false,
            first_to_last_s: None,
            throughput_vs_kafka_mirror: None,
            error: None,
            runs_s: Vec::new(),
        }
    }

    fn broken(&self, tool: &str, error: String) -> CaseResult {
        CaseResult {
            case: self.case.name.into(),
            tool: tool.into(),
            records: self.b.records,
            seconds: 0.0,
            records_per_s: 0.0,
            mb_per_s: 0.0,
            cpu_s: 0.0,
            peak_rss_mb: 0.0,
            verified: false,
            first_to_last_s: None,
            throughput_vs_kafka_mirror: None,
            error: Some(error),
            runs_s: Vec::new(),
        }
    }

    fn self_cmd(&self, sub: &str) -> Command {
        let mut c = Command::new(&self.b.self_exe);
        c.arg(sub);
        c
    }

    fn consume_in_process(&self, bootstrap: &str, topic: &str) -> Result<Consumed, BenchError> {
        load::consume(&ConsumeSpec {
            bootstrap,
            topic,
            partitions: PARTITIONS,
            timeout: copy_timeout(self.bytes()),
        })
    }

    fn check_counts(&self, counts: &[i64], what: &str) -> Result<(), BenchError> {
        if counts != self.source_counts {
            return Err(BenchError::Verify(format!(
                "{what}: records per partition {counts:?}, source has {:?}",
                self.source_counts
            )));
        }
        Ok(())
    }

    fn limit_consume(&self) -> Result<(CaseResult, Consumed), BenchError> {
        let timeout = copy_timeout(self.bytes());
        let mut cmd = self.self_cmd("consume");
        cmd.args([
            "--bootstrap",
            &self.b.source.bootstrap,
            "--topic",
            self.topic,
        ])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--timeout", &format!("{}s", timeout.as_secs())]);
        let log = self.log("limit-consume");
        let mut p = MeasuredProcess::spawn("limit-consume", cmd, &log)?;
        let code = p.wait_exit(timeout, Duration::from_millis(10))?;
        let secs = p.started.elapsed().as_secs_f64();
        let text = read(&log);
        if code != 0 {
            return Err(BenchError::Kafka(format!(
                "limit-consume exited with {code}: {}",
                text.trim()
            )));
        }
        let consumed: Consumed = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| BenchError::Io(format!("no result in {}", log.display())))?;
        let mut r = self.result("limit-consume", secs, p.cost());
        r.first_to_last_s = Some(round(consumed.seconds, 3));
        let counts: Vec<i64> = consumed.records.iter().map(|&n| n as i64).collect();
        match self.check_counts(&counts, "consumed") {
            Ok(()) => r.verified = true,
            Err(e) => r.error = Some(e.to_string()),
        }
        Ok((r, consumed))
    }

    fn limit_produce(&self) -> Result<CaseResult, BenchError> {
        let topic = format!("{}-limit-produce", self.topic);
        self.b
            .target
            .create_topics(std::slice::from_ref(&topic), PARTITIONS, &[])?;
        let timeout = copy_timeout(self.bytes());
        let mut cmd = self.self_cmd("produce");
        cmd.args(["--bootstrap", &self.b.target.bootstrap, "--topic", &topic])
            .args(["--records", &self.b.records.to_string()])
            .args(["--size", &self.case.record_size.to_string()])
            .args(["--compression", "none"])
            .args(["--timeout", &format!("{}s", timeout.as_secs())]);
        let log = self.log("limit-produce");
        let outcome = (|| {
            let mut p = MeasuredProcess::spawn("limit-produce", cmd, &log)?;
            let code = p.wait_exit(timeout, Duration::from_millis(10))?;
            let secs = p.started.elapsed().as_secs_f64();
            if code != 0 {
                return Err(BenchError::Kafka(format!(
                    "limit-produce exited with {code}: {}",
                    read(&log).trim()
                )));
            }
            let mut r = self.result("limit-produce", secs, p.cost());
            r.first_to_last_s = read(&log)
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok())
                .and_then(|v| v.get("seconds")?.as_f64())
                .map(|s| round(s, 3));
            // Same keys, same murmur2 partitioner: the same records per partition as the source.
            match self.check_counts(&self.b.target.counts(&topic, PARTITIONS)?, "produced") {
                Ok(()) => r.verified = true,
                Err(e) => r.error = Some(e.to_string()),
            }
            Ok(r)
        })();
        self.b.target.delete_topics(&[topic]);
        outcome
    }

    fn mirror(
        &self,
        tool: &str,
        run: usize,
        reference: Option<&Consumed>,
    ) -> Result<CaseResult, BenchError> {
        self.b
            .target
            .create_topics(&[self.topic.to_string()], PARTITIONS, &[])?;
        // A group of its own per run: nothing committed by an earlier run is ever resumed.
        let group = format!(
            "bench-{}-{}-{tool}{}",
            self.b.run_id,
            self.case.name,
            if run > 0 {
                format!("-{run}")
            } else {
                String::new()
            }
        );
        let case_no = CASES
            .iter()
            .position(|c| c.name == self.case.name)
            .unwrap_or(9);
        let alias_src = format!("bsrc{}{case_no}", self.b.run_id);
        let alias_tgt = format!("btgt{}{case_no}", self.b.run_id);
        let outcome = (|| {
            let (cmd, exits_when_done) = match tool {
                "kafka-mirror" => (self.kafka_mirror_cmd(&group)?, true),
                "mirrormaker2" => (self.mm2_cmd(&alias_src, &alias_tgt)?, false),
                "mirrormaker1" => (self.mm1_cmd(&group)?, false),
                other => return Err(BenchError::Usage(format!("unknown tool {other}"))),
            };
            let log = self.log(tool);
            let mut p = MeasuredProcess::spawn(tool, cmd, &log)?;
            let watch = self.watch(&mut p, tool, exits_when_done, &log);
            if !exits_when_done {
                p.stop(Duration::from_secs(20));
            }
            let watch = watch?;
            let mut r = self.result(tool, watch.completed_s, watch.cost);
            r.first_to_last_s = match (watch.first_s, watch.last_s) {
                (Some(a), Some(z)) => Some(round(z - a, 3)),
                _ => None,
            };
            let verdict = self
                .b
                .target
                .counts(self.topic, PARTITIONS)
                .and_then(|c| self.check_counts(&c, "target"))
                .and_then(|()| {
                    let Some(reference) = reference else {
                        return Err(BenchError::Verify("no reference read of the source".into()));
                    };
                    let got = self.consume_in_process(&self.b.target.bootstrap, self.topic)?;
                    if got.fingerprints != reference.fingerprints || got.bytes != reference.bytes {
                        return Err(BenchError::Verify(
                            "target records differ from the source (fingerprints per partition)"
                                .into(),
                        ));
                    }
                    Ok(())
                });
            match verdict {
                Ok(()) => r.verified = true,
                Err(e) => r.error = Some(e.to_string()),
            }
            Ok(r)
        })();
        self.b.target.delete_topics(&[self.topic.to_string()]);
        self.b.source.delete_groups(&[group]);
        if tool == "mirrormaker2" {
            self.cleanup_mm2(&[&alias_src, &alias_tgt]);
        }
        outcome
    }

    /// Polls the process (exit) and the target's end offsets until every record arrived.
    fn watch(
        &self,
        p: &mut MeasuredProcess,
        tool: &str,
        exits_when_done: bool,
        log: &Path,
    ) -> Result<Watch, BenchError> {
        let timeout = copy_timeout(self.bytes()) + Duration::from_secs(60);
        let deadline = p.started + timeout;
        let expected = self.b.records as i64;
        let (mut first, mut last) = (None, None);
        let mut next_check = Instant::now();
        loop {
            let exit = p.poll();
            let now_s = p.started.elapsed().as_secs_f64();
            if Instant::now() >= next_check || exit.is_some() {
                next_check = Instant::now() + Duration::from_millis(50);
                let sum: i64 = self
                    .b
                    .target
                    .watermarks(self.topic, PARTITIONS)
                    .map(|w| w.iter().map(|(_, hi)| hi).sum())
                    .unwrap_or(0);
                if sum > 0 && first.is_none() {
                    first = Some(now_s);
                }
                if sum >= expected && last.is_none() {
                    last = Some(now_s);
                    if !exits_when_done {
                        return Ok(Watch {
                            completed_s: now_s,
                            first_s: first,
                            last_s: last,
                            cost: p.cost(),
                        });
                    }
                }
            }
            if let Some(code) = exit {
                if code == 0 && exits_when_done {
                    return Ok(Watch {
                        completed_s: now_s,
                        first_s: first,
                        last_s: last,
                        cost: p.cost(),
                    });
                }
                let tail: Vec<String> = read(log)
                    .lines()
                    .rev()
                    .take(5)
                    .map(str::to_string)
                    .collect();
                return Err(BenchError::Kafka(format!(
                    "{tool} exited with {code} before all records arrived; last log lines: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )));
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout(format!(
                    "{tool}: not all records on the target after {} (log: {})",
                    humantime::format_duration(timeout),
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn write_config(&self, name: &str, text: &str) -> Result<PathBuf, BenchError> {
        let path = self.b.dir.join(name);
        std::fs::write(&path, text).map_err(|e| BenchError::io(&path, e))?;
        Ok(path)
    }

    fn kafka_mirror_cmd(&self, group: &str) -> Result<Command, BenchError> {
        let c = self.write_config(
            &format!("{}-kafka-mirror-consumer.properties", self.case.name),
            &format!(
                "bootstrap.servers={}\ngroup.id={group}\nauto.offset.reset=earliest\n",
                self.b.source.bootstrap
            ),
        )?;
        let p = self.write_config(
            &format!("{}-kafka-mirror-producer.properties", self.case.name),
            &format!("bootstrap.servers={}\n", self.b.target.bootstrap),
        )?;
        let mut cmd = Command::new(self.b.args.bin_dir.join("kafka-mirror"));
        cmd.arg("--consumer.config")
            .arg(c)
            .arg("--producer.config")
            .arg(p)
            .args([
                "--include",
                &format!("^{}$", self.topic),
                "--until-caught-up",
            ])
            .args(&self.b.args.mirror_arg);
        Ok(cmd)
    }

    fn mm2_cmd(&self, src: &str, tgt: &str) -> Result<Command, BenchError> {
        let props = format!(
            "# MirrorMaker 2, dedicated mode, written by kafka-bench (issue 8).\n\
             clusters = {src}, {tgt}\n\
             {src}.bootstrap.servers = {sb}\n\
             {tgt}.bootstrap.servers = {tb}\n\
             {src}->{tgt}.enabled = true\n\
             {src}->{tgt}.topics = {topic}\n\
             {tgt}->{src}.enabled = false\n\
             replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n\
             sync.topic.configs.enabled = false\n\
             sync.topic.acls.enabled = false\n\
             emit.heartbeats.enabled = false\n\
             emit.checkpoints.enabled = false\n\
             sync.group.offsets.enabled = false\n\
             refresh.groups.enabled = false\n\
             replication.factor = 1\n\
             offset-syncs.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n\
             offset.storage.replication.factor = 1\n\
             config.storage.replication.factor = 1\n\
             status.storage.replication.factor = 1\n",
            sb = self.b.source.bootstrap,
            tb = self.b.target.bootstrap,
            topic = self.topic,
        );
        let path = self.write_config(&format!("{}-mm2.properties", self.case.name), &props)?;
        let mut cmd = Command::new(&self.b.args.kafka_local);
        cmd.env("KAFKA_LOCAL_TOOL_HEAP", &self.b.args.mm_heap)
            .args(["run-class", "org.apache.kafka.connect.mirror.MirrorMaker"])
            .arg(path);
        Ok(cmd)
    }

    fn mm1_cmd(&self, group: &str) -> Result<Command, BenchError> {
        let c = self.write_config(
            &format!("{}-mm1-consumer.properties", self.case.name),
            &format!(
                "bootstrap.servers={}\ngroup.id={group}\nauto.offset.reset=earliest\n",
                self.b.source.bootstrap
            ),
        )?;
        let p = self.write_config(
            &format!("{}-mm1-producer.properties", self.case.name),
            &format!("bootstrap.servers={}\n", self.b.target.bootstrap),
        )?;
        let mut cmd = Command::new(&self.b.args.kafka_local);
        cmd.env("KAFKA_LOCAL_TOOL_HEAP", &self.b.args.mm_heap)
            .env("KAFKA_LOCAL_MM1_LOG_LEVEL", "WARN")
            .args([
                "run-class-mm1",
                "kafka.tools.MirrorMaker",
                "--consumer.config",
            ])
            .arg(c)
            .arg("--producer.config")
            .arg(p)
            .args(["--include", self.topic]);
        Ok(cmd)
    }

    /// MirrorMaker 2's internal topics and Connect groups carry the run's cluster aliases.
    fn cleanup_mm2(&self, aliases: &[&str]) {
        for cluster in [&self.b.source, &self.b.target] {
            if let Ok(names) = cluster.topic_names() {
                let ours: Vec<String> = names
                    .into_iter()
                    .filter(|n| aliases.iter().any(|a| n.contains(a)))
                    .collect();
                cluster.delete_topics(&ours);
            }
            let groups: Vec<String> = aliases.iter().map(|a| format!("{a}-mm2")).collect();
            cluster.delete_groups(&groups);
        }
    }
}

pub fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}
