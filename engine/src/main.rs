//! The `ecomdash` command: parses arguments, sets up logging and signals, and calls the library.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ecomdash_engine::config::{FlagOverrides, ENV_VARS};
use ecomdash_engine::lock::DataDirLock;
use ecomdash_engine::server::{import_file, serve, site_add, Listeners};
use ecomdash_engine::Config;

#[derive(Parser)]
#[command(
    name = "ecomdash",
    version,
    about = "Self-hosted, privacy-first web and ecommerce analytics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: HTTP intake, realtime API, admin API and metrics.
    #[command(after_help = env_help())]
    Serve(Common),
    /// Manage sites of a stopped daemon (a running one has POST /api/v1/admin/sites).
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Import NDJSON events (one wire event per line, `ts` trusted) into a stopped daemon's data dir.
    Import {
        /// NDJSON file to import.
        file: PathBuf,
        /// Domain of the site the events belong to.
        #[arg(long)]
        site: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Add a site and print its write and read keys as JSON.
    Add {
        /// The site's domain, e.g. shop.example.
        domain: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// TOML config file (see docs/operations.md); environment variables and flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: store, sites.json, salts, lock file [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8000].
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Bearer token that enables the admin API (at least 16 characters).
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
    /// GeoIP database (.mmdb) for countries [default: DIR/geoip.mmdb when present, else geo off;
    /// fetch one with engine/scripts/fetch-geoip.sh DIR].
    #[arg(long, value_name = "FILE")]
    geoip_db: Option<PathBuf>,
}

fn env_help() -> String {
    let mut help = String::from(
        "Settings are read from the config file, then these environment variables, then flags:\n",
    );
    for (name, setting) in ENV_VARS {
        help.push_str(&format!("  {name:<38} {setting}\n"));
    }
    help.push_str("\nSIGTERM or Ctrl-C shuts down gracefully: stop accepting, close live sessions, flush the store.");
    help
}

impl Common {
    fn load(&self) -> anyhow::Result<Config> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let flags = FlagOverrides {
            data_dir: self.data_dir.clone(),
            http_addr: self.http,
            admin_token: self.admin_token.clone(),
            geoip_db: self.geoip_db.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &env, &flags)?)
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(common) => {
            let config = common.load()?;
            init_logging(&config.log);
            let lock = DataDirLock::acquire(&config.data_dir)?;
            let http = tokio::net::TcpListener::bind(config.http_addr)
                .await
                .with_context(|| format!("cannot listen on {}", config.http_addr))?;
            serve(config, lock, Listeners { http }, shutdown_signal()).await?;
        }
        Command::Site {
            command: SiteCommand::Add { domain, common },
        } => {
            let config = common.load()?;
            let keys = site_add(&config, &domain)?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        Command::Import { file, site, common } => {
            let config = common.load()?;
            init_logging(&config.log);
            let started = std::time::Instant::now();
            let report = import_file(&config, &file, &site).await?;
            let secs = started.elapsed().as_secs_f64();
            println!("{}", serde_json::to_string_pretty(&report)?);
            eprintln!(
                "imported {} of {} lines in {:.2} s ({:.0} lines/s)",
                report.imported,
                report.lines,
                secs,
                report.lines as f64 / secs.max(1e-9)
            );
        }
    }
    Ok(())
}
