//! Geo lookup through the real daemon: imported lines with an `ip` field and live events behind
//! the loopback trusted proxy (`X-Forwarded-For`) get their country in the stored row, in the
//! sessions behind the summary's countries and in the realtime countries; the raw addresses are
//! in no file of the data dir nor in the log; without a database countries stay empty and the
//! daemon says so once; a bad database file stops startup with an error naming the file.
//!
//! The database comes from `GEOIP_TEST_DB`, else `/var/tmp/ecomdash-geoip/geoip.mmdb` (where
//! `.ci/test` puts it with `engine/scripts/fetch-geoip.sh`). Under `CI=true` a missing database
//! is a failure; elsewhere the tests that need it are skipped with a printed reason.

#![expect(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use ecomdash_protocol::SiteKeys;
use serde_json::{json, Value};

const EVENT: &str = "/api/v1/analytics/track/event";

fn test_db() -> Option<PathBuf> {
    let path = std::env::var_os("GEOIP_TEST_DB").map_or_else(
        || PathBuf::from("/var/tmp/ecomdash-geoip/geoip.mmdb"),
        PathBuf::from,
    );
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "geoip test database {} missing under CI: run engine/scripts/fetch-geoip.sh {}",
        path.display(),
        path.parent().unwrap().display()
    );
    eprintln!(
        "skipped: no geoip database at {} (run engine/scripts/fetch-geoip.sh {} or set GEOIP_TEST_DB)",
        path.display(),
        path.parent().unwrap().display()
    );
    None
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `YYYY-MM-DD` (UTC) of `ms`.
fn date(ms: i64) -> String {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn sql(daemon: &Daemon, keys: &SiteKeys, query: &str) -> Value {
    let auth = format!("Bearer {}", keys.read_key);
    let resp = daemon.post(
        "/api/v1/query",
        &[("Authorization", &auth)],
        &json!({ "sql": query }).to_string(),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["rows"].clone()
}

/// `[{"key": K, "count": N}, ...]` as sorted `(K, N)` pairs.
fn top(rows: &Value) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or("(null)").to_owned(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn imported_and_live_events_carry_their_country() {
    let Some(db) = test_db() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let mut daemon = Daemon::start(
        &dir,
        &[
            ("ECOMDASH_GEOIP_DB", db.to_str().unwrap()),
            ("ECOMDASH_LOG", "info"),
        ],
    );
    assert!(daemon.log().contains("geo lookup on"), "{}", daemon.log());

    // history two days back: sessions close by event time during the import
    let start = now_ms() - 2 * 86_400_000;
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let visitors = [
        ("8.8.8.8", 3),                   // US, one visitor with three pageviews
        ("193.0.6.139", 1),               // NL
        ("2001:67c:2e8:22::c100:68b", 1), // NL over IPv6
        ("133.11.0.1", 1),                // JP
        ("10.1.2.3", 1),                  // private: no country
    ];
    let mut ndjson = String::new();
    for (v, (ip, pageviews)) in visitors.iter().enumerate() {
        for p in 0..*pageviews {
            ndjson.push_str(&format!(
                "{{\"type\":\"pageview\",\"url\":\"https://shop.example/{p}\",\"ts\":{},\"user_agent\":\"{ua}\",\"ip\":\"{ip}\"}}\n",
                start + (v as i64) * 3_600_000 + p * 60_000
            ));
        }
    }
    let resp = daemon.import("shop.example", &ndjson);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["imported"], 7, "{}", resp.body);
    assert_eq!(resp.json()["sessions"], 5, "{}", resp.body);

    // the stored rows
    let by_country = |daemon: &Daemon| {
        let rows = sql(
            daemon,
            &keys,
            "SELECT country, count() AS c FROM events GROUP BY country",
        );
        let mut rows: Vec<(String, i64)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap_or("(null)").to_owned(),
                    r[1].as_i64().unwrap(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let expected = |extra: &[(&str, i64)]| {
        let mut rows: Vec<(String, i64)> = [("(null)", 1), ("JP", 1), ("NL", 2), ("US", 3)]
            .iter()
            .chain(extra)
            .map(|(k, c)| ((*k).to_owned(), *c))
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(by_country(&daemon), expected(&[]));
    // the country database has no regions or cities
    assert_eq!(
        sql(
            &daemon,
            &keys,
            "SELECT count() FROM events WHERE region IS NOT NULL OR city IS NOT NULL"
        ),
        json!([[0]])
    );

    // the summary's countries count sessions
    let path = format!(
        "/api/v1/analytics/summary?site=shop.example&from={}&to={}",
        date(start - 86_400_000),
        date(now_ms())
    );
    let read_auth = format!("Bearer {}", keys.read_key);
    let summary = daemon.get(&path, &[("Authorization", &read_auth)]);
    assert_eq!(summary.status, 200, "{}", summary.body);
    let countries = top(&summary.json()["countries"]);
    for (country, sessions) in [("JP", 1), ("NL", 2), ("US", 1)] {
        assert!(
            countries.contains(&(country.to_owned(), sessions)),
            "{countries:?} lacks {country} {sessions}: {}",
            summary.body
        );
    }
    let filtered = daemon.get(
        &format!("{path}&country=NL"),
        &[("Authorization", &read_auth)],
    );
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(
        filtered.json()["totals"]["pageviews"],
        2,
        "{}",
        filtered.body
    );

    // live: the client address comes from X-Forwarded-For, believed from the loopback proxy
    let mut headers = browser_headers(&keys.write_key);
    headers.push(("X-Forwarded-For", "2001:620::1"));
    let resp = daemon.post(EVENT, &headers, &pageview("/live"));
    assert_eq!(resp.status, 202, "{}", resp.body);
    let realtime = poll(Duration::from_secs(5), || {
        let resp = daemon.get(
            "/api/v1/analytics/realtime?site=shop.example",
            &[("Authorization", &read_auth)],
        );
        assert_eq!(resp.status, 200, "{}", resp.body);
        let countries = top(&resp.json()["countries"]);
        (!countries.is_empty()).then_some(countries)
    });
    assert_eq!(realtime, vec![("CH".to_owned(), 1)]);
    poll(Duration::from_secs(5), || {
        (by_country(&daemon) == expected(&[("CH", 1)])).then_some(())
    });

    // the raw addresses are nowhere on disk, WAL and segments included, nor in the log
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    let log = daemon.log();
    let mut haystacks = vec![(dir.with_extension("log"), log.into_bytes())];
    for file in files(&dir) {
        let bytes = std::fs::read(&file).unwrap();
        haystacks.push((file, bytes));
    }
    for (file, bytes) in &haystacks {
        for ip in [
            "8.8.8.8",
            "193.0.6.139",
            "2001:67c:2e8",
            "133.11.0.1",
            "2001:620::1",
        ] {
            assert!(
                !bytes.windows(ip.len()).any(|w| w == ip.as_bytes()),
                "{ip} found in {}",
                file.display()
            );
        }
    }
}

#[test]
fn without_a_database_countries_stay_empty_and_the_log_says_how_to_enable_geo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let daemon = Daemon::start(&dir, &[("ECOMDASH_LOG", "info")]);
    let log = daemon.log();
    assert_eq!(log.matches("geo lookup off").count(), 1, "{log}");
    assert!(log.contains("fetch-geoip.sh"), "{log}");

    let mut headers = browser_headers(&keys.write_key);
    headers.push(("X-Forwarded-For", "8.8.8.8"));
    let resp = daemon.post(EVENT, &headers, &pageview("/a"));
    assert_eq!(resp.status, 202, "{}", resp.body);
    let rows = poll(Duration::from_secs(5), || {
        let rows = sql(&daemon, &keys, "SELECT country FROM events");
        (rows.as_array().unwrap().len() == 1).then_some(rows)
    });
    assert_eq!(rows, json!([[null]]));
}

#[test]
fn a_bad_database_file_stops_startup_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("not-geo.mmdb");
    std::fs::write(&bad, b"not a maxmind database").unwrap();
    let missing = tmp.path().join("missing.mmdb");
    for (i, file) in [&bad, &missing].into_iter().enumerate() {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--http", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join(format!("data{i}")))
            .arg("--geoip-db")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("ECOMDASH_") || name == "RUST_LOG" || name == "RUST_BACKTRACE" {
                command.env_remove(name);
            }
        }
        command.env("ECOMDASH_QUIC", "off");
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("daemon started with geoip database {}", file.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success());
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(stderr.contains(name), "{stderr}");
        assert!(stderr.contains("geoip database"), "{stderr}");
    }
}

#[test]
fn offline_import_uses_the_geoip_db_flag() {
    let Some(db) = test_db() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let file = tmp.path().join("events.ndjson");
    let start = now_ms() - 86_400_000;
    // a browser: events without a User-Agent count as bots, which open no session
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let mut ndjson = String::new();
    for (i, ip) in ["2001:200::1", "130.59.31.80"].iter().enumerate() {
        ndjson.push_str(&format!(
            "{{\"type\":\"pageview\",\"url\":\"https://shop.example/\",\"ts\":{},\"ip\":\"{ip}\",\"user_agent\":\"{ua}\"}}\n",
            start + i as i64 * 60_000
        ));
    }
    std::fs::write(&file, ndjson).unwrap();
    let out = run(
        &[
            "import",
            file.to_str().unwrap(),
            "--site",
            "shop.example",
            "--data-dir",
            dir.to_str().unwrap(),
            "--geoip-db",
            db.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = Daemon::start(&dir, &[]);
    assert_eq!(
        sql(&daemon, &keys, "SELECT country FROM events ORDER BY ts"),
        json!([["JP"], ["CH"]])
    );
    assert_eq!(
        sql(
            &daemon,
            &keys,
            "SELECT country, count() FROM sessions GROUP BY country ORDER BY country"
        ),
        json!([["CH", 1], ["JP", 1]])
    );
}
