//! Test harness: starts the real `ecomdash` binary on an ephemeral port with a temp data dir,
//! waits for `/healthz` by polling, speaks HTTP/1.1 over std sockets, and kills the daemon on drop.

#![allow(dead_code)]
#![expect(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ecomdash_protocol::SiteKeys;

pub mod quic;

pub const BIN: &str = env!("CARGO_BIN_EXE_ecomdash");
/// How long a daemon may take to start (recovery included).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct Daemon {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Lines the daemon printed on stdout before it listened.
    pub stdout: Vec<String>,
}

/// Runs `ecomdash ARGS` to completion with a clean environment plus `env`.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(args);
    clean_env(&mut command);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars() {
        if name.starts_with("ECOMDASH_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("ECOMDASH_LOG", "warn");
}

/// `ecomdash site add DOMAIN --data-dir DIR`.
pub fn site_add(data_dir: &Path, domain: &str) -> SiteKeys {
    let out = run(
        &[
            "site",
            "add",
            domain,
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "site add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Daemon {
    /// The rest of the first line the daemon printed to stdout that starts with `prefix`
    /// (`listening on quic://`, `quic certificate sha256 fingerprint: `).
    pub fn printed(&self, prefix: &str) -> String {
        self.stdout
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.stdout))
            .to_owned()
    }

    /// Starts a daemon on `127.0.0.1:0` over `data_dir` with extra environment variables.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::File::create(data_dir.with_extension("log")).unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--http", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--admin-token", ADMIN_TOKEN])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        clean_env(&mut command);
        // Test daemons run in parallel: the QUIC listener's fixed default UDP port would collide,
        // so it is off unless a test asks for it (tests/quic.rs passes its own address).
        command.env("ECOMDASH_QUIC", "off");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut lines = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let log =
                        std::fs::read_to_string(data_dir.with_extension("log")).unwrap_or_default();
                    panic!("daemon did not start: {lines:?}\n{log}");
                }
            };
            if let Some(addr) = line.strip_prefix("listening on http://") {
                break addr.parse::<SocketAddr>().unwrap();
            }
            lines.push(line);
        };
        let daemon = Daemon {
            child: Some(child),
            addr,
            data_dir: data_dir.to_owned(),
            stdout: lines,
        };
        daemon.wait_healthy();
        daemon
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(resp) = request(self.addr, "GET", "/healthz", &[], b"") {
                if resp.status == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "daemon never became healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers, b"").unwrap()
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        request(self.addr, "POST", path, headers, body.as_bytes()).unwrap()
    }

    /// `POST /api/v1/admin/import?site=SITE` with the admin token and an NDJSON body.
    pub fn import(&self, site: &str, ndjson: &str) -> Response {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        self.post(
            &format!("/api/v1/admin/import?site={site}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/x-ndjson"),
            ],
            ndjson,
        )
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("daemon did not exit within {timeout:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let mut has_type = false;
    for (k, v) in headers {
        has_type |= k.eq_ignore_ascii_case("content-type");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() && !has_type {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("head not utf-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A pageview event body.
pub fn pageview(path: &str) -> String {
    format!(r#"{{"type":"pageview","url":"https://shop.example{path}"}}"#)
}

/// Browser-like request headers with the write key.
pub fn browser_headers(key: &str) -> Vec<(&str, &str)> {
    vec![
        ("X-API-Key", key),
        (
            "User-Agent",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        ),
        ("Accept-Language", "en-US"),
    ]
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `timeout`.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every `event_id` stored in the `events` table of a stopped daemon's data dir.
pub fn stored_event_ids(data_dir: &Path) -> Vec<String> {
    use ecomdash_storage::schema::EVENTS;
    use ecomdash_storage::{ScanRequest, Store, StoreConfig, Table, Value};
    let store = Store::open(&data_dir.join("store"), StoreConfig::default()).unwrap();
    let column = EVENTS.index_of("event_id").unwrap();
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Events, vec![column]));
    let mut ids = Vec::new();
    for unit in &plan.units {
        let batch = unit.read().unwrap();
        let values = batch.column(column).unwrap();
        for row in 0..values.len() {
            if let Value::Str(id) = values.value(row) {
                ids.push(id.to_owned());
            }
        }
    }
    store.close().unwrap();
    ids
}

/// Rows of a table in a stopped daemon's data dir.
pub fn stored_rows(data_dir: &Path, table: ecomdash_storage::Table) -> usize {
    use ecomdash_storage::{ScanRequest, Store, StoreConfig};
    let store = Store::open(&data_dir.join("store"), StoreConfig::default()).unwrap();
    let site = table.schema().site_column;
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(table, vec![site]));
    let rows = plan
        .units
        .iter()
        .map(|u| u.read().unwrap().column(site).unwrap().len())
        .sum();
    store.close().unwrap();
    rows
}
