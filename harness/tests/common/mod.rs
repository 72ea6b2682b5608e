//! What the `cohort` binary's tests share: a sandbox directory to run it in, and readers of
//! what it writes.

#![allow(dead_code)] // Each test binary uses its own part.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory of its own under cargo's temporary directory for tests, holding `tiny.toml`.
/// It is emptied when made and kept afterwards, to look at after a failure.
pub struct Sandbox {
    /// The directory.
    pub dir: PathBuf,
}

impl Sandbox {
    /// A fresh sandbox called `name` (unique across all the test binaries) with `tiny` as
    /// `tiny.toml`.
    pub fn new(name: &str, tiny: &str) -> Sandbox {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tiny.toml"), tiny).unwrap();
        Sandbox { dir }
    }

    /// Writes `text` to the file `name` in the sandbox.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Runs `cohort` with `args` in the sandbox.
    pub fn cohort(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cohort"))
            .args(args)
            .current_dir(&self.dir)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// A path in the sandbox.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// Entries of the sandbox other than the workloads and libraries it was given (to catch
    /// leftovers).
    pub fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !n.ends_with(".toml") && !n.ends_with(std::env::consts::DLL_SUFFIX))
            .collect();
        v.sort();
        v
    }
}

/// The path of a shipped workload file.
pub fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../workloads/files")
        .join(name)
        .display()
        .to_string()
}

/// The text of a CSV file of a run directory, stored plain or gzip-compressed (`NAME.gz`).
pub fn read_csv(path: &Path) -> String {
    if path.is_file() {
        return std::fs::read_to_string(path).unwrap();
    }
    let gz = path.with_extension("csv.gz");
    let bytes = std::fs::read(&gz).unwrap_or_else(|e| panic!("{}: {e}", gz.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// What a command wrote on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The command failed on bad input: exit code 2, a message with `needle`, no panic.
pub fn assert_bad(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "expected {needle:?} in: {}",
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

/// Processes still running whose environment holds the variable `tag` (`NAME=VALUE`), each
/// as `pid: command line`.
pub fn tagged_processes(tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|v| v == tag.as_bytes()) {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{name}: {}", String::from_utf8_lossy(&cmd)));
        }
    }
    found
}

/// The rows of a CSV as maps from column to cell.
pub fn rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

/// A cell of `row` as a whole number.
pub fn number(row: &BTreeMap<String, String>, column: &str) -> u64 {
    row[column].parse().unwrap()
}
