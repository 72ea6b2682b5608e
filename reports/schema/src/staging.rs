//! All-or-nothing output directories: everything is written into a temporary directory beside
//! the output directory and moved into place only when all of it was written; a [`Staging`]
//! dropped without [`commit`](Staging::commit) removes what it made.

use std::fs;
use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::SchemaError;

/// The temporary directories of the stagings alive in this process (and the parents each
/// created), for [`abandon_all`].
static LIVE: Mutex<Vec<(PathBuf, Vec<PathBuf>)>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Vec<PathBuf>)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the temporary directory of every [`Staging`] alive in this process, as dropping
/// each would. For a process about to exit without unwinding (on Ctrl-C, from a signal
/// handler's thread): nothing half-written is left behind. Stagings used afterwards fail.
pub fn abandon_all() {
    abandon_where(|_| true);
}

/// [`abandon_all`] for the stagings whose temporary directory satisfies `pred`.
fn abandon_where(pred: impl Fn(&Path) -> bool) {
    let mut live = live();
    let (gone, kept): (Vec<_>, Vec<_>) = live.drain(..).partition(|(temp, _)| pred(temp));
    *live = kept;
    drop(live);
    for (temp, created) in gone {
        remove(&temp, &created);
    }
}

/// Removes `temp` and the parents in `created` (deepest first) that are empty.
fn remove(temp: &Path, created: &[PathBuf]) {
    // Best effort: the error that made the caller give up is what it needs to see.
    let _ = fs::remove_dir_all(temp);
    for dir in created {
        let _ = fs::remove_dir(dir);
    }
}

/// What [`Staging`] does about an output directory that already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse it: [`Staging::new`] fails with [`SchemaError::Exists`].
    Refuse,
    /// Replace it whole at [`commit`](Staging::commit).
    Replace,
    /// Move the staged entries into it at [`commit`](Staging::commit), replacing entries of
    /// the same names and keeping the others.
    Merge,
}

/// A temporary directory in the output directory's parent, removed on drop unless committed
/// (and with it any parent directories that [`Staging::new`] created).
#[derive(Debug)]
pub struct Staging {
    temp: PathBuf,
    out: PathBuf,
    existing: Existing,
    /// Directories created for the output's parent, deepest first.
    created: Vec<PathBuf>,
    committed: bool,
}

impl Staging {
    /// Creates the temporary directory for `out`, creating `out`'s parent if needed.
    ///
    /// Fails if `out` exists and is not a directory, or exists and `existing` is
    /// [`Existing::Refuse`].
    pub fn new(out: &Path, existing: Existing) -> Result<Staging, SchemaError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // "." or "..": stage beside the directory they name.
        let out = if out.file_name().is_none() {
            fs::canonicalize(out).map_err(SchemaError::io("reading", out))?
        } else {
            out.to_path_buf()
        };
        let name = match out.file_name() {
            Some(name) => name.to_string_lossy().into_owned(),
            None => {
                return Err(SchemaError::Io {
                    op: "creating",
                    path: out,
                    source: Error::new(ErrorKind::InvalidInput, "does not name a directory"),
                });
            }
        };
        if out.exists() {
            if !out.is_dir() {
                return Err(SchemaError::Io {
                    op: "creating",
                    path: out,
                    source: Error::new(ErrorKind::AlreadyExists, "exists and is not a directory"),
                });
            }
            if existing == Existing::Refuse {
                return Err(SchemaError::Exists { path: out });
            }
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let staging = Staging {
            temp: parent.join(format!(".{name}.tmp-{}-{n}", std::process::id())),
            out,
            existing,
            created,
            committed: false,
        };
        // From here on, dropping `staging` on an error removes what was made.
        fs::create_dir_all(&parent).map_err(SchemaError::io("creating", &parent))?;
        if staging.temp.exists() {
            fs::remove_dir_all(&staging.temp)
                .map_err(SchemaError::io("removing", &staging.temp))?;
        }
        fs::create_dir(&staging.temp).map_err(SchemaError::io("creating", &staging.temp))?;
        live().push((staging.temp.clone(), staging.created.clone()));
        Ok(staging)
    }

    /// The temporary directory to write into.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The output directory.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Moves what was written into the output directory and returns the final paths of the
    /// top-level entries, sorted. The whole temporary directory is renamed unless the output
    /// directory exists and is merged into ([`Existing::Merge`]).
    pub fn commit(mut self) -> Result<Vec<PathBuf>, SchemaError> {
        let mut names: Vec<_> = fs::read_dir(&self.temp)
            .map_err(SchemaError::io("reading", &self.temp))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(SchemaError::io("reading", &self.temp))?;
        names.sort();
        if self.out.is_dir() && self.existing == Existing::Merge {
            for name in &names {
                let (from, to) = (self.temp.join(name), self.out.join(name));
                fs::rename(&from, &to).map_err(SchemaError::io("renaming", &from))?;
            }
            fs::remove_dir(&self.temp).map_err(SchemaError::io("removing", &self.temp))?;
        } else {
            if self.out.exists() {
                fs::remove_dir_all(&self.out).map_err(SchemaError::io("removing", &self.out))?;
            }
            fs::rename(&self.temp, &self.out).map_err(SchemaError::io("renaming", &self.temp))?;
        }
        self.committed = true;
        self.forget();
        Ok(names.iter().map(|n| self.out.join(n)).collect())
    }
}

impl Staging {
    /// Takes this staging off the list [`abandon_all`] removes.
    fn forget(&self) {
        live().retain(|(temp, _)| *temp != self.temp);
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.forget();
        remove(&self.temp, &self.created);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn dropped_without_commit_leaves_nothing_not_even_the_parents_it_made() {
        let s = Scratch::new("drop");
        let out = s.path().join("a/b/out");
        let staging = Staging::new(&out, Existing::Refuse).expect("stage");
        assert!(staging.path().is_dir());
        assert!(staging.path().starts_with(s.path().join("a/b")));
        fs::write(staging.path().join("x.csv"), "x").expect("write");
        drop(staging);
        assert_eq!(s.entries(), Vec::<String>::new());
        // A parent that was there before is kept.
        fs::create_dir(s.path().join("keep")).expect("mkdir");
        drop(Staging::new(&s.path().join("keep/out"), Existing::Refuse).expect("stage"));
        assert_eq!(s.entries(), ["keep"]);
        assert!(
            fs::read_dir(s.path().join("keep"))
                .expect("read")
                .next()
                .is_none()
        );
    }

    #[test]
    fn abandon_all_removes_every_live_staging() {
        let s = Scratch::new("abandon");
        let a = Staging::new(&s.path().join("a"), Existing::Refuse).expect("stage");
        let b = Staging::new(&s.path().join("deep/b"), Existing::Refuse).expect("stage");
        fs::write(a.path().join("x.csv"), "x").expect("write");
        let kept = Staging::new(&s.path().join("kept"), Existing::Refuse).expect("stage");
        kept.commit().expect("commit");
        // Only this test's stagings: other tests may stage in parallel in this process.
        let ours = |t: &PathBuf| t.starts_with(s.path());
        assert_eq!(live().iter().filter(|(t, _)| ours(t)).count(), 2);
        abandon_where(|t| t.starts_with(s.path()));
        assert_eq!(s.entries(), ["kept"]);
        drop((a, b));
        assert_eq!(s.entries(), ["kept"]);
    }

    #[test]
    fn commit_moves_into_place() {
        let s = Scratch::new("commit");
        let out = s.path().join("new/out");
        let staging = Staging::new(&out, Existing::Refuse).expect("stage");
        fs::write(staging.path().join("b.csv"), "b").expect("write");
        fs::write(staging.path().join("a.csv"), "a").expect("write");
        let files = staging.commit().expect("commit");
        assert_eq!(files, [out.join("a.csv"), out.join("b.csv")]);
        assert_eq!(fs::read_to_string(out.join("a.csv")).expect("read"), "a");
        assert_eq!(s.entries(), ["new"]);
        assert_eq!(
            fs::read_dir(s.path().join("new")).expect("read").count(),
            1,
            "a temporary directory is left"
        );
    }

    #[test]
    fn an_existing_directory_is_refused_replaced_or_merged_into() {
        let s = Scratch::new("existing");
        let out = s.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        fs::write(out.join("keep.txt"), "mine").expect("write");
        fs::write(out.join("a.csv"), "old").expect("write");

        let err = Staging::new(&out, Existing::Refuse).expect_err("refused");
        assert!(
            matches!(&err, SchemaError::Exists { path } if *path == out),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("output directory {} already exists", out.display())
        );

        let merge = Staging::new(&out, Existing::Merge).expect("stage");
        fs::write(merge.path().join("a.csv"), "new").expect("write");
        merge.commit().expect("commit");
        assert_eq!(fs::read_to_string(out.join("a.csv")).expect("read"), "new");
        assert_eq!(
            fs::read_to_string(out.join("keep.txt")).expect("read"),
            "mine"
        );

        let replace = Staging::new(&out, Existing::Replace).expect("stage");
        fs::write(replace.path().join("b.csv"), "b").expect("write");
        replace.commit().expect("commit");
        let mut names: Vec<_> = fs::read_dir(&out)
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["b.csv"]);
        assert_eq!(s.entries(), ["out"]);

        // A file in the way is refused whatever the mode, and nothing is made.
        fs::write(s.path().join("file"), "x").expect("write");
        for mode in [Existing::Refuse, Existing::Replace, Existing::Merge] {
            let err = Staging::new(&s.path().join("file"), mode).expect_err("not a directory");
            assert!(err.to_string().contains("not a directory"), "{err}");
        }
        assert_eq!(s.entries(), ["file", "out"]);
    }
}
