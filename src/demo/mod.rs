//! The self-contained demo (feature `demo`, never in the firmware): a simulated Genesys
//! Cloud org, an embedded MQTT broker on loopback, the real gateway between them, and a live
//! terminal view built only from the frames a floor display receives over MQTT: the
//! `display` wallboard on a terminal, plain text otherwise.
//!
//! Owns the demo's wiring and the helpers tests share with it (embedded broker, a site
//! config pointing at a simulator). The gateway itself runs exactly as in production: from
//! a TOML site config, over HTTP/WebSocket and MQTT sockets.
//!
//! # Layout
//! - `broker`: embedded rumqttd on a free loopback port.
//!
//! The display's eye (the subscriber that decodes frames, and the plain-text view) is
//! [`crate::display::floor`].

pub mod broker;
pub mod truth;
pub mod web;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use genesys_sim::{Sim, SimConfig};

use crate::config::{Config, ConfigError};

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The simulator could not start.
    #[error("simulator: {0}")]
    Sim(std::io::Error),
    /// The broker could not start.
    #[error("broker: {0}")]
    Broker(String),
    /// The generated config was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The gateway could not start.
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    /// Temporary directory.
    #[error("state directory: {0}")]
    Io(std::io::Error),
    /// The wallboard's terminal failed.
    #[error("terminal: {0}")]
    Terminal(std::io::Error),
}

/// How the demo shows the floor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// The `display` wallboard (needs a terminal on stdout); q, Esc or Ctrl-C ends the demo.
    /// `footer` ends the wallboard's footer (where the log goes).
    Wallboard {
        /// Shown at the end of the footer.
        footer: String,
    },
    /// Plain text redrawn every second, for a stdout that is not a terminal.
    Text,
}

/// Site config TOML for a gateway pointed at `sim`, publishing to `broker` (host:port),
/// watching every simulated queue, with one zone per queue plus the implicit view.
pub fn site_toml(
    api_base: &str,
    queues: &[String],
    broker: (&str, u16),
    state_dir: &Path,
) -> String {
    let quoted: Vec<String> = queues.iter().map(|q| format!("\"{q}\"")).collect();
    format!(
        r#"[site]
id = "demo"
board = "x86_64"
state_dir = "{state}"

[genesys]
api_base = "{api}"
login_base = "{api}"
# "answered" comes only from this read (the queue topic does not carry it): every 5 s here,
# so a display catches up within seconds (12 requests a minute of the 300).
queue_figures_secs = 5

[watch]
queues = [{queues}]

[mqtt]
host = "{host}"
port = {port}
metrics_interval_secs = 2
"#,
        state = state_dir.display(),
        api = api_base,
        queues = quoted.join(", "),
        host = broker.0,
        port = broker.1,
    )
}

/// The simulator's credentials, as the gateway reads them from its environment.
pub fn sim_env(sim: &SimConfig) -> std::collections::HashMap<String, String> {
    use crate::config::{client_env, ENV_CLIENT_ID, ENV_CLIENT_SECRET};
    let mut env = std::collections::HashMap::from([
        (ENV_CLIENT_ID.to_string(), sim.client_id.clone()),
        (ENV_CLIENT_SECRET.to_string(), sim.client_secret.clone()),
    ]);
    // Named clients `c0` (the simulator's first) , `c1`, … for `[[genesys.client]]`.
    let all = std::iter::once((&sim.client_id, &sim.client_secret))
        .chain(sim.more_clients.iter().map(|(i, s)| (i, s)));
    for (n, (id, secret)) in all.enumerate() {
        env.insert(client_env(ENV_CLIENT_ID, &format!("c{n}")), id.clone());
        env.insert(
            client_env(ENV_CLIENT_SECRET, &format!("c{n}")),
            secret.clone(),
        );
    }
    env
}

/// Runs the demo until `shutdown` (or, with the wallboard, until its quit key), then stops
/// the gateway cleanly (it publishes `$state` = `offline`).
pub async fn run(
    agents: u32,
    queues: u32,
    rate: u32,
    view: View,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DemoError> {
    let sim = Sim::start(SimConfig {
        agents: agents as usize,
        queues: queues as usize,
        event_rate: f64::from(rate),
        ..SimConfig::default()
    })
    .await
    .map_err(DemoError::Sim)?;
    let broker = broker::start().map_err(DemoError::Broker)?;
    tracing::info!(
        "demo broker on 127.0.0.1:{port}; watch it from another terminal with \
         `presence-gateway display --broker 127.0.0.1:{port} --site demo` or \
         `presence-gateway decode --broker 127.0.0.1:{port}`",
        port = broker.port
    );
    // The browser wallboard, on the embedded broker's WebSocket listener.
    let page = web::serve(0).await.map_err(DemoError::Io)?;
    let web_url = web::url(page, broker.ws_port, "demo", "all");
    tracing::info!("web wallboard: open {web_url}");
    eprintln!("web wallboard: open {web_url} in a browser");
    let dir = tempfile_dir().map_err(DemoError::Io)?;
    let toml = site_toml(
        &sim.api_base(),
        &sim.queues(),
        ("127.0.0.1", broker.port),
        &dir,
    );
    let config = Config::from_toml_str(&toml, &dir, &sim_env(&sim.config()))?;
    let topics = crate::topics::Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let running = crate::app::start(config).await?;
    let shown = match view {
        View::Wallboard { footer } => {
            let footer = if footer.is_empty() {
                format!("web: {web_url}")
            } else {
                format!("web: {web_url} · {footer}")
            };
            wallboard(
                ("127.0.0.1".to_string(), broker.port),
                &topics,
                footer,
                shutdown,
            )
            .await
        }
        View::Text => {
            let text = tokio::spawn(crate::display::floor::run(
                ("127.0.0.1".to_string(), broker.port),
                topics.clone(),
                "all".to_string(),
                Duration::from_secs(1),
            ));
            shutdown.await;
            text.abort();
            Ok(())
        }
    };
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    shown
}

/// Shows zone `all` on the wallboard until its quit key or `shutdown`; the terminal is
/// restored when this returns.
async fn wallboard(
    broker: (String, u16),
    topics: &crate::topics::Topics,
    footer: String,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DemoError> {
    let title = format!(
        "demo · zone all · broker {}:{} (site demo)",
        broker.0, broker.1
    );
    let sub = crate::display::Subscriber::start(broker, topics, "all");
    let floor = sub.floor.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut board = tokio::task::spawn_blocking(move || {
        let board = crate::display::wallboard::Wallboard {
            title: &title,
            footer: &footer,
        };
        crate::display::term::run(&floor, &board, &flag)
    });
    let ended = tokio::select! {
        () = shutdown => None,
        r = &mut board => Some(r),
    };
    stop.store(true, Ordering::Relaxed);
    let result = match ended {
        Some(r) => r,
        None => board.await,
    };
    drop(sub);
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(DemoError::Terminal(e)),
        Err(e) => Err(DemoError::Terminal(std::io::Error::other(e))),
    }
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("presence-gateway-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
