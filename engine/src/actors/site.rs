//! SiteActor: one per site. Owns the site's live aggregates (updated as acknowledged events
//! arrive), routes events to their SessionActors (spawning them, linked, on a session's first
//! event) and closes sessions that have been idle for the timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
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
}

/// A site's state shared with the HTTP handlers; it outlives a restarted SiteActor.
pub struct SiteArgs {
    pub domain: Arc<str>,
    pub live: Arc<LiveStats>,
    pub sessions: Arc<SessionIndex>,
    pub ctx: Arc<ActorContext>,
}

struct LiveSession {
    actor: ActorRef<SessionMsg>,
    /// Server time of the session's latest event.
    last_activity_ms: i64,
}

pub struct SiteState {
    args: SiteArgs,
    sessions: HashMap<Arc<str>, LiveSession>,
    by_actor: HashMap<ActorId, Arc<str>>,
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
        Ok(SiteState {
            args,
            sessions: HashMap::new(),
            by_actor: HashMap::new(),
        })
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
                for event in events {
                    route(&myself, state, event).await?;
                }
            }
            SiteMsg::Tick => {
                let now = state.args.ctx.clock.now_ms();
                state.args.live.expire(now);
                state.args.sessions.expire(now);
                let idle_before = now - state.args.ctx.session_idle_timeout_ms;
                let idle: Vec<Arc<str>> = state
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.last_activity_ms < idle_before)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in idle {
                    if let Some(session) = state.sessions.remove(&id) {
                        state.by_actor.remove(&session.actor.get_id());
                        let _ = session.actor.cast(SessionMsg::Close(None));
                    }
                }
            }
            SiteMsg::CloseAll(reply) => {
                let mut closing = JoinSet::new();
                let count = state.sessions.len();
                for (_, session) in state.sessions.drain() {
                    closing.spawn(async move {
                        session
                            .actor
                            .call(|port| SessionMsg::Close(Some(port)), None)
                            .await
                    });
                }
                state.by_actor.clear();
                while closing.join_next().await.is_some() {}
                let _ = reply.send(count);
            }
        }
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
        Ok(())
    }
}

fn forget(state: &mut SiteState, cell: &ActorCell) {
    if let Some(id) = state.by_actor.remove(&cell.get_id()) {
        let same_actor = state
            .sessions
            .get(&id)
            .is_some_and(|s| s.actor.get_id() == cell.get_id());
        if same_actor {
            state.sessions.remove(&id);
        }
    }
}

async fn route(
    myself: &ActorRef<SiteMsg>,
    state: &mut SiteState,
    event: LiveEvent,
) -> Result<(), ActorProcessingErr> {
    if let Some(session) = state.sessions.get_mut(&event.session_id) {
        session.last_activity_ms = session.last_activity_ms.max(event.received_ms);
        if session
            .actor
            .cast(SessionMsg::Event(Box::new(event.clone())))
            .is_ok()
        {
            return Ok(());
        }
        // the actor is gone (failed or closing): start the session again below
        state.sessions.remove(&event.session_id);
    }
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
    state.by_actor.insert(actor.get_id(), session_id.clone());
    state.sessions.insert(
        session_id,
        LiveSession {
            actor,
            last_activity_ms,
        },
    );
    Ok(())
}
