//! presence-gateway: one Genesys Cloud notification channel in, compact retained frames out.
//!
//! ```text
//!  Genesys Cloud ──wss──▶ upstream ──decode──▶ mpsc<Update> ──▶ state ──dirty set──▶ publish ──▶ MQTT
//!     (REST: OAuth, channels,          (pure)   (board depth)   (table + sled)  (coalescing)  (retained,
//!      subscriptions, resync)                                                                 per zone)
//! ```
//!
//! # Layout
//! Pipeline stages, in the order data moves:
//! - [`upstream`]: the notification channel(s), OAuth, discovery, rotation, resync.
//! - [`decode`]: pure JSON → [`message::Message`] into fixed-capacity types, counted rejections.
//! - [`state`]: the current-state table, last-write-wins, sled persistence, dirty set.
//! - [`publish`]: MQTT (rumqttc), retained postcard frames per zone, last will, monitor docs.
//!
//! Around them:
//! - [`app`]: wiring and shutdown (the only place that creates channels and spawns stages).
//! - [`config`]: site config + board profile, two-stage validation, secrets, CLI.
//! - [`message`]: the vocabulary between stages (decode → socket, upstream → state), owned by
//!   none; [`event`]: the domain types inside it; [`limits`]: compile-time capacities.
//! - [`zones`], [`topics`]: which display sees what, and under which MQTT topic.
//! - [`heatmap`]: per-zone state transitions per minute over the last 24 h (fixed rings).
//! - [`metrics`], [`monitor`]: counters, health/metrics/audit documents.
//! - [`command`]: republish commands over MQTT and their answers (executed by `publish`).
//! - [`watchdog`]: systemd readiness and watchdog pings while the pipeline is alive.
//! - [`clock`]: the clock protocol timers run on (monotonic; the simulator's in tests).
//! - [`backoff`], [`pacer`], [`tls`], [`signal`]: small shared mechanisms.
//! - `demo` (feature `demo`, not in the firmware): simulator + embedded broker + live view.
//! - `display` (feature `demo`, not in the firmware): the display tools, `decode` (frames to
//!   JSON lines) and the `display` terminal wallboard (ratatui).
//!
//! The frame format displays decode lives in the `presence-wire` crate (`no_std`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod backoff;
pub mod clock;
pub mod command;
pub mod config;
pub mod decode;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "demo")]
pub mod display;
pub mod event;
pub mod heatmap;
pub mod limits;
pub mod message;
pub mod metrics;
pub mod monitor;
pub mod pacer;
pub mod publish;
pub mod signal;
pub mod state;
#[cfg(any(test, feature = "demo"))]
pub mod testkit;
pub mod tls;
pub mod topics;
pub mod upstream;
pub mod watchdog;
pub mod zones;
