//! Corruption of WAL and segment files: flipped bytes and truncations are detected, reported,
//! and never returned as data; everything else stays readable.
#![expect(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use ecomdash_storage::{wal, ScanRequest, Store, StoreConfig, Table};

const BATCHES: usize = 8;

fn config() -> StoreConfig {
    StoreConfig {
        wal_file_max_bytes: 1 << 20,
        ..small_config()
    }
}

fn batch(i: usize) -> Vec<Ev> {
    let mut out: Vec<Ev> = (0..5)
        .map(|k| {
            Ev::new(
                "a.com",
                &format!("b{i}-{k}"),
                DAY0_US + (i * 10 + k) as i64,
                "v",
            )
        })
        .collect();
    out.sort();
    out
}

/// A store whose WAL holds `BATCHES` frames (one per append) and nothing else. Returns the WAL
/// file and the byte ranges of its frames.
fn store_with_wal_frames(dir: &Path) -> (PathBuf, Vec<(usize, usize)>) {
    let store = Store::open(dir, config()).unwrap();
    for i in 0..BATCHES {
        store.append(rows(&batch(i))).wait().unwrap();
    }
    drop(store);
    let files = wal::list_files(&dir.join("wal")).unwrap();
    let (_, path) = files.last().unwrap().clone();
    let bytes = fs::read(&path).unwrap();
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (_, end) = wal::decode_frame(&bytes, at).unwrap();
        frames.push((at, end));
        at = end;
    }
    assert_eq!(frames.len(), BATCHES);
    (path, frames)
}

fn expected_without(skip: &[usize]) -> Vec<Ev> {
    let mut out: Vec<Ev> = (0..BATCHES)
        .filter(|i| !skip.contains(i))
        .flat_map(batch)
        .collect();
    out.sort();
    out
}

fn quarantined(dir: &Path) -> Vec<String> {
    fs::read_dir(dir.join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn flipped_byte_in_a_middle_record_skips_only_that_record_and_quarantines_it() {
    for (victim, offset_in_frame) in [(3, 2), (3, 6), (3, 10), (3, 40), (0, 30), (5, 100)] {
        let dir = tempfile::tempdir().unwrap();
        let (path, frames) = store_with_wal_frames(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        bytes[frames[victim].0 + offset_in_frame] ^= 0x5a;
        fs::write(&path, &bytes).unwrap();
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(
            scan_events(&store),
            expected_without(&[victim]),
            "victim {victim}"
        );
        let q = quarantined(dir.path());
        assert_eq!(q.len(), 1, "{q:?}");
        assert!(
            q[0].ends_with(&format!(".at-{}.corrupt", frames[victim].0)),
            "{q:?}"
        );
        // The store keeps working and the skipped record stays skipped.
        store.append(rows(&batch(100))).wait().unwrap();
        drop(store);
        let store = Store::open(dir.path(), config()).unwrap();
        let mut expected = [expected_without(&[victim]), batch(100)].concat();
        expected.sort();
        assert_eq!(scan_events(&store), expected);
    }
}

#[test]
fn torn_or_corrupt_tail_is_truncated() {
    let last = BATCHES - 1;
    let dir = tempfile::tempdir().unwrap();
    let (path, frames) = store_with_wal_frames(dir.path());
    let pristine = fs::read(&path).unwrap();
    let (start, end) = frames[last];
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for cut in [1, 4, 11, 12, 13, (end - start) / 2, end - start - 1] {
        cases.push(pristine[..end - cut].to_vec());
    }
    let mut flipped = pristine.clone();
    flipped[end - 3] ^= 0x01;
    cases.push(flipped);
    let mut garbage = pristine[..end - 7].to_vec();
    garbage.extend_from_slice(&[0xAB; 64]);
    cases.push(garbage);
    for (n, case) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = store_with_wal_frames(dir.path());
        fs::write(&path, &case).unwrap();
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(scan_events(&store), expected_without(&[last]), "case {n}");
        assert_eq!(
            fs::metadata(&path).unwrap().len() as usize,
            start,
            "case {n}: tail cut"
        );
        assert!(quarantined(dir.path()).is_empty());
        drop(store);
    }
}

#[test]
fn truncation_in_the_middle_of_the_log_keeps_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (path, frames) = store_with_wal_frames(dir.path());
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..frames[4].0 + 7]).unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(scan_events(&store), expected_without(&[4, 5, 6, 7]));
}

fn all_columns_scan(store: &Store) -> (usize, usize) {
    let cols: Vec<usize> = (0..Table::Events.schema().len()).collect();
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Events, cols));
    let (mut ok_rows, mut errors) = (0, 0);
    for unit in &plan.units {
        match unit.read() {
            Ok(b) => ok_rows += b.row_count,
            Err(e) => {
                assert!(e.to_string().contains("corrupt"), "{e}");
                errors += 1;
            }
        }
    }
    (ok_rows, errors)
}

fn two_segment_store(dir: &Path) -> Vec<PathBuf> {
    let store = Store::open(dir, config()).unwrap();
    store.append(rows(&batch(1))).wait().unwrap();
    store.flush().unwrap();
    store.append(rows(&batch(2))).wait().unwrap();
    store.close().unwrap();
    let mut segs: Vec<PathBuf> = fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 2);
    segs
}

#[test]
fn segment_with_a_bad_footer_is_quarantined_and_the_rest_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let segs = two_segment_store(dir.path());
    let mut bytes = fs::read(&segs[0]).unwrap();
    let n = bytes.len();
    bytes[n - 30] ^= 0xff;
    fs::write(&segs[0], &bytes).unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(scan_events(&store), batch(2));
    assert!(!segs[0].exists());
    let name = segs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(quarantined(dir.path()), [name]);
    assert_eq!(store.stats().segment_count, 1);
}

#[test]
fn flipped_bytes_inside_segment_blocks_are_errors_never_data() {
    let dir = tempfile::tempdir().unwrap();
    let segs = two_segment_store(dir.path());
    let pristine = fs::read(&segs[0]).unwrap();
    let manifest_path = dir.path().join("manifest.json");
    let manifest = fs::read(&manifest_path).unwrap();
    let mut detected = 0;
    // Flip bytes across the data area (the footer is covered by the test above).
    for at in (16..pristine.len() / 2).step_by(7) {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x10;
        fs::write(&segs[0], &bytes).unwrap();
        let store = Store::open(dir.path(), config()).unwrap();
        if store.stats().segment_count == 1 {
            // Quarantined on open: put it back for the next round.
            let name = segs[0].file_name().unwrap();
            fs::remove_file(dir.path().join("quarantine").join(name)).unwrap();
            drop(store);
            fs::write(&manifest_path, &manifest).unwrap();
            detected += 1;
            continue;
        }
        let (ok_rows, errors) = all_columns_scan(&store);
        if errors > 0 {
            detected += 1;
            assert_eq!(ok_rows, 5, "only the other segment's rows are returned");
        } else {
            assert_eq!(ok_rows, 10);
            let mut expected = [batch(1), batch(2)].concat();
            expected.sort();
            assert_eq!(
                scan_events(&store),
                expected,
                "an undetected flip must not change data (byte {at})"
            );
        }
        drop(store);
    }
    fs::write(&segs[0], &pristine).unwrap();
    assert!(detected > 0);
}

#[test]
fn a_newest_wal_file_without_valid_records_keeps_file_order_equal_to_lsn_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    store.append(rows(&batch(0))).wait().unwrap();
    drop(store);
    let bogus = dir.path().join("wal").join(wal::file_name(50));
    fs::write(&bogus, [0xEE; 100]).unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let files = wal::list_files(&dir.path().join("wal")).unwrap();
    let (newest, path) = files.last().unwrap();
    assert_eq!(
        (*newest, fs::metadata(path).unwrap().len()),
        (50, 0),
        "{files:?}"
    );
    for i in 1..4 {
        store.append(rows(&batch(i))).wait().unwrap();
    }
    store.flush().unwrap();
    store.append(rows(&batch(4))).wait().unwrap();
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(scan_events(&store), expected_without(&[5, 6, 7]));
}

#[test]
fn scrub_quarantines_a_segment_with_a_damaged_block() {
    let dir = tempfile::tempdir().unwrap();
    let segs = two_segment_store(dir.path());
    let mut bytes = fs::read(&segs[0]).unwrap();
    // A byte of the first block (the header is 12 bytes).
    bytes[20] ^= 0x40;
    fs::write(&segs[0], &bytes).unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let (_, errors) = all_columns_scan(&store);
    assert!(errors > 0, "the damaged block is reported by scans");
    let report = store.scrub().unwrap();
    assert_eq!(
        (
            report.segments_checked,
            report.segments_quarantined,
            report.rows_lost
        ),
        (2, 1, 5)
    );
    assert_eq!(all_columns_scan(&store), (5, 0));
    assert_eq!(store.scrub().unwrap().segments_quarantined, 0);
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(all_columns_scan(&store), (5, 0));
    assert_eq!(quarantined(dir.path()).len(), 1);
}
