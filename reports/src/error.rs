//! The one error type of this crate.

use std::path::PathBuf;

use cohort_schema::SchemaError;

/// Why a report could not be made.
///
/// Every variant names the file it is about; input errors also name the line when there is
/// one. When [`render`](crate::render) returns an error it has written no output (its
/// temporary directory is removed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file or directory could not be read, written, created or renamed.
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
    /// An input file does not follow the harness's CSV/TOML contract: a missing column, a
    /// malformed row, a value that is not a number, an unknown run, or no data at all.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Input {
        /// The input file concerned.
        path: PathBuf,
        /// The 1-based line in that file, when the problem is on one line.
        line: Option<u64>,
        /// What is wrong, in words.
        message: String,
    },
    /// plotters failed to draw or encode a figure.
    #[error("drawing figure {figure}: {message}")]
    Draw {
        /// The figure's file stem, e.g. "mean-latency".
        figure: String,
        /// The backend's message.
        message: String,
    },
    /// The font shipped in `reports/assets/` could not be registered with plotters.
    #[error("the font shipped with cohort-reports (DejaVu Sans) could not be loaded")]
    Font,
    /// [`ablation`](crate::ablation) was given no variant to compare.
    #[error("an ablation needs at least one variant (a label and a sweep directory)")]
    NoVariants,
}

fn line_suffix(line: Option<u64>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

impl From<SchemaError> for ReportError {
    fn from(e: SchemaError) -> ReportError {
        match e {
            SchemaError::Io { op, path, source } => ReportError::Io { op, path, source },
            SchemaError::Contract {
                path,
                line,
                message,
            } => ReportError::Input {
                path,
                line,
                message,
            },
            SchemaError::Exists { path } => ReportError::Io {
                op: "creating",
                path,
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            },
            // This crate writes no CSV, and `SchemaError` may grow variants.
            other => ReportError::Input {
                path: PathBuf::new(),
                line: None,
                message: other.to_string(),
            },
        }
    }
}

impl ReportError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ReportError::Io { op, path, source }
    }

    pub(crate) fn input(
        path: impl Into<PathBuf>,
        line: Option<u64>,
        message: impl Into<String>,
    ) -> Self {
        ReportError::Input {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
