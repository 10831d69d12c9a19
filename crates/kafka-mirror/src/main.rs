/// mimalloc for every allocation of the process, librdkafka's included (the "override"
/// feature makes it the process's malloc and free). Per record, the copy path allocates and
/// frees about six small blocks, half of them freed on another thread (delivery reports,
/// librdkafka's broker threads); glibc's malloc spent a fifth of the mirror's CPU on them.
/// Measured side by side on 1,000,000 records: 25% less CPU and 25% less time for 1 KiB
/// records, 30% for 100 B ones; peak RSS about 130 MB instead of 65 MB (README: "Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(kafka_mirror::main_with_args(std::env::args_os()))
}
