//! Byte layout of a segment file: header, block references, zone maps, footer and trailer.
//! `docs/format-segment.md` is the grammar; this module is its one implementation.
//!
//! ```text
//! file    := header block* footer trailer
//! header  := MAGIC version:u32le                                  (12 bytes)
//! trailer := footer_len:u32le footer_crc:u32le version:u32le MAGIC (20 bytes)
//! ```
//! `footer_crc` is CRC32C over the footer bytes followed by `footer_len` and `version` (as in the
//! trailer). Integers in the footer are LEB128 varints (`zz` = zigzag-mapped) unless noted.

use crate::encoding::DecodeError;
use crate::row::{get_varint, put_varint, unzigzag, zigzag};
use crate::schema::{ColumnType, Table};

use super::Zone;

pub const MAGIC: [u8; 8] = *b"EDASHSEG";
/// The format version this code writes. Readers accept exactly the versions listed in
/// `docs/format-segment.md` (today only 1).
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 12;
pub const TRAILER_LEN: usize = 20;
/// Upper bound on rows in one chunk; larger counts in a footer are corrupt.
pub const MAX_CHUNK_ROWS: usize = 1 << 20;

/// How a block's stored bytes relate to its encoded payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None = 0,
    Zstd = 1,
}

/// Where a block lives and how to check and expand it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub offset: u64,
    pub stored_len: u64,
    pub raw_len: u64,
    pub crc: u32,
    pub compression: Compression,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnChunkInfo {
    pub block: BlockRef,
    pub null_count: u64,
    pub zone: Option<Zone>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChunkInfo {
    pub rows: usize,
    pub columns: Vec<ColumnChunkInfo>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DictInfo {
    pub entries: usize,
    pub block: BlockRef,
}

/// Everything the footer holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Footer {
    pub table: Table,
    pub site: String,
    pub day: i32,
    pub row_count: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    /// The segment's own column list (name, type), in storage order.
    pub columns: Vec<(String, ColumnType)>,
    /// One entry per column; `Some` exactly for `Str` columns.
    pub dicts: Vec<Option<DictInfo>>,
    pub chunks: Vec<ChunkInfo>,
}

impl Footer {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.table.id());
        put_str(out, &self.site);
        put_varint(out, zigzag(i64::from(self.day)));
        put_varint(out, self.row_count);
        put_varint(out, zigzag(self.min_ts));
        put_varint(out, zigzag(self.max_ts));
        put_varint(out, self.columns.len() as u64);
        for (name, ty) in &self.columns {
            out.push(ty.tag());
            put_str(out, name);
        }
        for dict in self.dicts.iter().flatten() {
            put_varint(out, dict.entries as u64);
            put_block(out, &dict.block);
        }
        put_varint(out, self.chunks.len() as u64);
        for chunk in &self.chunks {
            put_varint(out, chunk.rows as u64);
            for col in &chunk.columns {
                put_block(out, &col.block);
                put_varint(out, col.null_count);
                put_zone(out, col.zone.as_ref());
            }
        }
    }

    /// Parses footer bytes. Errors carry the byte position inside the footer.
    pub fn parse(bytes: &[u8]) -> Result<Footer, (usize, DecodeError)> {
        let mut c = Cursor { bytes, pos: 0 };
        let footer = parse_footer(&mut c).map_err(|e| (c.pos, e))?;
        if c.pos != bytes.len() {
            return Err((c.pos, DecodeError("trailing bytes after footer")));
        }
        Ok(footer)
    }
}

fn parse_footer(c: &mut Cursor<'_>) -> Result<Footer, DecodeError> {
    let table = Table::from_id(c.u8()?).ok_or(DecodeError("unknown table id"))?;
    let site = c.str()?;
    let day = i32::try_from(c.zz()?).map_err(|_| DecodeError("day out of range"))?;
    let row_count = c.varint()?;
    let min_ts = c.zz()?;
    let max_ts = c.zz()?;
    let column_count = c.count(2)?;
    let mut columns = Vec::with_capacity(column_count);
    for _ in 0..column_count {
        let ty = ColumnType::from_tag(c.u8()?).ok_or(DecodeError("unknown column type"))?;
        columns.push((c.str()?, ty));
    }
    let mut dicts = Vec::with_capacity(column_count);
    for (_, ty) in &columns {
        dicts.push(if *ty == ColumnType::Str {
            let entries = c.count(0)?;
            Some(DictInfo {
                entries,
                block: c.block()?,
            })
        } else {
            None
        });
    }
    let chunk_count = c.count(1)?;
    let mut chunks = Vec::with_capacity(chunk_count);
    for _ in 0..chunk_count {
        let rows = c.count(0)?;
        if rows == 0 || rows > MAX_CHUNK_ROWS {
            return Err(DecodeError("chunk row count out of range"));
        }
        let mut cols = Vec::with_capacity(column_count);
        for (_, ty) in &columns {
            let block = c.block()?;
            let null_count = c.varint()?;
            if null_count > rows as u64 {
                return Err(DecodeError("more nulls than rows"));
            }
            let zone = c.zone(*ty)?;
            cols.push(ColumnChunkInfo {
                block,
                null_count,
                zone,
            });
        }
        chunks.push(ChunkInfo {
            rows,
            columns: cols,
        });
    }
    Ok(Footer {
        table,
        site,
        day,
        row_count,
        min_ts,
        max_ts,
        columns,
        dicts,
        chunks,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_block(out: &mut Vec<u8>, b: &BlockRef) {
    put_varint(out, b.offset);
    put_varint(out, b.stored_len);
    put_varint(out, b.raw_len);
    out.extend_from_slice(&b.crc.to_le_bytes());
    out.push(b.compression as u8);
}

fn put_zone(out: &mut Vec<u8>, zone: Option<&Zone>) {
    let Some(zone) = zone else {
        out.push(0);
        return;
    };
    out.push(1);
    match *zone {
        Zone::Int { min, max } => {
            put_varint(out, zigzag(min));
            put_varint(out, zigzag(max));
        }
        Zone::Float { min, max } => {
            out.extend_from_slice(&min.to_bits().to_le_bytes());
            out.extend_from_slice(&max.to_bits().to_le_bytes());
        }
        Zone::Bool { min, max } => {
            out.push(u8::from(min));
            out.push(u8::from(max));
        }
        Zone::Str { min_code, max_code } => {
            put_varint(out, u64::from(min_code));
            put_varint(out, u64::from(max_code));
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(DecodeError("footer truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self
            .bytes
            .get(self.pos..self.pos + N)
            .ok_or(DecodeError("footer truncated"))?;
        let mut buf = [0u8; N];
        buf.copy_from_slice(slice);
        self.pos += N;
        Ok(buf)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        get_varint(self.bytes, &mut self.pos).ok_or(DecodeError("bad varint in footer"))
    }

    fn zz(&mut self) -> Result<i64, DecodeError> {
        self.varint().map(unzigzag)
    }

    /// A count of items that each take at least `min_item_bytes` more footer bytes, so corrupt
    /// counts cannot trigger huge allocations.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| DecodeError("count overflows"))?;
        let remaining = self.bytes.len() - self.pos;
        if n.saturating_mul(min_item_bytes) > remaining || n > u32::MAX as usize {
            return Err(DecodeError("count larger than the footer allows"));
        }
        Ok(n)
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let len = self.count(1)?;
        let bytes = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("footer string is not utf-8"))
    }

    fn block(&mut self) -> Result<BlockRef, DecodeError> {
        let offset = self.varint()?;
        let stored_len = self.varint()?;
        let raw_len = self.varint()?;
        let crc = u32::from_le_bytes(self.fixed()?);
        let compression = match self.u8()? {
            0 => Compression::None,
            1 => Compression::Zstd,
            _ => return Err(DecodeError("unknown block compression")),
        };
        Ok(BlockRef {
            offset,
            stored_len,
            raw_len,
            crc,
            compression,
        })
    }

    fn zone(&mut self, ty: ColumnType) -> Result<Option<Zone>, DecodeError> {
        match self.u8()? {
            0 => return Ok(None),
            1 => {}
            _ => return Err(DecodeError("bad zone presence byte")),
        }
        let zone = match ty {
            ColumnType::Timestamp | ColumnType::Int => Zone::Int {
                min: self.zz()?,
                max: self.zz()?,
            },
            ColumnType::Float => Zone::Float {
                min: f64::from_bits(u64::from_le_bytes(self.fixed()?)),
                max: f64::from_bits(u64::from_le_bytes(self.fixed()?)),
            },
            ColumnType::Bool => {
                let (min, max) = (self.u8()?, self.u8()?);
                if min > 1 || max > 1 {
                    return Err(DecodeError("bad bool zone"));
                }
                Zone::Bool {
                    min: min == 1,
                    max: max == 1,
                }
            }
            ColumnType::Str => {
                let min = u32::try_from(self.varint()?).map_err(|_| DecodeError("bad code"))?;
                let max = u32::try_from(self.varint()?).map_err(|_| DecodeError("bad code"))?;
                Zone::Str {
                    min_code: min,
                    max_code: max,
                }
            }
        };
        Ok(Some(zone))
    }
}

/// Blocks must tile the file between header and footer exactly, in write order (dictionaries,
/// then chunk by chunk, column by column), so no byte of the file goes unchecked.
pub fn check_structure(footer: &Footer, footer_start: u64) -> Result<(), (u64, DecodeError)> {
    let mut expected = HEADER_LEN as u64;
    let blocks = footer.dicts.iter().flatten().map(|d| &d.block).chain(
        footer
            .chunks
            .iter()
            .flat_map(|c| c.columns.iter().map(|col| &col.block)),
    );
    for block in blocks {
        if block.offset != expected {
            return Err((
                block.offset,
                DecodeError("block does not start where the previous ended"),
            ));
        }
        expected = block
            .offset
            .checked_add(block.stored_len)
            .filter(|&end| end <= footer_start)
            .ok_or((block.offset, DecodeError("block extends past the footer")))?;
        let plausible_raw = match block.compression {
            Compression::None => block.raw_len == block.stored_len,
            Compression::Zstd => block.raw_len <= (1 << 32),
        };
        if !plausible_raw {
            return Err((block.offset, DecodeError("implausible block length")));
        }
    }
    if expected != footer_start {
        return Err((
            expected,
            DecodeError("unreferenced bytes before the footer"),
        ));
    }
    let total: u64 = footer.chunks.iter().map(|c| c.rows as u64).sum();
    if total != footer.row_count {
        return Err((
            footer_start,
            DecodeError("chunk rows do not add up to row count"),
        ));
    }
    for chunk in &footer.chunks {
        debug_assert!(chunk.rows <= MAX_CHUNK_ROWS);
        for (col, dict) in chunk.columns.iter().zip(&footer.dicts) {
            let max_raw = 64 + chunk.rows as u64 * 11;
            if col.block.raw_len > max_raw {
                return Err((
                    col.block.offset,
                    DecodeError("column block larger than its rows allow"),
                ));
            }
            if let (Some(Zone::Str { min_code, max_code }), Some(d)) = (&col.zone, dict) {
                if min_code > max_code || *max_code as usize >= d.entries {
                    return Err((
                        footer_start,
                        DecodeError("string zone outside the dictionary"),
                    ));
                }
            }
        }
    }
    Ok(())
}
