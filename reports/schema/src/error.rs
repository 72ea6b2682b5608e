//! The one error type of this crate.

use std::path::{Path, PathBuf};

/// Why a run directory file could not be read or written, or a directory not staged.
///
/// Every variant names the file or directory it is about; contract errors also name the line
/// when there is one (line 1 is the header).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A file or directory could not be read, written, created, renamed or removed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done: "reading", "writing", "creating", "renaming" or "removing".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file does not follow the contract: a header that is not the contract's, a malformed
    /// row, or a cell that is not of its column's type.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Contract {
        /// The file concerned.
        path: PathBuf,
        /// The 1-based line in that file, when the problem is on one line.
        line: Option<u64>,
        /// What is wrong, in words; it names the column when there is one.
        message: String,
    },
    /// A row could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: csv::Error,
    },
    /// The output directory exists and the staging was asked not to replace it.
    #[error("output directory {} already exists", path.display())]
    Exists {
        /// The output directory.
        path: PathBuf,
    },
}

fn line_suffix(line: Option<u64>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

impl SchemaError {
    /// A closure turning an I/O error about `path` into [`SchemaError::Io`].
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| SchemaError::Io { op, path, source }
    }

    /// A [`SchemaError::Contract`] about `path`.
    pub(crate) fn contract(path: &Path, line: Option<u64>, message: impl Into<String>) -> Self {
        SchemaError::Contract {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}
