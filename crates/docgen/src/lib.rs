//! Man pages and shell completions for the four tools, rendered from their clap definitions so
//! they cannot drift from `--help`. `cargo run -p docgen` writes them; the test below fails when
//! the committed copies are stale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Every tool's command definition, by binary name.
pub fn commands() -> Vec<clap::Command> {
    vec![
        kafka_mirror::Cli::command(),
        kafka_lag_check::Cli::command(),
        kafka_topic_parity::Cli::command(),
        kafka_topic_sync::Cli::command(),
    ]
}

/// Every generated file, as (path relative to the repository root, contents).
pub fn render() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for mut cmd in commands() {
        let name = cmd.get_name().to_string();
        cmd.build();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render(&mut page)
            .expect("rendering a man page into memory");
        files.insert(PathBuf::from(format!("man/{name}.1")), page);
        for (shell, file) in [
            (Shell::Bash, format!("completions/bash/{name}")),
            (Shell::Zsh, format!("completions/zsh/_{name}")),
            (Shell::Fish, format!("completions/fish/{name}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut out);
            files.insert(PathBuf::from(file), out);
        }
    }
    files
}

/// Writes every generated file under `root`.
pub fn write(root: &Path) -> std::io::Result<usize> {
    let files = render();
    for (path, contents) in &files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(files.len())
}

/// The generated files whose committed copy under `root` is missing or different.
pub fn stale(root: &Path) -> Vec<PathBuf> {
    render()
        .into_iter()
        .filter(|(path, contents)| std::fs::read(root.join(path)).ok().as_ref() != Some(contents))
        .map(|(path, _)| path)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn committed_man_pages_and_completions_are_fresh() {
        let stale = stale(&repo_root());
        assert!(
            stale.is_empty(),
            "generated docs are stale: {stale:?}; regenerate with `cargo run -p docgen` and commit"
        );
    }

    #[test]
    fn every_tool_has_a_page_and_three_completions() {
        let files = render();
        assert_eq!(files.len(), 4 * 4);
        for name in [
            "kafka-mirror",
            "kafka-lag-check",
            "kafka-topic-parity",
            "kafka-topic-sync",
        ] {
            let page =
                String::from_utf8(files[&PathBuf::from(format!("man/{name}.1"))].clone()).unwrap();
            assert!(page.contains(".TH"), "{name} man page has no title");
            assert!(
                page.contains(&name.replace('-', "\\-")),
                "{name} man page does not name it"
            );
        }
    }
}
