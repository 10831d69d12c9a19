//! kafka-topic-sync: brings the target cluster's topics in line with the source's, as a plan
//! first and for real with `--apply`; and [`ensure_topics`], the library call kafka-mirror makes
//! to create missing target topics.
//!
//! The comparison model ([`compare`]), the ignore list ([`ignore`]) and the cluster and
//! selection options ([`args`]) are shared with kafka-topic-parity: sync plans from the
//! differences, parity reports them.

pub mod actions;
pub mod apply;
pub mod args;
pub mod compare;
pub mod ensure;
pub mod ignore;
pub mod plan;
pub mod tool;

pub use ensure::{ensure_topics, ensure_topics_with, Cluster, EnsureAction, EnsureOutcome};
pub use ignore::{IgnoreList, DEFAULT_IGNORED_CONFIGS};
pub use tool::{main, run, Cli};
