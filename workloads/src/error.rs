//! Errors in workload files, with the file, line and column they come from.

use thiserror::Error;

/// Something wrong with a workload, as a message a person can act on.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WorkloadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: String,
        /// The system's reason.
        message: String,
    },
    /// A problem at a place in the file.
    #[error("{path}:{line}:{column}: {message}")]
    At {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A problem with the workload as a whole, or with an override given on the command line.
    #[error("{path}: {message}")]
    Whole {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// 1-based line and column of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn positions_are_one_based() {
        let s = "ab\ncd\nef";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 4), (2, 2));
        assert_eq!(line_column(s, 6), (3, 1));
    }
}
