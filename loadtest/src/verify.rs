//! `--verify`: after the load, count this run's events through the daemon's query endpoint
//! (`POST /api/v1/query` with a read key) and compare with the number the daemon acknowledged.
//!
//! The count selects the event ids this run handed out (`RUN-0000000000000000` up to the last
//! one; ids are fixed width, so a string range is exact) and the `run` prop the model puts on
//! every event, bots included (they are stored, flagged `is_bot`). A rerun with the same seed
//! reuses the same ids; the daemon deduplicates them, so the count still matches what was acked.
//! Acknowledged events are visible to queries within about a second, so the count is polled
//! until it reaches the acked number or the wait runs out.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Uri};
use serde::Serialize;
use tokio::time::Instant;

use crate::driver::Target;
use crate::model::event_id;

/// Path of the query endpoint.
pub const QUERY_PATH: &str = "/api/v1/query";
/// Pause between two counts while the events are not all visible yet.
const POLL_PAUSE: Duration = Duration::from_millis(100);

/// What `--verify` found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    pub run_id: String,
    pub acked: u64,
    /// Rows of this run the query endpoint counted (last count), `None` if it could not be asked.
    pub queryable: Option<u64>,
    /// `queryable == acked`.
    pub ok: bool,
    /// How long it polled until the count matched or it gave up.
    pub waited_ms: u64,
    /// Why the query endpoint could not answer (HTTP status and body, or connection error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Verification {
    /// One line for the text report.
    pub fn summary(&self) -> String {
        match (self.ok, self.queryable, &self.error) {
            (true, _, _) => format!(
                "verified: {} of {} acknowledged events queryable (run {})",
                self.acked, self.acked, self.run_id
            ),
            (false, Some(found), _) => format!(
                "verify FAILED: {found} events of run {} queryable but {} acknowledged (after {:.1} s){}",
                self.run_id,
                self.acked,
                self.waited_ms as f64 / 1000.0,
                if found > self.acked {
                    "; more than acked: answers lost to connection errors, or another run with the same seed and id range"
                } else {
                    ""
                }
            ),
            (false, None, error) => format!(
                "verify FAILED: cannot count run {} through the query endpoint: {}",
                self.run_id,
                error.as_deref().unwrap_or("unknown error")
            ),
        }
    }
}

/// The SQL that counts the events of `run_id` numbered `0..ids_issued`.
pub fn count_sql(run_id: &str, ids_issued: u64) -> String {
    format!(
        "SELECT count(*) FROM events WHERE event_id BETWEEN '{}' AND '{}' AND props LIKE '%\"run\":\"{run_id}\"%'",
        event_id(run_id, 0),
        event_id(run_id, ids_issued.saturating_sub(1)),
    )
}

/// Polls the count of this run's events until it reaches `acked` or `wait` has passed.
pub async fn verify(
    target: &Target,
    read_key: &str,
    run_id: &str,
    ids_issued: u64,
    acked: u64,
    wait: Duration,
) -> Verification {
    let started = Instant::now();
    let deadline = started + wait;
    let sql = count_sql(run_id, ids_issued);
    let mut result = Verification {
        run_id: run_id.to_owned(),
        acked,
        queryable: None,
        ok: false,
        waited_ms: 0,
        error: None,
    };
    loop {
        let count = if ids_issued == 0 {
            Ok(0)
        } else {
            query_count(target, read_key, &sql).await
        };
        match count {
            Ok(found) => {
                result.queryable = Some(found);
                result.error = None;
                // rows never disappear, so once the count reaches the acked number it is final
                if found >= acked {
                    break;
                }
            }
            Err(error) => result.error = Some(format!("{error:#}")),
        }
        if Instant::now() + POLL_PAUSE > deadline {
            break;
        }
        tokio::time::sleep(POLL_PAUSE).await;
    }
    result.waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result.ok = result.error.is_none() && result.queryable == Some(acked);
    result
}

/// One `POST /api/v1/query` returning a single count.
async fn query_count(target: &Target, read_key: &str, sql: &str) -> anyhow::Result<u64> {
    let stream = tokio::net::TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("cannot connect to {}", target.addr))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let path = format!("{}{QUERY_PATH}", target.base_path);
    let body = serde_json::to_vec(&serde_json::json!({ "sql": sql }))?;
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = path.parse::<Uri>()?;
    let headers = request.headers_mut();
    headers.insert(header::HOST, HeaderValue::from_str(&target.authority)?);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {read_key}"))
            .context("the read key is not a valid header value")?,
    );
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "{} answered {status}: {}",
            QUERY_PATH,
            String::from_utf8_lossy(&body).trim()
        );
    }
    parse_count(&body)
}

/// The count in `{"columns":[...],"rows":[[N]],...}`.
pub fn parse_count(body: &[u8]) -> anyhow::Result<u64> {
    let value: serde_json::Value =
        serde_json::from_slice(body).context("the query answer is not JSON")?;
    let cell = &value["rows"][0][0];
    cell.as_u64()
        .or_else(|| cell.as_str().and_then(|s| s.parse().ok()))
        .with_context(|| format!("the query answer holds no count: {value}"))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sql_selects_exactly_the_issued_ids() {
        let sql = count_sql("0a1b2c3d", 256);
        assert!(
            sql.contains("BETWEEN '0a1b2c3d-0000000000000000' AND '0a1b2c3d-00000000000000ff'"),
            "{sql}"
        );
        assert!(sql.contains(r#"props LIKE '%"run":"0a1b2c3d"%'"#), "{sql}");
    }

    #[test]
    fn count_parsing() {
        let body = br#"{"columns":[{"name":"count()","type":"UInt64"}],"rows":[[42]],"stats":{}}"#;
        assert_eq!(parse_count(body).unwrap(), 42);
        assert_eq!(parse_count(br#"{"rows":[["7"]]}"#).unwrap(), 7);
        assert!(parse_count(br#"{"rows":[]}"#).is_err());
        assert!(parse_count(b"nope").is_err());
    }

    #[test]
    fn summaries() {
        let mut v = Verification {
            run_id: "r".to_owned(),
            acked: 10,
            queryable: Some(10),
            ok: true,
            waited_ms: 5,
            error: None,
        };
        assert_eq!(
            v.summary(),
            "verified: 10 of 10 acknowledged events queryable (run r)"
        );
        v.ok = false;
        v.queryable = Some(9);
        assert!(v
            .summary()
            .starts_with("verify FAILED: 9 events of run r queryable but 10 acknowledged"));
        v.queryable = None;
        v.error = Some("boom".to_owned());
        assert!(v.summary().contains("boom"));
    }
}
