//! SessionActor: the activation of one live session. Its SiteActor spawns it (linked) with the
//! session's state when the session gets events, sends it those events, and deactivates it after
//! a short quiet period: the actor answers its state and stops, and the SiteActor keeps the state
//! as a compact entry until the next event (or the idle timeout) — the virtual-actor pattern.
//!
//! An actor per *active* session rather than per *live* session: an idle ractor actor costs
//! ~8 KiB (a tokio task and its channels), a compact entry ~200 bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::live::LiveEvent;
use crate::session::SessionState;

pub struct SessionActor;

/// SessionActors running in this process (all sites).
static RUNNING: AtomicU64 = AtomicU64::new(0);

/// How many SessionActors are running in this process right now.
pub fn running_session_actors() -> u64 {
    RUNNING.load(Ordering::Relaxed)
}

/// Counts a running actor for as long as its state lives (however the actor ends).
struct Running;

impl Running {
    fn new() -> Running {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

pub enum SessionMsg {
    /// An acknowledged event of this session.
    Event(Box<LiveEvent>),
    /// Answer the session's state and stop; every event sent before this one is in it.
    Deactivate(RpcReplyPort<SessionState>),
    /// Test only: fail, as a bug would.
    #[cfg(test)]
    Fail,
}

pub struct SessionArgs {
    /// The session's state when activated (no events for a new session).
    pub state: SessionState,
}

pub struct SessionActorState {
    session: SessionState,
    _running: Running,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionActorState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionActorState, ActorProcessingErr> {
        Ok(SessionActorState {
            session: args.state,
            _running: Running::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        message: SessionMsg,
        state: &mut SessionActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Event(event) => state.session.add(&event),
            SessionMsg::Deactivate(reply) => {
                let _ = reply.send(state.session.clone());
                myself.stop(None);
            }
            #[cfg(test)]
            SessionMsg::Fail => return Err("injected session failure".into()),
        }
        Ok(())
    }
}
