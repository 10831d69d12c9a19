#![no_main]

#[allow(dead_code)]
#[path = "../checks/range.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        checks::check_range(text);
    }
});
