//! Stops a build whose librdkafka was not prepared from the patches the repository has now.
//!
//! Cargo.toml's `[patch.crates-io]` builds rdkafka-sys from `.deps/rdkafka-sys`, which `bin/deps`
//! makes from the registry crate and `third_party/librdkafka/*.patch`, keeping a copy of each
//! patch it applied in `.deps/rdkafka-sys/kafka-mirror-patches/`. After a pull that changes a
//! patch, a plain `cargo build` would quietly build the old copy; every tool depends on this
//! crate, so checking here catches it.

use std::fs;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wanted_dir = root.join("third_party/librdkafka");
    let applied_dir = root.join(".deps/rdkafka-sys/kafka-mirror-patches");
    // Cargo scans a directory named here for any change to the files below it.
    println!("cargo:rerun-if-changed={}", wanted_dir.display());
    println!("cargo:rerun-if-changed={}", applied_dir.display());

    // (file name, contents) of each patch in `dir`, by name.
    let patches = |dir: &Path| -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut found: Vec<_> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "patch"))
            .map(|p| {
                (
                    p.file_name().unwrap_or_default().to_owned(),
                    fs::read(&p).unwrap_or_default(),
                )
            })
            .collect();
        found.sort();
        found
    };
    if patches(&wanted_dir) != patches(&applied_dir) {
        panic!(
            "\n\n.deps/rdkafka-sys was not prepared from the patches in third_party/librdkafka \
             (they changed since, or it predates them): run bin/deps, then build again.\n\n"
        );
    }
}
