//! Write-ahead log: append-only files of checksummed frames, one frame per group-commit batch.
//!
//! ```text
//! file    := frame*                      named wal-<first lsn, 20 digits>.log
//! frame   := magic:u32 len:u32 crc:u32 payload[len]        all integers little-endian
//!            magic = 0x4C57_4445 ("EDWL" as bytes), crc = crc32c(len bytes ++ payload)
//! payload := first_lsn:u64 record_count:u32 record{record_count}
//! record  := table:u8 arrival_us:i64 row_count:u32 byte_len:u32 rows[byte_len]
//! ```
//!
//! Record `i` of a frame has LSN `first_lsn + i`; LSNs grow by one per append across frames and
//! files. A frame is the unit of atomicity: a group-commit batch of many appends is one frame, so a
//! torn write loses the whole (unacknowledged) batch and never half of it. See
//! docs/format-wal-manifest.md for recovery rules.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::failpoints;
use crate::row::RowBuf;
use crate::schema::Table;

pub const FRAME_MAGIC: u32 = 0x4C57_4445;
pub const FRAME_HEADER_BYTES: usize = 12;
/// Largest payload a frame may carry; bigger lengths are treated as corruption on replay.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = 256 << 20;
const PAYLOAD_HEADER_BYTES: usize = 12;
const RECORD_HEADER_BYTES: usize = 17;

/// One append as stored in the WAL.
#[derive(Debug, Clone, PartialEq)]
pub struct WalRecord {
    pub lsn: u64,
    pub arrival_us: i64,
    pub rows: RowBuf,
}

pub fn file_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.log")
}

/// Parses `wal-<lsn>.log`.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// WAL files of `dir`, sorted by first LSN.
pub fn list_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(lsn) = entry.file_name().to_str().and_then(parse_file_name) {
            files.push((lsn, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Encodes one frame holding `records` (table, arrival time, rows), numbered from `first_lsn`.
pub fn encode_frame(first_lsn: u64, records: &[(i64, &RowBuf)]) -> Vec<u8> {
    let payload_len = PAYLOAD_HEADER_BYTES
        + records
            .iter()
            .map(|(_, rows)| RECORD_HEADER_BYTES + rows.as_bytes().len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + payload_len);
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&(payload_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&first_lsn.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for (arrival_us, rows) in records {
        out.push(rows.table().id());
        out.extend_from_slice(&arrival_us.to_le_bytes());
        out.extend_from_slice(&(rows.row_count() as u32).to_le_bytes());
        out.extend_from_slice(&(rows.as_bytes().len() as u32).to_le_bytes());
        out.extend_from_slice(rows.as_bytes());
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[4..8]), &out[FRAME_HEADER_BYTES..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    out
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let raw = bytes.get(at..at + 8)?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(raw);
    Some(u64::from_le_bytes(buf))
}

/// Decodes the frame starting at `at`. Returns its records and the offset after it, or why the
/// bytes there are not a valid frame.
pub fn decode_frame(bytes: &[u8], at: usize) -> Result<(Vec<WalRecord>, usize), &'static str> {
    if bytes.len() - at < FRAME_HEADER_BYTES {
        return Err("truncated frame header");
    }
    if le_u32(bytes, at) != Some(FRAME_MAGIC) {
        return Err("bad frame magic");
    }
    let len = le_u32(bytes, at + 4).ok_or("truncated frame header")? as usize;
    if len > MAX_FRAME_PAYLOAD_BYTES {
        return Err("frame length out of range");
    }
    let start = at + FRAME_HEADER_BYTES;
    let end = start.checked_add(len).ok_or("frame length out of range")?;
    let payload = bytes.get(start..end).ok_or("truncated frame payload")?;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[at + 4..at + 8]), payload);
    if le_u32(bytes, at + 8) != Some(crc) {
        return Err("frame checksum mismatch");
    }
    let records = decode_payload(payload).ok_or("malformed frame payload")?;
    Ok((records, end))
}

fn decode_payload(payload: &[u8]) -> Option<Vec<WalRecord>> {
    let first_lsn = le_u64(payload, 0)?;
    let count = le_u32(payload, 8)? as usize;
    let mut pos = PAYLOAD_HEADER_BYTES;
    let mut records = Vec::with_capacity(count.min(payload.len() / RECORD_HEADER_BYTES));
    for i in 0..count {
        let table = Table::from_id(*payload.get(pos)?)?;
        let arrival_us = le_u64(payload, pos + 1)? as i64;
        let row_count = le_u32(payload, pos + 9)? as usize;
        let byte_len = le_u32(payload, pos + 13)? as usize;
        pos += RECORD_HEADER_BYTES;
        let row_bytes = payload.get(pos..pos.checked_add(byte_len)?)?;
        pos += byte_len;
        let rows = RowBuf::from_bytes(table, row_bytes.to_vec()).ok()?;
        if rows.row_count() != row_count {
            return None;
        }
        records.push(WalRecord {
            lsn: first_lsn.checked_add(i as u64)?,
            arrival_us,
            rows,
        });
    }
    (pos == payload.len()).then_some(records)
}

/// A region of a WAL file that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRegion {
    pub offset: u64,
    pub len: u64,
    pub reason: &'static str,
}

/// What replaying one WAL file found.
#[derive(Debug, Default)]
pub struct FileReplay {
    pub records: Vec<WalRecord>,
    /// Corrupt regions followed by valid frames (or, in a file that is not the last, at its end).
    pub corrupt: Vec<CorruptRegion>,
    /// Offset of an invalid tail to cut off (only for the last file).
    pub torn_tail_at: Option<(u64, &'static str)>,
}

/// Scans the bytes of one WAL file. A bad frame with a valid frame somewhere after it is a
/// corrupt region in the middle; a bad frame with nothing valid after it is a torn tail when
/// `is_last_file`, otherwise a corrupt region.
pub fn replay_bytes(bytes: &[u8], is_last_file: bool) -> FileReplay {
    let mut replay = FileReplay::default();
    let mut pos = 0;
    while pos < bytes.len() {
        match decode_frame(bytes, pos) {
            Ok((records, next)) => {
                replay.records.extend(records);
                pos = next;
            }
            Err(reason) => {
                let resume = next_valid_frame(bytes, pos + 1);
                match resume {
                    Some(next) => {
                        replay.corrupt.push(CorruptRegion {
                            offset: pos as u64,
                            len: (next - pos) as u64,
                            reason,
                        });
                        pos = next;
                    }
                    None if is_last_file => {
                        replay.torn_tail_at = Some((pos as u64, reason));
                        break;
                    }
                    None => {
                        replay.corrupt.push(CorruptRegion {
                            offset: pos as u64,
                            len: (bytes.len() - pos) as u64,
                            reason,
                        });
                        break;
                    }
                }
            }
        }
    }
    replay
}

fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    let magic = FRAME_MAGIC.to_le_bytes();
    let mut at = from;
    while at + FRAME_HEADER_BYTES <= bytes.len() {
        let found = bytes[at..].windows(4).position(|w| w == magic)?;
        at += found;
        if decode_frame(bytes, at).is_ok() {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The WAL file currently appended to. Owned by the writer thread.
pub struct WalWriter {
    file: File,
    path: PathBuf,
    first_lsn: u64,
    len: u64,
    /// A failed write could not be cut back: the file may hold a partial frame.
    broken: bool,
}

impl WalWriter {
    /// Creates `wal-<first_lsn>.log` (which must not exist) and fsyncs the directory.
    pub fn create(dir: &Path, first_lsn: u64) -> io::Result<WalWriter> {
        let path = dir.join(file_name(first_lsn));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        sync_dir(dir)?;
        Ok(WalWriter {
            file,
            path,
            first_lsn,
            len: 0,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a failed write left bytes that could not be removed; the store must stop writing.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Writes one encoded frame. On failure the file is cut back to its previous length, so a
    /// partial frame never sits in front of later frames.
    pub fn append(&mut self, frame: &[u8]) -> io::Result<()> {
        let result = failpoints::check(failpoints::WAL_WRITE)
            .inspect_err(|_| {
                // Simulate a short write before the failure, as a full disk does.
                let _ = self.file.write_all(&frame[..frame.len() / 2]);
            })
            .and_then(|()| self.file.write_all(frame));
        match result {
            Ok(()) => {
                self.len += frame.len() as u64;
                Ok(())
            }
            Err(error) => {
                let cut = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
                if cut.is_err() {
                    self.broken = true;
                }
                Err(error)
            }
        }
    }

    /// fsyncs the file data. A failure here must poison the store.
    pub fn sync(&mut self) -> io::Result<()> {
        failpoints::check(failpoints::WAL_FSYNC)?;
        self.file.sync_data()
    }
}

/// fsyncs a directory so renames, creations and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;
    use crate::row::Value;

    fn rows(n: usize, tag: &str) -> RowBuf {
        let mut buf = RowBuf::new(Table::Sessions);
        for i in 0..n {
            let id = format!("{tag}-{i}");
            let mut row = vec![Value::Null; Table::Sessions.schema().len()];
            row[0] = Value::Str(&id);
            row[3] = Value::Int(i as i64);
            buf.push_row(&row).unwrap();
        }
        buf
    }

    #[test]
    fn frames_round_trip_and_number_records() {
        let (a, b) = (rows(3, "a"), rows(1, "b"));
        let frame = encode_frame(7, &[(10, &a), (11, &b)]);
        let (records, end) = decode_frame(&frame, 0).unwrap();
        assert_eq!(end, frame.len());
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].lsn, records[0].arrival_us), (7, 10));
        assert_eq!(records[0].rows, a);
        assert_eq!((records[1].lsn, &records[1].rows), (8, &b));
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("wal-42.log"), None);
        assert_eq!(parse_file_name("wal-0000000000000000004x.log"), None);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let r = rows(2, "x");
        let frame = encode_frame(1, &[(5, &r)]);
        for i in 0..frame.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = frame.clone();
                bad[i] ^= bit;
                assert!(decode_frame(&bad, 0).is_err(), "flip at {i} not detected");
            }
        }
    }

    #[test]
    fn middle_corruption_is_skipped_and_tail_is_torn() {
        let (a, b, c) = (rows(2, "a"), rows(2, "b"), rows(2, "c"));
        let f1 = encode_frame(1, &[(0, &a)]);
        let f2 = encode_frame(2, &[(0, &b)]);
        let f3 = encode_frame(3, &[(0, &c)]);
        let mut bytes = [f1.clone(), f2.clone(), f3.clone()].concat();
        bytes[f1.len() + 20] ^= 0xff;
        let replay = replay_bytes(&bytes, true);
        let lsns: Vec<u64> = replay.records.iter().map(|r| r.lsn).collect();
        assert_eq!(lsns, [1, 3]);
        assert_eq!(
            replay.corrupt,
            [CorruptRegion {
                offset: f1.len() as u64,
                len: f2.len() as u64,
                reason: "frame checksum mismatch"
            }]
        );
        assert_eq!(replay.torn_tail_at, None);

        for cut in 1..f3.len() {
            let torn = &bytes[..bytes.len() - cut];
            let replay = replay_bytes(torn, true);
            let lsns: Vec<u64> = replay.records.iter().map(|r| r.lsn).collect();
            assert_eq!(lsns, [1]);
            assert_eq!(replay.torn_tail_at.map(|t| t.0), Some(f1.len() as u64));
            let replay = replay_bytes(torn, false);
            assert_eq!(replay.torn_tail_at, None);
            assert_eq!(replay.corrupt.len(), 1);
        }
    }

    #[test]
    fn writer_appends_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::create(dir.path(), 5).unwrap();
        assert!(WalWriter::create(dir.path(), 5).is_err());
        let r = rows(4, "w");
        wal.append(&encode_frame(5, &[(1, &r)])).unwrap();
        wal.sync().unwrap();
        let files = list_files(dir.path()).unwrap();
        assert_eq!(files, [(5, wal.path().to_path_buf())]);
        let replay = replay_bytes(&fs::read(wal.path()).unwrap(), true);
        assert_eq!(replay.records[0].rows, r);
    }
}
