//! The running engine: store, sites, enrichment, actors and limits, shared by every handler.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ecomdash_protocol::{ErrorDetail, RejectedEvent};
use ecomdash_storage::{
    AppendError, AppendReceipt, Durability, RowBuf, Store, StoreConfig, StoreError,
};
use ractor::{Actor, ActorRef};
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::actors::site::SiteMsg;
use crate::actors::supervisor::{SiteActorSlot, SiteSpec, Supervisor, SupervisorMsg};
use crate::actors::ActorContext;
use crate::admission::TokenBucket;
use crate::clock::Clock;
use crate::config::{Config, DurabilityMode};
use crate::enrich::TrustedProxies;
use crate::live::{LiveEvent, LiveStats};
use crate::metrics::Metrics;
use crate::pipeline::{Enricher, EnricherError};
use crate::rows::{MissingColumn, SessionColumns};
use crate::session::SessionIndex;
use crate::sites::{SiteConfig, SiteRegistry, SitesError};

/// How long a start-up or admin request waits for an actor to answer.
const ACTOR_CALL_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sites(#[from] SitesError),
    #[error(transparent)]
    Enricher(#[from] EnricherError),
    #[error(transparent)]
    Schema(#[from] MissingColumn),
    #[error("invalid trusted_proxies: {0}")]
    Proxies(String),
    #[error("actor system: {0}")]
    Actors(String),
    #[error("background task failed: {0}")]
    Join(String),
}

/// Maps the config's durability to the store's.
pub fn store_config(config: &Config) -> StoreConfig {
    let storage = &config.storage;
    StoreConfig {
        durability: match storage.durability {
            DurabilityMode::Fsync => Durability::Fsync,
            DurabilityMode::Interval => Durability::Interval {
                interval_ms: storage.fsync_interval_ms,
            },
            DurabilityMode::None => Durability::None,
        },
        memtable_max_bytes: storage.memtable_max_bytes as usize,
        memtable_max_age_ms: storage.memtable_max_age_ms,
        dedup_window_ms: storage.dedup_window_ms,
        dedup_max_keys: storage.dedup_max_keys,
        ..StoreConfig::default()
    }
}

/// Opens the store on a blocking thread (recovery replays the WAL).
pub async fn open_store(dir: &Path, config: StoreConfig) -> Result<Store, EngineError> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || Store::open(&dir, config))
        .await
        .map_err(|e| EngineError::Join(e.to_string()))?
        .map_err(EngineError::from)
}

/// One site at run time: keys, live figures, session index, limits and its actor.
pub struct SiteRuntime {
    pub config: Arc<SiteConfig>,
    pub domain: Arc<str>,
    pub live: Arc<LiveStats>,
    pub sessions: Arc<SessionIndex>,
    /// Requests of this site in flight (named capacity: `limits.site_max_in_flight_requests`).
    pub in_flight: Arc<Semaphore>,
    pub rate: TokenBucket,
    pub actor: SiteActorSlot,
}

impl SiteRuntime {
    /// Hands acknowledged events to the SiteActor; if it is restarting, the live figures are
    /// updated directly so realtime never misses acknowledged events.
    pub fn dispatch(&self, events: Vec<LiveEvent>) {
        if events.is_empty() {
            return;
        }
        let count = events.len() as u64;
        self.live
            .actor_backlog
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        let actor = self.actor.read().clone();
        let undelivered = match actor {
            Some(actor) => match actor.cast(SiteMsg::Events(events)) {
                Ok(()) => None,
                Err(ractor::MessagingErr::SendErr(SiteMsg::Events(events))) => Some(events),
                Err(_) => {
                    self.live.applied(count);
                    None
                }
            },
            None => Some(events),
        };
        if let Some(events) = undelivered {
            self.live.record(&events);
            self.live.applied(count);
        }
    }
}

pub struct Engine {
    pub config: Config,
    pub registry: SiteRegistry,
    sites: DashMap<String, Arc<SiteRuntime>>,
    pub store: Store,
    pub enricher: Enricher,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Requests in flight across all sites (named capacity: `limits.max_in_flight_requests`).
    pub in_flight: Arc<Semaphore>,
    pub session_cols: SessionColumns,
    supervisor: ActorRef<SupervisorMsg>,
    actor_ctx: Arc<ActorContext>,
    /// False while shutting down: new requests are refused.
    pub accepting: AtomicBool,
}

impl Engine {
    /// Counts a request's refused events in the metrics and words them for the answer, with
    /// each field named relative to the batch (`events[3].url`).
    pub fn count_rejections(&self, rejected: Vec<(usize, ErrorDetail)>) -> Vec<RejectedEvent> {
        rejected
            .into_iter()
            .map(|(index, error)| {
                self.metrics.reject(error.code, 1);
                RejectedEvent {
                    index,
                    error: error.in_batch(index),
                }
            })
            .collect()
    }

    /// The tail every transport shares: makes a site's accepted events durable, counts them,
    /// and hands them to the site's actors. Returns once the rows are durable. `live_rows` is
    /// the row of each of `live` (ascending): events the store dropped as duplicates of an
    /// earlier event_id are counted neither in the live figures nor in their session.
    pub async fn commit_events(
        &self,
        site: &SiteRuntime,
        rows: RowBuf,
        live: Vec<LiveEvent>,
        live_rows: &[u32],
    ) -> Result<AppendReceipt, AppendError> {
        let accepted = rows.row_count() as u64;
        let receipt = self.store.append(rows).await?;
        self.metrics
            .events_accepted
            .fetch_add(accepted, Ordering::Relaxed);
        self.metrics
            .events_deduplicated
            .fetch_add(receipt.rows_deduplicated as u64, Ordering::Relaxed);
        site.dispatch(without_rows(live, live_rows, &receipt.duplicate_rows));
        Ok(receipt)
    }

    /// Opens everything under the data dir and starts the actors. The data dir lock must be held.
    pub async fn start(
        config: Config,
        clock: Arc<dyn Clock>,
        registry: SiteRegistry,
    ) -> Result<Arc<Engine>, EngineError> {
        let store = open_store(&config.store_dir(), store_config(&config)).await?;
        ecomdash_storage::Segment::set_block_cache_capacity(
            usize::try_from(config.query.block_cache_bytes).unwrap_or(usize::MAX),
        );
        let proxies = TrustedProxies::parse(&config.trusted_proxies)
            .map_err(|e| EngineError::Proxies(e.to_string()))?;
        let geo = crate::enrich::geo::open_configured(config.geoip_db.as_deref(), &config.data_dir)
            .map_err(EnricherError::from)?;
        let enricher = Enricher::open(&config.data_dir, clock.now_ms(), proxies)?.with_geo(geo);
        let metrics = Arc::new(Metrics::default());
        let actor_ctx = Arc::new(ActorContext {
            store: store.clone(),
            session_cols: SessionColumns::resolve()?,
            metrics: metrics.clone(),
            clock: clock.clone(),
            session_idle_timeout_ms: (config.limits.session_idle_timeout_secs as i64) * 1000,
        });
        let (supervisor, _) = Actor::spawn(None, Supervisor, actor_ctx.clone())
            .await
            .map_err(|e| EngineError::Actors(e.to_string()))?;
        let engine = Arc::new(Engine {
            in_flight: Arc::new(Semaphore::new(
                config.limits.max_in_flight_requests as usize,
            )),
            session_cols: SessionColumns::resolve()?,
            config,
            registry,
            sites: DashMap::new(),
            store,
            enricher,
            metrics,
            clock,
            supervisor,
            actor_ctx,
            accepting: AtomicBool::new(true),
        });
        for site in engine.registry.all() {
            engine.start_site(site).await?;
        }
        Ok(engine)
    }

    async fn start_site(&self, site: Arc<SiteConfig>) -> Result<Arc<SiteRuntime>, EngineError> {
        let limits = &self.config.limits;
        let runtime = Arc::new(SiteRuntime {
            domain: Arc::from(site.domain.as_str()),
            config: site.clone(),
            live: Arc::new(LiveStats::default()),
            sessions: Arc::new(SessionIndex::new(self.actor_ctx.session_idle_timeout_ms)),
            in_flight: Arc::new(Semaphore::new(limits.site_max_in_flight_requests as usize)),
            rate: TokenBucket::new(limits.site_events_per_second, limits.site_burst_events),
            actor: SiteActorSlot::default(),
        });
        let spec = SiteSpec {
            domain: runtime.domain.clone(),
            live: runtime.live.clone(),
            sessions: runtime.sessions.clone(),
            actors: Arc::default(),
            slot: runtime.actor.clone(),
        };
        ractor::call_t!(
            self.supervisor,
            SupervisorMsg::StartSite,
            ACTOR_CALL_TIMEOUT_MS,
            spec
        )
        .map_err(|e| EngineError::Actors(e.to_string()))?
        .map_err(EngineError::Actors)?;
        self.sites.insert(site.domain.clone(), runtime.clone());
        Ok(runtime)
    }

    /// The site whose write key this is.
    pub fn site_by_write_key(&self, key: &str) -> Option<Arc<SiteRuntime>> {
        let site = self.registry.by_write_key(key)?;
        self.sites.get(&site.domain).map(|s| s.clone())
    }

    pub fn site(&self, domain: &str) -> Option<Arc<SiteRuntime>> {
        self.sites.get(domain).map(|s| s.clone())
    }

    pub fn live_sessions(&self) -> u64 {
        self.sites
            .iter()
            .map(|s| {
                s.live
                    .live_sessions
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// Acknowledged events queued in actor mailboxes, all sites.
    pub fn actor_backlog(&self) -> u64 {
        self.sites
            .iter()
            .map(|s| {
                s.live
                    .actor_backlog
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// Adds a site at run time (admin API) and starts its actor.
    pub async fn add_site(&self, domain: &str) -> Result<Arc<SiteConfig>, EngineError> {
        let site = self.registry.add(domain)?;
        self.start_site(site.clone()).await?;
        Ok(site)
    }

    /// Shutdown, after the listener stopped: close every live session (writing its row) within
    /// `drain_timeout`, stop the actors, then close the store (which writes pending appends and
    /// flushes the memtable).
    pub async fn shutdown(self: Arc<Engine>, drain_timeout: Duration) -> Result<(), EngineError> {
        self.accepting
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let sites: Vec<Arc<SiteRuntime>> = self.sites.iter().map(|s| s.clone()).collect();
        let drain = async {
            let mut closed = 0;
            for site in &sites {
                let actor = site.actor.read().clone();
                if let Some(actor) = actor {
                    match actor.call(SiteMsg::CloseAll, None).await {
                        Ok(ractor::rpc::CallResult::Success(n)) => closed += n,
                        Ok(_) | Err(_) => {
                            tracing::warn!(site = %site.domain, "site actor did not drain")
                        }
                    }
                }
            }
            closed
        };
        match tokio::time::timeout(drain_timeout, drain).await {
            Ok(closed) => tracing::info!(sessions = closed, "live sessions closed"),
            Err(_) => tracing::warn!(
                timeout_ms = drain_timeout.as_millis() as u64,
                "drain timed out; open sessions are dropped"
            ),
        }
        let _ = self
            .supervisor
            .stop_and_wait(Some("shutdown".to_owned()), Some(drain_timeout))
            .await;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| EngineError::Join(e.to_string()))??;
        Ok(())
    }
}

/// `live` without the events whose row (`live_rows[i]` for `live[i]`) is in `dropped`; both
/// index lists ascend.
fn without_rows(live: Vec<LiveEvent>, live_rows: &[u32], dropped: &[u32]) -> Vec<LiveEvent> {
    if dropped.is_empty() {
        return live;
    }
    let mut dropped = dropped.iter().peekable();
    live.into_iter()
        .zip(live_rows)
        .filter(|(_, &row)| {
            while dropped.next_if(|&&d| d < row).is_some() {}
            dropped.peek() != Some(&&row)
        })
        .map(|(event, _)| event)
        .collect()
}
