#![no_main]

#[allow(dead_code)]
#[path = "../checks/config.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run("topic_filter", data));
