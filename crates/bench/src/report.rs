//! The results: the JSON document (a stable shape, compared run to run), the table for people,
//! and the targets judged from them.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde::Serialize;
use serde_json::Value;

/// One measured tool on one mirror case. The first fields are the documented shape; the others
/// are extras (same names in every run).
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub tool: String,
    pub records: u64,
    pub seconds: f64,
    pub records_per_s: f64,
    pub mb_per_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mb: f64,
    pub verified: bool,
    /// Mirrors: seconds from the first record seen on the target to the last. Limit cases: the
    /// client's own active time (first send/assignment to last ack/record), start-up excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_to_last_s: Option<f64>,
    /// Throughput (start to completion) relative to kafka-mirror on the same case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_vs_kafka_mirror: Option<f64>,
    /// Why verification failed or the run broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `--repeat N`: the seconds of each run, in order; this result is the median one.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub runs_s: Vec<f64>,
}

/// The median run of `runs` by seconds (the lower of the two middle ones for an even count),
/// with every run's seconds in `runs_s`; a run that failed verification wins, so that a
/// failure is never hidden behind the others.
pub fn median_run(mut runs: Vec<CaseResult>) -> Option<CaseResult> {
    let seconds: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
    let mut pick = match runs.iter().position(|r| !r.verified) {
        Some(failed) => runs.swap_remove(failed),
        None => {
            runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
            let middle = runs.len().checked_sub(1)? / 2;
            runs.swap_remove(middle)
        }
    };
    if seconds.len() > 1 {
        pick.runs_s = seconds;
    }
    Some(pick)
}

impl CaseResult {
    pub fn cpu_s_per_mb(&self, bytes_per_record: f64) -> f64 {
        let mb = self.records as f64 * bytes_per_record / 1e6;
        if mb > 0.0 {
            self.cpu_s / mb
        } else {
            0.0
        }
    }
}

/// A (case, tool) that did not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotAvailable {
    pub case: String,
    pub tool: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Value,
    pub cases: Vec<CaseResult>,
    pub lag_check: Value,
    pub parity: Value,
    pub not_available: Vec<NotAvailable>,
    pub targets: Vec<Target>,
    pub command: String,
}

fn f(v: f64, digits: usize) -> String {
    format!("{v:.digits$}")
}

pub fn case_table(cases: &[CaseResult], not_available: &[NotAvailable]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "case",
        "tool",
        "records",
        "seconds",
        "first→last s",
        "records/s",
        "MB/s",
        "CPU s",
        "peak RSS MB",
        "× kafka-mirror",
        "verified",
    ]);
    for c in cases {
        let row = vec![
            Cell::new(&c.case),
            Cell::new(&c.tool),
            Cell::new(c.records).set_alignment(CellAlignment::Right),
            Cell::new(f(c.seconds, 2)).set_alignment(CellAlignment::Right),
            Cell::new(c.first_to_last_s.map_or(String::from("-"), |s| f(s, 2)))
                .set_alignment(CellAlignment::Right),
            Cell::new(f(c.records_per_s, 0)).set_alignment(CellAlignment::Right),
            Cell::new(f(c.mb_per_s, 1)).set_alignment(CellAlignment::Right),
            Cell::new(f(c.cpu_s, 2)).set_alignment(CellAlignment::Right),
            Cell::new(f(c.peak_rss_mb, 0)).set_alignment(CellAlignment::Right),
            Cell::new(
                c.throughput_vs_kafka_mirror
                    .map_or(String::from("-"), |r| format!("{r:.2}x")),
            )
            .set_alignment(CellAlignment::Right),
            Cell::new(match (&c.error, c.verified) {
                (_, true) => "yes".to_string(),
                (Some(e), false) => format!("NO: {e}"),
                (None, false) => "NO".to_string(),
            }),
        ];
        t.add_row(row);
    }
    for n in not_available {
        t.add_row(vec![
            Cell::new(&n.case),
            Cell::new(&n.tool),
            Cell::new(format!("not available: {}", n.reason)),
        ]);
    }
    t
}

pub fn targets_table(targets: &[Target]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["target", "measured", "result"]);
    for g in targets {
        t.add_row(vec![
            Cell::new(&g.target),
            Cell::new(&g.measured),
            Cell::new(if g.pass { "pass" } else { "FAIL" }),
        ]);
    }
    t
}

/// Judges the targets of issue 8 from the verified results. A target whose inputs are missing is
/// reported as failed with the reason.
pub fn judge(cases: &[CaseResult], record_size: impl Fn(&str) -> f64, lag: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    let find = |case: &str, tool: &str| {
        cases
            .iter()
            .find(|c| c.case == case && c.tool == tool && c.verified)
    };
    let mut case_names: Vec<&str> = cases.iter().map(|c| c.case.as_str()).collect();
    case_names.dedup();
    for case in case_names {
        let km = find(case, "kafka-mirror");
        let mm2 = find(case, "mirrormaker2");
        let size = record_size(case);
        let missing = |what: &str| Target {
            target: format!("{case}: {what}"),
            measured: "not measured (a run is missing or unverified)".into(),
            pass: false,
        };
        match (km, mm2) {
            (Some(k), Some(m)) => {
                let thr = k.records_per_s / m.records_per_s;
                out.push(Target {
                    target: format!("{case}: kafka-mirror ≥ 2x MirrorMaker 2 throughput"),
                    measured: format!("{thr:.2}x"),
                    pass: thr >= 2.0,
                });
                let cpu = k.cpu_s_per_mb(size) / m.cpu_s_per_mb(size);
                out.push(Target {
                    target: format!("{case}: kafka-mirror ≤ 1/3 of MirrorMaker 2's CPU s per MB"),
                    measured: format!(
                        "{:.2} vs {:.2} ms/MB = {cpu:.2}",
                        k.cpu_s_per_mb(size) * 1e3,
                        m.cpu_s_per_mb(size) * 1e3
                    ),
                    pass: cpu <= 1.0 / 3.0,
                });
                let mem = k.peak_rss_mb / m.peak_rss_mb;
                out.push(Target {
                    target: format!("{case}: kafka-mirror ≤ 1/5 of MirrorMaker 2's peak memory"),
                    measured: format!("{:.0} vs {:.0} MB = {mem:.2}", k.peak_rss_mb, m.peak_rss_mb),
                    pass: mem <= 0.2,
                });
            }
            _ => {
                out.push(missing("kafka-mirror ≥ 2x MirrorMaker 2 throughput"));
                out.push(missing(
                    "kafka-mirror ≤ 1/3 of MirrorMaker 2's CPU s per MB",
                ));
                out.push(missing("kafka-mirror ≤ 1/5 of MirrorMaker 2's peak memory"));
            }
        }
        let limits: Vec<&CaseResult> = [find(case, "limit-consume"), find(case, "limit-produce")]
            .into_iter()
            .flatten()
            .collect();
        let slowest = |rate: &dyn Fn(&CaseResult) -> Option<f64>| {
            limits
                .iter()
                .filter_map(|c| rate(c))
                .fold(None, |acc: Option<f64>, r| {
                    Some(acc.map_or(r, |a| a.min(r)))
                })
        };
        let steady = |c: &CaseResult| {
            c.first_to_last_s
                .filter(|s| *s > 0.0)
                .map(|s| c.records as f64 / s)
        };
        match (km, slowest(&|c| Some(c.records_per_s))) {
            (Some(k), Some(l)) => {
                let r = k.records_per_s / l;
                let steady_note = match (steady(k), slowest(&steady)) {
                    (Some(ks), Some(ls)) => format!("; steady state {:.0}%", ks / ls * 100.0),
                    _ => String::new(),
                };
                out.push(Target {
                    target: format!("{case}: kafka-mirror ≥ 80% of the limit"),
                    measured: format!("{:.0}% end to end{steady_note}", r * 100.0),
                    pass: r >= 0.8,
                });
            }
            _ => out.push(missing("kafka-mirror ≥ 80% of the limit")),
        }
    }
    let ratio = lag
        .get("one_group")
        .and_then(|o| o.get("speedup"))
        .and_then(Value::as_f64);
    out.push(match ratio {
        Some(r) => Target {
            target: "kafka-lag-check ≥ 10x faster than ConsumerGroupCommand (one group)".into(),
            measured: format!("{r:.1}x"),
            pass: r >= 10.0,
        },
        None => Target {
            target: "kafka-lag-check ≥ 10x faster than ConsumerGroupCommand (one group)".into(),
            measured: "not measured".into(),
            pass: false,
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(tool: &str, rps: f64, cpu: f64, rss: f64) -> CaseResult {
        CaseResult {
            case: "mirror-1KiB".into(),
            tool: tool.into(),
            records: 1000,
            seconds: 1000.0 / rps,
            records_per_s: rps,
            mb_per_s: rps * 1024.0 / 1e6,
            cpu_s: cpu,
            peak_rss_mb: rss,
            verified: true,
            first_to_last_s: None,
            throughput_vs_kafka_mirror: None,
            error: None,
            runs_s: Vec::new(),
        }
    }

    #[test]
    fn the_median_run_is_kept_and_a_failed_run_is_never_hidden() {
        let runs: Vec<CaseResult> = [2000.0, 1000.0, 4000.0]
            .iter()
            .map(|rps| case("kafka-mirror", *rps, 1.0, 30.0))
            .collect();
        let median = median_run(runs.clone()).unwrap();
        assert_eq!(median.records_per_s, 2000.0);
        assert_eq!(median.runs_s, vec![0.5, 1.0, 0.25]);
        let mut with_failure = runs;
        with_failure[2].verified = false;
        let picked = median_run(with_failure).unwrap();
        assert!(!picked.verified);
        assert_eq!(picked.records_per_s, 4000.0);
        let single = median_run(vec![case("kafka-mirror", 1000.0, 1.0, 30.0)]).unwrap();
        assert!(single.runs_s.is_empty(), "one run: no list of runs");
        assert!(median_run(Vec::new()).is_none());
    }

    #[test]
    fn judge_passes_and_fails_targets() {
        let cases = vec![
            case("kafka-mirror", 3000.0, 1.0, 30.0),
            case("mirrormaker2", 1000.0, 4.0, 500.0),
            case("limit-consume", 5000.0, 1.0, 20.0),
            case("limit-produce", 3500.0, 1.0, 20.0),
        ];
        let lag = serde_json::json!({"one_group": {"speedup": 12.0}});
        let t = judge(&cases, |_| 1024.0, &lag);
        let pass: Vec<bool> = t.iter().map(|t| t.pass).collect();
        // 3x throughput, 1/4 CPU, 30/500 memory, 3000/3500 = 86% of the limit, 12x lag-check.
        assert_eq!(pass, vec![true, true, true, true, true]);

        let cases = vec![
            case("kafka-mirror", 1500.0, 2.0, 200.0),
            case("mirrormaker2", 1000.0, 4.0, 500.0),
        ];
        let t = judge(&cases, |_| 1024.0, &serde_json::json!({}));
        assert!(t.iter().all(|t| !t.pass));
    }
}
