//! `ecomdash-loadtest`: drive a running EcomDash daemon with realistic shop traffic (HTTP JSON, or
//! QUIC FlatBuffers batches through `ecomdash-client`), or dump the same traffic as NDJSON for
//! `ecomdash import`.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use ecomdash_client::Tls;
use ecomdash_loadtest::driver::{drive, DriveConfig, Target};
use ecomdash_loadtest::duration::parse_duration;
use ecomdash_loadtest::model::{Funnel, ModelConfig};
use ecomdash_loadtest::pool::Pool;
use ecomdash_loadtest::quic::{drive_quic, parse_quic_target, QuicDriveConfig, QuicPool};
use ecomdash_loadtest::report::{LiveCounters, Report, RunSetup};
use ecomdash_loadtest::verify::verify;
use indicatif::{ProgressBar, ProgressStyle};

/// Events per QUIC batch when `--batch` is not given.
const DEFAULT_QUIC_BATCH: usize = 100;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// JSON over HTTP/1.1 (`--target http://host:port`)
    Http,
    /// FlatBuffers batches over QUIC through ecomdash-client (`--target host:port`, the UDP
    /// address; `--fingerprint` or `--cert`; `--query-url` for `--verify`)
    Quic,
}

/// Realistic shop traffic for EcomDash, with latency histograms.
#[derive(Debug, Parser)]
#[command(name = "ecomdash-loadtest", version)]
struct Args {
    /// Base URL of the daemon (http mode), or its QUIC address `host:port` (quic mode)
    #[arg(long)]
    target: Option<String>,
    #[arg(long, value_enum, default_value = "http")]
    mode: Mode,
    /// How long to send (30s, 2m, 500ms)
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Concurrent keep-alive connections (http mode); batches in flight, one QUIC stream each,
    /// over one connection per key (quic mode)
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Open loop at this many events per second (latency from intended send time); closed loop
    /// when absent
    #[arg(long)]
    rate: Option<f64>,
    /// Send batches of up to N events: 1..=100 to the HTTP batch endpoint, 1..=1000 over QUIC
    /// (quic mode default: 100)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch: Option<u16>,
    /// Quic mode: SHA-256 fingerprint of the daemon's certificate, as `ecomdash serve` prints it
    #[arg(long, env = "ECOMDASH_QUIC_FINGERPRINT", conflicts_with = "cert")]
    fingerprint: Option<String>,
    /// Quic mode: PEM certificate (or CA) to trust, e.g. the daemon's `<data dir>/quic/cert.pem`
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Quic mode: the daemon's HTTP base URL, for `--verify`'s queries
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    query_url: String,
    /// Number of simulated shops, with skewed volumes
    #[arg(long, default_value_t = 3)]
    sites: usize,
    /// Seed of the traffic model: same seed, same events
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write key per site, comma separated (site i uses key i modulo the count)
    #[arg(long, value_delimiter = ',', env = "ECOMDASH_LOADTEST_KEY")]
    key: Vec<String>,
    /// Also write the final report as JSON to this file
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the events as NDJSON import lines to this file instead of sending them
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Number of events to dump
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// With --dump: spread the events over about this many days, with a day/night cycle
    /// (default: the live model's pace, a couple of hours per million events)
    #[arg(long, requires = "dump")]
    days: Option<f64>,
    /// Events pre-generated into request templates and cycled (with fresh event ids) while sending
    #[arg(long, default_value_t = 50_000)]
    pool_events: usize,
    /// Start of the simulated timeline in ms since the epoch (default: one hour ago, to the minute)
    #[arg(long)]
    base_ms: Option<i64>,
    /// Share of bot sessions
    #[arg(long, default_value_t = 0.05)]
    bot_share: f64,
    /// Funnel continuation rates: add-to-cart, begin-checkout, purchase
    #[arg(long, value_delimiter = ',', default_values_t = [0.12, 0.45, 0.6])]
    funnel: Vec<f64>,
    /// Runtime worker threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// No progress line
    #[arg(long)]
    quiet: bool,
    /// After the run, check through the query endpoint that every acknowledged event is
    /// queryable (needs --read-key); exit code 1 when not
    #[arg(long, requires = "read_key")]
    verify: bool,
    /// Read key for --verify (`Authorization: Bearer`)
    #[arg(long, env = "ECOMDASH_READ_KEY", hide_env_values = true)]
    read_key: Option<String>,
    /// How long --verify waits for the acknowledged events to become visible
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    verify_wait: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base_ms = match args.base_ms {
        Some(base) => base,
        None => {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
            now_ms - now_ms % 60_000 - 3_600_000
        }
    };
    let mut model = ModelConfig::new(args.seed, args.sites, base_ms);
    model.bot_share = args.bot_share;
    let [add_to_cart, begin_checkout, purchase] = args.funnel[..] else {
        bail!(
            "--funnel takes three rates: add-to-cart,begin-checkout,purchase (like 0.12,0.45,0.6)"
        );
    };
    if args.funnel.iter().any(|rate| !(0.0..=1.0).contains(rate)) {
        bail!("--funnel rates must be between 0 and 1");
    }
    model.funnel = Funnel {
        add_to_cart,
        begin_checkout,
        purchase,
    };
    if let Some(path) = &args.dump {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let written = ecomdash_loadtest::dump::write_ndjson(
            model,
            args.events,
            args.days,
            &mut BufWriter::new(file),
        )?;
        eprintln!("wrote {written} events to {}", path.display());
        return Ok(());
    }
    if args
        .rate
        .is_some_and(|rate| !rate.is_finite() || rate <= 0.0)
    {
        bail!("--rate must be positive");
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    let live = Arc::new(LiveCounters::default());
    let built = Instant::now();
    let (target, verify_target, run_id, batch, stats, started) = match args.mode {
        Mode::Http => {
            let target = args
                .target
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:8000".to_owned());
            let parsed = Target::parse(&target)?;
            let batch = args.batch.map(usize::from);
            if batch.is_some_and(|b| b > ecomdash_protocol::limits::MAX_BATCH_EVENTS) {
                bail!(
                    "--batch over HTTP is at most {} events (QUIC takes up to 1000)",
                    ecomdash_protocol::limits::MAX_BATCH_EVENTS
                );
            }
            let pool = Arc::new(Pool::build(model, args.pool_events.max(1), batch)?);
            if !args.quiet {
                eprintln!(
                    "pool: {} requests, {} events, run {} (built in {:.2?})",
                    pool.templates.len(),
                    pool.events,
                    pool.run_id,
                    built.elapsed()
                );
            }
            let config = DriveConfig {
                target: parsed.clone(),
                connections: args.connections.max(1),
                duration: args.duration,
                rate: args.rate,
                keys: args.key.clone(),
                batch: batch.is_some(),
            };
            let started = Instant::now();
            let stats = runtime.block_on(with_progress(&args, &live, started, async {
                drive(config, Arc::clone(&pool), Arc::clone(&live)).await
            }))?;
            let run_id = pool.run_id.clone();
            (target, parsed, run_id, batch.unwrap_or(1), stats, started)
        }
        Mode::Quic => {
            let target = args
                .target
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8443".to_owned());
            let addr = parse_quic_target(&target)?;
            let tls = match (&args.fingerprint, &args.cert) {
                (Some(fingerprint), _) => Tls::pinned_sha256(fingerprint)?,
                (None, Some(cert)) => Tls::trust_pem(
                    std::fs::read(cert)
                        .with_context(|| format!("cannot read {}", cert.display()))?,
                ),
                (None, None) => bail!(
                    "QUIC mode needs --fingerprint (printed by `ecomdash serve`) or --cert PEM"
                ),
            };
            let verify_target = Target::parse(&args.query_url)?;
            let batch = args.batch.map_or(DEFAULT_QUIC_BATCH, usize::from);
            let pool = Arc::new(QuicPool::build(model, args.pool_events.max(batch), batch));
            if !args.quiet {
                eprintln!(
                    "pool: {} batches, {} events, run {} (built in {:.2?})",
                    pool.batches.len(),
                    pool.events,
                    pool.run_id,
                    built.elapsed()
                );
            }
            let config = QuicDriveConfig {
                addr,
                tls,
                in_flight: args.connections.max(1),
                duration: args.duration,
                rate: args.rate,
                keys: args.key.clone(),
            };
            let started = Instant::now();
            let stats = runtime.block_on(with_progress(&args, &live, started, async {
                drive_quic(config, Arc::clone(&pool), Arc::clone(&live)).await
            }))?;
            let run_id = pool.run_id.clone();
            (target, verify_target, run_id, batch, stats, started)
        }
    };
    let setup = RunSetup {
        target,
        connections: args.connections.max(1),
        batch,
        rate: args.rate,
        seed: args.seed,
        run_id: run_id.clone(),
    };
    let mut report = Report::new(setup, &stats, started.elapsed());
    if let Mode::Quic = args.mode {
        report.mode = "quic";
    }
    if let (true, Some(read_key)) = (args.verify, &args.read_key) {
        report.verify = Some(runtime.block_on(verify(
            &verify_target,
            read_key,
            &run_id,
            stats.event_ids_issued,
            stats.events_acked,
            args.verify_wait,
        )));
    }
    print!("{}", report.render());
    if let Some(path) = &args.json {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        serde_json::to_writer_pretty(BufWriter::new(file), &report)?;
    }
    if report.verify.as_ref().is_some_and(|v| !v.ok) {
        std::process::exit(1);
    }
    Ok(())
}

/// Runs `drive` with the progress line unless `--quiet`.
async fn with_progress<T>(
    args: &Args,
    live: &Arc<LiveCounters>,
    started: Instant,
    drive: impl std::future::Future<Output = T>,
) -> T {
    let progress = (!args.quiet).then(|| spawn_progress(Arc::clone(live), started));
    let result = drive.await;
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }
    result
}

/// A progress line updated twice a second: elapsed, sent, acked, errors by status, current rate.
fn spawn_progress(
    live: Arc<LiveCounters>,
    started: Instant,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    let handle = bar.clone();
    let task = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(500));
        let mut previous = (Instant::now(), 0u64);
        loop {
            interval.tick().await;
            let acked = live.events_acked.load(Ordering::Relaxed);
            let sent = live.events_sent.load(Ordering::Relaxed);
            let now = Instant::now();
            let rate = (acked - previous.1) as f64
                / now.duration_since(previous.0).as_secs_f64().max(1e-3);
            previous = (now, acked);
            handle.set_message(format!(
                "elapsed {:.1}s  sent {sent}  acked {acked}  {}  rate {rate:.0} events/s",
                started.elapsed().as_secs_f64(),
                live.errors_summary()
            ));
            handle.tick();
        }
    });
    (bar, task)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent_and_parses_the_documented_flags() {
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "ecomdash-loadtest",
            "--duration",
            "2m",
            "--batch",
            "100",
            "--rate",
            "5000",
            "--key",
            "a,b,c",
            "--funnel",
            "0.2,0.5,0.7",
        ])
        .map_err(|e| e.to_string());
        let args = match args {
            Ok(args) => args,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(args.duration, Duration::from_secs(120));
        assert_eq!(args.batch, Some(100));
        assert_eq!(args.key, ["a", "b", "c"]);
        assert_eq!(args.funnel, [0.2, 0.5, 0.7]);
        assert!(Args::try_parse_from(["ecomdash-loadtest", "--batch", "1001"]).is_err());
        let quic = Args::try_parse_from([
            "ecomdash-loadtest",
            "--mode",
            "quic",
            "--target",
            "127.0.0.1:8443",
            "--batch",
            "1000",
            "--fingerprint",
            "ab",
        ]);
        assert!(quic.is_ok_and(|a| matches!(a.mode, Mode::Quic) && a.batch == Some(1000)));
        assert!(Args::try_parse_from([
            "ecomdash-loadtest",
            "--fingerprint",
            "ab",
            "--cert",
            "c.pem"
        ])
        .is_err());
        assert!(Args::try_parse_from(["ecomdash-loadtest", "--mode", "grpc"]).is_err());
        let verify = Args::try_parse_from(["ecomdash-loadtest", "--verify", "--read-key", "rk_x"]);
        assert!(verify.is_ok_and(|a| a.verify && a.read_key.as_deref() == Some("rk_x")));
    }
}
