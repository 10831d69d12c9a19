//! kafka-topic-parity: checks that the target cluster's topics match the source's, for CI
//! preflight. The comparison model and the ignore list are kafka-topic-sync's
//! ([`kafka_topic_sync::compare`]); this crate turns the differences into findings and adds the
//! record-count check.

pub mod data;
pub mod findings;
pub mod tool;

pub use tool::{main, run, Cli};
