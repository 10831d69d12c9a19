//! kafka-topic-sync: everything lives in the library (see `kafka_topic_sync::tool`).

fn main() -> std::process::ExitCode {
    kafka_topic_sync::main()
}
