//! [`SimConfig`]: every knob of the simulator, with defaults that mirror real Genesys Cloud (PROTOCOL.md).
//!
//! Owns: configuration values only. Does not validate sockets or start anything (see `Sim::start`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Simulator configuration. Build with struct-update syntax: `SimConfig { agents: 10, ..SimConfig::default() }`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed for the population (ids, names, memberships) and the event generator. Same seed, same choices.
    pub seed: u64,
    /// Number of agents (users).
    pub agents: usize,
    /// Number of queues; each agent is a member of 1-3 of them (deterministic from `seed`).
    pub queues: usize,
    /// Number of groups; each holds a deterministic subset of agents.
    pub groups: usize,
    /// Background events per sim second; 0.0 disables the background generator (use `Sim::step`).
    pub event_rate: f64,
    /// Sim ms per real ms: 1.0 = real time, 60.0 = one sim minute per real second, 0.0 = frozen
    /// (time then moves only through `Sim::advance`).
    pub clock_speed: f64,
    /// Heartbeat period in sim time (real Genesys: 30 s observed, COMM-HB).
    pub heartbeat_interval: Duration,
    /// `expires_in` of issued tokens (Genesys default for an OAuth client: 24 h).
    pub token_lifetime: Duration,
    /// Channel lifetime ("Channels remain active for 24 hours").
    pub channel_lifetime: Duration,
    /// Sim time between `v2.system.socket_closing` and the server closing the socket ("one minute prior").
    pub socket_closing_grace: Duration,
    /// REST requests per token per sim minute (F11186: 300); 0 = unlimited.
    pub rate_limit_per_min: u32,
    /// Channels per OAuth client before the oldest is evicted (docs: 20).
    pub max_channels: usize,
    /// Topics per channel before subscribing fails with 400 (docs: 1000).
    pub max_topics: usize,
    /// How far the analytics conversation details index trails the conversations, sim time: the
    /// query answers from the state of this long ago. Genesys documents no figure; default 2 s.
    pub details_lag: Duration,
    /// When true `GET /api/v2/users` ignores `expand` ("best effort" upstream behaviour).
    pub drop_expand: bool,
    /// When true a combined topic `v2.users.{id}?a&b` counts as one topic toward `max_topics`; when false
    /// (default, the stricter reading of an undocumented rule) it counts as one per expanded topic.
    pub combined_counts_as_one: bool,
    /// When true (default) a subscription POST/PUT or WebSocket `subscribe` moves the channel's `expires`
    /// to now + `channel_lifetime` (docs: "To maintain a channel for longer than 24 hours, resubscribe").
    pub resubscribe_extends: bool,
    /// OAuth client id accepted by `/oauth/token`.
    pub client_id: String,
    /// OAuth client secret accepted by `/oauth/token`.
    pub client_secret: String,
    /// More OAuth clients (id, secret) of the same org: each has its own tokens, its own
    /// `max_channels` and its own per-token rate limit, as separate clients do upstream.
    pub more_clients: Vec<(String, String)>,
    /// REST + OAuth listen address; the WebSocket host binds a second ephemeral port on the same IP.
    pub bind: SocketAddr,
    /// When true the sim generates a test CA and a `localhost`/`127.0.0.1` certificate at start and serves REST
    /// over https and the streaming host over wss (`Sim::ca_pem` is the CA to trust). Default false.
    pub tls: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            agents: 50,
            queues: 5,
            groups: 2,
            event_rate: 0.0,
            clock_speed: 1.0,
            heartbeat_interval: Duration::from_secs(30),
            token_lifetime: Duration::from_secs(86_400),
            channel_lifetime: Duration::from_secs(24 * 3600),
            socket_closing_grace: Duration::from_secs(60),
            rate_limit_per_min: 300,
            max_channels: 20,
            max_topics: 1000,
            drop_expand: false,
            details_lag: Duration::from_secs(2),
            combined_counts_as_one: false,
            resubscribe_extends: true,
            client_id: "sim-client".to_owned(),
            client_secret: "sim-secret".to_owned(),
            more_clients: Vec::new(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: false,
        }
    }
}

/// Duration to whole ms, saturating (config durations are far below the limit).
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}
