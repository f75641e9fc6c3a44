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
        write_file(tmp_path, schema, site, day, batch, options)
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

fn write_file(
    path: &Path,
    schema: &'static Schema,
    site: &str,
    day: i32,
    batch: &ColumnBatch,
    options: &WriteOptions,
) -> Result<SegmentMeta, SegmentError> {
    let chunk_rows = options.chunk_rows.clamp(1, MAX_CHUNK_ROWS);
    let str_columns: Vec<Option<StrColumn>> = batch
        .columns
        .iter()
        .map(|col| match col {
            ColumnVec::Str { dict, codes, .. } => Some(StrColumn {
                sorted: dictionary::build_sorted(dict, codes, |row| !col.is_null(row)),
            }),
            _ => None,
        })
        .collect();
    let order = row_order(schema, batch, options.sort, &str_columns);
    let (min_ts, max_ts) = time_range(&batch.columns[schema.time_column]);

    let mut out = BlockWriter::create(path, options.zstd_level)?;

    let mut dicts = Vec::with_capacity(schema.len());
    let mut payload = Vec::new();
    for str_col in &str_columns {
        dicts.push(match str_col {
            Some(s) => {
                payload.clear();
                dictionary::encode(&s.sorted.dict, &mut payload);
                Some(DictInfo {
                    entries: s.sorted.dict.len(),
                    block: out.write_block(&payload)?,
                })
            }
            None => None,
        });
    }

    // Group runs need an integer-like group column (readers reject a Float one).
    let group_column = match options.sort {
        SortOrder::GroupThenTime { group }
            if group < schema.len() && schema.column(group).ty != ColumnType::Float =>
        {
            Some(group)
        }
        _ => None,
    };
    let mut chunks = Vec::with_capacity(order.len().div_ceil(chunk_rows));
    for rows in order.chunks(chunk_rows) {
        let group = group_column.map(|g| {
            let (values, validity) =
                int_like_values(&batch.columns[g], str_columns[g].as_ref(), rows);
            let validity = validity.iter().any(|p| !p).then_some(validity);
            GroupRuns {
                column: g,
                runs: rle::run_lengths(&values, validity.as_deref()),
            }
        });
        let mut columns = Vec::with_capacity(schema.len());
        for (index, (col, str_col)) in batch.columns.iter().zip(&str_columns).enumerate() {
            payload.clear();
            let group = group.as_ref().filter(|g| g.column != index);
            let (null_count, zone, alternative) =
                encode_column_chunk(col, str_col.as_ref(), rows, group, &mut payload);
            columns.push(ColumnChunkInfo {
                block: out.write_smaller_block(&payload, alternative.as_deref())?,
                null_count,
                zone,
            });
        }
        chunks.push(ChunkInfo {
            rows: rows.len(),
            columns,
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
        let mut payload = payload;
        let mut compressed = self
            .compressor
            .compress(payload)
            .map_err(io_error(&self.path))?;
        if let Some(alternative) = alternative {
            let other = self
                .compressor
                .compress(alternative)
                .map_err(io_error(&self.path))?;
            if other.len() < compressed.len().min(payload.len()) {
                payload = alternative;
                compressed = other;
            }
        }
        let (stored, compression) = if compressed.len() < payload.len() {
            (compressed.as_slice(), Compression::Zstd)
        } else {
            (payload, Compression::None)
        };
        let block = BlockRef {
            offset: self.offset,
            stored_len: stored.len() as u64,
            raw_len: payload.len() as u64,
            crc: crc32c::crc32c(stored),
            compression,
        };
        self.write_raw(stored)?;
        Ok(block)
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
