//! Builds a segment file from a [`ColumnBatch`]: row ordering, per-chunk encoding choice, zone
//! maps, compression, checksums and the atomic temp-file → rename protocol.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::encode::{encode_column_chunk, int_like_values, row_order, GroupRuns, StrColumn};
use super::format::{
    BlockRef, ChunkInfo, ColumnChunkInfo, Compression, DictInfo, Footer, FORMAT_VERSION, MAGIC,
    MAX_CHUNK_ROWS,
};
use super::{SegmentError, SegmentMeta};
use crate::column::{ColumnBatch, ColumnVec};
use crate::encoding::{dictionary, rle};
use crate::schema::{ColumnType, Schema, Table};

/// Row order inside a segment. Queries never depend on it; it only decides how well columns
/// compress and how selective zone maps are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    /// Keep the batch's order.
    AsGiven,
    /// By the schema's time column (nulls first), ties in batch order.
    Time,
    /// Rows of one value of the `Str` column `group` (a session) together, groups ordered by
    /// their earliest timestamp, rows within a group by time. A session's rows then share runs
    /// of session, visitor, country, device… and its timestamps are small deltas.
    GroupThenTime { group: usize },
}

impl SortOrder {
    /// `GroupThenTime` on the table's `session_id` column when it has one, else `Time`.
    pub fn default_for(table: Table) -> SortOrder {
        let schema = table.schema();
        match schema.index_of("session_id") {
            Some(group) if schema.column(group).ty == ColumnType::Str => {
                SortOrder::GroupThenTime { group }
            }
            _ => SortOrder::Time,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Rows per chunk (the unit of zone-map pruning and of decoding), 1..=2^20.
    pub chunk_rows: usize,
    /// zstd level for every block.
    pub zstd_level: i32,
    pub sort: SortOrder,
}

impl WriteOptions {
    pub const DEFAULT_CHUNK_ROWS: usize = 64 * 1024;
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

    pub fn for_table(table: Table) -> WriteOptions {
        WriteOptions {
            chunk_rows: WriteOptions::DEFAULT_CHUNK_ROWS,
            zstd_level: WriteOptions::DEFAULT_ZSTD_LEVEL,
            sort: SortOrder::default_for(table),
        }
    }
}

/// Writes `batch` (all schema columns, in schema order) as segment `dir/file_name` with the
/// table's default [`WriteOptions`]. See [`write_segment_with`].
pub fn write_segment(
    dir: &Path,
    file_name: &str,
    table: Table,
    site: &str,
    day: i32,
    batch: &ColumnBatch,
) -> Result<SegmentMeta, SegmentError> {
    write_segment_with(
        dir,
        file_name,
        table,
        site,
        day,
        batch,
        &WriteOptions::for_table(table),
    )
}

/// Writes `batch` as a segment: first to `dir/<file_name>.tmp`, fsynced, then renamed to
/// `dir/file_name`, then `dir` fsynced. Either `file_name` ends up fully written or it is left
/// untouched (a crash may leave the `.tmp` file behind, which the store deletes on open). Rows
/// may be reordered as `options.sort` says.
pub fn write_segment_with(
    dir: &Path,
    file_name: &str,
    table: Table,
    site: &str,
    day: i32,
    batch: &ColumnBatch,
    options: &WriteOptions,
) -> Result<SegmentMeta, SegmentError> {
    let schema = table.schema();
    validate(schema, batch)?;
    write_atomically(dir, file_name, |tmp_path| {
        write_file(
            tmp_path,
            schema,
            site,
            day,
            batch,
            options,
            encode_threads(batch.row_count),
        )
    })
}

/// Runs `write` on `dir/<file_name>.tmp`, then renames it to `dir/file_name` and fsyncs `dir`.
/// `write` must fsync the file. On failure the temp file is removed (best effort: the store
/// deletes leftovers on open anyway).
pub(super) fn write_atomically(
    dir: &Path,
    file_name: &str,
    write: impl FnOnce(&Path) -> Result<SegmentMeta, SegmentError>,
) -> Result<SegmentMeta, SegmentError> {
    let tmp_path = dir.join(format!("{file_name}.tmp"));
    let final_path = dir.join(file_name);
    let meta = match write(&tmp_path) {
        Ok(meta) => meta,
        Err(err) => {
            let _ = fs::remove_file(&tmp_path);
            return Err(err);
        }
    };
    fs::rename(&tmp_path, &final_path).map_err(io_error(&final_path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok(meta)
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SegmentError + '_ {
    move |source| SegmentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(table: Table, reason: String) -> SegmentError {
    SegmentError::InvalidBatch { table, reason }
}

fn validate(schema: &Schema, batch: &ColumnBatch) -> Result<(), SegmentError> {
    let table = schema.table;
    if batch.column_indexes != (0..schema.len()).collect::<Vec<_>>()
        || batch.columns.len() != schema.len()
    {
        return Err(invalid(
            table,
            "batch must hold every schema column in order".into(),
        ));
    }
    for (def, col) in schema.columns.iter().zip(&batch.columns) {
        if !col.matches_type(def.ty) {
            return Err(invalid(
                table,
                format!("column {} is not {}", def.name, def.ty.name()),
            ));
        }
        if col.len() != batch.row_count
            || col.validity().is_some_and(|v| v.len() != batch.row_count)
        {
            return Err(invalid(
                table,
                format!("column {} length differs from row count", def.name),
            ));
        }
        if let ColumnVec::Str { dict, codes, .. } = col {
            let bad = codes
                .iter()
                .enumerate()
                .any(|(row, &c)| !col.is_null(row) && c as usize >= dict.len());
            if bad {
                return Err(invalid(
                    table,
                    format!("column {} has a code outside its dictionary", def.name),
                ));
            }
        }
    }
    Ok(())
}

/// Rows below which a segment is encoded on the calling thread only.
const PARALLEL_MIN_ROWS: usize = 16 * 1024;
/// Most threads one segment is encoded on.
const MAX_ENCODE_THREADS: usize = 4;

fn encode_threads(rows: usize) -> usize {
    if rows < PARALLEL_MIN_ROWS {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_ENCODE_THREADS)
}

/// Runs `task(i, compressor)` for every `i < count` on up to `threads` threads (the calling one
/// included), each with its own zstd compressor, and returns the results in index order. Tasks
/// are taken one at a time from a shared counter, so a slow column does not hold a whole share.
fn run_tasks<T: Send>(
    count: usize,
    threads: usize,
    zstd_level: i32,
    path: &Path,
    task: impl Fn(usize, &mut zstd::bulk::Compressor<'static>) -> Result<T, SegmentError> + Sync,
) -> Result<Vec<T>, SegmentError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, T)>, SegmentError> {
        let mut compressor = zstd::bulk::Compressor::new(zstd_level).map_err(io_error(path))?;
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                return Ok(done);
            }
            done.push((i, task(i, &mut compressor)?));
        }
    };
    let threads = threads.clamp(1, count.max(1));
    let parts: Vec<Result<Vec<(usize, T)>, SegmentError>> = if threads == 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut parts = vec![work()];
            for helper in helpers {
                parts.push(
                    helper
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
            parts
        })
    };
    let mut slots: Vec<Option<T>> = (0..count).map(|_| None).collect();
    for part in parts {
        for (i, result) in part? {
            slots[i] = Some(result);
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

fn write_file(
    path: &Path,
    schema: &'static Schema,
    site: &str,
    day: i32,
    batch: &ColumnBatch,
    options: &WriteOptions,
    threads: usize,
) -> Result<SegmentMeta, SegmentError> {
    let chunk_rows = options.chunk_rows.clamp(1, MAX_CHUNK_ROWS);
    let level = options.zstd_level;
    // Dictionaries (sorted, then encoded and compressed) column by column, on all threads.
    let sorted: Vec<Option<(StrColumn, CompressedBlock)>> = run_tasks(
        batch.columns.len(),
        threads,
        level,
        path,
        |i, compressor| {
            let col = &batch.columns[i];
            let ColumnVec::Str { dict, codes, .. } = col else {
                return Ok(None);
            };
            let sorted = dictionary::build_sorted(dict, codes, |row| !col.is_null(row));
            let mut payload = Vec::new();
            dictionary::encode(&sorted.dict, &mut payload);
            let block = compress_block(compressor, path, &payload, None)?;
            Ok(Some((StrColumn { sorted }, block)))
        },
    )?;
    let mut str_columns: Vec<Option<StrColumn>> = Vec::with_capacity(sorted.len());
    let mut dict_blocks: Vec<Option<(usize, CompressedBlock)>> = Vec::with_capacity(sorted.len());
    for column in sorted {
        match column {
            Some((s, block)) => {
                dict_blocks.push(Some((s.sorted.dict.len(), block)));
                str_columns.push(Some(s));
            }
            None => {
                dict_blocks.push(None);
                str_columns.push(None);
            }
        }
    }
    let order = row_order(schema, batch, options.sort, &str_columns);
    let (min_ts, max_ts) = time_range(&batch.columns[schema.time_column]);

    // Group runs need an integer-like group column (readers reject a Float one).
    let group_column = match options.sort {
        SortOrder::GroupThenTime { group }
            if group < schema.len() && schema.column(group).ty != ColumnType::Float =>
        {
            Some(group)
        }
        _ => None,
    };
    let chunk_list: Vec<&[u32]> = order.chunks(chunk_rows).collect();
    let groups: Vec<Option<GroupRuns>> = chunk_list
        .iter()
        .map(|rows| {
            group_column.map(|g| {
                let (values, validity) =
                    int_like_values(&batch.columns[g], str_columns[g].as_ref(), rows);
                let validity = validity.iter().any(|p| !p).then_some(validity);
                GroupRuns {
                    column: g,
                    runs: rle::run_lengths(&values, validity.as_deref()),
                }
            })
        })
        .collect();
    // Every (chunk, column) block encoded and compressed on all threads, written in order below.
    let columns = schema.len();
    let blocks: Vec<(CompressedBlock, u64, Option<super::Zone>)> = run_tasks(
        chunk_list.len() * columns,
        threads,
        level,
        path,
        |task, compressor| {
            let (chunk, index) = (task / columns, task % columns);
            let mut payload = Vec::new();
            let group = groups[chunk].as_ref().filter(|g| g.column != index);
            let (null_count, zone, alternative) = encode_column_chunk(
                &batch.columns[index],
                str_columns[index].as_ref(),
                chunk_list[chunk],
                group,
                &mut payload,
            );
            let block = compress_block(compressor, path, &payload, alternative.as_deref())?;
            Ok((block, null_count, zone))
        },
    )?;

    let mut out = BlockWriter::create(path, level)?;
    let mut dicts = Vec::with_capacity(columns);
    for dict in dict_blocks {
        dicts.push(match dict {
            Some((entries, block)) => Some(DictInfo {
                entries,
                block: out.write_compressed(&block)?,
            }),
            None => None,
        });
    }
    let mut blocks = blocks.into_iter();
    let mut chunks = Vec::with_capacity(chunk_list.len());
    for rows in &chunk_list {
        let mut infos = Vec::with_capacity(columns);
        for (block, null_count, zone) in blocks.by_ref().take(columns) {
            infos.push(ColumnChunkInfo {
                block: out.write_compressed(&block)?,
                null_count,
                zone,
            });
        }
        chunks.push(ChunkInfo {
            rows: rows.len(),
            columns: infos,
        });
    }

    let footer = Footer {
        table: schema.table,
        site: site.to_owned(),
        day,
        row_count: batch.row_count as u64,
        min_ts,
        max_ts,
        columns: schema
            .columns
            .iter()
            .map(|c| (c.name.to_owned(), c.ty))
            .collect(),
        dicts,
        chunks,
    };
    let file_bytes = out.finish(&footer)?;
    Ok(SegmentMeta {
        table: schema.table,
        site: site.to_owned(),
        day,
        row_count: batch.row_count as u64,
        min_ts,
        max_ts,
        file_bytes,
    })
}

/// A block ready to append: the bytes to store and how to read them back.
pub(super) struct CompressedBlock {
    stored: Vec<u8>,
    raw_len: u64,
    crc: u32,
    compression: Compression,
}

/// Compresses the smaller (after compression) of two equivalent payloads; a payload zstd does
/// not shrink is stored raw.
pub(super) fn compress_block(
    compressor: &mut zstd::bulk::Compressor<'static>,
    path: &Path,
    payload: &[u8],
    alternative: Option<&[u8]>,
) -> Result<CompressedBlock, SegmentError> {
    let mut payload = payload;
    let mut compressed = compressor.compress(payload).map_err(io_error(path))?;
    if let Some(alternative) = alternative {
        let other = compressor.compress(alternative).map_err(io_error(path))?;
        if other.len() < compressed.len().min(payload.len()) {
            payload = alternative;
            compressed = other;
        }
    }
    let (stored, compression) = if compressed.len() < payload.len() {
        (compressed, Compression::Zstd)
    } else {
        (payload.to_vec(), Compression::None)
    };
    Ok(CompressedBlock {
        crc: crc32c::crc32c(&stored),
        raw_len: payload.len() as u64,
        stored,
        compression,
    })
}

/// Appends blocks to a new segment file, tracking offsets, and ends it with footer and trailer.
pub(super) struct BlockWriter {
    file: BufWriter<File>,
    path: PathBuf,
    offset: u64,
    compressor: zstd::bulk::Compressor<'static>,
}

impl BlockWriter {
    /// Creates (truncates) `path` and writes the header.
    pub(super) fn create(path: &Path, zstd_level: i32) -> Result<BlockWriter, SegmentError> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io_error(path))?;
        let mut out = BlockWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            offset: 0,
            compressor: zstd::bulk::Compressor::new(zstd_level).map_err(io_error(path))?,
        };
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.write_raw(&header)?;
        Ok(out)
    }

    /// Writes footer and trailer, fsyncs, and returns the file's length.
    pub(super) fn finish(mut self, footer: &Footer) -> Result<u64, SegmentError> {
        let mut footer_bytes = Vec::new();
        footer.encode(&mut footer_bytes);
        let footer_len = u32::try_from(footer_bytes.len())
            .map_err(|_| invalid(footer.table, "footer larger than 4 GiB".into()))?;
        let mut trailer = Vec::with_capacity(20);
        trailer.extend_from_slice(&footer_len.to_le_bytes());
        let mut crc = crc32c::crc32c(&footer_bytes);
        crc = crc32c::crc32c_append(crc, &footer_len.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &FORMAT_VERSION.to_le_bytes());
        trailer.extend_from_slice(&crc.to_le_bytes());
        trailer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        trailer.extend_from_slice(&MAGIC);
        self.write_raw(&footer_bytes)?;
        self.write_raw(&trailer)?;
        let file_bytes = self.offset;
        let file = self.file.into_inner().map_err(|e| SegmentError::Io {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_error(&self.path))?;
        Ok(file_bytes)
    }

    /// Appends an already stored block (bytes and checksum unchanged) at the current offset.
    pub(super) fn copy_block(
        &mut self,
        stored: &[u8],
        block: &BlockRef,
    ) -> Result<BlockRef, SegmentError> {
        let copied = BlockRef {
            offset: self.offset,
            ..*block
        };
        self.write_raw(stored)?;
        Ok(copied)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), SegmentError> {
        self.file.write_all(bytes).map_err(io_error(&self.path))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Compresses `payload` (kept raw when zstd does not shrink it) and appends it as a block.
    pub(super) fn write_block(&mut self, payload: &[u8]) -> Result<BlockRef, SegmentError> {
        self.write_smaller_block(payload, None)
    }

    /// Like [`BlockWriter::write_block`] for the smaller (after compression) of two equivalent
    /// payloads.
    pub(super) fn write_smaller_block(
        &mut self,
        payload: &[u8],
        alternative: Option<&[u8]>,
    ) -> Result<BlockRef, SegmentError> {
        let block = compress_block(&mut self.compressor, &self.path, payload, alternative)?;
        self.write_compressed(&block)
    }

    /// Appends a block compressed by [`compress_block`].
    pub(super) fn write_compressed(
        &mut self,
        block: &CompressedBlock,
    ) -> Result<BlockRef, SegmentError> {
        let written = BlockRef {
            offset: self.offset,
            stored_len: block.stored.len() as u64,
            raw_len: block.raw_len,
            crc: block.crc,
            compression: block.compression,
        };
        self.write_raw(&block.stored)?;
        Ok(written)
    }
}

fn time_range(col: &ColumnVec) -> (i64, i64) {
    let mut range: Option<(i64, i64)> = None;
    if let ColumnVec::Int { values, .. } = col {
        for (row, &v) in values.iter().enumerate() {
            if !col.is_null(row) {
                range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
            }
        }
    }
    range.unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::column::StrDict;

    /// A batch of every column of `table` with repeating, partly null values.
    fn batch(table: Table, rows: usize) -> ColumnBatch {
        let schema = table.schema();
        let columns = schema
            .columns
            .iter()
            .enumerate()
            .map(|(i, def)| {
                let valid = |row: usize| (row + i) % 7 != 0;
                let validity = (i != schema.time_column).then(|| (0..rows).map(valid).collect());
                match def.ty {
                    ColumnType::Float => ColumnVec::Float {
                        values: (0..rows).map(|r| (r % 97) as f64 * 0.5).collect(),
                        validity,
                    },
                    ColumnType::Bool => ColumnVec::Bool {
                        values: (0..rows).map(|r| r % 3 == 0).collect(),
                        validity,
                    },
                    ColumnType::Str => {
                        let distinct = 1 + (i * 37) % 500;
                        let dict = StrDict::from_strs(
                            (0..distinct)
                                .map(|d| format!("v{i}-{}", d * 7919 % 1000))
                                .collect::<Vec<_>>()
                                .iter()
                                .map(String::as_str),
                        );
                        ColumnVec::Str {
                            dict: Arc::new(dict),
                            codes: (0..rows).map(|r| ((r / 3 + i) % distinct) as u32).collect(),
                            validity,
                        }
                    }
                    _ if i == schema.time_column => ColumnVec::Int {
                        values: (0..rows)
                            .map(|r| 1_700_000_000_000_000 + (r as i64 * 7919) % 3_600_000_000)
                            .collect(),
                        validity: None,
                    },
                    _ => ColumnVec::Int {
                        values: (0..rows).map(|r| (r as i64 * 31) % 10_000).collect(),
                        validity,
                    },
                }
            })
            .collect();
        ColumnBatch {
            column_indexes: (0..schema.len()).collect(),
            columns,
            row_count: rows,
        }
    }

    #[test]
    fn segments_are_the_same_bytes_on_any_number_of_threads() {
        let dir = tempfile::tempdir().unwrap();
        for table in [Table::Events, Table::Sessions] {
            let batch = batch(table, 5_000);
            let options = WriteOptions {
                chunk_rows: 1_000,
                ..WriteOptions::for_table(table)
            };
            let mut files = Vec::new();
            for threads in [1, 2, 3] {
                let path = dir.path().join(format!("{}-{threads}.seg", table.name()));
                let meta =
                    write_file(&path, table.schema(), "s", 1, &batch, &options, threads).unwrap();
                assert_eq!(meta.row_count, 5_000);
                files.push(fs::read(&path).unwrap());
            }
            assert_eq!(files[0], files[1], "{table:?}");
            assert_eq!(files[0], files[2], "{table:?}");
            let segment =
                crate::segment::Segment::open(&dir.path().join(format!("{}-3.seg", table.name())))
                    .unwrap();
            assert_eq!(segment.chunk_count(), 5);
            let all: Vec<usize> = (0..table.schema().len()).collect();
            let rows: usize = (0..5)
                .map(|c| segment.read_chunk(c, &all).unwrap().row_count)
                .sum();
            assert_eq!(rows, 5_000);
        }
    }
}
