//! SessionActor: one per live session. Accumulates the session's state and, when its SiteActor
//! closes it (idle timeout or shutdown), writes one `sessions` row and stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ecomdash_storage::{RowBuf, Table};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::ActorContext;
use crate::live::{LiveEvent, LiveStats};
use crate::session::SessionState;

pub struct SessionActor;

pub enum SessionMsg {
    Event(Box<LiveEvent>),
    /// Write the session row and stop; the reply (if any) is sent once the row is durable or
    /// has failed.
    Close(Option<RpcReplyPort<()>>),
    /// Test only: fail, as a bug would.
    #[cfg(test)]
    Fail,
}

pub struct SessionArgs {
    pub first: LiveEvent,
    pub site: Arc<str>,
    /// The site's live figures, whose actor backlog this actor works off.
    pub live: Arc<LiveStats>,
    pub ctx: Arc<ActorContext>,
}

pub struct SessionActorState {
    session: SessionState,
    site: Arc<str>,
    live: Arc<LiveStats>,
    ctx: Arc<ActorContext>,
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
        args.live.applied(1);
        Ok(SessionActorState {
            session: SessionState::start(&args.first),
            site: args.site,
            live: args.live,
            ctx: args.ctx,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        message: SessionMsg,
        state: &mut SessionActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Event(event) => {
                state.session.add(&event);
                state.live.applied(1);
            }
            #[cfg(test)]
            SessionMsg::Fail => return Err("injected session failure".into()),
            SessionMsg::Close(reply) => {
                write_session_row(state).await;
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                myself.stop(None);
            }
        }
        Ok(())
    }
}

async fn write_session_row(state: &SessionActorState) {
    let ctx = &state.ctx;
    let mut rows = RowBuf::new(Table::Sessions);
    if let Err(e) = state
        .session
        .push_row(&state.site, &ctx.session_cols, &mut rows)
    {
        tracing::error!(error = %e, "session row does not match the schema");
        ctx.metrics
            .session_rows_failed
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    match ctx.store.append(rows).await {
        Ok(_) => {
            ctx.metrics.sessions_closed.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::warn!(site = %state.site, error = %e, "session row not written");
            ctx.metrics
                .session_rows_failed
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}
