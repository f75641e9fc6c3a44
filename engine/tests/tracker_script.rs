//! The daemon serves the browser tracker that shops embed with one script tag.

#![expect(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn tracker_script_is_served_with_a_javascript_type_and_revalidates() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&tmp.path().join("data"), &[]);
    let resp = daemon.get("/analytics-sdk.js", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let committed = include_str!("../../sdk/js/dist/analytics-sdk.js");
    assert_eq!(resp.body, committed);
    assert!(resp.body.contains("/track/batch"));

    let etag = resp.header("etag").unwrap().to_owned();
    let again = daemon.get("/analytics-sdk.js", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
}
