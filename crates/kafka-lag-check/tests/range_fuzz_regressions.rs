//! Replays the `range` fuzz corpus and regressions (fuzz/corpus/range/, fuzz/regressions/range/)
//! through the same check as the cargo-fuzz target, plus the guideline's examples and a bounded
//! randomized run, on stable Rust in the normal test suite.

#[allow(dead_code)]
#[path = "../../../fuzz/checks/range.rs"]
mod checks;

use std::path::Path;

use kafka_lag_check::range::Range;

#[test]
fn guideline_examples_alert_as_documented() {
    for (text, alert, quiet) in checks::EXAMPLES {
        let range: Range = text.parse().unwrap();
        for v in *alert {
            assert!(range.alerts(*v), "{text} must alert at {v}");
        }
        for v in *quiet {
            assert!(!range.alerts(*v), "{text} must not alert at {v}");
        }
        checks::check_range(text);
    }
}

#[test]
fn corpus_and_regressions_hold() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join("range")) else {
            continue;
        };
        for entry in dir {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            if let Ok(text) = std::str::from_utf8(&data) {
                checks::check_range(text);
                replayed += 1;
            }
        }
    }
    assert!(
        replayed >= 10,
        "only {replayed} range inputs under {fuzz:?}"
    );
}

#[test]
fn random_ranges_match_the_guideline() {
    const PIECES: &[&str] = &[
        "@", "~", ":", "0", "1", "10", "20", "-5", ".5", "1e3", "1e400", "inf", "NaN", " ", "+",
        "-", "e",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..5000 {
        let mut text = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bits = state;
        for _ in 0..(bits % 6) {
            bits /= 6;
            text.push_str(PIECES[(bits % PIECES.len() as u64) as usize]);
            bits /= PIECES.len() as u64;
        }
        checks::check_range(&text);
    }
}
