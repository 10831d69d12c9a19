//! Java `.properties` files, parsed as `java.util.Properties.load` does, so the consumer.config
//! and producer.config files users already have for MirrorMaker load unchanged.
//!
//! Supported: `=`, `:` or white space between key and value; `#` and `!` comment lines; blank
//! lines; a backslash at the end of a line continues it (leading white space of the next line is
//! dropped); escapes `\t \n \r \f \uXXXX`, and a backslash before any other character stands for
//! that character. Files are read as UTF-8, falling back to ISO-8859-1 (Java's own encoding for
//! properties streams) when they are not valid UTF-8.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// One `key=value` entry with the line it started on (1-based), for error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl std::fmt::Debug for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if crate::secrets::is_sensitive(&self.key) {
            crate::secrets::REDACTED
        } else {
            &self.value
        };
        write!(f, "{}={:?} (line {})", self.key, value, self.line)
    }
}

/// A parsed properties file. Later entries with the same key win, as in Java.
#[derive(Clone, Debug, Default)]
pub struct PropertiesFile {
    /// Where the entries came from (`None` for text parsed from memory).
    pub path: Option<PathBuf>,
    pub entries: Vec<Property>,
}

impl PropertiesFile {
    /// Reads and parses `path`. A missing or unreadable file and a malformed line are errors
    /// that name the file (and line).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::FileRead {
            path: path.to_path_buf(),
            source,
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => err.into_bytes().iter().map(|&b| b as char).collect(),
        };
        let mut file = Self::parse(&text).map_err(|(line, message)| Error::Syntax {
            origin: format!("{}:{line}", path.display()),
            message,
        })?;
        file.path = Some(path.to_path_buf());
        Ok(file)
    }

    /// Parses properties text. The error is the 1-based line and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut entries = Vec::new();
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((index, raw)) = lines.next() {
            let first_line = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim_start_matches([' ', '\t', '\x0c']);
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                continue;
            }
            // Join continuation lines: an odd number of trailing backslashes continues.
            let mut logical = String::from(trimmed);
            while ends_with_odd_backslashes(&logical) {
                logical.pop();
                match lines.next() {
                    Some((_, next)) => {
                        let next = next.strip_suffix('\r').unwrap_or(next);
                        logical.push_str(next.trim_start_matches([' ', '\t', '\x0c']));
                    }
                    None => break,
                }
            }
            let (key, value) = split_key_value(&logical);
            let key = unescape(key).map_err(|m| (first_line, m))?;
            let value = unescape(value).map_err(|m| (first_line, m))?;
            entries.push(Property {
                key,
                value,
                line: first_line,
            });
        }
        Ok(Self {
            path: None,
            entries,
        })
    }

    /// The value of `key`, the last one if it appears more than once.
    pub fn get(&self, key: &str) -> Option<&Property> {
        self.entries.iter().rev().find(|p| p.key == key)
    }

    /// Where an entry came from, as `file:line` (or `line N` for in-memory text).
    pub fn origin(&self, property: &Property) -> String {
        match &self.path {
            Some(path) => format!("{}:{}", path.display(), property.line),
            None => format!("line {}", property.line),
        }
    }
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or white space, as Java does: white
/// space around the separator is skipped, and one `=` or `:` after white space is the separator.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = bytes.len();
    let mut has_separator = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => {
                key_end = i;
                has_separator = true;
                break;
            }
            b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(bytes.len());
    let mut j = key_end;
    if has_separator {
        j += 1;
    }
    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\x0c') {
        j += 1;
    }
    if !has_separator && j < bytes.len() && matches!(bytes[j], b'=' | b':') {
        j += 1;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\x0c') {
            j += 1;
        }
    }
    (&line[..key_end], &line[j.min(line.len())..])
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                // The digits are not repeated in the error: they may be part of a secret.
                let code = (hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        "malformed \\uXXXX escape (expected 4 hex digits)".to_string()
                    })?;
                // A surrogate pair arrives as two escapes; join them when they form one.
                if (0xD800..0xDC00).contains(&code) {
                    let rest = chars.as_str();
                    if let Some(low) = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .filter(|l| (0xDC00..0xE000).contains(l))
                    {
                        let joined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        out.push(char::from_u32(joined).unwrap_or('\u{FFFD}'));
                        chars = rest[6..].chars();
                        continue;
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, String)> {
        PropertiesFile::parse(text)
            .unwrap()
            .entries
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_and_whitespace() {
        assert_eq!(
            parse("a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf\ng=\n  h  =  spaced value  "),
            vec![
                kv("a", "1"),
                kv("b", "2"),
                kv("c", "3"),
                kv("d", "4"),
                kv("e", "5"),
                kv("f", ""),
                kv("g", ""),
                kv("h", "spaced value  "),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        assert_eq!(
            parse("# comment\n! also\n\n   \n  # indented\nx=1 # not a comment\r\n"),
            vec![kv("x", "1 # not a comment")]
        );
    }

    #[test]
    fn continuation_lines() {
        assert_eq!(
            parse("list=a,\\\n    b,\\\n    c\nnext=1"),
            vec![kv("list", "a,b,c"), kv("next", "1")]
        );
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(parse("p=C:\\\\\nq=2"), vec![kv("p", "C:\\"), kv("q", "2")]);
        // Continuation at end of file is harmless.
        assert_eq!(parse("k=v\\"), vec![kv("k", "v")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            parse("key\\ with\\=odd\\:chars=v\\tal\\nue\\u00e9\\q"),
            vec![kv("key with=odd:chars", "v\tal\nueéq")]
        );
        assert_eq!(parse("s=\\uD83D\\uDE00"), vec![kv("s", "😀")]);
    }

    #[test]
    fn malformed_unicode_escape_names_line() {
        let err = PropertiesFile::parse("ok=1\nbad=\\u12g4\n").unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("malformed \\uXXXX"), "{}", err.1);
        let err = PropertiesFile::parse("bad=\\u12").unwrap_err();
        assert_eq!(err.0, 1);
    }

    #[test]
    fn last_duplicate_wins() {
        let file = PropertiesFile::parse("a=1\na=2").unwrap();
        assert_eq!(file.get("a").unwrap().value, "2");
        assert_eq!(file.get("a").unwrap().line, 2);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = PropertiesFile::load(Path::new("/nonexistent/consumer.properties")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/consumer.properties"), "{text}");
        assert!(text.contains("No such file"), "{text}");
    }

    #[test]
    fn latin1_fallback_and_line_numbers_in_file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.properties");
        std::fs::write(&path, b"name=caf\xe9\n").unwrap();
        let file = PropertiesFile::load(&path).unwrap();
        assert_eq!(file.get("name").unwrap().value, "café");
        std::fs::write(&path, "a=1\n\nb=\\uzzzz\n").unwrap();
        let err = PropertiesFile::load(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:3:", path.display())), "{err}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let file = PropertiesFile::parse("sasl.password=hunter2\nuser=bob").unwrap();
        let shown = format!("{file:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("bob"));
    }
}
