//! Supervisor: the root actor. Spawns one SiteActor per site, linked to itself, and restarts a
//! SiteActor that fails; the site's live figures, session index and live sessions live outside
//! the actor, so they survive the restart.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::site::{SiteActor, SiteArgs, SiteMsg};
use super::table::SessionTable;
use super::ActorContext;
use crate::live::LiveStats;
use crate::session::SessionIndex;

pub struct Supervisor;

/// Where a site's current SiteActor can be found; replaced on restart.
pub type SiteActorSlot = Arc<RwLock<Option<ActorRef<SiteMsg>>>>;

pub struct SiteSpec {
    pub domain: Arc<str>,
    pub live: Arc<LiveStats>,
    pub sessions: Arc<SessionIndex>,
    /// The site's live sessions and their active SessionActors: a restarted SiteActor takes
    /// them over.
    pub actors: Arc<Mutex<SessionTable>>,
    pub slot: SiteActorSlot,
}

pub enum SupervisorMsg {
    /// Start the SiteActor of a site; answers once it runs.
    StartSite(SiteSpec, RpcReplyPort<Result<(), String>>),
}

pub struct SupervisorState {
    ctx: Arc<ActorContext>,
    sites: HashMap<ActorId, SiteSpec>,
}

impl Supervisor {
    async fn spawn_site(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        spec: SiteSpec,
    ) -> Result<(), ActorProcessingErr> {
        let (actor, _) = Actor::spawn_linked(
            None,
            SiteActor,
            SiteArgs {
                domain: spec.domain.clone(),
                live: spec.live.clone(),
                sessions: spec.sessions.clone(),
                table: spec.actors.clone(),
                ctx: state.ctx.clone(),
            },
            myself.get_cell(),
        )
        .await?;
        *spec.slot.write() = Some(actor.clone());
        state.sites.insert(actor.get_id(), spec);
        Ok(())
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<ActorContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        ctx: Arc<ActorContext>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            ctx,
            sites: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::StartSite(spec, reply) => {
                let result = Supervisor::spawn_site(&myself, state, spec)
                    .await
                    .map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            if let Some(spec) = state.sites.remove(&cell.get_id()) {
                tracing::error!(site = %spec.domain, error = %error, "site actor failed, restarting it");
                *spec.slot.write() = None;
                Supervisor::spawn_site(&myself, state, spec).await?;
            }
        } else if let SupervisionEvent::ActorTerminated(cell, _, _) = event {
            state.sites.remove(&cell.get_id());
        }
        Ok(())
    }
}
