//! The properties the cluster-config parsers must hold, checked on any input. Shared by the
//! cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and the stable regression test
//! (`crates/cluster-config/tests/fuzz_regressions.rs`), which include this file with `#[path]`,
//! so the fuzzer and `cargo test` check exactly the same things. Each check panics with a
//! message naming the property that broke.

use cluster_config::filter::INTERNAL_TOPICS;
use cluster_config::secrets::{is_sensitive, resolve_providers};
use cluster_config::translate::{translate_all, translate_one, Translation};
use cluster_config::{Error, PropertiesFile, TopicFilter};

/// Planted in secret values by the generators (and the seed corpus): it must never reach an
/// error or a warning.
pub const MARKER: &str = "SECRET-xyz";

/// The fuzz targets that use these checks (one directory each under fuzz/corpus and
/// fuzz/regressions).
pub const TARGETS: &[&str] = &["properties", "providers", "translate", "topic_filter"];

/// Runs `target`'s checks on raw fuzzer bytes. Input that is not UTF-8 is skipped: the parsers
/// take `&str` (the loader decodes Latin-1 before parsing).
pub fn run(target: &str, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match target {
        "properties" => {
            check_parse(text);
            check_round_trip(&split_pairs(text));
        }
        "providers" => check_providers(text),
        "translate" => {
            check_translate(text);
            check_jaas(text);
        }
        "topic_filter" => {
            let mut parts = text.split('\0');
            let include = parts.next().unwrap_or_default();
            let exclude = parts.next().filter(|e| !e.is_empty());
            check_filter(include, exclude, &parts.collect::<Vec<_>>());
        }
        other => panic!("unknown fuzz target {other}"),
    }
}

fn assert_one_line(what: &str, text: &str) {
    assert!(!text.contains('\n'), "{what} spans lines: {text:?}");
}

fn assert_no_leak(what: &str, text: &str) {
    assert!(
        !text.contains(MARKER),
        "{what} repeats a secret value: {text:?}"
    );
}

/// Whether the marker counts as secret in `file`: it sits in the value of a sensitive key and in
/// no key or non-secret value, which a message may legitimately repeat. `strip` removes the
/// parts of a value a message may name (a config-provider variable name).
fn marker_is_secret(file: &PropertiesFile, strip: fn(&str) -> String) -> bool {
    file.entries
        .iter()
        .any(|p| is_sensitive(&p.key) && strip(&p.value).contains(MARKER))
        && !file
            .entries
            .iter()
            .any(|p| p.key.contains(MARKER) || (!is_sensitive(&p.key) && p.value.contains(MARKER)))
}

/// `PropertiesFile::parse`: never panics; line numbers are within the text; a syntax error is
/// one line and repeats no secret.
pub fn check_parse(text: &str) -> Option<PropertiesFile> {
    let lines = text.split('\n').count();
    match PropertiesFile::parse(text) {
        Ok(file) => {
            for p in &file.entries {
                assert!(
                    (1..=lines).contains(&p.line),
                    "entry line {} outside 1..={lines}",
                    p.line
                );
            }
            Some(file)
        }
        Err((line, message)) => {
            assert!(
                (1..=lines).contains(&line),
                "error line {line} outside 1..={lines}"
            );
            let shown = Error::Syntax {
                origin: format!("client.properties:{line}"),
                message,
            }
            .to_string();
            assert_one_line("syntax error", &shown);
            assert_no_leak("syntax error", &shown);
            None
        }
    }
}

/// Splits fuzzer text into key/value pairs at NUL characters (key, value, key, value, ...).
pub fn split_pairs(text: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = text.split('\0').collect();
    parts
        .chunks(2)
        .map(|kv| (kv[0].to_string(), kv.get(1).unwrap_or(&"").to_string()))
        .collect()
}

/// Escapes a key or value the way `java.util.Properties.store` does (minus `\uXXXX` for
/// non-ASCII: the files are UTF-8).
pub fn escape(text: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0c' => out.push_str("\\f"),
            // Leading white space of a value would be skipped; in a key it ends the key.
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            '=' | ':' | '#' | '!' if is_key => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Written with [`escape`] and parsed back, `pairs` come back unchanged and in order.
pub fn check_round_trip(pairs: &[(String, String)]) {
    let text: String = pairs
        .iter()
        .map(|(k, v)| format!("{}={}\n", escape(k, true), escape(v, false)))
        .collect();
    let file = PropertiesFile::parse(&text)
        .unwrap_or_else(|e| panic!("escaped text does not parse: {e:?} in {text:?}"));
    let back: Vec<(String, String)> = file.entries.into_iter().map(|p| (p.key, p.value)).collect();
    assert_eq!(back, pairs, "round trip through {text:?}");
}

/// Removes well-formed `${env:NAME}` references: naming the unset variable is fine.
fn strip_env_references(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${env:") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// `secrets::resolve_providers`: never panics; an error is one line and repeats no secret
/// (outside a variable name); the `config.providers*` declarations are dropped, nothing else.
/// Input that could make the file provider read a file is skipped; `${env:...}` only reads.
pub fn check_providers(text: &str) {
    if text.contains("file") {
        return;
    }
    let Some(mut file) = check_parse(text) else {
        return;
    };
    let secret = marker_is_secret(&file, strip_env_references);
    let kept = file
        .entries
        .iter()
        .filter(|p| p.key != "config.providers" && !p.key.starts_with("config.providers."))
        .count();
    match resolve_providers(&mut file) {
        Ok(()) => assert_eq!(file.entries.len(), kept, "entries lost in resolution"),
        Err(e) => {
            let shown = e.to_string();
            assert_one_line("provider error", &shown);
            if secret {
                assert_no_leak("provider error", &shown);
            }
        }
    }
}

/// `translate::translate_all` over a parsed file: never panics; errors and warnings are one
/// line and repeat no secret value.
pub fn check_translate(text: &str) {
    let Some(file) = check_parse(text) else {
        return;
    };
    let secret = marker_is_secret(&file, str::to_string);
    let entries = file
        .entries
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str(), file.origin(p)));
    match translate_all(entries) {
        Ok((_, warnings)) => {
            for w in &warnings {
                assert_one_line("translation warning", w);
                if secret {
                    assert_no_leak("translation warning", w);
                }
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert_one_line("translation error", &shown);
            if secret {
                assert_no_leak("translation error", &shown);
            }
        }
    }
}

/// The JAAS parser (`sasl.jaas.config`, a secret): never panics; its error is one line and
/// never repeats the marker; success gives exactly username and password.
pub fn check_jaas(value: &str) {
    match translate_one("sasl.jaas.config", value, &|_| None) {
        Ok(Translation::Set(pairs)) => {
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["sasl.username", "sasl.password"]);
        }
        Ok(Translation::Dropped(reason)) => panic!("JAAS config dropped: {reason}"),
        Err(message) => {
            assert_one_line("JAAS error", &message);
            assert_no_leak("JAAS error", &message);
        }
    }
}

/// `TopicFilter`: never panics; an error is one line; internal topics never match.
pub fn check_filter(include: &str, exclude: Option<&str>, topics: &[&str]) {
    match TopicFilter::new(include, exclude) {
        Ok(filter) => {
            for internal in INTERNAL_TOPICS {
                assert!(
                    !filter.matches(internal),
                    "{} selects internal topic {internal}",
                    filter.describe()
                );
            }
            for topic in topics {
                let _ = filter.matches(topic);
            }
        }
        Err(e) => assert_one_line("pattern error", &e.to_string()),
    }
}

/// A small deterministic PRNG (xorshift64*) for the bounded randomized test: no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A string of up to `max` pieces drawn from `pieces`.
    pub fn text(&mut self, pieces: &[&str], max: usize) -> String {
        (0..self.below(max + 1))
            .map(|_| self.pick(pieces))
            .collect()
    }
}

/// Fragments that exercise the syntax: separators, escapes, continuations, surrogates,
/// config-provider references, JAAS pieces and the secret marker.
const PIECES: &[&str] = &[
    "a",
    "key",
    "=",
    ":",
    " ",
    "\t",
    "\x0c",
    "\\",
    "\\\\",
    "\n",
    "\r\n",
    "\r",
    "#",
    "!",
    "\\u",
    "00e9",
    "\\uD83D",
    "\\uDE00",
    "\\uDBFF",
    "\\u12",
    "é",
    "😀",
    "${",
    "}",
    "env:",
    "env::",
    "${env:FUZZ_UNSET_VAR}",
    "${vault:x:y}",
    MARKER,
    "\"",
    ";",
    "password=\"",
    "username=\"u\" ",
    "required ",
    "org.apache.kafka.common.security.plain.PlainLoginModule ",
    "ScramLoginModule ",
    "Krb5LoginModule ",
];

const KEYS: &[&str] = &[
    "sasl.jaas.config",
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.truststore.location",
    "bootstrap.servers",
    "group.id",
    "partition.assignment.strategy",
    "key.deserializer",
    "zookeeper.connect",
    "zookeeper.session.timeout.ms",
    "config.providers",
    "sasl.mechanism",
    "unknown.key",
];

const PATTERN_PIECES: &[&str] = &[
    "a",
    ".",
    "*",
    "+",
    "?",
    "(",
    ")",
    "[",
    "]",
    "{2}",
    "{3,}",
    "|",
    ",",
    " ",
    "'",
    "\"",
    "\\",
    "\\.",
    "_",
    "__",
    "consumer_offsets",
    "__consumer_offsets",
    "(?!x)",
    "^",
    "$",
    "\n",
    "(?i)",
    "\\d",
    "[^a]",
    "é",
];

/// One random input for `target`, in the shape its fuzz target reads.
pub fn random_input(rng: &mut Rng, target: &str) -> String {
    match target {
        "topic_filter" => {
            let include = rng.text(PATTERN_PIECES, 6);
            let exclude = rng.text(PATTERN_PIECES, 3);
            let topic = rng.text(PATTERN_PIECES, 4);
            format!("{include}\0{exclude}\0{topic}")
        }
        "properties" if rng.below(2) == 0 => {
            // Round-trip shape: NUL-separated keys and values.
            (0..rng.below(4) * 2)
                .map(|_| rng.text(PIECES, 5))
                .collect::<Vec<_>>()
                .join("\0")
        }
        _ => {
            let mut text = String::new();
            for _ in 0..rng.below(5) {
                let key = rng.pick(KEYS);
                let sep = rng.pick(&["=", ":", " ", " = "]);
                let value = rng.text(PIECES, 8);
                text.push_str(&format!("{key}{sep}{value}\n"));
            }
            text
        }
    }
}
