//! A node's disk for spilled objects: each object one file in a directory that the node owns
//! and removes when it is dropped (a node process leaves nothing behind).
//!
//! As with the store, what to spill and when to read it back is the head's decision (the same
//! core as in the simulator, with `[cluster] spilling`); this only moves the bytes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A directory of spilled objects.
///
/// Invariant: `dir` exists and holds exactly one file per id in `objects`, named
/// `object-ID`, until the value is dropped, which removes the directory.
#[derive(Debug)]
pub struct SpillDir {
    dir: PathBuf,
    objects: BTreeSet<u64>,
}

impl SpillDir {
    /// Makes a new, empty directory `name` inside `parent` (which must exist); fails if it
    /// exists already, rather than take over another node's files.
    pub fn create(parent: &Path, name: &str) -> std::io::Result<SpillDir> {
        let dir = parent.join(name);
        std::fs::create_dir(&dir)?;
        Ok(SpillDir {
            dir,
            objects: BTreeSet::new(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, id: u64) -> PathBuf {
        self.dir.join(format!("object-{id}"))
    }

    /// Writes object `id`'s bytes to its file (replacing an earlier copy), synced to disk.
    pub fn write(&mut self, id: u64, bytes: &[u8]) -> std::io::Result<()> {
        let mut f = std::fs::File::create(self.file(id))?;
        f.write_all(bytes)?;
        f.sync_data()?;
        self.objects.insert(id);
        Ok(())
    }

    /// Object `id`'s bytes, read back; `None` if it is not here.
    pub fn read(&self, id: u64) -> std::io::Result<Option<Vec<u8>>> {
        if !self.objects.contains(&id) {
            return Ok(None);
        }
        std::fs::read(self.file(id)).map(Some)
    }

    /// Deletes object `id`'s file; returns whether it was here.
    pub fn remove(&mut self, id: u64) -> std::io::Result<bool> {
        if !self.objects.remove(&id) {
            return Ok(false);
        }
        std::fs::remove_file(self.file(id))?;
        Ok(true)
    }

    /// Objects on this disk.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::SharedStore;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cohort-live-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn an_object_spilled_and_read_back_is_the_same_bytes_and_nothing_is_left_behind() {
        let parent = scratch("spill");
        let mut store = SharedStore::new(1 << 20);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        store.put(5, &data).unwrap();
        let dir_path;
        {
            let mut disk = SpillDir::create(&parent, "node-0").unwrap();
            dir_path = disk.path().to_path_buf();
            // Another node's directory of the same name is not taken over.
            assert!(SpillDir::create(&parent, "node-0").is_err());
            // Spill: to disk, out of memory; then back.
            disk.write(5, &store.get(5).unwrap()).unwrap();
            assert!(store.remove(5));
            assert_eq!(disk.read(6).unwrap(), None);
            let back = disk.read(5).unwrap().unwrap();
            store.put(5, &back).unwrap();
            assert_eq!(&store.get(5).unwrap()[..], &data[..]);
            assert!(disk.remove(5).unwrap());
            assert!(!disk.remove(5).unwrap());
            disk.write(9, b"left here").unwrap();
            assert_eq!(disk.len(), 1);
        }
        // Dropped: its directory and the file still in it are gone.
        assert!(!dir_path.exists());
        std::fs::remove_dir(&parent).unwrap();
    }
}
