//! All-or-nothing output: files are written into a temporary directory beside the output
//! directory, and moved into place only when every one of them was written.

use std::fs;
use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ReportError;

/// A temporary directory in the output directory's parent; removed on drop unless committed.
#[derive(Debug)]
pub(crate) struct Staging {
    temp: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates the temporary directory for `out` (creating `out`'s parent if needed).
    pub(crate) fn new(out: &Path) -> Result<Staging, ReportError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let out = if out.file_name().is_none() {
            fs::canonicalize(out).map_err(ReportError::io("reading", out))?
        } else {
            out.to_path_buf()
        };
        if out.exists() && !out.is_dir() {
            return Err(ReportError::Io {
                op: "creating",
                path: out,
                source: Error::new(ErrorKind::AlreadyExists, "exists and is not a directory"),
            });
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(ReportError::io("creating", &parent))?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = parent.join(format!(".{name}.report-tmp-{}-{n}", std::process::id()));
        fs::create_dir(&temp).map_err(ReportError::io("creating", &temp))?;
        Ok(Staging {
            temp,
            out,
            committed: false,
        })
    }

    /// The temporary directory to write into.
    pub(crate) fn path(&self) -> &Path {
        &self.temp
    }

    /// Moves the written files into the output directory (renaming the whole temporary
    /// directory when the output directory does not exist yet) and returns their final
    /// paths, sorted.
    pub(crate) fn commit(mut self) -> Result<Vec<PathBuf>, ReportError> {
        let mut names: Vec<_> = fs::read_dir(&self.temp)
            .map_err(ReportError::io("reading", &self.temp))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(ReportError::io("reading", &self.temp))?;
        names.sort();
        if self.out.is_dir() {
            for name in &names {
                let (from, to) = (self.temp.join(name), self.out.join(name));
                fs::rename(&from, &to).map_err(ReportError::io("renaming", &from))?;
            }
            fs::remove_dir(&self.temp).map_err(ReportError::io("removing", &self.temp))?;
        } else {
            fs::rename(&self.temp, &self.out).map_err(ReportError::io("renaming", &self.temp))?;
        }
        self.committed = true;
        Ok(names.iter().map(|n| self.out.join(n)).collect())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the error that made us give up is what the caller needs to see.
            let _ = fs::remove_dir_all(&self.temp);
        }
    }
}
