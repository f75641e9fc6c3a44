//! Read-only memory maps of sealed segment files. This is the only module of the crate with
//! `unsafe` code.
//!
//! Mapping a file is unsafe because the mapped bytes change if another process writes or
//! truncates the file. The store only maps *sealed* files: a segment is written to a temporary
//! name, fsynced and renamed into place, and is never opened for writing again; it is deleted
//! (unlinked) only when no snapshot references it, and unlinking does not affect existing maps.
//! Empty files are never mapped (a zero-length map is an error on some platforms and a segment is
//! never empty), so [`SealedMap::open`] rejects them.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::Path;

/// An immutable, read-only memory map of a whole sealed file.
#[derive(Debug)]
pub struct SealedMap {
    map: memmap2::Mmap,
}

impl SealedMap {
    /// Maps `path` read-only. Fails with `InvalidData` for an empty file.
    pub fn open(path: &Path) -> io::Result<SealedMap> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "refusing to map an empty file",
            ));
        }
        // SAFETY: `path` names a sealed segment file: it was fsynced and renamed into place by
        // the segment writer and no code in this crate opens it for writing again, so the mapped
        // bytes do not change for the lifetime of the map. Deleting the file only unlinks it; the
        // map keeps the inode alive. A process outside the store truncating the file could still
        // raise SIGBUS, which is outside the store's contract (the data directory is private).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(SealedMap { map })
    }
}

impl Deref for SealedMap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn maps_file_bytes_and_rejects_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"sealed").unwrap();
        let map = SealedMap::open(&path).unwrap();
        assert_eq!(&*map, b"sealed");
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let err = SealedMap::open(&dir.path().join("empty")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
