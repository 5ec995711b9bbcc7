//! `genesys-sim` binary: runs the simulator until Ctrl-C or a signal ends it, and prints its REST base URL
//! as the first line of stdout (`--port 0` binds an ephemeral port; scripts read the URL from that line).
//!
//! Owns: CLI parsing and log setup only; everything else is the library.

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use genesys_sim::{Sim, SimConfig};

/// A protocol-faithful Genesys Cloud notifications + REST simulator.
#[derive(Debug, Parser)]
#[command(name = "genesys-sim", version)]
struct Args {
    /// Number of agents.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Number of queues.
    #[arg(long, default_value_t = 5)]
    queues: usize,
    /// Number of groups.
    #[arg(long, default_value_t = 2)]
    groups: usize,
    /// Background events per sim second (0 = none).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Sim seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Seed for the population and events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// REST/OAuth port (0 = ephemeral); the WebSocket host takes another ephemeral port.
    #[arg(long, default_value_t = 8780)]
    port: u16,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Heartbeat interval in sim seconds.
    #[arg(long, default_value_t = 30)]
    heartbeat_secs: u64,
    /// REST requests per token per sim minute (0 = unlimited).
    #[arg(long, default_value_t = 300)]
    rate_limit: u32,
    /// OAuth client id.
    #[arg(long, default_value = "sim-client")]
    client_id: String,
    /// OAuth client secret.
    #[arg(long, default_value = "sim-secret")]
    client_secret: String,
    /// Serve https + wss with a freshly generated test CA (certificate for localhost and 127.0.0.1).
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA certificate (PEM) to this path for clients to trust.
    #[arg(long, requires = "tls")]
    ca_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr) // stdout carries only the api_base line, for scripts
        .init();
    let a = Args::parse();
    let cfg = SimConfig {
        seed: a.seed,
        agents: a.agents,
        queues: a.queues,
        groups: a.groups,
        event_rate: a.rate,
        clock_speed: a.speed,
        heartbeat_interval: Duration::from_secs(a.heartbeat_secs),
        rate_limit_per_min: a.rate_limit,
        client_id: a.client_id,
        client_secret: a.client_secret,
        bind: SocketAddr::new(a.host, a.port),
        tls: a.tls,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg).await?;
    if let (Some(path), Some(pem)) = (&a.ca_out, sim.ca_pem()) {
        std::fs::write(path, pem)?; // before the api_base line: a script that read it can trust the CA at once
    }
    println!("{}", sim.api_base());
    println!("streaming host: {}", sim.ws_base());
    tokio::signal::ctrl_c().await?;
    let s = sim.stats();
    tracing::info!(
        events = s.events_generated,
        frames = s.frames_sent,
        "shutting down"
    );
    Ok(())
}
