//! Golden segment files: files written by format version 1 are checked in under
//! `tests/golden/` and must keep reading back to exactly the same rows, zones and metadata with
//! every later build. A format change that breaks this needs a new version (see
//! docs/format-segment.md, "Version policy"), not a regenerated file.
//!
//! To create the files for a NEW format version (never to "fix" this test):
//! `ECOMDASH_WRITE_GOLDEN=1 cargo test -p ecomdash-storage --test segment_golden -- --ignored`
#![expect(clippy::unwrap_used)]

mod segment_common;

use std::path::PathBuf;
use std::sync::Arc;

use ecomdash_storage::{
    write_segment_with, ColumnBatch, ColumnType, ColumnVec, Segment, SortOrder, StrDict, Table,
    WriteOptions,
};
use segment_common::{expected_zone, same_zone, sorted_rows, zone_cells};

const SITE: &str = "golden.example";
const DAY: i32 = 20_454;
const ROWS: usize = 45;

fn golden_path(table: Table) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{table}-v1.seg"))
}

/// A deterministic batch built from arithmetic only (no RNG whose stream could change): every
/// type, nulls, empty and non-ASCII strings, extreme integers and floats, session-shaped rows.
fn golden_batch(table: Table) -> ColumnBatch {
    let schema = table.schema();
    let session = |r: usize| r / 4; // sessions of 4 rows
    let strings = [
        "",
        "/",
        "/products/shoes-1001",
        "ünïcödé 🚀",
        "DE",
        "mobile",
        "a\"b\\c",
    ];
    let columns = schema
        .columns
        .iter()
        .enumerate()
        .map(|(c, def)| {
            let present: Vec<bool> = (0..ROWS).map(|r| (r * 7 + c * 3) % 11 != 0).collect();
            let validity = present.iter().any(|p| !p).then(|| present.clone());
            match def.ty {
                ColumnType::Timestamp => ColumnVec::Int {
                    values: (0..ROWS)
                        .map(|r| {
                            i64::from(DAY) * 86_400_000_000
                                + (r as i64 * 7_919_113) % 86_400_000_000
                        })
                        .collect(),
                    validity: (c != schema.time_column).then_some(validity).flatten(),
                },
                ColumnType::Int => ColumnVec::Int {
                    values: (0..ROWS)
                        .map(|r| match (r + c) % 6 {
                            0 => i64::MIN,
                            1 => i64::MAX,
                            2 => -(r as i64),
                            _ => (session(r) * 1000 + c) as i64,
                        })
                        .collect(),
                    validity,
                },
                ColumnType::Float => ColumnVec::Float {
                    values: (0..ROWS)
                        .map(|r| match (r + c) % 7 {
                            0 => f64::NAN,
                            1 => -0.0,
                            2 => f64::INFINITY,
                            3 => f64::MIN_POSITIVE,
                            4 => r as f64 / 10.0,
                            _ => 1.0 / (r as f64 + 3.0),
                        })
                        .collect(),
                    validity,
                },
                ColumnType::Bool => ColumnVec::Bool {
                    values: (0..ROWS).map(|r| (r / 3 + c) % 2 == 0).collect(),
                    validity,
                },
                ColumnType::Str => {
                    let mut dict = StrDict::from_strs(strings);
                    for s in 0..ROWS / 4 + 1 {
                        dict.push(&format!("{c}-{s:016x}"));
                    }
                    let codes = (0..ROWS)
                        .map(|r| {
                            if c % 2 == 1 {
                                (strings.len() + session(r)) as u32 // session-constant
                            } else {
                                ((r * 5 + c) % strings.len()) as u32
                            }
                        })
                        .collect();
                    ColumnVec::Str {
                        dict: Arc::new(dict),
                        codes,
                        validity: (c != schema.site_column).then_some(validity).flatten(),
                    }
                }
            }
        })
        .collect();
    ColumnBatch {
        column_indexes: (0..schema.len()).collect(),
        columns,
        row_count: ROWS,
    }
}

fn options(table: Table) -> WriteOptions {
    WriteOptions {
        chunk_rows: 16,
        zstd_level: 3,
        sort: SortOrder::default_for(table),
    }
}

#[test]
fn golden_files_of_version_1_read_back() {
    for table in Table::ALL {
        let path = golden_path(table);
        let segment = Segment::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let meta = segment.meta();
        assert_eq!(
            (meta.table, meta.site.as_str(), meta.day),
            (table, SITE, DAY)
        );
        assert_eq!(meta.row_count, ROWS as u64);
        assert_eq!(meta.file_bytes, std::fs::metadata(&path).unwrap().len());
        assert_eq!(segment.chunk_count(), 3);
        let expected = golden_batch(table);
        let all = segment.read_all().unwrap();
        assert_eq!(sorted_rows(&all), sorted_rows(&expected), "{table}");

        // Zones agree with the stored rows.
        let mut start = 0;
        for chunk in 0..segment.chunk_count() {
            let n = segment.chunk_rows(chunk);
            for column in 0..table.schema().len() {
                let expected = expected_zone(&all.columns[column], start..start + n);
                let found = zone_cells(&segment, chunk, column);
                assert!(
                    same_zone(found.clone(), expected.clone()),
                    "{table} {chunk} {column}: {found:?} {expected:?}"
                );
            }
            start += n;
        }
        // Today's writer stores the same rows (the golden bytes may differ: encoders may improve
        // without a version change).
        let dir = tempfile::tempdir().unwrap();
        write_segment_with(
            dir.path(),
            "now.seg",
            table,
            SITE,
            DAY,
            &expected,
            &options(table),
        )
        .unwrap();
        let now = Segment::open(&dir.path().join("now.seg")).unwrap();
        assert_eq!(
            sorted_rows(&now.read_all().unwrap()),
            sorted_rows(&all),
            "{table}"
        );
    }
}

#[test]
#[ignore = "writes the golden files; run only when introducing a new format version"]
fn write_golden_files() {
    if std::env::var("ECOMDASH_WRITE_GOLDEN").as_deref() != Ok("1") {
        return;
    }
    for table in Table::ALL {
        let path = golden_path(table);
        let dir = path.parent().unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        write_segment_with(
            dir,
            name,
            table,
            SITE,
            DAY,
            &golden_batch(table),
            &options(table),
        )
        .unwrap();
    }
}
