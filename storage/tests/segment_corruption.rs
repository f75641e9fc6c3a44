//! Corrupt segment files: every single-byte flip and every truncation must be reported as
//! `SegmentError::Corrupt` (or, for a flip the reader never depends on, yield identical data);
//! never a panic, never different data.
#![expect(clippy::unwrap_used)]

mod segment_common;

use std::path::Path;

use ecomdash_storage::{
    write_segment_with, ColumnBatch, Segment, SegmentError, SortOrder, Table, WriteOptions,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use segment_common::{arb_batch, rows, scratch_dir, sessionize, Cell};

/// A deterministic batch whose rows are session-structured, so the default sort order stores
/// some columns as group runs.
fn sample_batch(table: Table, rows: usize) -> ColumnBatch {
    let batch = arb_batch(table, rows..rows + 1)
        .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
        .unwrap()
        .current();
    let group = table.schema().index_of("session_id").unwrap();
    sessionize(batch, group)
}

fn write(dir: &Path, table: Table, batch: &ColumnBatch, chunk_rows: usize) -> Vec<u8> {
    let options = WriteOptions {
        chunk_rows,
        zstd_level: 3,
        sort: SortOrder::default_for(table),
    };
    write_segment_with(
        dir,
        "orig.seg",
        table,
        "shop.example",
        20_000,
        batch,
        &options,
    )
    .unwrap();
    std::fs::read(dir.join("orig.seg")).unwrap()
}

/// Opens and fully reads `bytes` as a segment.
fn read(dir: &Path, bytes: &[u8]) -> Result<Vec<Vec<Cell>>, SegmentError> {
    let path = dir.join("damaged.seg");
    std::fs::write(&path, bytes).unwrap();
    let segment = Segment::open(&path)?;
    // Also read chunk by chunk, the way scans do.
    for chunk in 0..segment.chunk_count() {
        segment.read_chunk(chunk, &[0, 1])?;
    }
    Ok(rows(&segment.read_all()?))
}

fn assert_detected(dir: &Path, damaged: &[u8], expected: &[Vec<Cell>], what: &str) {
    match read(dir, damaged) {
        Ok(found) => assert_eq!(
            found, expected,
            "{what}: damage went unnoticed and changed data"
        ),
        Err(err) => assert!(err.is_corrupt(), "{what}: expected corrupt, got {err}"),
    }
}

#[test]
fn every_byte_flip_is_detected() {
    let dir = scratch_dir();
    for (table, n, chunk_rows) in [(Table::Sessions, 16, 8), (Table::Events, 4, 2)] {
        let batch = sample_batch(table, n);
        let original = write(dir.path(), table, &batch, chunk_rows);
        let expected = read(dir.path(), &original).unwrap();
        assert_eq!(expected.len(), n);
        let mut undetected = 0;
        for pos in 0..original.len() {
            // One bit per byte, cycling through the bit positions.
            let mask = 1u8 << (pos % 8);
            let mut damaged = original.clone();
            damaged[pos] ^= mask;
            match read(dir.path(), &damaged) {
                Ok(found) => {
                    undetected += 1;
                    assert_eq!(
                        found, expected,
                        "{table} flip {mask:#x} at {pos} changed data"
                    );
                }
                Err(err) => assert!(err.is_corrupt(), "{table} flip at {pos}: {err}"),
            }
        }
        // The format has no padding: every byte is covered by a checksum or checked directly.
        assert_eq!(undetected, 0, "{table}: some flips went unnoticed");
    }
}

#[test]
fn every_truncation_and_extension_is_corrupt() {
    let dir = scratch_dir();
    let batch = sample_batch(Table::Sessions, 30);
    let original = write(dir.path(), Table::Sessions, &batch, 8);
    for len in 0..original.len() {
        let err = read(dir.path(), &original[..len]).unwrap_err();
        assert!(err.is_corrupt(), "truncated to {len}: {err}");
    }
    let mut longer = original.clone();
    longer.extend_from_slice(b"tail");
    assert!(read(dir.path(), &longer).unwrap_err().is_corrupt());
    let mut prefixed = b"head".to_vec();
    prefixed.extend_from_slice(&original);
    assert!(read(dir.path(), &prefixed).unwrap_err().is_corrupt());
}

#[test]
fn corrupt_errors_name_file_and_offset() {
    let dir = scratch_dir();
    let batch = sample_batch(Table::Sessions, 20);
    let mut bytes = write(dir.path(), Table::Sessions, &batch, 8);
    bytes[20] ^= 0xff;
    let err = read(dir.path(), &bytes).unwrap_err();
    match &err {
        SegmentError::Corrupt {
            path,
            offset,
            reason,
        } => {
            assert!(path.ends_with("damaged.seg"));
            assert!(*offset <= 20, "offset {offset}");
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected corrupt, got {other}"),
    }
    assert!(err.to_string().starts_with("corrupt segment "));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Multi-byte random damage on random segments.
    #[test]
    fn random_damage_is_detected(
        batch in arb_batch(Table::Events, 1..60),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let dir = scratch_dir();
        let original = write(dir.path(), Table::Events, &batch, 16);
        let expected = read(dir.path(), &original).unwrap();
        let mut damaged = original.clone();
        for (pos, mask) in &flips {
            damaged[pos.index(original.len())] ^= mask;
        }
        assert_detected(dir.path(), &damaged, &expected, "random flips");
    }
}

/// Rewrites the trailer's version and the footer's checksum, as a future writer would.
fn with_footer_edit(bytes: &[u8], version: u32, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let len = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[len - 20..len - 16].try_into().unwrap()) as usize;
    let footer_start = len - 20 - footer_len;
    let mut footer = bytes[footer_start..len - 20].to_vec();
    edit(&mut footer);
    let mut out = bytes[..footer_start].to_vec();
    out[8..12].copy_from_slice(&version.to_le_bytes());
    let mut crc = crc32c::crc32c(&footer);
    crc = crc32c::crc32c_append(crc, &(footer.len() as u32).to_le_bytes());
    crc = crc32c::crc32c_append(crc, &version.to_le_bytes());
    out.extend_from_slice(&footer);
    out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(b"EDASHSEG");
    out
}

#[test]
fn unknown_versions_are_unsupported_not_corrupt() {
    let dir = scratch_dir();
    let original = write(
        dir.path(),
        Table::Sessions,
        &sample_batch(Table::Sessions, 10),
        8,
    );
    let same = with_footer_edit(&original, 1, |_| {});
    assert_eq!(
        same, original,
        "the test's trailer rewrite matches the writer"
    );
    let future = with_footer_edit(&original, 2, |_| {});
    match read(dir.path(), &future) {
        Err(SegmentError::UnsupportedVersion { version: 2, .. }) => {}
        other => panic!("expected unsupported version, got {other:?}"),
    }
}

#[test]
fn columns_are_matched_by_name_and_missing_ones_read_as_null() {
    let dir = scratch_dir();
    let batch = sample_batch(Table::Sessions, 10);
    let original = write(dir.path(), Table::Sessions, &batch, 8);
    // Rename the segment's `country` column to `countrx`: the schema's `country` is then absent
    // from the segment (reads as null) and `countrx` is ignored.
    let renamed = with_footer_edit(&original, 1, |footer| {
        let pos = footer.windows(8).position(|w| w == b"\x07country").unwrap();
        footer[pos + 7] = b'x';
    });
    let path = dir.path().join("renamed.seg");
    std::fs::write(&path, &renamed).unwrap();
    let segment = Segment::open(&path).unwrap();
    let country = Table::Sessions.schema().index_of("country").unwrap();
    let all = segment.read_all().unwrap();
    let expected = Segment::open(&dir.path().join("orig.seg"))
        .unwrap()
        .read_all()
        .unwrap();
    for (c, (got, want)) in all.columns.iter().zip(&expected.columns).enumerate() {
        for r in 0..all.row_count {
            if c == country {
                assert_eq!(segment_common::cell(got, r), Cell::Null);
            } else {
                assert_eq!(segment_common::cell(got, r), segment_common::cell(want, r));
            }
        }
    }
    assert_eq!(segment.zone(0, country), None);
    assert_eq!(segment.compressed_bytes(0, country), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Footer damage that comes with a matching checksum (a buggy or hostile writer) reaches the
    /// footer parser and the structural checks: they must reject it or yield consistent batches,
    /// never panic or read out of bounds.
    #[test]
    fn damaged_footers_with_valid_checksums_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let dir = scratch_dir();
        let original = write(dir.path(), Table::Sessions, &sample_batch(Table::Sessions, 12), 5);
        let damaged = with_footer_edit(&original, 1, |footer| {
            for (pos, mask) in &flips {
                let i = pos.index(footer.len());
                footer[i] ^= mask;
            }
        });
        let path = dir.path().join("footer.seg");
        std::fs::write(&path, &damaged).unwrap();
        if let Ok(segment) = Segment::open(&path) {
            for chunk in 0..segment.chunk_count() {
                let _ = segment.chunk_rows(chunk);
                for column in 0..Table::Sessions.schema().len() {
                    let _ = segment.zone(chunk, column);
                    let _ = segment.compressed_bytes(chunk, column);
                }
            }
            if let Ok(all) = segment.read_all() {
                prop_assert_eq!(all.row_count as u64, segment.meta().row_count);
                for col in &all.columns {
                    prop_assert_eq!(col.len(), all.row_count);
                    for r in 0..all.row_count {
                        let _ = segment_common::cell(col, r);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Block payload damage behind a recomputed block checksum reaches the decoders (raw blocks
    /// directly, zstd blocks through zstd): every decoder must reject bad input or produce
    /// consistent vectors, never panic or read out of bounds.
    #[test]
    fn damaged_blocks_with_valid_checksums_never_panic(
        block in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        use ecomdash_storage::segment::format::Footer;
        let dir = scratch_dir();
        let batch = sample_batch(Table::Events, 8);
        let original = write(dir.path(), Table::Events, &batch, 3);
        let len = original.len();
        let footer_len = u32::from_le_bytes(original[len - 20..len - 16].try_into().unwrap()) as usize;
        let footer_start = len - 20 - footer_len;
        let mut footer = Footer::parse(&original[footer_start..len - 20]).unwrap();
        let mut blocks: Vec<&mut ecomdash_storage::segment::format::BlockRef> = footer
            .dicts
            .iter_mut()
            .flatten()
            .map(|d| &mut d.block)
            .chain(footer.chunks.iter_mut().flat_map(|c| c.columns.iter_mut().map(|col| &mut col.block)))
            .collect();
        let target = block.index(blocks.len());
        let b = &mut *blocks[target];
        let mut bytes = original[..footer_start].to_vec();
        let start = b.offset as usize;
        let stored = &mut bytes[start..start + b.stored_len as usize];
        for (pos, mask) in &flips {
            let i = pos.index(stored.len());
            stored[i] ^= mask;
        }
        b.crc = crc32c::crc32c(stored);
        let mut footer_bytes = Vec::new();
        footer.encode(&mut footer_bytes);
        bytes.extend_from_slice(&footer_bytes);
        let damaged = with_footer_edit(&[bytes, original[len - 20..].to_vec()].concat(), 1, |_| {});
        let path = dir.path().join("block.seg");
        std::fs::write(&path, &damaged).unwrap();
        let segment = Segment::open(&path).unwrap();
        if let Ok(all) = segment.read_all() {
            prop_assert_eq!(all.row_count, 8);
            for col in &all.columns {
                prop_assert_eq!(col.len(), 8);
                for r in 0..8 {
                    let _ = segment_common::cell(col, r);
                }
            }
        }
    }
}
