//! The README's Rust program (`sdk/rust/examples/readme_order.rs`): the README shows exactly that
//! file, and the program works as shown against a real daemon (it sends a purchase over QUIC and
//! reads it back through `POST /api/v1/query`).

#![expect(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;

/// The example, compiled into this test so it runs in-process with the environment the README
/// tells a user to set.
mod readme_order {
    include!("../../sdk/rust/examples/readme_order.rs");

    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

const EXAMPLE: &str = "sdk/rust/examples/readme_order.rs";

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// The body of the first fenced block with `lang` after the line `heading`.
fn fenced_block(markdown: &str, heading: &str, lang: &str) -> String {
    let section = markdown
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} in the README"))
        .1;
    let start = section
        .split_once(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no ```{lang} block under {heading:?}"))
        .1;
    start.split_once("```\n").unwrap().0.to_owned()
}

const HEADING: &str = "### From a Rust backend, over QUIC";

#[test]
fn the_readme_shows_the_example_file_and_how_to_run_it() {
    let readme = repo_file("README.md");
    let code = fenced_block(&readme, HEADING, "rust");
    assert_eq!(
        code,
        repo_file(EXAMPLE),
        "the README's Rust block differs from {EXAMPLE}"
    );
    let shell = fenced_block(&readme, HEADING, "sh");
    assert!(shell.contains("--example readme_order"), "{shell}");
    // every variable the program reads is set in the README's command
    for var in code.split("env(\"").skip(1) {
        let name = var.split('"').next().unwrap();
        assert!(
            shell.contains(&format!("{name}=")),
            "{name} is not set in {shell}"
        );
    }
}

#[test]
fn the_readme_program_sends_an_order_over_quic_and_reads_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "demo.example");
    let daemon = Daemon::start(&dir, &[("ECOMDASH_QUIC", "127.0.0.1:0")]);
    // the only test in this binary that touches the environment
    std::env::set_var(
        "FINGERPRINT",
        daemon.printed("quic certificate sha256 fingerprint: "),
    );
    std::env::set_var("QUIC_ADDR", daemon.printed("listening on quic://"));
    std::env::set_var("HTTP_URL", format!("http://{}", daemon.addr));
    std::env::set_var("WRITE_KEY", &keys.write_key);
    std::env::set_var("READ_KEY", &keys.read_key);
    readme_order::run().unwrap();

    // exactly one purchase, with the order's id, value in cents and currency
    let auth = format!("Bearer {}", keys.read_key);
    let resp = daemon.post(
        "/api/v1/query",
        &[("Authorization", &auth)],
        r#"{"sql":"SELECT name, order_id, revenue, currency FROM events"}"#,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let rows = resp.json()["rows"].clone();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "purchase");
    assert!(rows[0][1].as_str().unwrap().starts_with("order-"));
    assert_eq!(rows[0][2], 19999);
    assert_eq!(rows[0][3], "USD");
}
