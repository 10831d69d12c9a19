//! Nagios threshold ranges, as the monitoring-plugins development guidelines define them:
//! `[@][start:][end]`. `10` alerts outside 0..10, `10:` below 10, `~:10` above 10, `10:20`
//! outside 10..20 and `@10:20` inside 10..20 (ends included).

use std::fmt;
use std::str::FromStr;

/// A threshold range. `alerts(value)` says whether `value` is a problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    /// The range as the user wrote it (perfdata repeats it verbatim).
    text: String,
    /// `None` is -infinity (`~`).
    start: Option<f64>,
    /// `None` is +infinity (nothing after the colon).
    end: Option<f64>,
    /// `@`: alert inside the range instead of outside.
    inside: bool,
}

impl Range {
    /// True when `value` must raise the alert this range stands for.
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start.is_none_or(|s| value >= s) && self.end.is_none_or(|e| value <= e);
        within == self.inside
    }

    /// A simple "alert above `end`" range (`0:end`), as a plain number would give.
    pub fn above(end: f64) -> Range {
        Range {
            text: format_number(end),
            start: Some(0.0),
            end: Some(end),
            inside: false,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Range {
    type Err = String;

    fn from_str(text: &str) -> Result<Range, String> {
        let bad = |why: &str| {
            format!("invalid range '{text}': {why} (expected [@][start:][end], e.g. 1000, ~:1000, 10:, @10:20)")
        };
        let trimmed = text.trim();
        let (inside, body) = match trimmed.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if body.is_empty() {
            return Err(bad("empty"));
        }
        let number = |s: &str| -> Result<f64, String> {
            let v: f64 = s
                .parse()
                .map_err(|_| bad(&format!("'{s}' is not a number")))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(bad(&format!("'{s}' is not a finite number")))
            }
        };
        let (start, end) = match body.split_once(':') {
            None => (Some(0.0), Some(number(body)?)),
            Some((start, end)) => {
                let start = match start {
                    "~" => None,
                    "" => Some(0.0),
                    s => Some(number(s)?),
                };
                let end = match end {
                    "" => None,
                    e => Some(number(e)?),
                };
                (start, end)
            }
        };
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(bad("start is greater than end"));
            }
        }
        Ok(Range {
            text: trimmed.to_string(),
            start,
            end,
            inside,
        })
    }
}

/// A number as perfdata shows it: no trailing `.0`, at most three decimals.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap()
    }

    #[test]
    fn plain_number_alerts_outside_zero_to_n() {
        let range = r("10");
        assert!(!range.alerts(0.0));
        assert!(!range.alerts(10.0));
        assert!(range.alerts(10.5));
        assert!(range.alerts(11.0));
        assert!(range.alerts(-1.0));
    }

    #[test]
    fn open_end_alerts_below_start() {
        let range = r("10:");
        assert!(range.alerts(9.0));
        assert!(!range.alerts(10.0));
        assert!(!range.alerts(1e12));
    }

    #[test]
    fn tilde_start_alerts_above_end_only() {
        let range = r("~:10");
        assert!(!range.alerts(-1e9));
        assert!(!range.alerts(10.0));
        assert!(range.alerts(11.0));
    }

    #[test]
    fn start_end_alerts_outside() {
        let range = r("10:20");
        assert!(range.alerts(9.0));
        assert!(!range.alerts(10.0));
        assert!(!range.alerts(20.0));
        assert!(range.alerts(21.0));
    }

    #[test]
    fn at_sign_alerts_inside_ends_included() {
        let range = r("@10:20");
        assert!(!range.alerts(9.0));
        assert!(range.alerts(10.0));
        assert!(range.alerts(15.0));
        assert!(range.alerts(20.0));
        assert!(!range.alerts(21.0));
        let at_plain = r("@5");
        assert!(at_plain.alerts(0.0) && at_plain.alerts(5.0) && !at_plain.alerts(6.0));
    }

    #[test]
    fn empty_start_means_zero_and_decimals_work() {
        let range = r(":2.5");
        assert!(range.alerts(-0.1));
        assert!(!range.alerts(2.5));
        assert!(range.alerts(2.6));
    }

    #[test]
    fn display_keeps_the_users_text() {
        assert_eq!(r("@10:20").to_string(), "@10:20");
        assert_eq!(r("~:1000").to_string(), "~:1000");
        assert_eq!(Range::above(300.0).to_string(), "300");
        assert!(Range::above(300.0).alerts(300.5));
        assert!(!Range::above(300.0).alerts(300.0));
    }

    #[test]
    fn bad_ranges_are_rejected_with_the_reason() {
        for (text, why) in [
            ("", "empty"),
            ("@", "empty"),
            ("abc", "'abc' is not a number"),
            ("20:10", "start is greater than end"),
            ("1:x", "'x' is not a number"),
            ("inf", "not a finite number"),
        ] {
            let err = text.parse::<Range>().unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.starts_with(&format!("invalid range '{text}'")), "{err}");
        }
    }

    #[test]
    fn numbers_print_without_noise() {
        assert_eq!(format_number(12.0), "12");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(0.1234), "0.123");
        assert_eq!(format_number(-3.0), "-3");
    }
}
