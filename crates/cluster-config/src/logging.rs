//! Logging to stderr for every tool: `tool: LEVEL: message`. `RUST_LOG` (env_logger syntax)
//! overrides the level; librdkafka's own lines are under the `librdkafka` target at debug.

use std::io::Write;

/// rust-rdkafka's consumer drop closes the consumer, and logs an error when it was closed
/// already: kafka-mirror closes its consumers itself (with shorter polls), so that line is
/// noise. Shown again with `RUST_LOG=rdkafka::consumer::base_consumer=debug`.
const QUIET_MODULE: &str = "rdkafka::consumer::base_consumer";

/// Initialises the logger once. `default` is the level used without RUST_LOG ("warn", "info").
pub fn init(tool: &'static str, default: &str) {
    let filters = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
    let _ = env_logger::Builder::new()
        .filter_module(QUIET_MODULE, log::LevelFilter::Off)
        // Later directives for the same module replace the one above.
        .parse_filters(&filters)
        .format(move |buf, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            writeln!(buf, "{tool}: {level}: {}", record.args())
        })
        .target(env_logger::Target::Stderr)
        .try_init();
}
