//! Opens a segment through a read-only memory map, validates its footer and decodes chunks.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::decode::{
    append_batch, expand, int_column, null_column, sparse_column, split_bitmap, split_validity,
};
use super::format::{
    check_structure, BlockRef, Compression, DictInfo, Footer, FORMAT_VERSION, HEADER_LEN, MAGIC,
    TRAILER_LEN,
};
use super::{SegmentError, SegmentMeta, Zone};
use crate::column::{ColumnBatch, ColumnVec, StrDict};
use crate::encoding::{self, dictionary, rle, DecodeError};
use crate::mmap::SealedMap;
use crate::row::get_varint;
use crate::schema::{ColumnType, Schema};

/// An open, immutable segment. `Send + Sync`: share it behind an `Arc` between scans.
#[derive(Debug)]
pub struct Segment {
    /// Process-unique, never reused: the block cache's key for this segment's blocks.
    id: u64,
    path: PathBuf,
    map: SealedMap,
    meta: SegmentMeta,
    footer: Footer,
    schema: &'static Schema,
    /// For each schema column, its index in the segment's own column list (`None`: the segment
    /// predates the column, which then reads as all null).
    column_map: Vec<Option<usize>>,
    /// Decoded dictionaries, per segment column, filled on first use.
    dicts: Vec<OnceLock<Arc<StrDict>>>,
}

impl Segment {
    /// Maps `path` and checks magic, version, footer checksum and the footer's structure (every
    /// block inside the file, blocks contiguous and in order, row counts consistent). Block
    /// checksums are verified when blocks are read.
    pub fn open(path: &Path) -> Result<Segment, SegmentError> {
        let corrupt = |offset: u64, reason: &str| SegmentError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: reason.to_owned(),
        };
        let len = std::fs::metadata(path)
            .map_err(|source| SegmentError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(corrupt(0, "file shorter than header and trailer"));
        }
        let map = SealedMap::open(path).map_err(|source| SegmentError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bytes: &[u8] = &map;
        let file_len = bytes.len();
        if bytes[..8] != MAGIC {
            return Err(corrupt(0, "bad header magic"));
        }
        let trailer_start = file_len - TRAILER_LEN;
        let trailer = &bytes[trailer_start..];
        if trailer[12..20] != MAGIC {
            return Err(corrupt(trailer_start as u64 + 12, "bad trailer magic"));
        }
        let footer_len = u32_at(trailer, 0) as usize;
        let footer_crc = u32_at(trailer, 4);
        let version = u32_at(trailer, 8);
        if footer_len > trailer_start - HEADER_LEN {
            return Err(corrupt(trailer_start as u64, "footer length exceeds file"));
        }
        let footer_start = trailer_start - footer_len;
        let footer_bytes = &bytes[footer_start..trailer_start];
        let mut crc = crc32c::crc32c(footer_bytes);
        crc = crc32c::crc32c_append(crc, &trailer[0..4]);
        crc = crc32c::crc32c_append(crc, &trailer[8..12]);
        if crc != footer_crc {
            return Err(corrupt(footer_start as u64, "footer checksum mismatch"));
        }
        if version != FORMAT_VERSION {
            return Err(SegmentError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        if u32_at(bytes, 8) != version {
            return Err(corrupt(8, "header version differs from trailer version"));
        }
        let footer = Footer::parse(footer_bytes).map_err(|(pos, e)| {
            corrupt((footer_start + pos) as u64, &format!("bad footer: {e}"))
        })?;
        check_structure(&footer, footer_start as u64)
            .map_err(|(offset, e)| corrupt(offset, &e.to_string()))?;

        let schema = footer.table.schema();
        let mut column_map = Vec::with_capacity(schema.len());
        for def in schema.columns {
            let found = footer.columns.iter().position(|(name, _)| name == def.name);
            if let Some(i) = found {
                let ty = footer.columns[i].1;
                if ty != def.ty {
                    return Err(SegmentError::SchemaMismatch {
                        path: path.to_path_buf(),
                        column: def.name.to_owned(),
                        found: ty.name(),
                        expected: def.ty.name(),
                    });
                }
            }
            column_map.push(found);
        }
        let meta = SegmentMeta {
            table: footer.table,
            site: footer.site.clone(),
            day: footer.day,
            row_count: footer.row_count,
            min_ts: footer.min_ts,
            max_ts: footer.max_ts,
            file_bytes: file_len as u64,
        };
        let dicts = footer.columns.iter().map(|_| OnceLock::new()).collect();
        Ok(Segment {
            id: NEXT_SEGMENT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_path_buf(),
            map,
            meta,
            footer,
            schema,
            column_map,
            dicts,
        })
    }

    /// Default bytes of the process-wide block cache ([`Segment::read_chunk_cached`]): 64 MiB.
    pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 64 << 20;

    /// Bytes of decompressed column blocks the process-wide block cache may hold.
    pub fn block_cache_capacity() -> usize {
        block_cache().capacity.load(Ordering::Relaxed)
    }

    /// Sets the block cache's capacity for the whole process (0 turns it off); blocks beyond
    /// it are dropped, oldest first. Meant for the daemon's configuration at startup.
    pub fn set_block_cache_capacity(bytes: usize) {
        let cache = block_cache();
        cache.capacity.store(bytes, Ordering::Relaxed);
        cache.lock().shrink_to(bytes);
    }

    /// Bytes the block cache holds now.
    pub fn block_cache_bytes() -> usize {
        block_cache().lock().bytes
    }

    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn chunk_count(&self) -> usize {
        self.footer.chunks.len()
    }

    /// Rows in `chunk`. Panics if `chunk >= chunk_count()`.
    pub fn chunk_rows(&self, chunk: usize) -> usize {
        self.footer.chunks[chunk].rows
    }

    /// Min/max of schema column `column` in `chunk`; `None` when every value is null. Panics if
    /// `chunk` or `column` is out of range.
    pub fn zone(&self, chunk: usize, column: usize) -> Option<Zone> {
        let info = &self.footer.chunks[chunk];
        let seg_col = self.column_map[column]?;
        info.columns[seg_col].zone
    }

    /// Null values of schema column `column` in `chunk` (every row when the segment predates
    /// the column). Panics if `chunk` or `column` is out of range.
    pub fn null_count(&self, chunk: usize, column: usize) -> u64 {
        let info = &self.footer.chunks[chunk];
        self.column_map[column].map_or(info.rows as u64, |c| info.columns[c].null_count)
    }

    /// Stored (compressed) bytes of schema column `column` in `chunk`, for bytes-read
    /// statistics. Panics if `chunk` or `column` is out of range.
    pub fn compressed_bytes(&self, chunk: usize, column: usize) -> u64 {
        let info = &self.footer.chunks[chunk];
        self.column_map[column].map_or(0, |c| info.columns[c].block.stored_len)
    }

    /// Stored bytes of the dictionary of `Str` schema column `column` (0 for other types), which
    /// a scan of that column reads once per segment.
    pub fn dictionary_bytes(&self, column: usize) -> u64 {
        self.column_map
            .get(column)
            .copied()
            .flatten()
            .and_then(|c| self.footer.dicts[c].as_ref())
            .map_or(0, |d| d.block.stored_len)
    }

    /// The segment's sorted dictionary of `Str` schema column `column`, decoded once and shared
    /// by every batch read from this segment (codes are comparable across chunks).
    pub fn dictionary(&self, column: usize) -> Result<Arc<StrDict>, SegmentError> {
        self.check_column(column)?;
        match self.column_map[column] {
            Some(seg_col) => self.dict_of(seg_col),
            None => Ok(Arc::new(StrDict::new())),
        }
    }

    /// Decodes schema columns `columns` of `chunk`, verifying each block's checksum first.
    pub fn read_chunk(&self, chunk: usize, columns: &[usize]) -> Result<ColumnBatch, SegmentError> {
        self.read_chunk_rows(chunk, columns, None, false)
    }

    /// [`Segment::read_chunk`] (or [`Segment::read_chunk_at`] with `rows`) for a query scan:
    /// decompressed blocks are kept in the process-wide, size-bounded block cache
    /// ([`Segment::set_block_cache_capacity`], 64 MiB by default) and taken from it on later reads, so a block's checksum is
    /// verified and its zstd frame decompressed once while it stays cached. Scrubbing,
    /// recovery and compaction use the uncached reads, which always verify the file.
    pub fn read_chunk_cached(
        &self,
        chunk: usize,
        columns: &[usize],
        rows: Option<&[u32]>,
    ) -> Result<ColumnBatch, SegmentError> {
        self.read_chunk_rows(chunk, columns, rows, true)
    }

    /// [`Segment::read_chunk`] for a reader that will look at rows `rows` (ascending) only: a
    /// column whose values can be read in place (plain or frame-of-reference integers, codes
    /// and booleans) is decoded at those rows alone and reads as null at every other row; other
    /// columns are decoded whole. Checksums are verified as for a full read.
    pub fn read_chunk_at(
        &self,
        chunk: usize,
        columns: &[usize],
        rows: &[u32],
    ) -> Result<ColumnBatch, SegmentError> {
        self.read_chunk_rows(chunk, columns, Some(rows), false)
    }

    fn read_chunk_rows(
        &self,
        chunk: usize,
        columns: &[usize],
        rows_at: Option<&[u32]>,
        cached: bool,
    ) -> Result<ColumnBatch, SegmentError> {
        if chunk >= self.footer.chunks.len() {
            return Err(SegmentError::OutOfRange {
                what: "chunk",
                index: chunk,
                len: self.footer.chunks.len(),
            });
        }
        let rows = self.footer.chunks[chunk].rows;
        let mut out = Vec::with_capacity(columns.len());
        let mut runs_cache = None;
        for &column in columns {
            self.check_column(column)?;
            out.push(match self.column_map[column] {
                Some(seg_col) => {
                    self.decode_column(chunk, seg_col, &mut runs_cache, rows_at, cached)?
                }
                None => null_column(self.schema.column(column).ty, rows),
            });
        }
        Ok(ColumnBatch {
            column_indexes: columns.to_vec(),
            columns: out,
            row_count: rows,
        })
    }

    /// Every schema column of every row (compaction, erasure), chunks concatenated in order.
    pub fn read_all(&self) -> Result<ColumnBatch, SegmentError> {
        let all: Vec<usize> = (0..self.schema.len()).collect();
        let mut batch = ColumnBatch {
            column_indexes: all.clone(),
            columns: all
                .iter()
                .map(|&c| null_column(self.schema.column(c).ty, 0))
                .collect(),
            row_count: 0,
        };
        for (c, col) in batch.columns.iter_mut().enumerate() {
            if let (ColumnVec::Str { dict, .. }, Some(seg_col)) = (col, self.column_map[c]) {
                *dict = self.dict_of(seg_col)?;
            }
        }
        for chunk in 0..self.chunk_count() {
            let part = self.read_chunk(chunk, &all)?;
            append_batch(&mut batch, part);
        }
        Ok(batch)
    }

    /// Whether schema column `column` holds no value at all (every chunk all null, or the
    /// segment lacks the column). Reads only the footer.
    pub fn column_is_all_null(&self, column: usize) -> bool {
        match self.column_map.get(column).copied().flatten() {
            None => true,
            Some(seg_col) => self
                .footer
                .chunks
                .iter()
                .all(|c| c.columns[seg_col].null_count == c.rows as u64),
        }
    }

    pub(super) fn footer(&self) -> &Footer {
        &self.footer
    }

    pub(super) fn schema(&self) -> &'static Schema {
        self.schema
    }

    /// Index of schema column `column` in the segment's own column list.
    pub(super) fn segment_column(&self, column: usize) -> Option<usize> {
        self.column_map.get(column).copied().flatten()
    }

    /// The stored (possibly compressed) bytes of a block, after checking its checksum.
    pub(super) fn stored_block(&self, block: &BlockRef) -> Result<&[u8], SegmentError> {
        let start = block.offset as usize;
        let stored = &self.map[start..start + block.stored_len as usize];
        if crc32c::crc32c(stored) != block.crc {
            return Err(self.corrupt(block.offset, "checksum mismatch".into()));
        }
        Ok(stored)
    }

    fn check_column(&self, column: usize) -> Result<(), SegmentError> {
        if column >= self.schema.len() {
            return Err(SegmentError::OutOfRange {
                what: "column",
                index: column,
                len: self.schema.len(),
            });
        }
        Ok(())
    }

    fn corrupt(&self, offset: u64, reason: String) -> SegmentError {
        SegmentError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// The checksummed, decompressed payload of a block.
    fn block(
        &self,
        block: &BlockRef,
        what: &dyn Fn() -> String,
    ) -> Result<Cow<'_, [u8]>, SegmentError> {
        // `check_structure` guarantees the range lies inside the map.
        let start = block.offset as usize;
        let stored = &self.map[start..start + block.stored_len as usize];
        if crc32c::crc32c(stored) != block.crc {
            return Err(self.corrupt(block.offset, format!("checksum mismatch in {}", what())));
        }
        match block.compression {
            Compression::None => Ok(Cow::Borrowed(stored)),
            Compression::Zstd => {
                let raw = decompress(stored, block.raw_len as usize).map_err(|e| {
                    self.corrupt(block.offset, format!("zstd error in {}: {e}", what()))
                })?;
                if raw.len() as u64 != block.raw_len {
                    return Err(self.corrupt(
                        block.offset,
                        format!("decompressed length mismatch in {}", what()),
                    ));
                }
                Ok(Cow::Owned(raw))
            }
        }
    }

    /// [`Segment::block`], through the block cache when `cached` (compressed blocks only:
    /// stored ones are read from the map anyway).
    fn column_block(
        &self,
        block: &BlockRef,
        what: &dyn Fn() -> String,
        cached: bool,
    ) -> Result<BlockBytes<'_>, SegmentError> {
        let cache = cached.then(block_cache).filter(|c| {
            c.capacity.load(Ordering::Relaxed) > 0 && block.compression == Compression::Zstd
        });
        let Some(cache) = cache else {
            return self.block(block, what).map(BlockBytes::Read);
        };
        let key = (self.id, block.offset);
        if let Some(hit) = cache.get(key) {
            return Ok(BlockBytes::Cached(hit));
        }
        let shared = Arc::new(self.block(block, what)?.into_owned());
        cache.insert(key, Arc::clone(&shared));
        Ok(BlockBytes::Cached(shared))
    }

    fn dict_of(&self, seg_col: usize) -> Result<Arc<StrDict>, SegmentError> {
        if let Some(dict) = self.dicts[seg_col].get() {
            return Ok(Arc::clone(dict));
        }
        let Some(DictInfo { entries, block }) = &self.footer.dicts[seg_col] else {
            return Err(self.corrupt(0, format!("column {seg_col} has no dictionary")));
        };
        let name = &self.footer.columns[seg_col].0;
        let raw = self.block(block, &|| format!("dictionary of {name}"))?;
        let dict = dictionary::decode(&raw, *entries)
            .map_err(|e| self.corrupt(block.offset, format!("dictionary of {name}: {e}")))?;
        // Another thread may have won the race; everyone returns the stored Arc.
        let _ = self.dicts[seg_col].set(Arc::new(dict));
        let stored = self.dicts[seg_col]
            .get()
            .ok_or_else(|| self.corrupt(block.offset, "dictionary cache empty".into()))?;
        Ok(Arc::clone(stored))
    }

    fn decode_column(
        &self,
        chunk: usize,
        seg_col: usize,
        cache: &mut Option<(usize, Arc<Vec<u32>>)>,
        rows_at: Option<&[u32]>,
        cached: bool,
    ) -> Result<ColumnVec, SegmentError> {
        let info = &self.footer.chunks[chunk];
        let col = &info.columns[seg_col];
        let (name, ty) = &self.footer.columns[seg_col];
        let what = || format!("chunk {chunk} column {name}");
        let corrupt = |e: DecodeError| self.corrupt(col.block.offset, format!("{}: {e}", what()));
        let dict = match ty {
            ColumnType::Str => Some(self.dict_of(seg_col)?),
            _ => None,
        };
        let raw = self.column_block(&col.block, &what, cached)?;
        let present = info.rows - col.null_count as usize;
        if let Some(rows) = rows_at {
            let (bitmap, values) =
                split_bitmap(&raw, info.rows, col.null_count).map_err(corrupt)?;
            let sparse =
                sparse_column(*ty, values, present, bitmap, info.rows, rows, dict.as_ref())
                    .map_err(corrupt)?;
            if let Some(column) = sparse {
                return Ok(column);
            }
        }
        let (validity, values) =
            split_validity(&raw, info.rows, col.null_count).map_err(corrupt)?;
        if *ty == ColumnType::Float {
            let floats = encoding::decode_floats(values, present).map_err(corrupt)?;
            return Ok(ColumnVec::Float {
                values: expand(floats, validity.as_deref(), 0.0),
                validity,
            });
        }
        let ints = match values.split_first() {
            Some((&rle::GROUP_RUNS_TAG, rest)) => {
                let mut pos = 0;
                let group = get_varint(rest, &mut pos)
                    .and_then(|g| usize::try_from(g).ok())
                    .ok_or_else(|| corrupt(DecodeError("bad group column")))?;
                let runs = self.group_runs(chunk, group, seg_col, cache, cached)?;
                let count = rle::runs_with_values(&runs, validity.as_deref());
                let per_run = encoding::decode_ints(&rest[pos..], count).map_err(corrupt)?;
                rle::expand_runs(&runs, validity.as_deref(), &per_run, info.rows)
                    .map_err(corrupt)?
            }
            _ => {
                if let Some(dict) = dict.as_ref().filter(|_| present > 0) {
                    let limit = u32::try_from(dict.len()).unwrap_or(u32::MAX);
                    if let Some(codes) =
                        encoding::decode_codes(values, present, limit).map_err(corrupt)?
                    {
                        return Ok(ColumnVec::Str {
                            dict: Arc::clone(dict),
                            codes: expand(codes, validity.as_deref(), 0),
                            validity,
                        });
                    }
                }
                encoding::decode_ints(values, present).map_err(corrupt)?
            }
        };
        int_column(*ty, ints, validity, dict).map_err(corrupt)
    }

    /// Run lengths of segment column `group` in `chunk`, for columns encoded as group runs.
    fn group_runs(
        &self,
        chunk: usize,
        group: usize,
        caller: usize,
        cache: &mut Option<(usize, Arc<Vec<u32>>)>,
        cached: bool,
    ) -> Result<Arc<Vec<u32>>, SegmentError> {
        if let Some((cached, runs)) = cache.as_ref() {
            if *cached == group {
                return Ok(Arc::clone(runs));
            }
        }
        let info = &self.footer.chunks[chunk];
        let caller_offset = info.columns[caller].block.offset;
        let valid_group = group != caller
            && self
                .footer
                .columns
                .get(group)
                .is_some_and(|(_, ty)| *ty != ColumnType::Float);
        if !valid_group {
            return Err(self.corrupt(
                caller_offset,
                format!("chunk {chunk}: bad group column {group}"),
            ));
        }
        let col = &info.columns[group];
        let name = &self.footer.columns[group].0;
        let what = || format!("chunk {chunk} group column {name}");
        let corrupt = |e: DecodeError| self.corrupt(col.block.offset, format!("{}: {e}", what()));
        let raw = self.column_block(&col.block, &what, cached)?;
        let (validity, values) =
            split_validity(&raw, info.rows, col.null_count).map_err(corrupt)?;
        if values.first() == Some(&rle::GROUP_RUNS_TAG) {
            return Err(corrupt(DecodeError(
                "group column is itself group-run encoded",
            )));
        }
        let present = info.rows - col.null_count as usize;
        let ints = encoding::decode_ints(values, present).map_err(corrupt)?;
        let full = expand(ints, validity.as_deref(), 0);
        let runs = Arc::new(rle::run_lengths(&full, validity.as_deref()));
        *cache = Some((group, Arc::clone(&runs)));
        Ok(runs)
    }
}

/// A column block's decompressed payload: read for this call, or shared with the cache.
enum BlockBytes<'a> {
    Read(Cow<'a, [u8]>),
    Cached(Arc<Vec<u8>>),
}

impl std::ops::Deref for BlockBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            BlockBytes::Read(bytes) => bytes,
            BlockBytes::Cached(bytes) => bytes,
        }
    }
}

static NEXT_SEGMENT_ID: AtomicU64 = AtomicU64::new(0);

/// Decompressed blocks keyed by (segment id, block offset), evicted oldest first once their
/// bytes would exceed the capacity. Segments are immutable and their ids never reused, so an
/// entry is never stale; the blocks of a dropped segment age out.
struct BlockCache {
    capacity: AtomicUsize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    blocks: HashMap<(u64, u64), Arc<Vec<u8>>>,
    order: VecDeque<(u64, u64)>,
    bytes: usize,
}

fn block_cache() -> &'static BlockCache {
    static CACHE: OnceLock<BlockCache> = OnceLock::new();
    CACHE.get_or_init(|| BlockCache {
        capacity: AtomicUsize::new(Segment::DEFAULT_BLOCK_CACHE_BYTES),
        inner: Mutex::new(CacheInner::default()),
    })
}

impl CacheInner {
    /// Drops the oldest blocks until at most `limit` bytes remain.
    fn shrink_to(&mut self, limit: usize) {
        while self.bytes > limit {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(evicted) = self.blocks.remove(&old) {
                self.bytes -= evicted.len();
            }
        }
    }
}

impl BlockCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // The map stays consistent even if a holder panicked: take it back.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: (u64, u64)) -> Option<Arc<Vec<u8>>> {
        self.lock().blocks.get(&key).cloned()
    }

    fn insert(&self, key: (u64, u64), block: Arc<Vec<u8>>) {
        let len = block.len();
        let capacity = self.capacity.load(Ordering::Relaxed);
        if len > capacity / 4 {
            return;
        }
        let mut inner = self.lock();
        if inner.blocks.contains_key(&key) {
            return;
        }
        inner.shrink_to(capacity - len);
        inner.bytes += len;
        inner.order.push_back(key);
        inner.blocks.insert(key, block);
    }
}

thread_local! {
    /// One zstd decompression context per thread, reused across blocks (creating one per block
    /// costs more than decoding a small block).
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn decompress(stored: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(stored, raw_len)
    })
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
