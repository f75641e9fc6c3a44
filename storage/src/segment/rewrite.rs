//! Column expiry without re-encoding: copies a segment block for block into a new file, with
//! some columns replaced by all-null ones. The other blocks keep their bytes and checksums; only
//! the footer is new. Used to drop `event_id` values once the dedup window no longer needs them.

use std::path::Path;

use super::decode::null_column;
use super::encode::encode_column_chunk;
use super::format::{ChunkInfo, ColumnChunkInfo, DictInfo, Footer};
use super::writer::{write_atomically, BlockWriter, SortOrder, WriteOptions};
use super::{Segment, SegmentError, SegmentMeta};
use crate::column::StrDict;
use crate::encoding::dictionary;

/// Writes `dir/file_name`: the rows of `segment` with schema columns `null_columns` holding no
/// values (they read as null). Same atomic protocol as [`super::write_segment`]. Blocks of the
/// other columns are copied verbatim (their checksums are verified on the way), so the cost is
/// a file copy, not a decode and re-encode.
///
/// A column that other columns' blocks refer to as their group column (the table's default
/// `GroupThenTime` column, e.g. `session_id`) cannot be nulled this way and is refused.
pub fn rewrite_with_null_columns(
    segment: &Segment,
    dir: &Path,
    file_name: &str,
    null_columns: &[usize],
) -> Result<SegmentMeta, SegmentError> {
    let schema = segment.schema();
    let invalid = |reason: String| SegmentError::InvalidBatch {
        table: schema.table,
        reason,
    };
    let group = match SortOrder::default_for(schema.table) {
        SortOrder::GroupThenTime { group } => Some(group),
        _ => None,
    };
    let mut nulled = vec![false; segment.footer().columns.len()];
    for &column in null_columns {
        if column >= schema.len() {
            return Err(invalid(format!("no column {column}")));
        }
        if Some(column) == group {
            return Err(invalid(format!(
                "column {} is the group column of other columns' runs",
                schema.column(column).name
            )));
        }
        if let Some(seg_col) = segment.segment_column(column) {
            nulled[seg_col] = true;
        }
    }
    write_atomically(dir, file_name, |tmp_path| {
        copy_file(segment, tmp_path, &nulled)
    })
}

fn copy_file(segment: &Segment, path: &Path, nulled: &[bool]) -> Result<SegmentMeta, SegmentError> {
    let old = segment.footer();
    let mut out = BlockWriter::create(path, WriteOptions::DEFAULT_ZSTD_LEVEL)?;
    let mut payload = Vec::new();
    let mut dicts = Vec::with_capacity(old.dicts.len());
    for (seg_col, dict) in old.dicts.iter().enumerate() {
        dicts.push(match dict {
            None => None,
            Some(_) if nulled[seg_col] => {
                payload.clear();
                dictionary::encode(&StrDict::new(), &mut payload);
                Some(DictInfo {
                    entries: 0,
                    block: out.write_block(&payload)?,
                })
            }
            Some(info) => Some(DictInfo {
                entries: info.entries,
                block: out.copy_block(segment.stored_block(&info.block)?, &info.block)?,
            }),
        });
    }
    let mut chunks = Vec::with_capacity(old.chunks.len());
    for chunk in &old.chunks {
        let all_rows: Vec<u32> = (0..chunk.rows as u32).collect();
        let mut columns = Vec::with_capacity(chunk.columns.len());
        for (seg_col, info) in chunk.columns.iter().enumerate() {
            if nulled[seg_col] {
                let empty = null_column(old.columns[seg_col].1, chunk.rows);
                payload.clear();
                let (null_count, zone, alternative) =
                    encode_column_chunk(&empty, None, &all_rows, None, &mut payload);
                columns.push(ColumnChunkInfo {
                    block: out.write_smaller_block(&payload, alternative.as_deref())?,
                    null_count,
                    zone,
                });
            } else {
                columns.push(ColumnChunkInfo {
                    block: out.copy_block(segment.stored_block(&info.block)?, &info.block)?,
                    null_count: info.null_count,
                    zone: info.zone,
                });
            }
        }
        chunks.push(ChunkInfo {
            rows: chunk.rows,
            columns,
        });
    }
    let footer = Footer {
        dicts,
        chunks,
        ..old.clone()
    };
    let file_bytes = out.finish(&footer)?;
    Ok(SegmentMeta {
        file_bytes,
        ..segment.meta().clone()
    })
}
