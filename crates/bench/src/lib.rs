//! kafka-bench: the benchmark behind `bin/bench`.
//!
//! `kafka-bench run` drives everything (topics, fills, each tool as a measured child process,
//! verification, cleanup, the report). `kafka-bench produce` / `kafka-bench consume` are the bare
//! librdkafka producer and consumer: the fill, and the "limit" cases, run as their own processes
//! so that their CPU and memory are measured exactly like a mirror's.

pub mod cli;
pub mod driver;
pub mod kafka;
pub mod load;
pub mod measure;
pub mod report;
pub mod side;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Kafka(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("cannot start {0}")]
    Spawn(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Usage(String),
    #[error("verification failed: {0}")]
    Verify(String),
}

impl BenchError {
    pub fn io(what: impl AsRef<Path>, e: std::io::Error) -> Self {
        BenchError::Io(format!("{}: {e}", what.as_ref().display()))
    }

    pub fn kafka(what: &'static str) -> impl Fn(rdkafka::error::KafkaError) -> BenchError {
        move |e| BenchError::Kafka(format!("{what}: {e}"))
    }
}
