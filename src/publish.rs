//! The publish stage: owns the MQTT connection (rumqttc `AsyncClient` + `EventLoop`), the
//! last will, the birth message, and turns dirty table keys into retained postcard frames
//! per zone. Also publishes the monitor documents (health, metrics, audit).
//!
//! Backpressure: `AsyncClient::publish` waits when rumqttc's bounded request queue is full
//! (slow or absent broker). While it waits, the state stage keeps applying updates into the
//! table, where repeated changes of one key coalesce, so memory stays flat whatever the
//! broker does. On every ConnAck (first connect and after a broker restart) the whole table
//! is marked dirty and republished, paced by the broker's acknowledgements (in-flight
//! window) and the request queue depth.
//!
//! rumqttc takes payloads as `Vec<u8>`: each frame is encoded into a fixed stack buffer and
//! copied once into the Vec it needs; that copy and the topic string are the only
//! allocations per publish.
//!
//! Storage upkeep ([`Shared::maintain_store`]: a flush when healthy, reopen and rewrite when
//! degraded) is started on the metrics tick on tokio's blocking pool, one at a time, so a
//! failing or slow disk never stalls publishing; its transitions go to the audit trail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use presence_wire::{
    AgentFrame, Body, DisplayName, Frame, Header, HeatmapFrame, Level, Minutes, QueueFrame,
    RosterFrame, MAX_HEATMAP_LEN, PCT_UNKNOWN,
};
use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS, Transport};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::command::{self, CommandError, Scope};
use crate::metrics::Metrics;
use crate::monitor::{self, Audit, AuditEvent, Health};
use crate::state::{now_ms, AgentRecord, DirtyItem, Disk, Key, QueueRecord, Shared, Value};
use crate::topics::Topics;
use crate::zones::{ZoneSpec, Zones};

/// Dirty keys taken from the table per lock: bounds the time the state stage waits.
const TAKE_BATCH: usize = 64;

/// Pause between broker reconnect attempts (rumqttc reconnects on the next poll).
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Largest MQTT packet accepted or sent: frames are < 64 B, monitor docs < 2 KiB.
const MAX_PACKET: usize = 16 * 1024;

/// Broker connection settings, resolved from config.
#[derive(Clone)]
pub struct BrokerSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id.
    pub client_id: String,
    /// TLS (verified) when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Username and password.
    pub credentials: Option<(String, crate::config::Secret)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// In-flight QoS 1 window.
    pub inflight: u16,
    /// rumqttc request queue depth.
    pub request_depth: usize,
}

impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("tls", &self.tls.is_some())
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

/// The publish stage.
pub struct Publisher {
    /// Broker.
    pub broker: BrokerSettings,
    /// Topic names.
    pub topics: Topics,
    /// This boot's session counter.
    pub session: u32,
    /// The table.
    pub shared: Shared,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Audit trail to publish.
    pub audit_rx: mpsc::Receiver<AuditEvent>,
    /// Audit sender (to record broker events).
    pub audit: Audit,
    /// Metrics and health period.
    pub metrics_interval: Duration,
    /// A record not confirmed by the cloud for this long is flagged stale.
    pub stale_ttl: Duration,
    /// The store: its on-disk size for metrics, and what storage upkeep flushes and reopens.
    pub db: Option<Disk>,
    /// Paced republish rate after a broker reconnect (keys per second).
    pub republish_per_second: u32,
}

#[derive(Serialize)]
struct Birth<'a> {
    session: u32,
    version: &'a str,
    started_ms: u64,
}

/// Connection events from the event-loop driver.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Link {
    Down,
    Up(u64),
}

/// Commands waiting to be executed; more are refused (answered `busy`), never queued.
const COMMAND_QUEUE: usize = 4;

/// How often each zone's heatmap is republished (and saved to sled).
const HEATMAP_PERIOD: Duration = Duration::from_secs(60);

/// A command payload as received, with its arrival time.
type Received = (Instant, bytes::Bytes);

/// One zone's roster as published.
#[derive(Clone, Copy, Default)]
struct Roster {
    agents: u16,
    queues: u16,
    generation: u32,
    changed: bool,
}

impl Roster {
    /// One agent (or queue) joined (or left) the zone.
    fn count(&mut self, agent: bool, joined: bool) {
        let n = if agent {
            &mut self.agents
        } else {
            &mut self.queues
        };
        *n = if joined {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        self.generation = self.generation.wrapping_add(1);
        self.changed = true;
    }
}

/// What the publisher keeps per zone: the frame sequence, the roster and the heatmap
/// buffers (fixed: one ring snapshot and one encode buffer shared by all zones).
struct Streams {
    seqs: Vec<u32>,
    rosters: Vec<Roster>,
    heat: Box<Minutes>,
    heat_buf: Vec<u8>,
}

impl Streams {
    fn new(zones: usize) -> Streams {
        Streams {
            seqs: vec![0; zones],
            rosters: vec![Roster::default(); zones],
            heat: Box::default(),
            heat_buf: vec![0; MAX_HEATMAP_LEN],
        }
    }

    /// The next header of zone `z`.
    fn header(&mut self, session: u32, z: usize) -> Option<Header> {
        let seq = self.seqs.get_mut(z)?;
        *seq = seq.wrapping_add(1);
        Some(Header { session, seq: *seq })
    }
}

impl Publisher {
    /// Runs until shutdown; then publishes `$state = offline` and disconnects.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<Received>(COMMAND_QUEUE);
        let (client, link_rx) = self.connect(cmd_tx);
        let started = Instant::now();
        let started_ms = now_ms();
        let mut link = link_rx;
        let mut tick = tokio::time::interval(self.metrics_interval);
        let mut heat_tick = tokio::time::interval(HEATMAP_PERIOD);
        heat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut st = Streams::new(self.shared.lock().zones().specs().len());
        let mut batch = Vec::with_capacity(TAKE_BATCH);
        let rate = self.republish_per_second.max(1);
        let mut pacer = crate::pacer::Pacer::new(rate.saturating_mul(60), (rate / 10).max(1));
        let mut sweep_at: Option<tokio::time::Instant> = None;
        // The storage upkeep step running on the blocking pool, if any (one at a time).
        let mut upkeep: Option<tokio::task::JoinHandle<()>> = None;
        // Boot: the table was loaded from sled and is all dirty: publish it now, before the
        // cloud answers (requests wait in rumqttc's queue until the broker accepts us).
        self.shared.notify.notify_one();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                changed = link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let state = *link.borrow_and_update();
                    if let Link::Up(n) = state {
                        self.on_connected(&client, n, started_ms).await;
                        self.drain(&client, &mut st, &mut batch).await;
                        self.publish_zone_docs(&client, &mut st, u64::MAX).await;
                    }
                }
                _ = self.shared.notify.notified() => {
                    self.drain(&client, &mut st, &mut batch).await;
                    if sweep_at.is_none() && self.shared.lock().sweep_len() > 0 {
                        sweep_at = Some(tokio::time::Instant::now());
                    }
                }
                Some((at, payload)) = cmd_rx.recv() => {
                    self.command(&client, &mut st, &mut batch, at, &payload).await;
                }
                _ = sleep_until_opt(sweep_at) => {
                    // One paced step of a republish sweep; live changes always go first.
                    self.drain(&client, &mut st, &mut batch).await;
                    let mut n = 0;
                    let mut wait = Duration::ZERO;
                    while n < TAKE_BATCH {
                        wait = pacer.reserve();
                        if !wait.is_zero() {
                            break;
                        }
                        n += 1;
                    }
                    self.shared.lock().take_sweep(&mut batch, n);
                    self.publish_batch(&client, &mut st, &mut batch).await;
                    sweep_at = (self.shared.lock().sweep_len() > 0)
                        .then(|| tokio::time::Instant::now() + wait);
                }
                Some(ev) = self.audit_rx.recv() => {
                    if let Some(doc) = monitor::to_json(&ev) {
                        let _ = client.try_publish(self.topics.audit(), QoS::AtLeastOnce, false, doc);
                    }
                }
                _ = heat_tick.tick() => {
                    self.publish_heatmaps(&client, &mut st, u64::MAX).await;
                    // A failure degrades the store (alarm, audit, recovery): nothing to do here.
                    let _ = self.shared.lock().save_heatmaps();
                }
                _ = tick.tick() => {
                    if self.shared.lock().mark_expired() > 0 {
                        self.shared.notify.notify_one();
                    }
                    self.start_upkeep(&mut upkeep);
                    self.publish_monitor(&client, started.elapsed().as_secs()).await;
                }
            }
        }
        // Let a running upkeep step finish (bounded: one reopen, rewrite and flush), so the
        // store is not left half reopened and no handle outlives the stage.
        if let Some(step) = upkeep.take() {
            let _ = step.await;
        }
        let _ = self.shared.lock().save_heatmaps();
        let _ = client
            .publish(self.topics.state(), QoS::AtLeastOnce, true, "offline")
            .await;
        let _ = client.disconnect().await;
    }

    fn connect(&self, commands: mpsc::Sender<Received>) -> (AsyncClient, watch::Receiver<Link>) {
        let b = &self.broker;
        let mut opts = MqttOptions::new(&b.client_id, &b.host, b.port);
        opts.set_keep_alive(b.keep_alive)
            .set_clean_session(true)
            .set_inflight(b.inflight)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_last_will(LastWill::new(
                self.topics.state(),
                "lost",
                QoS::AtLeastOnce,
                true,
            ));
        if let Some((user, pass)) = &b.credentials {
            opts.set_credentials(user, pass.expose());
        }
        if let Some(tls) = &b.tls {
            opts.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(opts, b.request_depth);
        let (tx, rx) = watch::channel(Link::Down);
        let metrics = self.metrics.clone();
        let audit = self.audit.clone();
        let cmd_topic = self.topics.cmd();
        tokio::spawn(async move {
            let mut connects = 0u64;
            let mut up = false;
            loop {
                match eventloop.poll().await {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                        connects += 1;
                        up = true;
                        metrics.publish.connects.inc();
                        metrics.publish.connected.set(1);
                        if tx.send(Link::Up(connects)).is_err() {
                            break;
                        }
                    }
                    Ok(MqttEvent::Incoming(Packet::PubAck(_))) => metrics.publish.acked.inc(),
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) if p.topic == cmd_topic => {
                        metrics.publish.commands.inc();
                        if commands.try_send((Instant::now(), p.payload)).is_err() {
                            // Full: the sender gets no answer; the refusal is counted.
                            metrics.publish.commands_refused.inc();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if up {
                            up = false;
                            metrics.publish.disconnects.inc();
                            metrics.publish.connected.set(0);
                            audit.record("broker", &format!("connection lost: {e}"));
                        } else {
                            metrics.publish.connect_failures.inc();
                            tracing::debug!(error = %e, "broker not reachable");
                        }
                        if tx.send(Link::Down).is_err() {
                            break;
                        }
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                    }
                }
            }
        });
        (client, rx)
    }

    async fn on_connected(&mut self, client: &AsyncClient, n: u64, started_ms: u64) {
        tracing::info!(connects = n, "broker connected");
        let _ = client
            .publish(self.topics.state(), QoS::AtLeastOnce, true, "online")
            .await;
        let birth = Birth {
            session: self.session,
            version: env!("CARGO_PKG_VERSION"),
            started_ms,
        };
        if let Some(doc) = monitor::to_json(&birth) {
            let _ = client
                .publish(self.topics.birth(), QoS::AtLeastOnce, true, doc)
                .await;
        }
        // Clean session: the command subscription is renewed on every connection.
        let _ = client.subscribe(self.topics.cmd(), QoS::AtLeastOnce).await;
        if n > 1 {
            self.audit
                .record("broker", "reconnected: republishing current state");
        }
        self.metrics.publish.republishes.inc();
        if n == 1 {
            // First connection of this process: the state loaded from sled goes out at once.
            self.shared.lock().mark_all_dirty();
        } else {
            // The broker restarted and may have lost its retained frames: a paced sweep.
            self.shared.lock().sweep_all();
        }
        self.shared.notify.notify_one();
    }

    /// Executes one command and answers it (after its frames were handed to the client).
    async fn command(
        &mut self,
        client: &AsyncClient,
        st: &mut Streams,
        batch: &mut Vec<DirtyItem>,
        at: Instant,
        payload: &[u8],
    ) {
        let frames_before = self.metrics.publish.frames.get();
        let zones = self.shared.lock().zones_arc();
        let outcome = command::parse(payload).and_then(|cmd| {
            let mut table = self.shared.lock();
            let marked = match &cmd.scope {
                Scope::All => {
                    table.mark_all_dirty();
                    Ok((table.len(), u64::MAX))
                }
                Scope::Zone(name) => match zones.position(name) {
                    Some(z) => Ok((table.mark_zone_dirty(z), 1u64 << z)),
                    None => Err(CommandError::UnknownZone),
                },
                Scope::Agent(id) => match table.mark_dirty(Key::Agent(*id)) {
                    true => Ok((1, 0)),
                    false => Err(CommandError::UnknownKey),
                },
                Scope::Queue(id) => match table.mark_dirty(Key::Queue(*id)) {
                    true => Ok((1, 0)),
                    false => Err(CommandError::UnknownKey),
                },
            };
            marked
                .map(|(keys, docs)| (cmd.clone(), keys, docs))
                .map_err(|e| (e, cmd.reply.clone()))
        });
        let (answer_topic, doc) = match outcome {
            Ok((cmd, keys, docs)) => {
                self.drain(client, st, batch).await;
                self.publish_zone_docs(client, st, docs).await;
                let frames = self.metrics.publish.frames.get() - frames_before;
                let answer = command::Answer {
                    reply: cmd.reply.as_deref(),
                    ok: true,
                    op: "republish",
                    scope: Some(cmd.scope.label()),
                    keys: u32::try_from(keys).unwrap_or(u32::MAX),
                    frames: u32::try_from(frames).unwrap_or(u32::MAX),
                    took_us: u32::try_from(at.elapsed().as_micros()).unwrap_or(u32::MAX),
                    error: None,
                };
                (
                    self.topics.reply(cmd.reply.as_deref()),
                    monitor::to_json(&answer),
                )
            }
            Err((e, token)) => {
                self.metrics.publish.commands_refused.inc();
                let error = e.to_string();
                tracing::info!(error = %error, "command refused");
                let answer = command::Answer {
                    reply: token.as_deref(),
                    ok: false,
                    op: "republish",
                    scope: None,
                    keys: 0,
                    frames: 0,
                    took_us: u32::try_from(at.elapsed().as_micros()).unwrap_or(u32::MAX),
                    error: Some(&error),
                };
                (
                    self.topics.reply(token.as_deref()),
                    monitor::to_json(&answer),
                )
            }
        };
        if let Some(doc) = doc {
            let _ = client
                .publish(answer_topic, QoS::AtLeastOnce, false, doc)
                .await;
        }
    }

    async fn drain(&mut self, client: &AsyncClient, st: &mut Streams, batch: &mut Vec<DirtyItem>) {
        loop {
            self.shared.lock().take_dirty(batch, TAKE_BATCH);
            if batch.is_empty() {
                return;
            }
            self.publish_batch(client, st, batch).await;
        }
    }

    async fn publish_batch(
        &mut self,
        client: &AsyncClient,
        st: &mut Streams,
        batch: &mut Vec<DirtyItem>,
    ) {
        let stale_ms = u64::try_from(self.stale_ttl.as_millis()).unwrap_or(u64::MAX);
        let zones = self.shared.lock().zones_arc();
        let now = now_ms();
        for item in batch.drain(..) {
            self.publish_item(client, &zones, st, &item, now, stale_ms)
                .await;
            if let Some(since) = item.since {
                let us = u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX);
                if let Ok(mut l) = self.metrics.latency.lock() {
                    l.push(us);
                }
            }
        }
        // Rosters whose membership changed in this batch.
        let changed = st
            .rosters
            .iter()
            .enumerate()
            .filter(|(_, r)| r.changed)
            .fold(0u64, |m, (z, _)| m | (1u64 << z));
        if changed != 0 {
            self.publish_rosters(client, st, changed).await;
        }
    }

    async fn publish_frame(&self, client: &AsyncClient, topic: String, frame: &Frame) {
        let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
        let Ok(bytes) = presence_wire::encode(frame, &mut buf) else {
            return;
        };
        if client
            .publish(topic, QoS::AtLeastOnce, true, bytes.to_vec())
            .await
            .is_ok()
        {
            self.metrics.publish.frames.inc();
        }
    }

    async fn publish_item(
        &self,
        client: &AsyncClient,
        zones: &Zones,
        st: &mut Streams,
        item: &DirtyItem,
        now: u64,
        stale_ms: u64,
    ) {
        for z in Zones::bits(item.zones) {
            let Some(spec) = zones.specs().get(z) else {
                continue;
            };
            let (topic, body) = match (&item.key, &item.value) {
                (Key::Agent(id), Value::Agent(a)) => {
                    // The table decided staleness when it handed the key over (it must
                    // know what displays were shown, to republish on confirmation).
                    let mut f = agent_frame(a, now, stale_ms);
                    f.flags &= !AgentFrame::STALE;
                    if item.stale {
                        f.flags |= AgentFrame::STALE;
                    }
                    (self.topics.agent(&spec.name, id), Body::Agent(f))
                }
                (Key::Queue(id), Value::Queue(q)) => (
                    self.topics.queue(&spec.name, id),
                    Body::Queue(queue_frame(q, spec)),
                ),
                _ => continue,
            };
            let Some(header) = st.header(self.session, z) else {
                continue;
            };
            self.publish_frame(client, topic, &Frame { header, body })
                .await;
            if let (true, Key::Agent(id), Value::Agent(a)) = (item.name, &item.key, &item.value) {
                if !a.name.is_empty() {
                    if let Some(header) = st.header(self.session, z) {
                        let body = Body::Name(DisplayName::new(&a.name));
                        self.publish_frame(
                            client,
                            self.topics.name(&spec.name, id),
                            &Frame { header, body },
                        )
                        .await;
                    }
                }
            }
        }
        let is_agent = matches!(item.key, Key::Agent(_));
        for z in Zones::bits(item.joined_zones) {
            if let Some(r) = st.rosters.get_mut(z) {
                r.count(is_agent, true);
            }
        }
        for z in Zones::bits(item.left_zones) {
            if let Some(r) = st.rosters.get_mut(z) {
                r.count(is_agent, false);
            }
            let name = zones.name(z);
            let topics = match item.key {
                Key::Agent(id) => [
                    Some(self.topics.agent(name, &id)),
                    Some(self.topics.name(name, &id)),
                ],
                Key::Queue(id) => [Some(self.topics.queue(name, &id)), None],
            };
            // An empty retained payload deletes the retained frame: the key left the zone.
            for topic in topics.into_iter().flatten() {
                let _ = client
                    .publish(topic, QoS::AtLeastOnce, true, Vec::new())
                    .await;
            }
        }
    }

    /// Publishes the roster of every zone in `mask`.
    async fn publish_rosters(&self, client: &AsyncClient, st: &mut Streams, mask: u64) {
        let zones = self.shared.lock().zones_arc();
        for (z, spec) in zones.specs().iter().enumerate() {
            if mask & (1u64 << z) == 0 {
                continue;
            }
            let Some(r) = st.rosters.get_mut(z) else {
                continue;
            };
            r.changed = false;
            let body = Body::Roster(RosterFrame {
                agents: r.agents,
                queues: r.queues,
                generation: r.generation,
            });
            let Some(header) = st.header(self.session, z) else {
                continue;
            };
            self.publish_frame(
                client,
                self.topics.roster(&spec.name),
                &Frame { header, body },
            )
            .await;
        }
    }

    /// Publishes the heatmap of every zone in `mask`.
    async fn publish_heatmaps(&self, client: &AsyncClient, st: &mut Streams, mask: u64) {
        let zones = self.shared.lock().zones_arc();
        let minute = crate::heatmap::minute_of(now_ms());
        for (z, spec) in zones.specs().iter().enumerate() {
            if mask & (1u64 << z) == 0 {
                continue;
            }
            let Some(end) = self.shared.lock().heatmap(z, minute, &mut st.heat) else {
                continue;
            };
            let Some(header) = st.header(self.session, z) else {
                continue;
            };
            let frame = HeatmapFrame {
                header,
                end_minute: end,
                counts: (*st.heat).clone(),
            };
            let Ok(bytes) = presence_wire::encode_heatmap(&frame, &mut st.heat_buf) else {
                continue;
            };
            if client
                .publish(
                    self.topics.heatmap(&spec.name),
                    QoS::AtLeastOnce,
                    true,
                    bytes.to_vec(),
                )
                .await
                .is_ok()
            {
                self.metrics.publish.frames.inc();
            }
        }
    }

    /// Roster and heatmap of every zone in `mask` (connect, republish commands).
    async fn publish_zone_docs(&self, client: &AsyncClient, st: &mut Streams, mask: u64) {
        if mask == 0 {
            return;
        }
        self.publish_rosters(client, st, mask).await;
        self.publish_heatmaps(client, st, mask).await;
    }

    /// Starts one storage upkeep step on the blocking pool unless one is still running. A
    /// blocking task rather than a stage: it is bounded (a flush, or a reopen, a rewrite of the
    /// table and a flush) and awaited at shutdown.
    fn start_upkeep(&self, upkeep: &mut Option<tokio::task::JoinHandle<()>>) {
        if upkeep.as_ref().is_some_and(|step| !step.is_finished()) {
            return;
        }
        let Some(disk) = self.db.clone() else {
            return;
        };
        let shared = self.shared.clone();
        let audit = self.audit.clone();
        *upkeep = Some(tokio::task::spawn_blocking(move || {
            shared.maintain_store(&disk, |event| audit.record("store", &event.to_string()));
        }));
    }

    async fn publish_monitor(&self, client: &AsyncClient, uptime_s: u64) {
        let sled_bytes = self
            .db
            .as_ref()
            .and_then(|d| d.size_on_disk().ok())
            .unwrap_or(0);
        let snap = monitor::snapshot(&self.metrics, self.session, uptime_s, sled_bytes);
        if let Some(doc) = monitor::to_json(&snap) {
            let _ = client.try_publish(self.topics.metrics(), QoS::AtMostOnce, true, doc);
        }
        let m = &self.metrics;
        let upstream = m.upstream.connected.get() == 1;
        let broker = m.publish.connected.get() == 1;
        let backlog = self.shared.lock().dirty_len() as u64;
        let health = Health {
            status: if upstream && broker { "ok" } else { "degraded" },
            session: self.session,
            version: env!("CARGO_PKG_VERSION"),
            upstream_connected: upstream,
            resync_done: m.upstream.resync_done.get(),
            resync_total: m.upstream.resync_total.get(),
            agents: m.state.agents.get(),
            queues: m.state.queues.get(),
            backlog,
            persist_errors: m.state.persist_errors.get(),
            storage_alarm: m.state.store_degraded.get() == 1,
        };
        if let Some(doc) = monitor::to_json(&health) {
            let _ = client.try_publish(self.topics.health(), QoS::AtLeastOnce, true, doc);
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing scheduled.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// The frame a display sees for an agent.
pub fn agent_frame(a: &AgentRecord, now_ms: u64, stale_ms: u64) -> AgentFrame {
    let mut flags = 0;
    if a.wrapup {
        flags |= AgentFrame::WRAPUP;
    }
    if a.confirmed_ms != 0 && now_ms.saturating_sub(a.confirmed_ms) > stale_ms {
        flags |= AgentFrame::STALE;
    }
    AgentFrame {
        presence: a.presence,
        presence_since: secs(a.presence_ms),
        routing: a.routing,
        routing_since: secs(a.routing_ms),
        media: a.media,
        interaction: a.interaction,
        interaction_since: secs(a.conversation_ms),
        flags,
    }
}

/// The frame a display sees for a queue in a zone (thresholds are per zone).
pub fn queue_frame(q: &QueueRecord, zone: &ZoneSpec) -> QueueFrame {
    let sat = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let level = if q.waiting >= zone.waiting_critical {
        Level::Critical
    } else if q.waiting >= zone.waiting_warning {
        Level::Warning
    } else {
        Level::Normal
    };
    QueueFrame {
        waiting: sat(q.waiting),
        interacting: sat(q.interacting),
        alerting: sat(q.alerting),
        on_queue: sat(q.on_queue),
        off_queue: sat(q.off_queue),
        longest_waiting_s: secs(q.longest_waiting_ms),
        observed: secs(q.observed_ms),
        offered: sat(q.offered),
        answered: sat(q.answered),
        abandoned: sat(q.abandoned),
        service_level_pct: q.service_level_permille.map_or(PCT_UNKNOWN, |p| {
            u8::try_from((p / 10).min(100)).unwrap_or(100)
        }),
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> ZoneSpec {
        ZoneSpec {
            name: "all".into(),
            users: vec![],
            queues: vec![],
            members_of_queues: true,
            waiting_warning: 5,
            waiting_critical: 10,
        }
    }

    #[test]
    fn queue_levels_follow_zone_thresholds() {
        let mut q = QueueRecord {
            waiting: 4,
            ..QueueRecord::default()
        };
        assert_eq!(queue_frame(&q, &zone()).level, Level::Normal);
        q.waiting = 5;
        assert_eq!(queue_frame(&q, &zone()).level, Level::Warning);
        q.waiting = 10;
        assert_eq!(queue_frame(&q, &zone()).level, Level::Critical);
        assert_eq!(queue_frame(&q, &zone()).service_level_pct, PCT_UNKNOWN);
        q.service_level_permille = Some(875);
        assert_eq!(queue_frame(&q, &zone()).service_level_pct, 87);
    }

    #[test]
    fn agent_stale_and_wrapup_flags() {
        let a = AgentRecord {
            wrapup: true,
            confirmed_ms: 1_000,
            presence_ms: 5_999,
            ..AgentRecord::default()
        };
        let f = agent_frame(&a, 2_000, 10_000);
        assert_eq!(f.flags, AgentFrame::WRAPUP);
        assert_eq!(f.presence_since, 5);
        let f = agent_frame(&a, 20_000, 10_000);
        assert_eq!(f.flags, AgentFrame::WRAPUP | AgentFrame::STALE);
    }
}
