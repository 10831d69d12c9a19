//! kafka-lag-check: see the library (`kafka_lag_check`) for everything.

use std::process::ExitCode;

fn main() -> ExitCode {
    kafka_lag_check::main()
}
