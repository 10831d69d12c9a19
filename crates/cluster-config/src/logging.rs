//! Logging to stderr for every tool: `tool: LEVEL: message`. `RUST_LOG` (env_logger syntax)
//! overrides the level; librdkafka's own lines are under the `librdkafka` target at debug.

use std::io::Write;

/// Initialises the logger once. `default` is the level used without RUST_LOG ("warn", "info").
pub fn init(tool: &'static str, default: &str) {
    let env = env_logger::Env::default().default_filter_or(default);
    let _ = env_logger::Builder::from_env(env)
        .format(move |buf, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            writeln!(buf, "{tool}: {level}: {}", record.args())
        })
        .target(env_logger::Target::Stderr)
        .try_init();
}
