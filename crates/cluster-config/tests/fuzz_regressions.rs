//! Replays the fuzz seed corpus and every crash the fuzzer found (fuzz/corpus/<target>/,
//! fuzz/regressions/<target>/) through the same property checks as the cargo-fuzz targets, plus
//! a bounded randomized run of those checks, on stable Rust in the normal test suite.

#[allow(dead_code)]
#[path = "../../../fuzz/checks/config.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every input file of `target` in the corpus and the regressions.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        files.extend(dir.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

#[test]
fn corpus_and_regressions_hold_every_property() {
    let mut failed = Vec::new();
    let mut replayed = 0;
    for target in checks::TARGETS {
        for path in inputs(target) {
            let data = std::fs::read(&path).unwrap();
            replayed += 1;
            if std::panic::catch_unwind(|| checks::run(target, &data)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(
        replayed >= 20,
        "only {replayed} inputs under {:?}",
        fuzz_dir()
    );
    assert!(
        failed.is_empty(),
        "inputs breaking a property:\n{}",
        failed.join("\n")
    );
}

#[test]
fn random_inputs_hold_every_property() {
    let mut rng = checks::Rng::new(0x9e37_79b9_7f4a_7c15);
    for target in checks::TARGETS {
        for _ in 0..1500 {
            let input = checks::random_input(&mut rng, target);
            let result = std::panic::catch_unwind(|| checks::run(target, input.as_bytes()));
            assert!(result.is_ok(), "{target} breaks a property on {input:?}");
        }
    }
}

#[test]
fn the_checks_catch_what_they_claim_to() {
    // A check that cannot fail is worse than none: the escaper must matter for the round trip,
    // and a planted secret must count as one.
    let pairs = [(" #k=:".to_string(), " v\\\n\r\t".to_string())];
    let naive = format!("{}={}", pairs[0].0, pairs[0].1);
    let parsed = cluster_config::PropertiesFile::parse(&naive).unwrap();
    assert!(parsed
        .entries
        .iter()
        .all(|p| (&p.key, &p.value) != (&pairs[0].0, &pairs[0].1)));
    checks::check_round_trip(&pairs);
    checks::check_round_trip(&[(String::new(), "é😀".into()), ("k".into(), String::new())]);
    let leak = std::panic::catch_unwind(|| {
        checks::check_jaas(&format!(
            "x.Custom required password=\"{}\";",
            checks::MARKER
        ));
    });
    assert!(leak.is_ok(), "the JAAS error must not repeat the password");
}
