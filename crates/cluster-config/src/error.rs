//! The one error type every tool shares, and the published table of exit codes.
//!
//! Every message is one line that names the thing at fault (a file and line, a key, a pattern,
//! a cluster) and never contains a secret value.

use std::path::PathBuf;
use std::time::Duration;

use crate::admin_ext::AdminError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read: {source}", path.display())]
    FileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A malformed line in a properties file. `origin` is `file:line`.
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    /// A property that cannot be honoured. `origin` is `file:line` or the command-line flag.
    #[error("{origin}: {}: {message}", key.escape_debug())]
    Property {
        origin: String,
        key: String,
        message: String,
    },
    #[error("invalid topic pattern '{}': {message}", pattern.escape_debug())]
    Pattern { pattern: String, message: String },
    /// Bad command-line usage that clap cannot see (conflicting or missing options).
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach the {cluster} cluster at {bootstrap} within {}: {cause}", humantime_secs(*timeout))]
    Unreachable {
        cluster: String,
        bootstrap: String,
        timeout: Duration,
        cause: String,
    },
    #[error("{context}: {source}")]
    Kafka {
        context: String,
        source: rdkafka::error::KafkaError,
    },
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl Error {
    pub fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Self::Kafka {
            context: context.into(),
            source,
        }
    }
}

fn humantime_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Exit codes: a published contract, documented in README.md. Each tool follows the convention
/// its users already script against.
pub mod exit {
    /// kafka-lag-check follows the Nagios/Icinga plugin guidelines in every output format.
    pub mod nagios {
        pub const OK: u8 = 0;
        pub const WARNING: u8 = 1;
        pub const CRITICAL: u8 = 2;
        /// Bad arguments, a missing group, a cluster not reachable within --timeout.
        pub const UNKNOWN: u8 = 3;
    }

    /// kafka-topic-parity and kafka-topic-sync follow diff(1): 0 same, 1 different, 2 trouble.
    pub mod compare {
        /// Parity holds, or (sync) the plan was printed or fully applied.
        pub const SAME: u8 = 0;
        /// Differences found (parity), or differences that --apply cannot fix (sync).
        pub const DIFFERENT: u8 = 1;
        /// Bad arguments or configuration, an unreachable cluster, a failed action.
        pub const TROUBLE: u8 = 2;
    }

    /// kafka-mirror.
    pub mod mirror {
        /// Stopped on request (SIGINT/SIGTERM) or caught up with --until-caught-up, everything
        /// acked committed.
        pub const OK: u8 = 0;
        /// A runtime failure: a cluster unreachable, a commit that failed, a fatal client error.
        pub const FAILURE: u8 = 1;
        /// Bad arguments or configuration: nothing was consumed or written.
        pub const USAGE: u8 = 2;
        /// A record could not be delivered (abort.on.send.failure=true): what was acked before
        /// it is committed, the record and those after it will be read again on restart.
        pub const SEND_FAILED: u8 = 3;
    }
}
