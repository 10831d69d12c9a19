//! The property kafka-lag-check's Nagios range parser must hold, checked on any input. Shared by
//! the `range` fuzz target and `crates/kafka-lag-check/tests/range_fuzz_regressions.rs`.
//!
//! A model of the monitoring-plugins guideline decides what a range means: `[@][start:][end]`,
//! `start` 0 when empty, `~` for -infinity, no `end` for +infinity; alert outside start..end
//! (ends included), or inside with `@`. Whatever the parser accepts must alert exactly as the
//! model does; anything the model cannot read must be an error.

use kafka_lag_check::range::Range;

/// The guideline's reading of `text`: (start, end, inside), infinities for open ends.
pub fn model(text: &str) -> Option<(f64, f64, bool)> {
    let text = text.trim();
    let (inside, body) = match text.strip_prefix('@') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    let (start, end) = match body.split_once(':') {
        None => (0.0, number(body)?),
        Some((s, e)) => (
            match s {
                "~" => f64::NEG_INFINITY,
                "" => 0.0,
                s => number(s)?,
            },
            match e {
                "" => f64::INFINITY,
                e => number(e)?,
            },
        ),
    };
    (start <= end).then_some((start, end, inside))
}

/// Parses `text`; if accepted, the alert decision matches the model at the ends, just beyond
/// them and at a few fixed points. A rejection is one line.
pub fn check_range(text: &str) {
    match text.parse::<Range>() {
        Ok(range) => {
            let (start, end, inside) =
                model(text).unwrap_or_else(|| panic!("accepted {text:?}, which is no range"));
            let mut probes = vec![0.0, -1.0, 1.0, 10.0, 20.0, 1e300, -1e300];
            for v in [start, end] {
                if v.is_finite() {
                    probes.extend([v, v - 1.0, v + 1.0, v - v.abs() * 1e-9, v + v.abs() * 1e-9]);
                }
            }
            for v in probes {
                let expected = (start <= v && v <= end) == inside;
                assert_eq!(
                    range.alerts(v),
                    expected,
                    "range {text:?} (start {start}, end {end}, inside {inside}) at {v}"
                );
            }
        }
        Err(message) => {
            if !text.contains('\n') {
                assert!(
                    !message.contains('\n'),
                    "range error spans lines: {message:?}"
                );
            }
        }
    }
}

/// The guideline's own examples with the values that must and must not alert.
pub const EXAMPLES: &[(&str, &[f64], &[f64])] = &[
    ("10", &[-1.0, 10.5, 11.0], &[0.0, 5.0, 10.0]),
    ("10:", &[-1.0, 9.99], &[10.0, 1e12]),
    ("~:10", &[10.01, 11.0], &[-1e12, 0.0, 10.0]),
    ("10:20", &[9.0, 21.0], &[10.0, 15.0, 20.0]),
    ("@10:20", &[10.0, 15.0, 20.0], &[9.0, 21.0]),
];
