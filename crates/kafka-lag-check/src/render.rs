//! Renderers: a table for people, and JSON, Nagios and Prometheus text for machines. The machine
//! formats are a documented contract (README.md); the table may change.

use comfy_table::{presets, CellAlignment, Table};
use serde_json::{json, Value};

use crate::range::format_number;
use crate::report::{format_ms, GroupLag, PartitionLag, Report, Status};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for people: groups, topics, partitions.
    Table,
    /// One JSON document (keys documented in README.md).
    Json,
    /// One Nagios/Icinga plugin line with perfdata.
    Nagios,
    /// Prometheus text exposition format (for node_exporter's textfile collector or a push).
    Prometheus,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json(report)).unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Nagios => nagios(report),
        Format::Prometheus => prometheus(report),
    }
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header.iter().copied());
    t
}

fn right_align(t: &mut Table, columns: &[usize]) {
    for &i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Three tables: groups, per-topic sums, partitions (with Kafka's column names).
pub fn table(report: &Report) -> String {
    let mut groups = new_table(&[
        "GROUP",
        "STATE",
        "MEMBERS",
        "TOTAL-LAG",
        "MAX-LAG",
        "MAX-TIME-LAG",
        "STATUS",
        "REASON",
    ]);
    let mut topics = new_table(&["GROUP", "TOPIC", "PARTITIONS", "LAG", "MAX-TIME-LAG"]);
    let mut partitions = new_table(&[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "TIME-LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
        "NOTE",
    ]);
    for g in &report.groups {
        groups.add_row(vec![
            g.group.clone(),
            g.state.clone(),
            g.members.to_string(),
            g.total_lag.to_string(),
            dash(g.max_lag),
            dash(g.max_time_lag_ms.map(format_ms)),
            g.status.as_str().to_string(),
            g.reasons.join("; "),
        ]);
        for t in &g.topics {
            topics.add_row(vec![
                g.group.clone(),
                t.topic.clone(),
                t.partitions.to_string(),
                t.lag.to_string(),
                dash(t.max_time_lag_ms.map(format_ms)),
            ]);
        }
        for p in &g.partitions {
            partitions.add_row(vec![
                p.group.clone(),
                p.topic.clone(),
                p.partition.to_string(),
                dash(p.committed_offset),
                dash(p.log_end_offset),
                dash(p.lag),
                dash(p.time_lag_ms.map(format_ms)),
                dash(p.consumer_id.clone()),
                dash(p.host.clone()),
                dash(p.client_id.clone()),
                p.note.as_ref().map(|n| n.text()).unwrap_or_default(),
            ]);
        }
    }
    right_align(&mut groups, &[2, 3, 4, 5]);
    right_align(&mut topics, &[2, 3, 4]);
    right_align(&mut partitions, &[2, 3, 4, 5, 6]);
    let mut blocks = vec![groups.to_string()];
    if !topics.is_empty() {
        blocks.push(topics.to_string());
    }
    if !partitions.is_empty() {
        blocks.push(partitions.to_string());
    }
    // The borderless preset pads every cell with a space on each side: drop that margin.
    let mut out = String::new();
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for line in block.lines() {
            out.push_str(line.strip_prefix(' ').unwrap_or(line).trim_end());
            out.push('\n');
        }
    }
    out
}

fn partition_json(p: &PartitionLag) -> Value {
    json!({
        "group": p.group,
        "topic": p.topic,
        "partition": p.partition,
        "committed_offset": p.committed_offset,
        "log_end_offset": p.log_end_offset,
        "lag": p.lag,
        "time_lag_ms": p.time_lag_ms,
        "consumer_id": p.consumer_id,
        "host": p.host,
        "client_id": p.client_id,
        "note": p.note.as_ref().map(|n| n.code()),
    })
}

fn group_json(g: &GroupLag) -> Value {
    json!({
        "group": g.group,
        "state": g.state,
        "members": g.members,
        "total_lag": g.total_lag,
        "max_lag": g.max_lag,
        "max_time_lag_ms": g.max_time_lag_ms,
        "status": g.status.as_str(),
        "reasons": g.reasons,
        "error": g.error,
        "topics": g.topics.iter().map(|t| json!({
            "topic": t.topic,
            "partitions": t.partitions,
            "lag": t.lag,
            "max_time_lag_ms": t.max_time_lag_ms,
        })).collect::<Vec<_>>(),
    })
}

/// `{"status", "groups": [...], "partitions": [...]}`.
pub fn json(report: &Report) -> Value {
    json!({
        "status": report.status.as_str(),
        "groups": report.groups.iter().map(group_json).collect::<Vec<_>>(),
        "partitions": report.groups.iter()
            .flat_map(|g| g.partitions.iter().map(partition_json))
            .collect::<Vec<_>>(),
    })
}

/// A perfdata label: always quoted; a quote is doubled, `=` (not allowed) becomes `_`.
fn label(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''").replace('=', "_"))
}

fn opt_range(r: Option<impl ToString>) -> String {
    r.map(|r| r.to_string()).unwrap_or_default()
}

/// `KAFKA LAG STATUS - text | perfdata`: per group `'G lag'` and `'G time_lag'` (with the
/// thresholds), per topic `'G/T lag'`.
pub fn nagios(report: &Report) -> String {
    let t = &report.thresholds;
    let problems: Vec<String> = report
        .groups
        .iter()
        .filter(|g| g.status != Status::Ok)
        .map(|g| format!("{}: {}", g.group, g.reasons.join(", ")))
        .collect();
    let checked: Vec<&GroupLag> = report.groups.iter().filter(|g| g.error.is_none()).collect();
    let total: i64 = checked.iter().map(|g| g.total_lag).sum();
    let max_time = checked.iter().filter_map(|g| g.max_time_lag_ms).max();
    let n = report.groups.len();
    let summary = format!(
        "{n} group{}, total lag {total}, max time lag {}",
        if n == 1 { "" } else { "s" },
        max_time.map_or_else(|| "unknown".to_string(), format_ms)
    );
    let text = if problems.is_empty() {
        summary
    } else {
        format!("{}; {summary}", problems.join("; "))
    };
    let mut perf = Vec::new();
    for g in &checked {
        perf.push(format!(
            "{}={};{};{};0",
            label(&format!("{} lag", g.group)),
            g.total_lag,
            opt_range(t.warning.as_ref()),
            opt_range(t.critical.as_ref()),
        ));
        perf.push(format!(
            "{}={};{};{};0",
            label(&format!("{} time_lag", g.group)),
            g.max_time_lag_ms.map_or_else(
                || "U".to_string(),
                |ms| format!("{}s", format_number(ms as f64 / 1000.0))
            ),
            opt_range(t.warning_time_range()),
            opt_range(t.critical_time_range()),
        ));
        for topic in &g.topics {
            perf.push(format!(
                "{}={};;;0",
                label(&format!("{}/{} lag", g.group, topic.topic)),
                topic.lag
            ));
        }
    }
    let line = format!("KAFKA LAG {} - {}", report.status.as_str(), one_line(&text));
    if perf.is_empty() {
        format!("{line}\n")
    } else {
        format!("{line} | {}\n", perf.join(" "))
    }
}

/// The UNKNOWN line for a failure before any report exists.
pub fn nagios_error(message: &str) -> String {
    format!("KAFKA LAG UNKNOWN - {}\n", one_line(message))
}

/// Nagios reads up to the first `|` as text: keep the text on one line and without pipes.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "/")
}

/// A label value in the exposition format: backslash, double quote and newline escaped.
fn prom_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Metric {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, String)>,
}

impl Metric {
    fn new(name: &'static str, help: &'static str) -> Metric {
        Metric {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: impl ToString) {
        self.samples.push((labels, value.to_string()));
    }

    fn write(&self, out: &mut String) {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n",
            self.name, self.help, self.name
        ));
        for (labels, value) in &self.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", prom_value(v)))
                .collect();
            out.push_str(&format!("{}{{{}}} {value}\n", self.name, labels.join(",")));
        }
    }
}

/// Prometheus text exposition format, names in the style of kafka_exporter.
pub fn prometheus(report: &Report) -> String {
    let mut lag = Metric::new(
        "kafka_consumergroup_lag",
        "Records the group has still to read: log-end offset minus committed offset (0 when only transaction markers remain).",
    );
    let mut lag_seconds = Metric::new(
        "kafka_consumergroup_lag_seconds",
        "Age in seconds of the record at the committed offset (0 when caught up).",
    );
    let mut current = Metric::new(
        "kafka_consumergroup_current_offset",
        "Committed offset of the group (the next offset it will read).",
    );
    let mut latest = Metric::new(
        "kafka_partition_latest_offset",
        "Log-end offset of the partition (high watermark).",
    );
    let mut lag_sum = Metric::new(
        "kafka_consumergroup_lag_sum",
        "Sum of the lag of the group over the partitions of a topic.",
    );
    let mut group_lag = Metric::new(
        "kafka_consumergroup_group_lag",
        "Total lag of the group over all its partitions.",
    );
    let mut group_max_seconds = Metric::new(
        "kafka_consumergroup_group_max_lag_seconds",
        "Largest time lag of the group over all its partitions.",
    );
    let mut members = Metric::new(
        "kafka_consumergroup_members",
        "Number of active members of the group.",
    );
    let mut state = Metric::new(
        "kafka_consumergroup_state",
        "1 for the state the group is in (Stable, Empty, PreparingRebalance, ...).",
    );
    let mut status = Metric::new(
        "kafka_lag_check_status",
        "Nagios status of the group: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    );
    let mut seen_partitions = std::collections::BTreeSet::new();
    for g in &report.groups {
        let group = || ("group", g.group.clone());
        status.add(vec![group()], g.status.exit_code());
        state.add(vec![group(), ("state", g.state.clone())], 1);
        if g.error.is_some() {
            continue;
        }
        members.add(vec![group()], g.members);
        group_lag.add(vec![group()], g.total_lag);
        if let Some(ms) = g.max_time_lag_ms {
            group_max_seconds.add(vec![group()], format_number(ms as f64 / 1000.0));
        }
        for t in &g.topics {
            lag_sum.add(vec![group(), ("topic", t.topic.clone())], t.lag);
        }
        for p in &g.partitions {
            let labels = || {
                vec![
                    group(),
                    ("topic", p.topic.clone()),
                    ("partition", p.partition.to_string()),
                ]
            };
            if let Some(l) = p.lag {
                lag.add(labels(), l);
            }
            if let Some(ms) = p.time_lag_ms {
                lag_seconds.add(labels(), format_number(ms as f64 / 1000.0));
            }
            if let Some(c) = p.committed_offset {
                current.add(labels(), c);
            }
            if let Some(end) = p.log_end_offset {
                if seen_partitions.insert((p.topic.clone(), p.partition)) {
                    latest.add(
                        vec![
                            ("topic", p.topic.clone()),
                            ("partition", p.partition.to_string()),
                        ],
                        end,
                    );
                }
            }
        }
    }
    let mut out = String::new();
    for m in [
        &lag,
        &lag_seconds,
        &current,
        &latest,
        &lag_sum,
        &group_lag,
        &group_max_seconds,
        &members,
        &state,
        &status,
    ] {
        m.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{group, partition};
    use crate::report::{GroupLag, Note, Thresholds};

    fn sample() -> Report {
        let mut p0 = partition("g", "t", 0, Some(3), 10);
        p0.consumer_id = Some("rdkafka-1".into());
        p0.host = Some("/127.0.0.1".into());
        p0.client_id = Some("rdkafka".into());
        let p1 = partition("g", "t", 1, None, 4);
        let missing = GroupLag::failed(
            "gone",
            "Dead",
            "consumer group 'gone' does not exist".into(),
        );
        Report::new(
            vec![group("g", vec![p0, p1]), missing],
            Thresholds {
                warning: Some("5".parse().unwrap()),
                critical: Some("@100:".parse().unwrap()),
                warning_time: Some(std::time::Duration::from_secs(60)),
                ..Thresholds::default()
            },
        )
    }

    #[test]
    fn nagios_line_has_status_text_and_perfdata() {
        let out = nagios(&sample());
        assert_eq!(
            out,
            "KAFKA LAG WARNING - g: lag 7 (warning 5); gone: consumer group 'gone' does not exist; \
             2 groups, total lag 7, max time lag 5s \
             | 'g lag'=7;5;@100:;0 'g time_lag'=5s;60;;0 'g/t lag'=7;;;0\n"
        );
        assert_eq!(
            nagios_error("cannot reach\nthe | cluster"),
            "KAFKA LAG UNKNOWN - cannot reach the / cluster\n"
        );
    }

    #[test]
    fn perfdata_labels_are_quoted_and_escaped() {
        assert_eq!(label("it's a=b lag"), "'it''s a_b lag'");
    }

    #[test]
    fn json_has_stable_keys_and_nulls() {
        let v = json(&sample());
        assert_eq!(v["status"], "WARNING");
        let p = &v["partitions"][1];
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
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
        assert_eq!(p["committed_offset"], Value::Null);
        assert_eq!(p["lag"], Value::Null);
        assert_eq!(p["log_end_offset"], 4);
        assert_eq!(p["note"], "no_commit");
        assert_eq!(v["partitions"][0]["lag"], 7);
        assert_eq!(v["partitions"][0]["client_id"], "rdkafka");
        let g = &v["groups"][1];
        assert_eq!(g["status"], "UNKNOWN");
        assert_eq!(g["state"], "Dead");
        assert_eq!(g["error"], "consumer group 'gone' does not exist");
        assert_eq!(v["groups"][0]["total_lag"], 7);
        assert_eq!(v["groups"][0]["max_time_lag_ms"], 5000);
        assert_eq!(v["groups"][0]["topics"][0]["lag"], 7);
    }

    #[test]
    fn table_marks_missing_values_with_dashes() {
        let out = table(&sample());
        let row = out
            .lines()
            .find(|l| l.contains(" t ") && l.contains("no committed offset"))
            .unwrap_or_else(|| panic!("{out}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..7], ["g", "t", "1", "-", "4", "-", "-"], "{row}");
        assert!(out.contains("CURRENT-OFFSET"));
    }

    #[test]
    fn prometheus_exposition_is_well_formed() {
        let mut report = sample();
        report.groups[0].group = "we\"ird\\g".into();
        for p in &mut report.groups[0].partitions {
            p.group = "we\"ird\\g".into();
        }
        let out = prometheus(&report);
        let mut typed = std::collections::HashSet::new();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(kind, "gauge");
                assert!(typed.insert(name.to_string()), "TYPE twice for {name}");
            } else if !line.starts_with("# HELP ") {
                let name = &line[..line.find('{').unwrap()];
                assert!(typed.contains(name), "sample before TYPE: {line}");
                let value = line.rsplit_once(' ').unwrap().1;
                value.parse::<f64>().unwrap();
            }
        }
        assert!(out.contains(
            "kafka_consumergroup_lag{group=\"we\\\"ird\\\\g\",topic=\"t\",partition=\"0\"} 7\n"
        ));
        assert!(out.contains("kafka_consumergroup_lag_seconds{group=\"we\\\"ird\\\\g\",topic=\"t\",partition=\"0\"} 5\n"));
        assert!(out.contains("kafka_partition_latest_offset{topic=\"t\",partition=\"1\"} 4\n"));
        assert!(
            !out.contains("partition=\"1\"} -"),
            "no value for a partition without a commit"
        );
        assert!(!out.contains("kafka_consumergroup_current_offset{group=\"we\\\"ird\\\\g\",topic=\"t\",partition=\"1\"}"));
        assert!(out.contains("kafka_lag_check_status{group=\"gone\"} 3\n"));
        assert!(out.contains("kafka_consumergroup_state{group=\"gone\",state=\"Dead\"} 1\n"));
        assert!(out.contains("kafka_consumergroup_group_lag{group=\"we\\\"ird\\\\g\"} 7\n"));
    }

    #[test]
    fn notes_have_codes_and_text() {
        let note = Note::TransactionMarkersOnly { skipped: 1 };
        assert_eq!(note.code(), "transaction_markers_only");
        assert!(note.text().contains("1 remaining"));
    }
}
