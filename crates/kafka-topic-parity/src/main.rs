//! kafka-topic-parity: everything lives in the library (see `kafka_topic_parity::tool`).

fn main() -> std::process::ExitCode {
    kafka_topic_parity::main()
}
