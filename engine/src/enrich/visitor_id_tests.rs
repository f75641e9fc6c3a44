//! Tests of the salt ring and id derivation; the clock is always injected.
#![expect(clippy::unwrap_used)]

use super::*;

const DAY: u64 = SECONDS_PER_DAY;
/// 2026-11-26 12:00:00 UTC.
const NOON: u64 = 20_783 * DAY + 12 * 3600;
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn salt_file(dir: &Path) -> String {
    fs::read_to_string(dir.join(SALT_FILE_NAME)).unwrap()
}

#[test]
fn same_inputs_same_day_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let ring = SaltRing::open(dir.path(), NOON).unwrap();
    let a = ring
        .visitor_id(NOON, "shop.example", ip("198.51.100.7"), UA)
        .unwrap();
    let b = ring
        .visitor_id(NOON + 3600, "shop.example", ip("198.51.100.7"), UA)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string().len(), 16);
    assert!(a.to_string().bytes().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn every_input_changes_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let ring = SaltRing::open(dir.path(), NOON).unwrap();
    let base = ring
        .visitor_id(NOON, "shop.example", ip("198.51.100.7"), UA)
        .unwrap();
    let other_site = ring
        .visitor_id(NOON, "other.example", ip("198.51.100.7"), UA)
        .unwrap();
    let other_ip = ring
        .visitor_id(NOON, "shop.example", ip("198.51.100.8"), UA)
        .unwrap();
    let other_ua = ring
        .visitor_id(NOON, "shop.example", ip("198.51.100.7"), "curl/8.5.0")
        .unwrap();
    assert_ne!(base, other_site);
    assert_ne!(base, other_ip);
    assert_ne!(base, other_ua);
    // length prefixes: moving bytes between site and user agent changes the id
    let shifted = ring
        .visitor_id(NOON, "shop.exampleM", ip("198.51.100.7"), &UA[1..])
        .unwrap();
    assert_ne!(base, shifted);
    // the IPv4-mapped form of an address is the same client
    let mapped = ring
        .visitor_id(NOON, "shop.example", ip("::ffff:198.51.100.7"), UA)
        .unwrap();
    assert_eq!(base, mapped);
}

#[test]
fn restart_on_the_same_day_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    let first = SaltRing::open(dir.path(), NOON).unwrap();
    let before = first.visitor_id(NOON, "s", ip("10.0.0.1"), UA).unwrap();
    drop(first);
    let second = SaltRing::open(dir.path(), NOON + 5 * 3600).unwrap();
    assert_eq!(
        second
            .visitor_id(NOON + 5 * 3600, "s", ip("10.0.0.1"), UA)
            .unwrap(),
        before
    );
}

#[test]
fn ids_change_at_utc_midnight_and_old_salt_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let ring = SaltRing::open(dir.path(), NOON).unwrap();
    let day_one = ring.visitor_id(NOON, "s", ip("10.0.0.1"), UA).unwrap();
    let day_one_file = salt_file(dir.path());
    let day_one_salt_hex = day_one_file
        .lines()
        .nth(1)
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();

    let midnight = (NOON / DAY + 1) * DAY;
    let last_second = ring
        .visitor_id(midnight - 1, "s", ip("10.0.0.1"), UA)
        .unwrap();
    assert_eq!(last_second, day_one);

    // just after midnight: new id, yesterday's still offered for live sessions
    let ids = ring
        .visitor_ids(midnight + 60, "s", ip("10.0.0.1"), UA)
        .unwrap();
    assert_ne!(ids.current, day_one);
    assert_eq!(ids.previous, Some(day_one));
    assert_eq!(ring.current_day(), midnight / DAY);
    assert!(salt_file(dir.path()).contains(&day_one_salt_hex));

    // after the grace period: yesterday's salt is gone from memory and from disk
    let later = ring
        .visitor_ids(midnight + PREVIOUS_SALT_GRACE_SECS, "s", ip("10.0.0.1"), UA)
        .unwrap();
    assert_eq!(later.current, ids.current);
    assert_eq!(later.previous, None);
    let file = salt_file(dir.path());
    assert!(!file.contains(&day_one_salt_hex));
    assert_eq!(
        file.lines().count(),
        2,
        "header and today's salt only: {file}"
    );
}

#[test]
fn restart_during_grace_keeps_yesterday_and_after_it_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let ring = SaltRing::open(dir.path(), NOON).unwrap();
    let day_one = ring.visitor_id(NOON, "s", ip("10.0.0.1"), UA).unwrap();
    drop(ring);
    let midnight = (NOON / DAY + 1) * DAY;
    let reopened = SaltRing::open(dir.path(), midnight + 10).unwrap();
    let ids = reopened
        .visitor_ids(midnight + 10, "s", ip("10.0.0.1"), UA)
        .unwrap();
    assert_eq!(ids.previous, Some(day_one));
    drop(reopened);
    let late = SaltRing::open(dir.path(), midnight + PREVIOUS_SALT_GRACE_SECS + 1).unwrap();
    let ids_late = late
        .visitor_ids(
            midnight + PREVIOUS_SALT_GRACE_SECS + 1,
            "s",
            ip("10.0.0.1"),
            UA,
        )
        .unwrap();
    assert_eq!(ids_late.previous, None);
    assert_eq!(
        ids_late.current, ids.current,
        "today's salt survived the restart"
    );
}

#[test]
fn a_gap_of_days_keeps_no_previous_salt() {
    let dir = tempfile::tempdir().unwrap();
    let ring = SaltRing::open(dir.path(), NOON).unwrap();
    let rotated = ring.rotate_if_needed(NOON + 3 * DAY).unwrap();
    assert!(rotated);
    let ids = ring
        .visitor_ids(NOON + 3 * DAY, "s", ip("10.0.0.1"), UA)
        .unwrap();
    assert_eq!(ids.previous, None);
    assert!(!ring.rotate_if_needed(NOON + 3 * DAY + 1).unwrap());
}

#[test]
fn clock_going_backwards_keeps_the_newest_salt() {
    let dir = tempfile::tempdir().unwrap();
    let ring = SaltRing::open(dir.path(), NOON + DAY).unwrap();
    let today = ring
        .visitor_id(NOON + DAY, "s", ip("10.0.0.1"), UA)
        .unwrap();
    assert!(!ring.rotate_if_needed(NOON).unwrap());
    assert_eq!(
        ring.visitor_id(NOON, "s", ip("10.0.0.1"), UA).unwrap(),
        today
    );
}

#[test]
fn corrupt_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(SALT_FILE_NAME),
        format!("{FILE_HEADER}\n20783 zz\n"),
    )
    .unwrap();
    let error = SaltRing::open(dir.path(), NOON).unwrap_err();
    assert!(
        matches!(error, SaltError::Corrupt { line: 2, .. }),
        "{error}"
    );
    fs::write(dir.path().join(SALT_FILE_NAME), "something else\n").unwrap();
    assert!(matches!(
        SaltRing::open(dir.path(), NOON),
        Err(SaltError::Corrupt { line: 1, .. })
    ));
}

#[cfg(unix)]
#[test]
fn salt_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let _ring = SaltRing::open(dir.path(), NOON).unwrap();
    let mode = fs::metadata(dir.path().join(SALT_FILE_NAME))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn two_rings_get_different_salts() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ring_a = SaltRing::open(a.path(), NOON).unwrap();
    let ring_b = SaltRing::open(b.path(), NOON).unwrap();
    assert_ne!(
        ring_a.visitor_id(NOON, "s", ip("10.0.0.1"), UA).unwrap(),
        ring_b.visitor_id(NOON, "s", ip("10.0.0.1"), UA).unwrap()
    );
}

#[test]
fn session_ids_are_deterministic() {
    let visitor = VisitorId(0x0123_4567_89ab_cdef);
    let start = 1_767_225_600_123;
    assert_eq!(session_id(visitor, start), session_id(visitor, start));
    assert_ne!(session_id(visitor, start), session_id(visitor, start + 1));
    assert_ne!(session_id(visitor, start), session_id(VisitorId(1), start));
    assert_eq!(session_id(visitor, start).to_string().len(), 16);
}

#[test]
fn stack_and_streaming_hashes_agree() {
    let salt = [7u8; SALT_BYTES];
    let ip = ip("2001:db8::1");
    let short = hash_visitor(&salt, "shop.example", ip, UA);
    let ip_bytes = ip16(ip);
    let parts: [&[u8]; 5] = [
        &12u64.to_le_bytes(),
        b"shop.example",
        &ip_bytes,
        &(UA.len() as u64).to_le_bytes(),
        UA.as_bytes(),
    ];
    assert_eq!(short, hash_visitor_streaming(&salt, &parts));
    // a User-Agent longer than the stack buffer takes the streaming path and still works
    let long_ua = "x".repeat(STACK_HASH_INPUT_BYTES * 2);
    let long = hash_visitor(&salt, "shop.example", ip, &long_ua);
    assert_ne!(long, short);
    assert_eq!(long, hash_visitor(&salt, "shop.example", ip, &long_ua));
}
