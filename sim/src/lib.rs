//! genesys-sim: a protocol-faithful simulator of the Genesys Cloud Notifications API and the REST endpoints a
//! notifications consumer uses to resync, for testing presence-gateway without a Genesys org.
//!
//! Everything follows `/work/shared/genesys/PROTOCOL.md`; where that document says a behaviour is unknown,
//! the choice made here is written at the place it is implemented (search for "unknown" / "choice").
//!
//! ```text
//!   test / bench / demo ──Sim API──┐                 ┌── REST + OAuth  (api_base: http[s]://ip:port)
//!   POST /sim/{step,advance,fault}─┤                 │     rest.rs (hyper) → api.rs (routes)
//!                                  ▼                 │
//!        scheduler (10 ms) ──▶ hub.rs (one lock) ◀───┤
//!        generate.rs ──events──▶ model.rs (world + truth)
//!                                  │ bounded queues of frames
//!                                  ▼
//!                            ws.rs socket tasks ───── streaming host (connectUri: ws[s]://ip:port2/channels/{id})
//! ```
//!
//! # Layout
//! - `lib.rs`      — [`Sim`]: start, the control API, the scheduler task.
//! - `config.rs`   — [`SimConfig`] and its defaults.
//! - `clock.rs`    — sim time (scaled real time + `advance` offsets) and ISO-8601 formatting.
//! - `ids.rs`      — UUID, channel id and token shapes.
//! - `model.rs`    — the org (agents, queues, groups, presence definitions), its state and [`Truth`].
//! - `generate.rs` — deterministic seeded events applied to the world, returned as notifications.
//! - `payload.rs`  — JSON shapes of event bodies and REST entities (casing rules live there).
//! - `topics.rs`   — topic grammar, combined topics, case-insensitive matching.
//! - `hub.rs`      — tokens, rate limits, channels, subscriptions, sockets, timers, faults, delivery.
//! - `fault.rs`    — [`Fault`] (and [`PagingLoop`]), hostile frame and hostile REST answer construction.
//! - `api.rs`      — REST routes as pure functions over the hub.
//! - `conversations.rs` — conversation resync: analytics conversation details query, `GET /conversations/{id}`.
//! - `rest.rs`     — the hyper HTTP/1.1 server, `/sim/*` control routes, hostile REST faults on the way out.
//! - `ws.rs`       — the WebSocket server: handshake checks, one task per socket.
//! - `tls.rs`      — optional TLS ([`SimConfig::tls`]): generated test CA + leaf, the rustls acceptor.
//! - `error.rs`    — Genesys `ErrorBody` errors.
//! - `stats.rs`    — [`SimStats`] counters.
//!
//! Beside `src/`: `tests/` (protocol tests, `tls.rs` for [`SimConfig::tls`]), `benches/throughput.rs`
//! (events/s delivered to a WebSocket client; `cargo bench -p genesys-sim`) and `fidelity/` (the official
//! Python SDK against the sim: `bash sim/fidelity/run.sh`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aggregates;
mod api;
mod clock;
mod config;
mod conversations;
mod error;
mod fault;
mod generate;
mod hub;
mod ids;
mod model;
mod payload;
mod rest;
mod stats;
mod tls;
mod topics;
mod ws;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::SimConfig;
pub use fault::{Denial, Fault, PagingLoop};
pub use hub::Recording;
pub use model::{AgentTruth, ConversationTruth, QueueTruth, Truth};
pub use stats::SimStats;

use clock::Clock;
use hub::Hub;
use stats::Counters;

/// How often the scheduler checks timers (real time). Sim-time timers fire within this much real time of
/// being due (or at once on [`Sim::advance`]).
const SCHEDULER_PERIOD: Duration = Duration::from_millis(10);

/// Shared state of one running simulator.
pub(crate) struct Inner {
    clock: std::sync::Arc<Clock>,
    hub: Mutex<Hub>,
    counters: Arc<Counters>,
    api_addr: SocketAddr,
    ws_addr: SocketAddr,
    /// PEM of the generated test CA when serving TLS (`SimConfig::tls`).
    ca_pem: Option<String>,
    /// Current `Silence` state, watched by socket tasks (they stop reading while silenced).
    silence_rx: watch::Receiver<bool>,
    /// Dropped with the last [`Sim`] handle: every listener and the scheduler watch it and stop.
    _shutdown: watch::Sender<()>,
}

impl Inner {
    /// The hub, recovering from a poisoned lock (a panicking test thread must not wedge the others; the hub's
    /// invariants hold between statements that could panic).
    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The hub and sim time read *while holding it*. Every change to the world or the protocol
    /// state is made through this: the time it is stamped with is then never earlier than the time
    /// of anything the hub answered before it (a REST answer, an event). Reading the clock first and
    /// locking second let a thread that waited for the lock (or was descheduled in between) apply a
    /// change stamped before a REST answer that had not seen it: an event "from the past" that a
    /// client, ordering by source timestamps against that answer, rightly discards — while
    /// Genesys' REST is consistent with the events it has emitted (PROTOCOL.md checklist).
    fn hub_now(&self) -> (MutexGuard<'_, Hub>, u64) {
        let hub = self.hub();
        let now = self.now_ms();
        (hub, now)
    }
}

/// A running simulator. Cheap to clone; the servers stop when the last clone is dropped.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("api", &self.inner.api_addr)
            .field("ws", &self.inner.ws_addr)
            .finish()
    }
}

impl Sim {
    /// Binds the REST port (`cfg.bind`) and an ephemeral WebSocket port on the same IP, and spawns the servers
    /// and the scheduler on the current tokio runtime. With `cfg.tls` it first generates the test CA and
    /// certificate (an error here is an `io::Error` of kind `Other`).
    pub async fn start(cfg: SimConfig) -> std::io::Result<Sim> {
        let tls = if cfg.tls {
            Some(tls::Tls::generate()?)
        } else {
            None
        };
        let (http, ws) = if tls.is_some() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        let api_listener = TcpListener::bind(cfg.bind).await?;
        let ws_listener = TcpListener::bind(SocketAddr::new(cfg.bind.ip(), 0)).await?;
        let api_addr = reachable(api_listener.local_addr()?);
        let ws_addr = reachable(ws_listener.local_addr()?);
        let clock = std::sync::Arc::new(Clock::new(cfg.clock_speed));
        let counters = Arc::new(Counters::default());
        let (silence_tx, silence_rx) = watch::channel(false);
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let hub = Hub::new(
            cfg,
            clock.now_ms(),
            format!("{ws}://{ws_addr}"),
            Arc::clone(&counters),
            silence_tx,
        );
        let inner = Arc::new(Inner {
            clock,
            hub: Mutex::new(hub),
            counters,
            api_addr,
            ws_addr,
            ca_pem: tls.as_ref().map(|t| t.ca_pem.clone()),
            silence_rx,
            _shutdown: shutdown_tx,
        });
        let weak = Arc::downgrade(&inner);
        let acceptor = tls.map(|t| t.acceptor);
        tokio::spawn(rest::serve(
            api_listener,
            weak.clone(),
            acceptor.clone(),
            shutdown_rx.clone(),
        ));
        tokio::spawn(ws::serve(
            ws_listener,
            weak.clone(),
            acceptor,
            shutdown_rx.clone(),
        ));
        tokio::spawn(scheduler(weak, shutdown_rx));
        tracing::info!(api = %api_addr, ws = %ws_addr, scheme = http, "genesys-sim started");
        Ok(Sim { inner })
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Sim {
        Sim { inner }
    }

    /// `http://ip:port` (`https://` with [`SimConfig::tls`]) of the REST API and `/oauth/token` (the real
    /// service uses `api.` and `login.` hosts).
    pub fn api_base(&self) -> String {
        let scheme = if self.inner.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.inner.api_addr)
    }

    /// `ws://ip:port` (`wss://` with [`SimConfig::tls`]) of the streaming host that `connectUri`s point at.
    pub fn ws_base(&self) -> String {
        let scheme = if self.inner.ca_pem.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}", self.inner.ws_addr)
    }

    /// PEM of the test CA that signed the sim's certificate (for `localhost` and `127.0.0.1`), when started
    /// with [`SimConfig::tls`]; `None` for a plain-text sim. Clients put it (alone) in their root store.
    pub fn ca_pem(&self) -> Option<String> {
        self.inner.ca_pem.clone()
    }

    /// User ids in creation order.
    pub fn users(&self) -> Vec<String> {
        self.inner.hub().world.agent_order.clone()
    }

    /// Queue ids in creation order.
    pub fn queues(&self) -> Vec<String> {
        self.inner.hub().world.queue_order.clone()
    }

    /// A queue's display name (None if unknown).
    pub fn queue_name(&self, queue: &str) -> Option<String> {
        self.inner
            .hub()
            .world
            .queues
            .get(queue)
            .map(|q| q.name.clone())
    }

    /// Group ids in creation order.
    pub fn groups(&self) -> Vec<String> {
        self.inner
            .hub()
            .world
            .groups
            .iter()
            .map(|g| g.id.clone())
            .collect()
    }

    /// Members of a group (empty if unknown).
    pub fn group_members(&self, group: &str) -> Vec<String> {
        let hub = self.inner.hub();
        hub.world
            .groups
            .iter()
            .find(|g| g.id == group)
            .map(|g| g.members.clone())
            .unwrap_or_default()
    }

    /// Scripted queue membership change: `user` joins (`true`) or leaves (`false`) `queue`,
    /// notified as the generator's membership changes are. Unknown queue or user, or no
    /// change: false.
    pub fn set_queue_member(&self, queue: &str, user: &str, member: bool) -> bool {
        let (mut hub, now) = self.inner.hub_now();
        hub.set_queue_member(queue, user, member, now)
    }

    /// Scripted group membership change: `user` joins (`true`) or leaves (`false`) `group`.
    /// Genesys sends no notification for it (a client learns it by reading the group's members
    /// again). Unknown group or user, or no change: false.
    pub fn set_group_member(&self, group: &str, user: &str, member: bool) -> bool {
        let mut hub = self.inner.hub();
        if !hub.world.agents.contains_key(user) {
            return false;
        }
        let Some(g) = hub.world.groups.iter_mut().find(|g| g.id == group) else {
            return false;
        };
        let at = g.members.iter().position(|m| m == user);
        match (member, at) {
            (true, None) => g.members.push(user.to_owned()),
            (false, Some(i)) => {
                g.members.remove(i);
            }
            _ => return false,
        }
        true
    }

    /// Snapshot of the ground truth (also `GET /sim/truth`).
    pub fn truth(&self) -> Truth {
        self.inner.hub().world.truth()
    }

    /// Generates `n` seeded events now, applies them to the truth and delivers them to subscribed sockets.
    /// Returns how many were generated (fewer only for an empty org).
    pub fn step(&self, n: usize) -> usize {
        let (mut hub, now) = self.inner.hub_now();
        hub.step(n, now)
    }

    /// Generates `n` seeded events now and applies them to the truth like [`Sim::step`], but
    /// keeps their notification frames, serialized, instead of sending them: a load source
    /// whose per-frame cost at delivery is one queue push ([`Sim::replay`]). Made in slices of
    /// 1,000 events, so heartbeats and REST answers are not held up meanwhile. Until the
    /// recording is replayed, subscribers lag the truth by its events.
    pub fn record(&self, n: usize) -> Recording {
        const SLICE: usize = 1_000;
        let mut left = n;
        while left > 0 {
            let (mut hub, now) = self.inner.hub_now();
            hub.start_recording();
            let done = hub.step(left.min(SLICE), now);
            if done == 0 {
                break;
            }
            left -= done.min(left);
            drop(hub);
        }
        let (mut hub, _) = self.inner.hub_now();
        hub.take_recording()
    }

    /// Sends up to `max` frames of `rec` to their sockets, in the order they were made; returns
    /// how many. [`Recording::replayed_events`] says how many events are delivered whole.
    pub fn replay(&self, rec: &mut Recording, max: usize) -> usize {
        let (mut hub, _) = self.inner.hub_now();
        hub.replay(rec, max)
    }

    /// Scripted presence change (presence + activity notifications; routing status untouched).
    /// Unknown user or definition id: logged and ignored.
    pub fn set_presence(&self, user: &str, definition_id: &str) {
        let (mut hub, now) = self.inner.hub_now();
        if !hub.set_presence(user, definition_id, now) {
            tracing::warn!(
                user,
                definition_id,
                "set_presence ignored: unknown user or definition"
            );
        }
    }

    /// Scripted routing-status change (routingStatus + activity notifications). `status` is one of
    /// `OFF_QUEUE, IDLE, INTERACTING, NOT_RESPONDING, COMMUNICATING` (case-insensitive); others are ignored.
    pub fn set_routing(&self, user: &str, status: &str) {
        let (mut hub, now) = self.inner.hub_now();
        if !hub.set_routing(user, status, now) {
            tracing::warn!(user, status, "set_routing ignored: unknown user or status");
        }
    }

    /// Scripted out-of-office change (an `.activity` notification, as Genesys sends). Unknown
    /// user: logged and ignored.
    pub fn set_out_of_office(&self, user: &str, active: bool) {
        let (mut hub, now) = self.inner.hub_now();
        if !hub.set_out_of_office(user, active, now) {
            tracing::warn!(user, "set_out_of_office ignored: unknown user");
        }
    }

    /// Sim clock, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    /// A reader of the sim clock (ms since the epoch) for a client that runs its own timers on
    /// simulated time (the gateway under test). It holds the clock only, not the simulator.
    pub fn clock_reader(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let clock = self.inner.clock.clone();
        move || clock.now_ms()
    }

    /// Jumps the sim clock forward by `d` and fires every timer due in that window before returning.
    pub fn advance(&self, d: Duration) {
        self.inner.clock.advance(d);
        let (mut hub, now) = self.inner.hub_now();
        hub.tick(now);
    }

    /// Injects a fault (also `POST /sim/fault`).
    pub fn fault(&self, f: Fault) {
        let (mut hub, now) = self.inner.hub_now();
        hub.fault(f, now);
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.inner.counters.snapshot()
    }

    /// The org's presence definitions: (id, system presence in UPPER_SNAKE), primary and custom ones.
    pub fn presence_definitions(&self) -> Vec<(String, String)> {
        model::PRESENCE_DEFS
            .iter()
            .map(|d| (d.id.to_owned(), d.upper_snake()))
            .collect()
    }

    /// The configuration this sim runs with.
    pub fn config(&self) -> SimConfig {
        self.inner.hub().cfg.clone()
    }
}

/// A listener address clients can dial: an unspecified IP (0.0.0.0 / ::) becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// Fires sim-time timers every [`SCHEDULER_PERIOD`] until the sim is dropped.
async fn scheduler(sim: Weak<Inner>, mut shutdown: watch::Receiver<()>) {
    let mut every = tokio::time::interval(SCHEDULER_PERIOD);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let Some(inner) = sim.upgrade() else { break };
                let (mut hub, now) = inner.hub_now();
                hub.tick(now);
            }
            _ = shutdown.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change that had to wait for the hub (here: while a REST answer holds it and the clock
    /// moves on) is stamped when it is made, not when it was asked for: a client that read the
    /// REST answer never sees an event older than that answer which the answer did not reflect.
    /// (Reading the clock before locking stamped such a change up to the wait earlier; under
    /// heavy load that made a gateway's resync clear outrank the live conversation events that
    /// followed it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_is_stamped_under_the_lock_not_before_it() {
        let sim = Sim::start(SimConfig {
            agents: 10,
            queues: 2,
            clock_speed: 0.0,
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let stamps = |hub: &Hub| -> Vec<u64> {
            hub.world
                .agent_order
                .iter()
                .map(|id| hub.world.agents[id].last_ts)
                .collect()
        };
        // What a REST answer does: hold the hub while it reads the world.
        let answering = sim.inner.hub();
        let before = stamps(&answering);
        let stepper = {
            let sim = sim.clone();
            std::thread::spawn(move || sim.step(20))
        };
        // Give the step time to get as far as the lock (not needed for the assertion to hold,
        // only for the old order of clock-then-lock to be caught).
        std::thread::sleep(Duration::from_millis(100));
        sim.inner.clock.advance(Duration::from_secs(3600));
        let answered_at = sim.now_ms();
        drop(answering);
        assert_eq!(stepper.join().expect("step thread"), 20);
        let after = stamps(&sim.inner.hub());
        let changed: Vec<u64> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b != a)
            .map(|(_, a)| *a)
            .collect();
        assert!(!changed.is_empty(), "the step changed no agent");
        assert!(
            changed.iter().all(|&ts| ts >= answered_at),
            "stamps {changed:?} precede the answer given at {answered_at}"
        );
    }
}
