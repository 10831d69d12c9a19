//! The topic filter, with MirrorMaker's semantics: Java-style regular expressions matched against
//! the whole topic name, a comma meaning `|`, an include and an optional exclude pattern.
//! Internal topics are never selected by a pattern, however broad.

use regex::Regex;

use crate::error::Error;

/// Topics the broker flags internal (Kafka's `Topic.isInternal`) plus KRaft's metadata log.
/// The broker flags no others, so the name is enough to know.
pub const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
    "__cluster_metadata",
];

pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

#[derive(Clone, Debug)]
pub struct TopicFilter {
    include: Regex,
    exclude: Option<Regex>,
    include_source: String,
    exclude_source: Option<String>,
}

impl TopicFilter {
    /// Builds a filter. A pattern that does not compile is an error naming it.
    pub fn new(include: &str, exclude: Option<&str>) -> Result<Self, Error> {
        Ok(Self {
            include: compile(include)?,
            exclude: exclude.map(compile).transpose()?,
            include_source: include.to_string(),
            exclude_source: exclude.map(str::to_string),
        })
    }

    /// Selects every topic (but internal ones).
    pub fn all() -> Self {
        Self::new(".*", None).expect("'.*' is a valid pattern")
    }

    pub fn matches(&self, topic: &str) -> bool {
        !is_internal_topic(topic)
            && self.include.is_match(topic)
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(topic))
    }

    /// The patterns as given, for reports.
    pub fn describe(&self) -> String {
        match &self.exclude_source {
            Some(ex) => format!("include '{}', exclude '{ex}'", self.include_source),
            None => format!("include '{}'", self.include_source),
        }
    }
}

/// MirrorMaker 1's whitelist normalisation (`IncludeList`): trim, drop spaces and surrounding
/// quotes, `,` → `|`; then anchor so the whole name must match, as Java's `matches()` does.
fn compile(pattern: &str) -> Result<Regex, Error> {
    let normalised: String = pattern
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| if c == ',' { '|' } else { c })
        .collect();
    if normalised.is_empty() {
        return Err(Error::Pattern {
            pattern: pattern.to_string(),
            message: "the pattern is empty".into(),
        });
    }
    Regex::new(&format!("^(?:{normalised})$")).map_err(|e| Error::Pattern {
        pattern: pattern.to_string(),
        message: regex_error_line(&e),
    })
}

/// The regex crate's errors span several lines with a caret diagram; keep the last line, which
/// says what is wrong.
fn regex_error_line(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with("error:"))
            .map(|l| {
                l.trim_start()
                    .trim_start_matches("error:")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| text.lines().last().unwrap_or_default().to_string()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_name_must_match() {
        let f = TopicFilter::new("orders", None).unwrap();
        assert!(f.matches("orders"));
        assert!(!f.matches("orders-v2"));
        assert!(!f.matches("old-orders"));
    }

    #[test]
    fn comma_means_or_and_spaces_quotes_are_dropped() {
        let f = TopicFilter::new(" 'orders, payments.*' ", None).unwrap();
        assert!(f.matches("orders"));
        assert!(f.matches("payments-eu"));
        assert!(!f.matches("users"));
    }

    #[test]
    fn exclude_wins() {
        let f = TopicFilter::new("app\\..*", Some(".*\\.internal,.*-tmp")).unwrap();
        assert!(f.matches("app.orders"));
        assert!(!f.matches("app.orders.internal"));
        assert!(!f.matches("app.x-tmp"));
    }

    #[test]
    fn internal_topics_never_selected() {
        let f = TopicFilter::all();
        assert!(f.matches("anything"));
        for t in INTERNAL_TOPICS {
            assert!(!f.matches(t), "{t}");
        }
        let f = TopicFilter::new("__consumer_offsets", None).unwrap();
        assert!(!f.matches("__consumer_offsets"));
        // Other topics that merely start with "__" are user topics and can be selected.
        assert!(TopicFilter::new("__.*", None).unwrap().matches("__mine"));
    }

    #[test]
    fn bad_patterns_are_one_line_errors_naming_the_pattern() {
        let err = TopicFilter::new("orders(", None).unwrap_err().to_string();
        assert!(err.starts_with("invalid topic pattern 'orders(':"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = TopicFilter::new("ok", Some("[z-a]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'[z-a]'") && !err.contains('\n'), "{err}");
        // Java look-ahead is not supported by the regex crate: still a clear error.
        let err = TopicFilter::new("(?!tmp).*", None).unwrap_err().to_string();
        assert!(
            err.contains("look-around") || err.contains("not supported"),
            "{err}"
        );
        assert!(TopicFilter::new("  ", None)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
