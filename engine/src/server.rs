//! `serve(config, lock, listeners, shutdown)`: the library entry of the daemon, and the offline
//! commands (`site add`, `import`) that share its data dir handling.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ecomdash_protocol::{ImportReport, SiteKeys};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::{open_store, store_config, Engine, EngineError};
use crate::enrich::TrustedProxies;
use crate::import::{ChunkReader, ImportSink, Importer};
use crate::lock::{DataDirLock, LockError};
use crate::pipeline::Enricher;
use crate::sites::{SiteRegistry, SitesError};

/// The site created on a first start with no sites.
pub const DEMO_SITE: &str = "demo";

#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Sites(#[from] SitesError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("http server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error("no site {0}; add it with `ecomdash site add {0}`")]
    UnknownSite(String),
    #[error("import failed: {0}")]
    Import(String),
    #[error(transparent)]
    Quic(#[from] crate::quic::QuicError),
}

/// The sockets the daemon serves on, bound by the caller (tests bind `127.0.0.1:0`).
pub struct Listeners {
    pub http: TcpListener,
}

/// Runs the daemon until `shutdown` resolves, then shuts down in order: stop accepting, drain
/// the actors (bounded by `limits.drain_timeout_secs`), close the store. `lock` proves this
/// process owns the data dir.
pub async fn serve(
    config: Config,
    lock: DataDirLock,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with_clock(config, lock, listeners, shutdown, Arc::new(SystemClock)).await
}

pub async fn serve_with_clock(
    config: Config,
    lock: DataDirLock,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), ServeError> {
    let registry = SiteRegistry::open(&config.data_dir, config.sites.clone())?;
    let demo = if registry.is_empty() {
        Some(registry.add(DEMO_SITE)?)
    } else {
        None
    };
    let drain_timeout = Duration::from_secs(config.limits.drain_timeout_secs);
    let engine = Engine::start(config, clock, registry).await?;
    if let Some(demo) = demo {
        println!(
            "created site \"{}\"; its keys are printed only this once:",
            demo.domain
        );
        println!("  write key (for the tracker): {}", demo.write_key);
        println!("  read key (keep it secret):   {}", demo.read_key);
    }
    let quic = if engine.config.quic.enabled {
        match crate::quic::QuicServer::start(engine.clone()) {
            Ok(quic) => Some(quic),
            // a taken UDP port (several daemons on one host, e.g. tests) leaves HTTP running;
            // TLS errors (bad configured cert or key) stop the start
            Err(e @ crate::quic::QuicError::Bind { .. }) => {
                tracing::error!(error = %e, "quic listener disabled");
                eprintln!("quic disabled: {e}");
                None
            }
            Err(e) => {
                engine.clone().shutdown(drain_timeout).await?;
                return Err(e.into());
            }
        }
    } else {
        None
    };
    let addr = listeners.http.local_addr()?;
    tracing::info!(%addr, data_dir = %engine.config.data_dir.display(), "ecomdash listening");
    println!("listening on http://{addr}");
    let app = crate::http::router(engine.clone());
    axum::serve(
        listeners.http,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if let Some(quic) = quic {
        quic.shutdown(drain_timeout).await;
    }
    tracing::info!("shutting down: draining actors and closing the store");
    engine.shutdown(drain_timeout).await?;
    drop(lock);
    tracing::info!("shutdown complete");
    Ok(())
}

/// `ecomdash site add DOMAIN`: adds a site to the data dir of a stopped daemon.
pub fn site_add(config: &Config, domain: &str) -> Result<SiteKeys, ServeError> {
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let registry = SiteRegistry::open(&config.data_dir, config.sites.clone())?;
    Ok(registry.add(domain)?.keys())
}

/// The store settings of an offline import: the daemon's, without background compaction.
///
/// Nothing reads the store during an offline import, and merging the import's own segments while
/// it runs takes a core away from it (a 1M-line import spent ~1.3 s of its ~4 s merging the first
/// segments, and its chunks took twice as long meanwhile). The daemon's compactor merges them on
/// its next start (it runs within a minute of opening the store, and after every flush).
pub fn import_store_config(config: &Config) -> ecomdash_storage::StoreConfig {
    ecomdash_storage::StoreConfig {
        compaction_min_segments: usize::MAX,
        ..store_config(config)
    }
}

/// `ecomdash import FILE --site DOMAIN`: imports NDJSON into the data dir of a stopped daemon.
pub async fn import_file(
    config: &Config,
    path: &Path,
    domain: &str,
) -> Result<ImportReport, ServeError> {
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let registry = SiteRegistry::open(&config.data_dir, config.sites.clone())?;
    if registry.by_domain(domain).is_none() {
        return Err(ServeError::UnknownSite(domain.to_owned()));
    }
    let store = open_store(&config.store_dir(), import_store_config(config)).await?;
    let proxies = TrustedProxies::none();
    let now_ms = SystemClock.now_ms();
    let geo = crate::enrich::geo::open_configured(config.geoip_db.as_deref(), &config.data_dir)
        .map_err(|e| EngineError::from(crate::pipeline::EnricherError::from(e)))?;
    let enricher = Enricher::open(&config.data_dir, now_ms, proxies)
        .map_err(EngineError::from)?
        .with_geo(geo);
    let idle_ms = (config.limits.session_idle_timeout_secs as i64) * 1000;
    let path = path.to_owned();
    let domain = domain.to_owned();
    let worker_store = store.clone();
    let report = tokio::task::spawn_blocking(move || -> Result<ImportReport, ServeError> {
        let store = worker_store;
        let mut importer = Importer::new(&enricher, &domain, idle_ms, now_ms)
            .map_err(|e| ServeError::Import(e.to_string()))?;
        let import_error = |e: ecomdash_storage::AppendError| ServeError::Import(e.to_string());
        let mut sink = ImportSink::new(&store);
        let file = std::fs::File::open(&path)
            .map_err(|e| ServeError::Import(format!("cannot open {}: {e}", path.display())))?;
        let mut chunks = ChunkReader::new(file);
        while let Some(chunk) = chunks
            .next_chunk()
            .map_err(|e| ServeError::Import(format!("cannot read {}: {e}", path.display())))?
        {
            let started = std::time::Instant::now();
            let out = importer.process_chunk(chunk);
            let processed = started.elapsed();
            sink.submit(out).map_err(import_error)?;
            tracing::debug!(
                bytes = chunk.len(),
                process_ms = processed.as_millis() as u64,
                wait_ms = (started.elapsed() - processed).as_millis() as u64,
                "import chunk"
            );
        }
        sink.finish(importer.finish()).map_err(import_error)?;
        importer.report.deduplicated = sink.deduplicated;
        Ok(importer.report)
    })
    .await
    .map_err(|e| ServeError::Import(e.to_string()))??;
    tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|e| ServeError::Import(e.to_string()))?
        .map_err(EngineError::from)?;
    drop(lock);
    Ok(report)
}
