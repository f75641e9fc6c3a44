//! The live sessions of one site: a compact entry per session, and the SessionActor of the
//! sessions that are active right now.
//!
//! An entry holds the session's state as of its last deactivation. While a SessionActor is
//! active, the entry also keeps the events sent to it since activation, so the state can be
//! rebuilt exactly if the actor fails (or its SiteActor does): snapshot plus those events is
//! what the actor would have answered. The table outlives a failed SiteActor (it sits in an
//! `Arc<Mutex<_>>` held by the Supervisor's spec of the site); only the SiteActor of the moment
//! touches it, and never across an await.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{ActorId, ActorRef};

use super::session::SessionMsg;
use crate::live::{LiveEvent, LiveStats};
use crate::session::{Interner, SessionAttrs, SessionState};

/// Most events an active SessionActor takes before it is deactivated (its state folded back),
/// which bounds the events an entry keeps for replay.
pub const SESSION_ACTIVE_MAX_EVENTS: usize = 64;

pub(super) struct SessionEntry {
    /// The state as of the last deactivation (all of it when no actor is active).
    pub(super) state: SessionState,
    /// Server time of the latest event; the session closes `idle_timeout` after it.
    pub(super) last_activity_ms: i64,
    pub(super) activation: Option<Box<Activation>>,
}

/// A running SessionActor and what it has been sent.
pub(super) struct Activation {
    pub(super) actor: ActorRef<SessionMsg>,
    /// Events sent to the actor since it was spawned with `state`.
    pub(super) sent: Vec<LiveEvent>,
    /// Events that arrived after it was asked to deactivate; they go to the next activation.
    pub(super) pending: Vec<LiveEvent>,
    pub(super) deactivating: bool,
    /// Server time of the latest event sent to it.
    pub(super) last_event_ms: i64,
}

/// What the SiteActor must do after [`SessionTable::accept`].
pub(super) enum Next {
    Activate(Activate),
    /// Ask this actor (marked deactivating) for its state.
    Deactivate(Arc<str>, ActorRef<SessionMsg>),
}

/// Spawn a SessionActor for `session_id` with `state` and send it `events`.
pub(super) struct Activate {
    pub(super) session_id: Arc<str>,
    pub(super) state: SessionState,
    pub(super) events: Vec<LiveEvent>,
}

/// Most SessionActors one site runs at once (~8.6 KiB each, so ~86 MiB); past it the SiteActor
/// applies a session's events to its entry itself. Without it, a flood of new sessions (random
/// session ids) would hold an actor per session for the quiet period.
pub const SITE_MAX_ACTIVE_SESSIONS: usize = 10_000;

pub struct SessionTable {
    sessions: HashMap<Arc<str>, Box<SessionEntry>>,
    /// Active SessionActor → its session.
    active: HashMap<ActorId, Arc<str>>,
    /// Cap on `active`: [`SITE_MAX_ACTIVE_SESSIONS`].
    max_active: usize,
    paths: Interner<str>,
    attrs: Interner<SessionAttrs>,
    /// Set by the first SiteActor of the site, which rebuilds sessions from the store.
    pub(super) recovery_started: bool,
}

impl Default for SessionTable {
    fn default() -> Self {
        SessionTable {
            sessions: HashMap::new(),
            active: HashMap::new(),
            max_active: SITE_MAX_ACTIVE_SESSIONS,
            paths: Interner::default(),
            attrs: Interner::default(),
            recovery_started: false,
        }
    }
}

impl SessionTable {
    #[cfg(test)]
    pub(super) fn with_max_active(max_active: usize) -> SessionTable {
        SessionTable {
            max_active,
            ..SessionTable::default()
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Applies one event: to its active actor (asking for its deactivation once it has
    /// [`SESSION_ACTIVE_MAX_EVENTS`]), to the pending list of a deactivating one, or asks for an
    /// activation.
    pub(super) fn accept(&mut self, mut event: LiveEvent, live: &LiveStats) -> Option<Next> {
        if let Some(path) = &event.path {
            event.path = Some(self.paths.intern(path));
        }
        let Some(entry) = self.sessions.get_mut(&event.session_id) else {
            let attrs = self.attrs.attrs_of(&event);
            let session_id = event.session_id.clone();
            let entry = Box::new(SessionEntry {
                state: SessionState::empty(&event, attrs),
                last_activity_ms: event.received_ms,
                activation: None,
            });
            let state = entry.state.clone();
            self.sessions.insert(session_id.clone(), entry);
            let activate = Activate {
                session_id,
                state,
                events: vec![event],
            };
            return self.activate_or_apply(activate, live);
        };
        entry.last_activity_ms = entry.last_activity_ms.max(event.received_ms);
        let Some(activation) = &mut entry.activation else {
            let activate = Activate {
                session_id: event.session_id.clone(),
                state: entry.state.clone(),
                events: vec![event],
            };
            return self.activate_or_apply(activate, live);
        };
        if activation.deactivating {
            activation.pending.push(event);
            return None;
        }
        activation.last_event_ms = activation.last_event_ms.max(event.received_ms);
        match activation
            .actor
            .cast(SessionMsg::Event(Box::new(event.clone())))
        {
            Ok(()) => {
                // handed over: the backlog counts events until an actor has them
                live.applied(1);
                activation.sent.push(event);
                if activation.sent.len() >= SESSION_ACTIVE_MAX_EVENTS {
                    activation.deactivating = true;
                    return Some(Next::Deactivate(
                        entry.state.session_id.clone(),
                        activation.actor.clone(),
                    ));
                }
            }
            // gone without its supervision event yet: fold it here, the event included
            Err(_) => {
                let actor = activation.actor.get_id();
                activation.pending.push(event);
                self.fold_activation(actor, live);
            }
        }
        None
    }

    /// An activation, unless the site runs its most actors: then the events are applied here.
    fn activate_or_apply(&mut self, activate: Activate, live: &LiveStats) -> Option<Next> {
        if self.active.len() < self.max_active {
            return Some(Next::Activate(activate));
        }
        self.apply_without_actor(activate, live);
        None
    }

    /// A spawned actor for `activate`: sends it the events and records the activation.
    pub(super) fn attach(
        &mut self,
        activate: Activate,
        actor: ActorRef<SessionMsg>,
        live: &LiveStats,
    ) {
        let Some(entry) = self.sessions.get_mut(&activate.session_id) else {
            actor.stop(None);
            live.applied(activate.events.len() as u64);
            return;
        };
        let mut activation = Box::new(Activation {
            actor: actor.clone(),
            sent: Vec::with_capacity(activate.events.len()),
            pending: Vec::new(),
            deactivating: false,
            last_event_ms: entry.last_activity_ms,
        });
        let mut failed = false;
        for event in activate.events {
            if failed
                || actor
                    .cast(SessionMsg::Event(Box::new(event.clone())))
                    .is_err()
            {
                failed = true;
                activation.pending.push(event);
            } else {
                live.applied(1);
                activation.sent.push(event);
            }
        }
        entry.activation = Some(activation);
        self.active.insert(actor.get_id(), activate.session_id);
        if failed {
            self.fold_activation(actor.get_id(), live);
        }
    }

    /// No actor could be spawned: the SiteActor applies the events itself.
    pub(super) fn apply_without_actor(&mut self, activate: Activate, live: &LiveStats) {
        live.applied(activate.events.len() as u64);
        if let Some(entry) = self.sessions.get_mut(&activate.session_id) {
            for event in &activate.events {
                entry.state.add(event);
            }
        }
    }

    /// Rebuilds the session of a failed or vanished actor from its snapshot and the events it
    /// was sent (and those pending); the session goes on, idle, until its next event.
    pub(super) fn fold_activation(&mut self, actor: ActorId, live: &LiveStats) -> bool {
        let Some(session_id) = self.active.remove(&actor) else {
            return false;
        };
        let Some(entry) = self.sessions.get_mut(&session_id) else {
            return false;
        };
        if entry
            .activation
            .as_ref()
            .is_none_or(|a| a.actor.get_id() != actor)
        {
            return false;
        }
        if let Some(activation) = entry.activation.take() {
            // `sent` left the backlog when it was handed over; `pending` leaves it now
            live.applied(activation.pending.len() as u64);
            for event in activation.sent.iter().chain(&activation.pending) {
                entry.state.add(event);
            }
        }
        true
    }

    /// Every activation folded, as after a SiteActor failure (ractor stops a failed actor's
    /// linked SessionActors).
    pub(super) fn fold_all(&mut self, live: &LiveStats) -> usize {
        let actors: Vec<ActorId> = self.active.keys().copied().collect();
        let mut folded = 0;
        for actor in actors {
            if self.fold_activation(actor, live) {
                folded += 1;
            }
        }
        self.active.clear();
        folded
    }

    /// The actor answered its state and stopped. Returns the events that arrived meanwhile.
    pub(super) fn deactivated(
        &mut self,
        session_id: &Arc<str>,
        actor: ActorId,
        state: SessionState,
    ) -> Option<Vec<LiveEvent>> {
        let entry = self.sessions.get_mut(session_id)?;
        if entry
            .activation
            .as_ref()
            .is_none_or(|a| a.actor.get_id() != actor)
        {
            return None;
        }
        self.active.remove(&actor);
        entry.state = state;
        let activation = entry.activation.take()?;
        Some(activation.pending)
    }

    /// Active sessions to deactivate: quiet since before `quiet_before_ms`, or at their event
    /// cap. Marks them deactivating.
    pub(super) fn take_quiet(
        &mut self,
        quiet_before_ms: i64,
    ) -> Vec<(Arc<str>, ActorRef<SessionMsg>)> {
        let mut quiet = Vec::new();
        for session_id in self.active.values() {
            let Some(activation) = self
                .sessions
                .get_mut(session_id)
                .and_then(|e| e.activation.as_mut())
            else {
                continue;
            };
            if !activation.deactivating
                && (activation.last_event_ms < quiet_before_ms
                    || activation.sent.len() >= SESSION_ACTIVE_MAX_EVENTS)
            {
                activation.deactivating = true;
                quiet.push((session_id.clone(), activation.actor.clone()));
            }
        }
        quiet
    }

    /// Removes the sessions without an actor that have been idle since before `idle_before_ms`.
    pub(super) fn take_idle(&mut self, idle_before_ms: i64) -> Vec<SessionState> {
        let idle: Vec<Arc<str>> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.activation.is_none() && e.last_activity_ms < idle_before_ms)
            .map(|(id, _)| id.clone())
            .collect();
        idle.iter()
            .filter_map(|id| self.sessions.remove(id))
            .map(|e| e.state)
            .collect()
    }

    /// Removes every session (shutdown); activations must have been folded or deactivated.
    pub(super) fn take_all(&mut self, live: &LiveStats) -> Vec<SessionState> {
        self.fold_all(live);
        self.sessions.drain().map(|(_, e)| e.state).collect()
    }

    /// Installs a session rebuilt from the store unless the session is already live.
    pub(super) fn install(&mut self, mut state: SessionState, last_activity_ms: i64) {
        if self.sessions.contains_key(&state.session_id) {
            return;
        }
        state.entry_path = state.entry_path.map(|p| self.paths.intern(&p));
        state.exit_path = state.exit_path.map(|p| self.paths.intern(&p));
        state.attrs = self.attrs.intern(&state.attrs);
        self.sessions.insert(
            state.session_id.clone(),
            Box::new(SessionEntry {
                state,
                last_activity_ms,
                activation: None,
            }),
        );
    }

    /// Forgets interned values no session holds any more.
    pub(super) fn sweep(&mut self) {
        self.paths.sweep();
        self.attrs.sweep();
    }

    #[cfg(test)]
    pub(super) fn get(
        &self,
        session_id: &str,
    ) -> Option<(SessionState, Option<ActorRef<SessionMsg>>)> {
        self.sessions.get(session_id).map(|e| {
            (
                e.state.clone(),
                e.activation.as_ref().map(|a| a.actor.clone()),
            )
        })
    }
}
