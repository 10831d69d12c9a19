fn main() -> std::process::ExitCode {
    kafka_bench::cli::main()
}
