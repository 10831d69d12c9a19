//! `cargo run -p docgen`: regenerate man/ and completions/ from the clap definitions.

fn main() -> std::process::ExitCode {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match docgen::write(&root) {
        Ok(n) => {
            eprintln!("docgen: wrote {n} files under man/ and completions/");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("docgen: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
