//! What the mirror reports: the periodic summary line, the live progress display and the
//! Prometheus text served on `--metrics-addr` (names documented in README.md, a stable contract).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::Shared;

/// Counters that are not per topic (those live in `TargetTopic`).
#[derive(Debug, Default)]
pub struct Metrics {
    pub rebalances: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    pub commit_micros: AtomicU64,
    pub commit_max_micros: AtomicU64,
    /// Consumer lag per (source cluster, topic, partition), from librdkafka's statistics.
    pub lag: Mutex<BTreeMap<(usize, String, i32), i64>>,
}

impl Metrics {
    pub fn commit_done(&self, took: Duration) {
        let us = took.as_micros() as u64;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(us, Ordering::Relaxed);
        self.commit_max_micros.fetch_max(us, Ordering::Relaxed);
    }

    pub fn total_lag(&self) -> i64 {
        self.lag
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

/// Totals at one instant, for rates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub records: u64,
    pub bytes: u64,
    pub send_errors: u64,
}

pub fn totals(shared: &Shared) -> Totals {
    let mut t = Totals::default();
    for topic in shared.topics.all() {
        t.records += topic.records.load(Ordering::Relaxed);
        t.bytes += topic.bytes.load(Ordering::Relaxed);
        t.send_errors += topic.send_errors.load(Ordering::Relaxed);
    }
    t
}

/// The summary line: rates since `previous` over `elapsed`.
pub fn summary(shared: &Shared, previous: Totals, now: Totals, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!(
        "{:.0} records/s, {:.2} MB/s, lag {}, in flight {}, send errors {}, mirrored {} records",
        (now.records - previous.records) as f64 / secs,
        (now.bytes - previous.bytes) as f64 / secs / 1e6,
        shared.metrics.total_lag(),
        shared.in_flight(),
        now.send_errors,
        now.records
    )
}

/// Logs the summary every `interval` and, when stderr is a terminal, keeps a live line. Runs
/// until the mirror stops.
pub fn report_loop(shared: Arc<Shared>, interval: Duration, progress: bool, target: String) {
    let bar = (progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let started = Instant::now();
    let mut last_line = (Instant::now(), totals(&shared));
    let mut last_tick = last_line;
    let mut stalled_since: Option<Instant> = None;
    while !shared.stopping() {
        shared.sleep_unless_stopping(Duration::from_millis(200));
        let now = Instant::now();
        if let Some(bar) = &bar {
            if now - last_tick.0 >= Duration::from_secs(1) {
                let t = totals(&shared);
                bar.set_message(summary(&shared, last_tick.1, t, now - last_tick.0));
                bar.tick();
                last_tick = (now, t);
            }
        }
        if !interval.is_zero() && now - last_line.0 >= interval {
            let t = totals(&shared);
            let line = summary(&shared, last_line.1, t, now - last_line.0);
            // Records in flight and none acknowledged for a whole interval: say what the
            // mirror waits for, every interval, so a log read mid-outage explains itself.
            let in_flight = shared.in_flight();
            if in_flight > 0 && t.records == last_line.1.records {
                let since = *stalled_since.get_or_insert(last_line.0);
                let line = format!(
                    "waiting for the target cluster ({target}): {in_flight} records unacknowledged, none for {}s; fetching pauses at queue.size",
                    (now - since).as_secs()
                );
                match &bar {
                    Some(bar) => bar.suspend(|| log::warn!("{line}")),
                    None => log::warn!("{line}"),
                }
            } else {
                stalled_since = None;
            }
            match &bar {
                Some(bar) => bar.suspend(|| log::info!("{line}")),
                None => log::info!("{line}"),
            }
            last_line = (now, t);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let t = totals(&shared);
    log::info!(
        "mirrored {} records ({:.1} MB) in {}, send errors {}",
        t.records,
        t.bytes as f64 / 1e6,
        humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
        t.send_errors
    );
}

/// The Prometheus text exposition of every metric.
pub fn render_prometheus(shared: &Shared) -> String {
    let mut out = String::new();
    let topics = shared.topics.all();
    for (name, help, pick) in [
        (
            "kafka_mirror_records_total",
            "Records acknowledged by the target, per topic.",
            0,
        ),
        (
            "kafka_mirror_bytes_total",
            "Key and value bytes acknowledged by the target, per topic.",
            1,
        ),
        (
            "kafka_mirror_send_errors_total",
            "Records that could not be delivered, per topic.",
            2,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for t in &topics {
            let v = match pick {
                0 => t.records.load(Ordering::Relaxed),
                1 => t.bytes.load(Ordering::Relaxed),
                _ => t.send_errors.load(Ordering::Relaxed),
            };
            let _ = writeln!(out, "{name}{{topic=\"{}\"}} {v}", escape(&t.name));
        }
    }
    let m = &shared.metrics;
    let commits = m.commits.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP kafka_mirror_commit_latency_seconds Time taken by synchronous offset commits.\n\
         # TYPE kafka_mirror_commit_latency_seconds summary\n\
         kafka_mirror_commit_latency_seconds_sum {}\n\
         kafka_mirror_commit_latency_seconds_count {commits}\n\
         # HELP kafka_mirror_commit_latency_max_seconds Longest offset commit.\n\
         # TYPE kafka_mirror_commit_latency_max_seconds gauge\n\
         kafka_mirror_commit_latency_max_seconds {}\n\
         # HELP kafka_mirror_commit_failures_total Offset commits that failed.\n\
         # TYPE kafka_mirror_commit_failures_total counter\n\
         kafka_mirror_commit_failures_total {}\n\
         # HELP kafka_mirror_rebalances_total Partition assignments and revocations.\n\
         # TYPE kafka_mirror_rebalances_total counter\n\
         kafka_mirror_rebalances_total {}\n\
         # HELP kafka_mirror_in_flight_records Records consumed and not yet acknowledged by the target.\n\
         # TYPE kafka_mirror_in_flight_records gauge\n\
         kafka_mirror_in_flight_records {}\n\
         # HELP kafka_mirror_consumer_lag Records behind the source partition's end, per partition.\n\
         # TYPE kafka_mirror_consumer_lag gauge",
        m.commit_micros.load(Ordering::Relaxed) as f64 / 1e6,
        m.commit_max_micros.load(Ordering::Relaxed) as f64 / 1e6,
        m.commit_failures.load(Ordering::Relaxed),
        m.rebalances.load(Ordering::Relaxed),
        shared.in_flight(),
    );
    for ((cluster, topic, partition), lag) in m.lag.lock().unwrap_or_else(|e| e.into_inner()).iter()
    {
        let _ = writeln!(
            out,
            "kafka_mirror_consumer_lag{{cluster=\"{}\",topic=\"{}\",partition=\"{partition}\"}} {lag}",
            escape(shared.cluster_label(*cluster)),
            escape(topic)
        );
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds `addr` (an error now, at start, if it cannot) and serves /metrics and /healthz.
pub async fn serve(shared: Arc<Shared>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                // Read the request head (bounded, with a deadline).
                let read = tokio::time::timeout(Duration::from_secs(5), async {
                    while len < buf.len() {
                        let n = stream.read(&mut buf[len..]).await?;
                        if n == 0 {
                            break;
                        }
                        len += n;
                        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    Ok::<_, std::io::Error>(())
                })
                .await;
                if !matches!(read, Ok(Ok(()))) {
                    return;
                }
                let head = String::from_utf8_lossy(&buf[..len]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, kind, body) = match path {
                    "/metrics" => (
                        "200 OK",
                        "text/plain; version=0.0.4",
                        render_prometheus(&shared),
                    ),
                    "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                    _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(local)
}
