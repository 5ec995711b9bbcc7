//! Display tools (feature `demo`, never in the firmware): what a person building or checking
//! a floor display uses. `presence-gateway decode` turns frames into JSON lines, from a file
//! or live from a broker; `presence-gateway display` is a reference terminal wallboard for
//! one zone, and the demo shows the same wallboard.
//!
//! They are clients of the gateway's public surface only (the `presence-wire` frames, the
//! topic tree); nothing in the gateway depends on them, and they depend on nothing but it.
//!
//! # Layout
//! - [`floor`]: what a display sees: the MQTT subscriber that decodes every frame as a
//!   display would ([`Subscriber`], [`Floor`]), and the floor as plain text (the demo, tests).
//! - [`decode`]: payload → JSON line (pure), and the file and live loops around it.
//! - [`fleet`]: one line per site (bridge, `$state`, health) for a central broker.
//! - [`wallboard`]: the wallboard's drawing, a pure function of the floor and the time.
//! - [`term`]: the wallboard on a real terminal (raw mode, keys, redraw each second).

pub mod decode;
pub mod fleet;
pub mod floor;
pub mod term;
pub mod wallboard;

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::topics::Topics;

pub use floor::{Floor, Subscriber};
pub use term::Quit;

/// How the display tools reach a secured broker, as the gateway does: TLS verified against
/// the Mozilla roots and an optional site CA, an optional client certificate (mutual TLS), and
/// an optional user name with the password from `MQTT_PASSWORD`. Default: plain TCP, anonymous.
#[derive(Clone, Default)]
pub struct BrokerSecurity {
    /// TLS (verified), when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// User name and password.
    pub credentials: Option<(String, crate::config::Secret)>,
}

impl std::fmt::Debug for BrokerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSecurity")
            .field("tls", &self.tls.is_some())
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl BrokerSecurity {
    /// Applies TLS and credentials to `opts`.
    pub fn apply(&self, opts: &mut rumqttc::MqttOptions) {
        if let Some(tls) = &self.tls {
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        if let Some((user, password)) = &self.credentials {
            opts.set_credentials(user, password.expose());
        }
    }
}

/// What `presence-gateway display` shows.
#[derive(Clone, Debug)]
pub struct DisplayOptions {
    /// Broker host and port.
    pub broker: (String, u16),
    /// Topic prefix.
    pub prefix: String,
    /// Site id.
    pub site: String,
    /// Zone shown.
    pub zone: String,
    /// Shown at the end of the footer (where the log goes).
    pub footer: String,
    /// TLS and credentials for the broker.
    pub security: BrokerSecurity,
}

/// Why the wallboard could not run.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// Standard output is not a terminal.
    #[error("display needs a terminal on standard output (`decode --broker` prints the same data as JSON lines)")]
    NotATerminal,
    /// The terminal could not be set up, drawn or read.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs the wallboard for one zone until q, Esc, Ctrl-C, SIGTERM or SIGINT. Blocking: call it
/// from the main thread; the subscriber runs on `runtime`.
pub fn run(runtime: &tokio::runtime::Handle, opts: &DisplayOptions) -> Result<Quit, DisplayError> {
    if !std::io::stdout().is_terminal() {
        return Err(DisplayError::NotATerminal);
    }
    let _enter = runtime.enter();
    let topics = Topics::new(&opts.prefix, &opts.site);
    let sub = Subscriber::connect(opts.broker.clone(), &opts.security, &topics, &opts.zone);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let signals = runtime.spawn(async move {
        crate::signal::shutdown().await;
        flag.store(true, Ordering::Relaxed);
    });
    let title = format!(
        "site {} · zone {} · {}:{}",
        opts.site, opts.zone, opts.broker.0, opts.broker.1
    );
    let board = wallboard::Wallboard {
        title: &title,
        footer: &opts.footer,
    };
    let quit = term::run(&sub.floor, &board, &stop);
    signals.abort();
    Ok(quit?)
}
