//! Query errors. Every error about the SQL names the offending thing and where it is.

use std::fmt;

use sqlparser::tokenizer::Span;
use thiserror::Error;

/// A 1-based line and column in the SQL text; `0:0` when the parser gave no position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    pub fn of(span: Span) -> Position {
        Position {
            line: span.start.line,
            column: span.start.column,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str("unknown position")
        } else {
            write!(f, "line {}, column {}", self.line, self.column)
        }
    }
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum QueryError {
    /// The text is not SQL that `sqlparser` accepts; the message carries its position.
    #[error("syntax error: {message}")]
    Syntax { message: String },
    #[error("unsupported syntax at {pos}: {what}")]
    Unsupported { what: String, pos: Position },
    #[error("unknown table `{name}` at {pos}; tables are events and sessions")]
    UnknownTable { name: String, pos: Position },
    #[error("unknown column `{name}` at {pos}")]
    UnknownColumn { name: String, pos: Position },
    #[error("unknown function `{name}` at {pos}")]
    UnknownFunction { name: String, pos: Position },
    #[error("type mismatch at {pos}: {message}")]
    TypeMismatch { message: String, pos: Position },
    #[error("invalid query at {pos}: {message}")]
    Invalid { message: String, pos: Position },
    /// The SQL names a site the caller's key may not read (HTTP 403).
    #[error("site `{site}` is not readable with this key")]
    SiteForbidden { site: String },
    #[error("query stopped: it needed more than the memory limit of {limit_bytes} bytes")]
    MemoryLimit { limit_bytes: u64 },
    #[error("query stopped: it ran longer than the time limit of {limit_ms} ms")]
    TimeLimit { limit_ms: u64 },
    #[error("storage error: {0}")]
    Storage(String),
}

impl QueryError {
    /// A stable machine-readable code for HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Syntax { .. } => "syntax_error",
            QueryError::Unsupported { .. } => "unsupported",
            QueryError::UnknownTable { .. } => "unknown_table",
            QueryError::UnknownColumn { .. } => "unknown_column",
            QueryError::UnknownFunction { .. } => "unknown_function",
            QueryError::TypeMismatch { .. } => "type_mismatch",
            QueryError::Invalid { .. } => "invalid_query",
            QueryError::SiteForbidden { .. } => "site_forbidden",
            QueryError::MemoryLimit { .. } => "memory_limit",
            QueryError::TimeLimit { .. } => "time_limit",
            QueryError::Storage(_) => "storage_error",
        }
    }

    /// Whether the caller's SQL is at fault (HTTP 400), as opposed to access (403), limits or
    /// storage.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            QueryError::Syntax { .. }
                | QueryError::Unsupported { .. }
                | QueryError::UnknownTable { .. }
                | QueryError::UnknownColumn { .. }
                | QueryError::UnknownFunction { .. }
                | QueryError::TypeMismatch { .. }
                | QueryError::Invalid { .. }
        )
    }

    pub(crate) fn unsupported(what: impl Into<String>, span: Span) -> QueryError {
        QueryError::Unsupported {
            what: what.into(),
            pos: Position::of(span),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>, span: Span) -> QueryError {
        QueryError::Invalid {
            message: message.into(),
            pos: Position::of(span),
        }
    }

    pub(crate) fn mismatch(message: impl Into<String>, span: Span) -> QueryError {
        QueryError::TypeMismatch {
            message: message.into(),
            pos: Position::of(span),
        }
    }
}
