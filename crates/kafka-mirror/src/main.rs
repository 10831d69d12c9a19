fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(kafka_mirror::main_with_args(std::env::args_os()))
}
