//! SiteActor: one per site. Owns the site's live aggregates (updated as acknowledged events
//! arrive) and its live sessions ([`SessionTable`]): it activates a SessionActor (spawned, linked)
//! for a session that gets events, deactivates it after [`SESSION_ACTIVE_QUIET_MS`] without
//! events (folding its state back into the table), and writes the `sessions` rows of sessions
//! idle for the timeout, in one append per tick.
//!
//! Failures: a failed SessionActor's session is rebuilt from its entry (snapshot plus the events
//! it was sent), so nothing is lost and the other sessions never notice. A failed SiteActor is
//! restarted by the Supervisor; the table outlives it, so the restarted one folds the
//! activations ractor ended and goes on with every session (the events still queued in the
//! failed actor's mailbox are lost to the live figures and sessions; they are stored).
//!
//! On the site's first start the SiteActor rebuilds, from the store, the sessions a crash left
//! without a row (see [`super::recovery`]); events that arrive meanwhile wait for it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ecomdash_storage::{RowBuf, Snapshot, Table};
use parking_lot::Mutex;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::task::JoinSet;

use super::recovery::{recover_sessions, RecoveredSession};
use super::session::{SessionActor, SessionArgs, SessionMsg};
use super::table::{Activate, Next, SessionTable};
use super::ActorContext;
use crate::live::{LiveEvent, LiveStats};
use crate::session::{SessionIndex, SessionState};

/// How often a SiteActor expires live figures, deactivates quiet sessions and closes idle ones.
pub const SITE_TICK_INTERVAL_MS: u64 = 1000;
/// A SessionActor without events for this long is deactivated (never longer than half the idle
/// timeout): short enough that only sessions with recent events hold an actor.
pub const SESSION_ACTIVE_QUIET_MS: i64 = 10_000;
/// Most ticks between scans for idle sessions (each scan visits every live session).
const IDLE_SCAN_MAX_TICKS: i64 = 10;
/// Ticks between sweeps of the interned paths and attributes no session holds any more.
const SWEEP_EVERY_TICKS: u64 = 60;
/// Most session rows in one append.
const SESSION_ROWS_PER_APPEND: usize = 10_000;
/// How long shutdown waits for one SessionActor's state before rebuilding it from its entry.
const DEACTIVATE_TIMEOUT_MS: u64 = 2_000;

pub struct SiteActor;

pub enum SiteMsg {
    /// Acknowledged events of one request.
    Events(Vec<LiveEvent>),
    /// Periodic maintenance: expire windows, deactivate quiet sessions, close idle ones.
    Tick,
    /// A SessionActor answered its state and stopped.
    Deactivated {
        session_id: Arc<str>,
        actor: ActorId,
        state: Box<SessionState>,
    },
    /// Closed sessions whose rows could not be written: they are retried on the next tick.
    Unwritten(Vec<SessionState>),
    /// Sessions rebuilt from the store (or why not).
    Recovered(Result<Vec<RecoveredSession>, String>),
    /// Shutdown: close every live session (writing its row) and answer how many were closed.
    CloseAll(RpcReplyPort<usize>),
    /// Test only: a session's state and its active actor.
    #[cfg(test)]
    Session(
        Arc<str>,
        RpcReplyPort<Option<(SessionState, Option<ActorRef<SessionMsg>>)>>,
    ),
    /// Test only: fail, as a bug would.
    #[cfg(test)]
    Fail,
}

/// A site's state shared with the HTTP handlers; it outlives a restarted SiteActor.
pub struct SiteArgs {
    pub domain: Arc<str>,
    pub live: Arc<LiveStats>,
    pub sessions: Arc<SessionIndex>,
    pub table: Arc<Mutex<SessionTable>>,
    pub ctx: Arc<ActorContext>,
}

pub struct SiteState {
    args: SiteArgs,
    /// Events waiting for session recovery to finish (`None` once it has).
    recovering: Option<Vec<LiveEvent>>,
    /// The snapshot and time recovery runs with, until its answer is installed.
    recovery: Option<(Snapshot, i64)>,
    /// Closed sessions whose row append failed, retried on the next tick.
    unwritten: Vec<SessionState>,
    ticks: u64,
}

impl Actor for SiteActor {
    type Msg = SiteMsg;
    type State = SiteState;
    type Arguments = SiteArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SiteMsg>,
        args: SiteArgs,
    ) -> Result<SiteState, ActorProcessingErr> {
        myself.send_interval(Duration::from_millis(SITE_TICK_INTERVAL_MS), || {
            SiteMsg::Tick
        });
        let mut recovering = None;
        {
            let mut table = args.table.lock();
            let folded = table.fold_all(&args.live);
            if folded > 0 {
                tracing::warn!(site = %args.domain, sessions = folded, "site actor restarted; active sessions rebuilt from their entries");
            }
            if !table.recovery_started {
                table.recovery_started = true;
                recovering = Some(Vec::new());
            }
        }
        let mut recovery = None;
        if recovering.is_some() {
            // the snapshot is taken before this actor handles any event, so no event is both
            // recovered and routed
            let snapshot = args.ctx.store.snapshot();
            let now_ms = args.ctx.clock.now_ms();
            recovery = Some((snapshot.clone(), now_ms));
            let domain = args.domain.clone();
            let site = myself.clone();
            let idle_timeout_ms = args.ctx.session_idle_timeout_ms;
            tokio::task::spawn_blocking(move || {
                let result = recover_sessions(&snapshot, &domain, now_ms, idle_timeout_ms)
                    .map_err(|e| e.to_string());
                let _ = site.cast(SiteMsg::Recovered(result));
            });
        }
        let state = SiteState {
            args,
            recovering,
            recovery,
            unwritten: Vec::new(),
            ticks: 0,
        };
        publish_session_count(&state);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SiteMsg>,
        message: SiteMsg,
        state: &mut SiteState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SiteMsg::Events(events) => {
                state.args.live.record(&events);
                // bots are stored (is_bot) but make no sessions, like they count in no live figure
                let bots = events.iter().filter(|e| e.is_bot).count();
                state.args.live.applied(bots as u64);
                let humans = events.into_iter().filter(|e| !e.is_bot);
                match &mut state.recovering {
                    Some(waiting) => waiting.extend(humans),
                    None => {
                        for event in humans {
                            route(&myself, state, event).await;
                        }
                    }
                }
            }
            SiteMsg::Tick => tick(&myself, state),
            SiteMsg::Deactivated {
                session_id,
                actor,
                state: session,
            } => {
                let pending = state
                    .args
                    .table
                    .lock()
                    .deactivated(&session_id, actor, *session);
                for event in pending.into_iter().flatten() {
                    route(&myself, state, event).await;
                }
            }
            SiteMsg::Recovered(result) => {
                // after a shutdown's close_all recovered synchronously, the late answer is moot
                if state.recovering.is_some() {
                    install_recovered(state, result);
                    for event in state.recovering.take().into_iter().flatten() {
                        route(&myself, state, event).await;
                    }
                }
            }
            SiteMsg::Unwritten(mut sessions) => state.unwritten.append(&mut sessions),
            SiteMsg::CloseAll(reply) => {
                let closed = close_all(state).await;
                let _ = reply.send(closed);
            }
            #[cfg(test)]
            SiteMsg::Session(id, reply) => {
                let _ = reply.send(state.args.table.lock().get(&id));
            }
            #[cfg(test)]
            SiteMsg::Fail => return Err("injected site failure".into()),
        }
        publish_session_count(state);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SiteMsg>,
        event: SupervisionEvent,
        state: &mut SiteState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let rebuilt = state
                    .args
                    .table
                    .lock()
                    .fold_activation(cell.get_id(), &state.args.live);
                if rebuilt {
                    tracing::warn!(site = %state.args.domain, error = %error, "session actor failed; its session was rebuilt from its entry");
                }
            }
            // a deactivated actor is already folded; one that vanished otherwise is folded now
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state
                    .args
                    .table
                    .lock()
                    .fold_activation(cell.get_id(), &state.args.live);
            }
            _ => {}
        }
        publish_session_count(state);
        Ok(())
    }
}

/// Installs the sessions rebuilt from the store.
fn install_recovered(state: &mut SiteState, result: Result<Vec<RecoveredSession>, String>) {
    state.recovery = None;
    match result {
        Ok(sessions) => {
            let count = sessions.len();
            let mut table = state.args.table.lock();
            for session in sessions {
                resume_visitor(&state.args.sessions, &session);
                table.install(session.state, session.last_activity_ms);
            }
            drop(table);
            if count > 0 {
                tracing::info!(site = %state.args.domain, sessions = count, "sessions rebuilt from the store");
            }
        }
        Err(error) => {
            tracing::error!(site = %state.args.domain, error = %error, "sessions could not be rebuilt from the store")
        }
    }
}

/// The live session gauge is the table's size.
fn publish_session_count(state: &SiteState) {
    let count = state.args.table.lock().len();
    state
        .args
        .live
        .live_sessions
        .store(count as u64, Ordering::Relaxed);
}

/// A recovered session is the visitor's open session again for events without a session id
/// (server-derived visitor ids are the visitor hash in 16 hex digits).
fn resume_visitor(index: &SessionIndex, session: &RecoveredSession) {
    let id = &session.state.visitor_id;
    if id.len() == 16 {
        if let Ok(visitor) = u64::from_str_radix(id, 16) {
            index.resume(
                visitor,
                session.state.session_id.clone(),
                session.state.last_ms,
            );
        }
    }
}

async fn route(myself: &ActorRef<SiteMsg>, state: &mut SiteState, event: LiveEvent) {
    let next = state.args.table.lock().accept(event, &state.args.live);
    match next {
        None => {}
        Some(Next::Activate(activate)) => activate_session(myself, state, activate).await,
        Some(Next::Deactivate(session_id, actor)) => deactivate(myself, session_id, actor),
    }
}

/// Asks an actor (marked deactivating) for its state; the answer comes back as
/// [`SiteMsg::Deactivated`]. One that is gone is folded by its supervision event.
fn deactivate(myself: &ActorRef<SiteMsg>, session_id: Arc<str>, actor: ActorRef<SessionMsg>) {
    let (port, answer) = ractor::concurrency::oneshot();
    if actor.cast(SessionMsg::Deactivate(port.into())).is_err() {
        return;
    }
    let site = myself.clone();
    let actor_id = actor.get_id();
    tokio::spawn(async move {
        if let Ok(session) = answer.await {
            let _ = site.cast(SiteMsg::Deactivated {
                session_id,
                actor: actor_id,
                state: Box::new(session),
            });
        }
    });
}

async fn activate_session(myself: &ActorRef<SiteMsg>, state: &SiteState, activate: Activate) {
    let spawned = Actor::spawn_linked(
        None,
        SessionActor,
        SessionArgs {
            state: activate.state.clone(),
        },
        myself.get_cell(),
    )
    .await;
    let mut table = state.args.table.lock();
    match spawned {
        Ok((actor, _)) => table.attach(activate, actor, &state.args.live),
        Err(error) => {
            tracing::warn!(site = %state.args.domain, error = %error, "session actor did not start; the site actor applies its events");
            table.apply_without_actor(activate, &state.args.live);
        }
    }
}

fn tick(myself: &ActorRef<SiteMsg>, state: &mut SiteState) {
    let ctx = &state.args.ctx;
    let now = ctx.clock.now_ms();
    state.args.live.expire(now);
    let quiet_ms = SESSION_ACTIVE_QUIET_MS.min(ctx.session_idle_timeout_ms / 2);
    // scanning every live session is the costly part: a tenth of the idle timeout late is fine
    let idle_scan_ticks = (ctx.session_idle_timeout_ms / 10 / SITE_TICK_INTERVAL_MS as i64)
        .clamp(1, IDLE_SCAN_MAX_TICKS) as u64;
    state.ticks += 1;
    let scan_idle = state.ticks % idle_scan_ticks == 0;
    if scan_idle {
        state.args.sessions.expire(now);
    }
    let (quiet, idle) = {
        let mut table = state.args.table.lock();
        let quiet = table.take_quiet(now - quiet_ms);
        let idle = if scan_idle {
            table.take_idle(now - ctx.session_idle_timeout_ms)
        } else {
            Vec::new()
        };
        if state.ticks % SWEEP_EVERY_TICKS == 0 {
            table.sweep();
        }
        (quiet, idle)
    };
    for (session_id, actor) in quiet {
        deactivate(myself, session_id, actor);
    }
    let mut closing = idle;
    closing.append(&mut state.unwritten);
    if !closing.is_empty() {
        let submitted = write_rows(ctx, &state.args.domain, closing);
        let ctx = ctx.clone();
        let site = myself.clone();
        tokio::spawn(async move {
            let unwritten = finish_rows(&ctx, submitted).await;
            if !unwritten.is_empty() {
                let _ = site.cast(SiteMsg::Unwritten(unwritten));
            }
        });
    }
}

/// Shutdown: asks every active SessionActor for its state (rebuilding it from the entry when one
/// does not answer), then writes every session's row and waits until they are durable.
async fn close_all(state: &mut SiteState) -> usize {
    let live = state.args.live.clone();
    // a recovery still running is done here (same snapshot), so sessions that span the crash
    // are not cut; then the events waiting for it are applied, without actors
    if let Some((snapshot, now_ms)) = state.recovery.take() {
        let domain = state.args.domain.clone();
        let idle_timeout_ms = state.args.ctx.session_idle_timeout_ms;
        let result = tokio::task::spawn_blocking(move || {
            recover_sessions(&snapshot, &domain, now_ms, idle_timeout_ms).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        install_recovered(state, result);
    }
    if let Some(waiting) = state.recovering.take() {
        let mut table = state.args.table.lock();
        for event in waiting {
            if let Some(Next::Activate(activate)) = table.accept(event, &live) {
                table.apply_without_actor(activate, &live);
            }
        }
    }
    let active = state.args.table.lock().take_quiet(i64::MAX);
    let mut answers = JoinSet::new();
    for (session_id, actor) in active {
        answers.spawn(async move {
            let answer = actor
                .call(
                    SessionMsg::Deactivate,
                    Some(Duration::from_millis(DEACTIVATE_TIMEOUT_MS)),
                )
                .await;
            (session_id, actor.get_id(), answer)
        });
    }
    while let Some(joined) = answers.join_next().await {
        let Ok((session_id, actor, answer)) = joined else {
            continue;
        };
        let mut table = state.args.table.lock();
        match answer {
            Ok(ractor::rpc::CallResult::Success(session)) => {
                if let Some(pending) = table.deactivated(&session_id, actor, session) {
                    for event in pending {
                        if let Some(Next::Activate(activate)) = table.accept(event, &live) {
                            table.apply_without_actor(activate, &live);
                        }
                    }
                }
            }
            _ => {
                table.fold_activation(actor, &live);
            }
        }
    }
    let mut sessions = state.args.table.lock().take_all(&live);
    sessions.append(&mut state.unwritten);
    let count = sessions.len();
    let submitted = write_rows(&state.args.ctx, &state.args.domain, sessions);
    let unwritten = finish_rows(&state.args.ctx, submitted).await;
    if !unwritten.is_empty() {
        tracing::warn!(site = %state.args.domain, sessions = unwritten.len(), "session rows not written at shutdown; the next start rebuilds them from the events");
    }
    count - unwritten.len()
}

/// Rows of closed sessions submitted to the store, with the sessions they came from.
type Submitted = Vec<(Vec<SessionState>, ecomdash_storage::AppendTicket)>;

/// Submits the rows of closed sessions (in order, without waiting); await them with
/// [`finish_rows`].
fn write_rows(ctx: &ActorContext, site: &str, sessions: Vec<SessionState>) -> Submitted {
    let mut submitted = Vec::new();
    let mut sessions = sessions.into_iter().peekable();
    while sessions.peek().is_some() {
        let chunk: Vec<SessionState> = sessions.by_ref().take(SESSION_ROWS_PER_APPEND).collect();
        let mut rows = RowBuf::new(Table::Sessions);
        let mut written = Vec::with_capacity(chunk.len());
        for session in chunk {
            match session.push_row(site, &ctx.session_cols, &mut rows) {
                Ok(()) => written.push(session),
                Err(e) => {
                    tracing::error!(error = %e, "session row does not match the schema");
                    ctx.metrics
                        .session_rows_failed
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !written.is_empty() {
            submitted.push((written, ctx.store.append(rows)));
        }
    }
    submitted
}

/// Waits for submitted rows; returns the sessions whose rows were not written (a failed append
/// writes nothing), for the next attempt.
async fn finish_rows(ctx: &ActorContext, submitted: Submitted) -> Vec<SessionState> {
    let mut unwritten = Vec::new();
    for (sessions, ticket) in submitted {
        match ticket.await {
            Ok(_) => {
                ctx.metrics
                    .sessions_closed
                    .fetch_add(sessions.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = sessions.len(), "session rows not written; retrying on the next tick");
                ctx.metrics
                    .session_rows_failed
                    .fetch_add(sessions.len() as u64, Ordering::Relaxed);
                unwritten.extend(sessions);
            }
        }
    }
    unwritten
}
