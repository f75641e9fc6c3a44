//! SiteActor: one per site. Owns the site's live aggregates (updated as acknowledged events
//! arrive), routes events to their SessionActors (spawning them, linked, on a session's first
//! event) and closes sessions that have been idle for the timeout.
//!
//! The map of live sessions lives in [`SessionActors`], shared with the Supervisor's spec of the
//! site. ractor terminates a failed actor's linked children, so when a SiteActor fails its live
//! sessions end without a `sessions` row (their events are stored); the restarted SiteActor
//! starts from an empty map. A failed SessionActor loses only its own session.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort,
    SupervisionEvent,
};
use tokio::task::JoinSet;

use super::session::{SessionActor, SessionArgs, SessionMsg};
use super::ActorContext;
use crate::live::{LiveEvent, LiveStats};
use crate::session::SessionIndex;

/// How often a SiteActor expires live figures and closes idle sessions.
pub const SITE_TICK_INTERVAL_MS: u64 = 1000;

pub struct SiteActor;

pub enum SiteMsg {
    /// Acknowledged events of one request.
    Events(Vec<LiveEvent>),
    /// Periodic maintenance: expire windows, close idle sessions.
    Tick,
    /// Shutdown: close every live session (writing its row) and answer how many were closed.
    CloseAll(RpcReplyPort<usize>),
    /// Test only: the SessionActor of a session.
    #[cfg(test)]
    SessionActor(Arc<str>, RpcReplyPort<Option<ActorRef<SessionMsg>>>),
    /// Test only: fail, as a bug would.
    #[cfg(test)]
    Fail,
}

struct LiveSession {
    actor: ActorRef<SessionMsg>,
    /// Server time of the session's latest event.
    last_activity_ms: i64,
}

/// The live sessions of one site and their actors. Only the site's current SiteActor touches it;
/// the lock is never held across an await.
#[derive(Default)]
pub struct SessionActors {
    sessions: HashMap<Arc<str>, LiveSession>,
    by_actor: HashMap<ActorId, Arc<str>>,
}

/// A site's state shared with the HTTP handlers; it outlives a restarted SiteActor.
pub struct SiteArgs {
    pub domain: Arc<str>,
    pub live: Arc<LiveStats>,
    pub sessions: Arc<SessionIndex>,
    pub actors: Arc<Mutex<SessionActors>>,
    pub ctx: Arc<ActorContext>,
}

pub struct SiteState {
    args: SiteArgs,
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
        let dropped = std::mem::take(&mut *args.actors.lock()).sessions.len();
        if dropped > 0 {
            tracing::warn!(site = %args.domain, sessions = dropped, "site actor restarted; the live sessions of the failed one are lost");
        }
        args.live.live_sessions.store(0, Ordering::Relaxed);
        Ok(SiteState { args })
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
                for event in events.into_iter().filter(|e| !e.is_bot) {
                    route(&myself, state, event).await?;
                }
            }
            SiteMsg::Tick => {
                let now = state.args.ctx.clock.now_ms();
                state.args.live.expire(now);
                state.args.sessions.expire(now);
                let idle_before = now - state.args.ctx.session_idle_timeout_ms;
                let idle: Vec<ActorRef<SessionMsg>> = {
                    let mut actors = state.args.actors.lock();
                    let ids: Vec<Arc<str>> = actors
                        .sessions
                        .iter()
                        .filter(|(_, s)| s.last_activity_ms < idle_before)
                        .map(|(id, _)| id.clone())
                        .collect();
                    let mut idle = Vec::with_capacity(ids.len());
                    for id in ids {
                        if let Some(session) = actors.sessions.remove(&id) {
                            actors.by_actor.remove(&session.actor.get_id());
                            idle.push(session.actor);
                        }
                    }
                    idle
                };
                for actor in idle {
                    let _ = actor.cast(SessionMsg::Close(None));
                }
            }
            SiteMsg::CloseAll(reply) => {
                let all: Vec<LiveSession> = {
                    let mut actors = state.args.actors.lock();
                    actors.by_actor.clear();
                    actors.sessions.drain().map(|(_, s)| s).collect()
                };
                let count = all.len();
                let mut closing = JoinSet::new();
                for session in all {
                    closing.spawn(async move {
                        session
                            .actor
                            .call(|port| SessionMsg::Close(Some(port)), None)
                            .await
                    });
                }
                while closing.join_next().await.is_some() {}
                let _ = reply.send(count);
            }
            #[cfg(test)]
            SiteMsg::SessionActor(id, reply) => {
                let actor = state
                    .args
                    .actors
                    .lock()
                    .sessions
                    .get(&id)
                    .map(|s| s.actor.clone());
                let _ = reply.send(actor);
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
                tracing::warn!(site = %state.args.domain, error = %error, "session actor failed; its session is dropped, others go on");
                forget(state, &cell);
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => forget(state, &cell),
            _ => {}
        }
        publish_session_count(state);
        Ok(())
    }
}

/// The live session gauge is the SiteActor's own count: a failed SessionActor runs no cleanup.
fn publish_session_count(state: &SiteState) {
    let count = state.args.actors.lock().sessions.len();
    state
        .args
        .live
        .live_sessions
        .store(count as u64, Ordering::Relaxed);
}

fn forget(state: &mut SiteState, cell: &ActorCell) {
    let mut actors = state.args.actors.lock();
    if let Some(id) = actors.by_actor.remove(&cell.get_id()) {
        let same_actor = actors
            .sessions
            .get(&id)
            .is_some_and(|s| s.actor.get_id() == cell.get_id());
        if same_actor {
            actors.sessions.remove(&id);
        }
    }
}

async fn route(
    myself: &ActorRef<SiteMsg>,
    state: &mut SiteState,
    event: LiveEvent,
) -> Result<(), ActorProcessingErr> {
    let existing = {
        let mut actors = state.args.actors.lock();
        actors.sessions.get_mut(&event.session_id).map(|session| {
            session.last_activity_ms = session.last_activity_ms.max(event.received_ms);
            session.actor.clone()
        })
    };
    let event = match existing {
        None => event,
        Some(actor) => match actor.cast(SessionMsg::Event(Box::new(event))) {
            Ok(()) => return Ok(()),
            // the actor is gone (failed, or its site actor died): start the session again
            Err(MessagingErr::SendErr(SessionMsg::Event(event))) => {
                state.args.actors.lock().sessions.remove(&event.session_id);
                *event
            }
            Err(_) => {
                state.args.live.applied(1);
                return Ok(());
            }
        },
    };
    let session_id = event.session_id.clone();
    let last_activity_ms = event.received_ms;
    let (actor, _) = Actor::spawn_linked(
        None,
        SessionActor,
        SessionArgs {
            first: event,
            site: state.args.domain.clone(),
            live: state.args.live.clone(),
            ctx: state.args.ctx.clone(),
        },
        myself.get_cell(),
    )
    .await?;
    let mut actors = state.args.actors.lock();
    actors.by_actor.insert(actor.get_id(), session_id.clone());
    actors.sessions.insert(
        session_id,
        LiveSession {
            actor,
            last_activity_ms,
        },
    );
    Ok(())
}
