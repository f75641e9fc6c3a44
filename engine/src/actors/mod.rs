//! The actors of the daemon (ractor): one [`site::SiteActor`] per site and one
//! [`session::SessionActor`] per *active* session, under a [`supervisor::Supervisor`] that
//! restarts a failed SiteActor. Live sessions are virtual actors: a compact entry in the site's
//! [`table::SessionTable`] while quiet, activated as a SessionActor while they get events.
//! [`recovery`] rebuilds the sessions a crash left without a row.
//!
//! ractor mailboxes are unbounded; the bound is at admission (see [`crate::admission`]): only
//! acknowledged requests, each holding permits until answered, send messages here, and each
//! sends one message per request.

pub mod recovery;
pub mod session;
pub mod site;
pub mod supervisor;
pub mod table;

use std::sync::Arc;

use ecomdash_storage::Store;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::rows::SessionColumns;

/// What every actor needs from the engine.
pub struct ActorContext {
    pub store: Store,
    pub session_cols: SessionColumns,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// A session closes after this long without events (by server clock).
    pub session_idle_timeout_ms: i64,
}

#[cfg(test)]
mod tests;
