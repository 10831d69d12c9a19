//! Topic config keys that are cluster-specific and so neither compared nor copied.
//!
//! The default list is shared by kafka-topic-sync and kafka-topic-parity and documented in both
//! READMEs; `--ignore-config KEY` extends it. A key pattern is a plain key or a simple glob in
//! which `*` stands for any run of characters (`confluent.*`).

/// The keys left alone by default, with the reason for each group.
pub const DEFAULT_IGNORED_CONFIGS: &[&str] = &[
    // MirrorMaker 2's config-sync exclusions (DefaultConfigPropertyFilter): replication throttles
    // are set per cluster by reassignment tools, the others are cluster policy.
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "unclean.leader.election.enable",
    "min.insync.replicas",
    // Removed in Kafka 4.0 (message.timestamp.difference.max.ms, above, too): a 4.x target
    // rejects them.
    "message.format.version",
    // Vendor keys: Confluent Server's (tiering, schema validation, placement constraints) and
    // Redpanda's (redpanda.remote.read/write) topic properties; Apache Kafka rejects both, so
    // copying them makes topic creation fail.
    "confluent.*",
    "redpanda.*",
];

/// The keys to ignore: the default list plus the user's patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoreList {
    patterns: Vec<String>,
}

impl Default for IgnoreList {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl IgnoreList {
    /// The default list extended by `extra` (keys or `*` globs).
    pub fn new(extra: &[String]) -> Self {
        let mut patterns: Vec<String> = DEFAULT_IGNORED_CONFIGS
            .iter()
            .map(|p| p.to_string())
            .collect();
        for p in extra {
            let p = p.trim();
            if !p.is_empty() && !patterns.iter().any(|q| q == p) {
                patterns.push(p.to_string());
            }
        }
        Self { patterns }
    }

    /// Whether `key` is left alone.
    pub fn ignores(&self, key: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, key))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// `*` matches any run of characters (possibly empty); everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*` at all: exact match
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_covers_mirrormaker_removed_and_vendor_keys() {
        let list = IgnoreList::default();
        for key in [
            "leader.replication.throttled.replicas",
            "follower.replication.throttled.replicas",
            "min.insync.replicas",
            "message.timestamp.type",
            "unclean.leader.election.enable",
            "message.format.version",
            "message.timestamp.difference.max.ms",
            "confluent.tier.enable",
            "confluent.value.schema.validation",
            "redpanda.remote.read",
        ] {
            assert!(list.ignores(key), "{key}");
        }
        for key in [
            "retention.ms",
            "cleanup.policy",
            "min.compaction.lag.ms",
            "message.timestamp.after.max.ms",
            "confluent", // the prefix pattern needs the dot
            "xconfluent.tier.enable",
        ] {
            assert!(!list.ignores(key), "{key}");
        }
    }

    #[test]
    fn extra_keys_and_globs() {
        let list = IgnoreList::new(&[
            "retention.ms".into(),
            "segment.*".into(),
            "*.lag.*".into(),
            " ".into(),
        ]);
        assert!(list.ignores("retention.ms"));
        assert!(!list.ignores("retention.bytes"));
        assert!(list.ignores("segment.bytes"));
        assert!(list.ignores("segment.ms"));
        assert!(list.ignores("min.compaction.lag.ms"));
        assert!(!list.ignores("cleanup.policy"));
        assert_eq!(list.patterns().len(), DEFAULT_IGNORED_CONFIGS.len() + 3);
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob_match("a*b*c", "abc"));
        assert!(glob_match("a*b*c", "a-b-b-c"));
        assert!(!glob_match("a*b*c", "a-c"));
        assert!(glob_match("*", ""));
        assert!(glob_match("ab*", "ab"));
        assert!(
            !glob_match("ab*ba", "aba"),
            "the two literals must not overlap"
        );
        assert!(!glob_match("abc", "abcd"));
    }
}
