//! Reading events back: `POST /api/v1/query` with a site's read key (the SQL-lite dialect of
//! `docs/query.md`), so a backend can check what it sent without a second HTTP library.

use std::time::Duration;

use bytes::Bytes;
use ecomdash_protocol::{ErrorBody, ErrorCode, ErrorDetail};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::error::ClientError;

/// Largest query answer read, in bytes.
const MAX_QUERY_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Longest wait for a query's answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// One column of a [`QueryResult`].
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

/// The answer of `POST /api/v1/query`: columns and rows (cells as JSON values).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Runs `sql` against the daemon at `base_url` (`http://host:port`) with a site's read key.
///
/// ```no_run
/// # async fn run() -> Result<(), ecomdash_client::ClientError> {
/// let result = ecomdash_client::query(
///     "http://127.0.0.1:8000",
///     "READ_KEY",
///     "SELECT count() FROM events WHERE name = 'purchase'",
/// )
/// .await?;
/// println!("{:?}", result.rows[0][0]);
/// # Ok(())
/// # }
/// ```
pub async fn query(base_url: &str, read_key: &str, sql: &str) -> Result<QueryResult, ClientError> {
    if !base_url.starts_with("http://") {
        return Err(ClientError::Config(
            "the query endpoint is reached over plain http:// only".to_owned(),
        ));
    }
    let url = format!("{}/api/v1/query", base_url.trim_end_matches('/'));
    let body = serde_json::to_vec(&serde_json::json!({ "sql": sql }))
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(&url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {read_key}"))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ClientError::Config(e.to_string()))?;
    let client: HyperClient<_, Full<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build_http();
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| ClientError::Connection(e.to_string()))?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_QUERY_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::Connection(e.to_string()))?
            .to_bytes();
        Ok::<_, ClientError>((status, body))
    };
    let (status, body) = tokio::time::timeout(QUERY_TIMEOUT, exchange)
        .await
        .map_err(|_| ClientError::Connection("no query answer within 60 s".to_owned()))??;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()));
    }
    let error = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(body) => body.error,
        Err(_) => ErrorDetail::new(ErrorCode::Internal, format!("http status {status}")),
    };
    Err(ClientError::Refused {
        error,
        retry_after: None,
    })
}

/// One header line of column names, then one line per row; cells as JSON (strings quoted),
/// separated by commas.
impl std::fmt::Display for QueryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        writeln!(f, "{}", names.join(","))?;
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|cell| cell.to_string()).collect();
            writeln!(f, "{}", cells.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn results_parse_and_print_as_lines() {
        let body =
            br#"{"columns":[{"name":"order_id","type":"string"},{"name":"revenue","type":"int"}],
            "rows":[["o-1",19999],["o-2",null]],"stats":{"rows_read":2}}"#;
        let result: QueryResult = serde_json::from_slice(body).unwrap();
        assert_eq!(result.columns[1].column_type, "int");
        assert_eq!(
            result.to_string(),
            "order_id,revenue\n\"o-1\",19999\n\"o-2\",null\n"
        );
    }
}
