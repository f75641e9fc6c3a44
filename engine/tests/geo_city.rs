//! Region and city from a city database, in both record layouts the daemon reads (GeoIP2 /
//! GeoLite2 and ip-location-db / DB-IP Lite). The free database `.ci/test` fetches has countries
//! only, so these tests build small city databases with `mmdb-writer`: the lookup itself, and the
//! stored `region` / `city` columns of events imported into a running daemon.
#![expect(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{site_add, Daemon};
use ecomdash_engine::enrich::geo::GeoDb;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Serialize)]
struct Names {
    names: BTreeMap<&'static str, &'static str>,
}

fn en(name: &'static str) -> Names {
    Names {
        names: BTreeMap::from([("en", name), ("de", "nicht diese")]),
    }
}

/// GeoIP2 / GeoLite2 City layout.
#[derive(Serialize)]
struct GeoIp2City {
    country: BTreeMap<&'static str, &'static str>,
    subdivisions: Vec<Names>,
    city: Names,
}

/// ip-location-db / DB-IP Lite city layout.
#[derive(Serialize)]
struct DbIpCity {
    country_code: &'static str,
    state1: &'static str,
    city: &'static str,
}

/// A city database with one network in each layout, and one GeoIP2 record without a city.
fn write_city_db(path: &Path) {
    let mut writer = mmdb_writer::Writer::new("EcomDash-Test-City");
    writer
        .insert(
            "8.8.8.0/24".parse::<IpNet>().unwrap(),
            &GeoIp2City {
                country: BTreeMap::from([("iso_code", "US")]),
                subdivisions: vec![en("California"), en("Santa Clara County")],
                city: en("Mountain View"),
            },
        )
        .unwrap();
    writer
        .insert(
            "193.0.6.0/24".parse::<IpNet>().unwrap(),
            &DbIpCity {
                country_code: "NL",
                state1: "North Holland",
                city: "Amsterdam",
            },
        )
        .unwrap();
    writer
        .insert(
            "2001:67c:2e8::/48".parse::<IpNet>().unwrap(),
            &DbIpCity {
                country_code: "nl",
                state1: "",
                city: "Amsterdam",
            },
        )
        .unwrap();
    std::fs::write(path, writer.to_bytes().unwrap()).unwrap();
}

fn lookup(db: &GeoDb, ip: &str) -> (Option<String>, Option<String>, Option<String>) {
    let info = db.lookup(ip.parse::<IpAddr>().unwrap()).unwrap_or_default();
    let text = |v: &Option<std::sync::Arc<str>>| v.as_deref().map(str::to_owned);
    (text(&info.country), text(&info.region), text(&info.city))
}

fn some(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn a_city_database_gives_region_and_city_in_both_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("city.mmdb");
    write_city_db(&path);
    let db = GeoDb::open(&path).unwrap();
    // GeoIP2: the first subdivision, English names
    assert_eq!(
        lookup(&db, "8.8.8.8"),
        (some("US"), some("California"), some("Mountain View"))
    );
    // DB-IP: plain strings
    assert_eq!(
        lookup(&db, "193.0.6.139"),
        (some("NL"), some("North Holland"), some("Amsterdam"))
    );
    // an empty region stays empty; the country code is upper-cased
    assert_eq!(
        lookup(&db, "2001:67c:2e8:22::c100:68b"),
        (some("NL"), None, some("Amsterdam"))
    );
    // not in the database, and a private address (never looked up)
    assert_eq!(lookup(&db, "133.11.0.1"), (None, None, None));
    assert_eq!(lookup(&db, "10.1.2.3"), (None, None, None));
}

#[test]
fn imported_events_store_region_and_city() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("city.mmdb");
    write_city_db(&db);
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let daemon = Daemon::start(&dir, &[("ECOMDASH_GEOIP_DB", db.to_str().unwrap())]);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let ndjson: String = ["8.8.8.8", "8.8.8.9", "193.0.6.139", "133.11.0.1"]
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            format!(
                "{}\n",
                json!({"type": "pageview", "url": "https://shop.example/", "ts": now - 3_600_000 + i as i64,
                       "user_agent": ua, "ip": ip})
            )
        })
        .collect();
    let resp = daemon.import("shop.example", &ndjson);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["imported"], 4, "{}", resp.body);

    let auth = format!("Bearer {}", keys.read_key);
    let resp = daemon.post(
        "/api/v1/query",
        &[("Authorization", &auth)],
        &json!({"sql": "SELECT country, region, city, count() AS c FROM events \
                        GROUP BY country, region, city"})
        .to_string(),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let mut rows: Vec<String> = resp.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            json!(["NL", "North Holland", "Amsterdam", 1]).to_string(),
            json!(["US", "California", "Mountain View", 2]).to_string(),
            json!([null, null, null, 1]).to_string(),
        ]
    );
}
