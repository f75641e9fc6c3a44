//! The manifest: the list of live segments and the WAL checkpoint, in one JSON file that is
//! replaced atomically.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::failpoints;
use crate::schema::Table;
use crate::wal::sync_dir;

pub const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_TEMP_FILE: &str = "manifest.json.tmp";
pub const FORMAT_VERSION: u32 = 1;

/// One live segment file in `segments/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    pub file: String,
    /// Table name (`events`, `sessions`).
    pub table: String,
    pub site: String,
    /// UTC day of the time column: days since 1970-01-01.
    pub day: i32,
    pub row_count: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub file_bytes: u64,
    /// When the newest rows of this segment were written (µs since the epoch); the dedup window
    /// treats it as the arrival time of the segment's rows.
    pub created_us: i64,
}

impl SegmentEntry {
    pub fn table(&self) -> Option<Table> {
        Table::from_name(&self.table)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// Every WAL record with an LSN at or below this is in the segments below.
    pub checkpoint_lsn: u64,
    /// The number in the next segment file name (`seg-<id, 16 hex digits>.seg`).
    pub next_segment_id: u64,
    pub segments: Vec<SegmentEntry>,
}

impl Manifest {
    pub fn empty() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            ..Manifest::default()
        }
    }

    /// Reads `dir/manifest.json`; `Ok(None)` if it does not exist (a new store).
    pub fn load(dir: &Path) -> Result<Option<Manifest>, StoreError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: format!("manifest is not valid: {e}"),
            })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(StoreError::Corrupt {
                path,
                offset: 0,
                reason: format!("unsupported manifest version {}", manifest.format_version),
            });
        }
        Ok(Some(manifest))
    }

    /// Replaces `dir/manifest.json`: writes a temp file in the same directory, fsyncs it, renames
    /// it over the manifest and fsyncs the directory. After a crash at any point the manifest is
    /// either untouched (the old version) or fully written (the new one), never a mix.
    pub fn store(&self, dir: &Path) -> Result<(), StoreError> {
        let temp = dir.join(MANIFEST_TEMP_FILE);
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| StoreError::Corrupt {
            path: temp.clone(),
            offset: 0,
            reason: format!("manifest does not serialize: {e}"),
        })?;
        let write = || -> io::Result<()> {
            failpoints::check(failpoints::MANIFEST_WRITE)?;
            let mut file = File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, dir.join(MANIFEST_FILE))?;
            sync_dir(dir)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&temp);
            StoreError::io(dir.join(MANIFEST_FILE), e)
        })
    }

    pub fn segment_file_name(id: u64) -> String {
        format!("seg-{id:016x}.seg")
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), None);
        let mut m = Manifest::empty();
        m.checkpoint_lsn = 9;
        m.segments.push(SegmentEntry {
            file: Manifest::segment_file_name(1),
            table: "events".into(),
            site: "a.com".into(),
            day: 20_000,
            row_count: 3,
            min_ts: 1,
            max_ts: 2,
            file_bytes: 100,
            created_us: 5,
        });
        m.store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Some(m));
        fs::write(dir.path().join(MANIFEST_FILE), b"{\"format_version\":1,").unwrap();
        assert!(matches!(
            Manifest::load(dir.path()),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
