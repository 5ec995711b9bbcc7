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
//! It only takes dirty items and sweeps from the table: the table's own upkeep (stale expiry,
//! heatmap saves, storage) runs in the state stage, on its own timer.
//!
//! # Layout
//! - this file: the loop (dirty items, sweeps, commands, zone documents, monitor documents).
//! - `link`: broker settings and the MQTT connection driver task.
//! - `frames`: agent and queue records → display frames.
//! - `json`: the opt-in JSON mirror of those frames and Home Assistant discovery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use presence_wire::{
    Body, DisplayName, Frame, Header, HeatmapFrame, Minutes, RosterFrame, MAX_HEATMAP_LEN,
};
use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::command::{self, CommandError, Scope};
use crate::metrics::Metrics;
use crate::monitor::{self, Audit, AuditEvent, Health};
use crate::state::{now_ms, DirtyItem, Disk, Key, Shared, Value};
use crate::topics::Topics;
use crate::upstream::ResyncStep;
use crate::zones::Zones;

mod frames;
pub mod json;
mod link;

pub use frames::{agent_frame, queue_frame};
pub use json::JsonOptions;
pub use link::BrokerSettings;
use link::Link;

/// Dirty keys taken from the table per lock: bounds the time the state stage waits.
const TAKE_BATCH: usize = 64;

/// The publish stage.
pub struct Publisher {
    /// Broker.
    pub broker: BrokerSettings,
    /// Where the MQTT connection driver task is spawned (the app's helper tracker, which
    /// shutdown drains within its grace).
    pub tasks: TaskTracker,
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
    /// The store: its on-disk size for the metrics document.
    pub db: Option<Disk>,
    /// Paced republish rate after a broker reconnect (keys per second).
    pub republish_per_second: u32,
    /// What the health alarms are measured against.
    pub alarm_limits: monitor::AlarmLimits,
    /// The opt-in JSON mirror and Home Assistant discovery.
    pub json: JsonOptions,
    /// The site id (Home Assistant discovery names its device after it).
    pub site: String,
}

#[derive(Serialize)]
struct Birth<'a> {
    session: u32,
    version: &'a str,
    started_ms: u64,
}

/// How long the first frames wait for the broker to acknowledge `$state = online` and the
/// birth (a broker that never acknowledges still gets the frames after this).
const BIRTH_ACK_WAIT: Duration = Duration::from_secs(5);

/// Commands waiting to be executed; more are refused (answered `busy`), never queued.
const COMMAND_QUEUE: usize = 4;

/// The alarms last published, and the REST request count at the last document (for the rate).
struct AlarmWatch {
    raised: u32,
    rest: (Instant, u64),
}

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
    /// Per zone: the sequence of its agent, queue, name and roster frames.
    seqs: Vec<u32>,
    /// Per zone: the heatmap's own sequence (one a minute), so a display counting gaps in
    /// the zone's frames never sees a false one.
    heat_seqs: Vec<u32>,
    rosters: Vec<Roster>,
    heat: Box<Minutes>,
    heat_buf: Vec<u8>,
    /// The JSON mirror's heatmap document buffer (empty when the mirror is off).
    heat_json: Vec<u8>,
}

impl Streams {
    fn new(zones: usize, json: JsonOptions) -> Streams {
        Streams {
            seqs: vec![0; zones],
            heat_seqs: vec![0; zones],
            rosters: vec![Roster::default(); zones],
            heat: Box::default(),
            heat_buf: vec![0; MAX_HEATMAP_LEN],
            heat_json: if json.mirror {
                vec![0; json::HEATMAP_DOC_LEN]
            } else {
                Vec::new()
            },
        }
    }

    /// The next header of zone `z`.
    fn header(&mut self, session: u32, z: usize) -> Option<Header> {
        let seq = self.seqs.get_mut(z)?;
        *seq = seq.wrapping_add(1);
        Some(Header { session, seq: *seq })
    }

    /// The next heatmap header of zone `z` (its own sequence).
    fn heat_header(&mut self, session: u32, z: usize) -> Option<Header> {
        let seq = self.heat_seqs.get_mut(z)?;
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
        // Not polled while the broker is away: one document after it, not a burst.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut heat_tick = tokio::time::interval(crate::heatmap::PERIOD);
        heat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut st = Streams::new(self.shared.lock().zones().specs().len(), self.json);
        let mut batch = Vec::with_capacity(TAKE_BATCH);
        let rate = self.republish_per_second.max(1);
        let mut pacer = crate::pacer::Pacer::new(rate.saturating_mul(60), (rate / 10).max(1));
        let mut sweep_at: Option<tokio::time::Instant> = None;
        let mut watch = AlarmWatch {
            raised: 0,
            rest: (Instant::now(), self.metrics.upstream.rest_requests.get()),
        };
        // Boot: the table was loaded from sled and is all dirty; it goes out as soon as the
        // broker has acknowledged `$state = online` and the birth (a display learns of the new
        // session before its frames), before the cloud answers. While the broker is away
        // nothing is queued: changes coalesce in the table and a sweep follows the reconnect.
        let mut online = false;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                changed = link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let state = *link.borrow_and_update();
                    match state {
                        Link::Up(n) => {
                            self.on_connected(&client, n, started_ms).await;
                            online = true;
                            self.drain(&client, &mut st, &mut batch).await;
                            self.publish_zone_docs(&client, &mut st, u64::MAX).await;
                        }
                        Link::Down => online = false,
                    }
                }
                _ = self.shared.notify.notified(), if online => {
                    self.drain(&client, &mut st, &mut batch).await;
                    if sweep_at.is_none() && self.shared.lock().sweep_len() > 0 {
                        sweep_at = Some(tokio::time::Instant::now());
                    }
                }
                Some((at, payload)) = cmd_rx.recv() => {
                    self.command(&client, &mut st, &mut batch, at, &payload).await;
                }
                _ = sleep_until_opt(sweep_at), if online => {
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
                Some(ev) = self.audit_rx.recv(), if online => {
                    if let Some(doc) = monitor::to_json(&ev) {
                        let _ = client.try_publish(self.topics.audit(), QoS::AtLeastOnce, false, doc);
                    }
                }
                _ = heat_tick.tick(), if online => {
                    self.publish_heatmaps(&client, &mut st, u64::MAX).await;
                }
                _ = tick.tick(), if online => {
                    self.publish_monitor(&client, started.elapsed().as_secs(), &mut watch).await;
                }
            }
        }
        let _ = client
            .publish(self.topics.state(), QoS::AtLeastOnce, true, "offline")
            .await;
        let _ = client.disconnect().await;
    }

    async fn on_connected(&mut self, client: &AsyncClient, n: u64, started_ms: u64) {
        tracing::info!(connects = n, "broker connected");
        // Nothing else is in flight (frames, documents and audit events wait for `online`):
        // the next two acknowledgements are these two messages'.
        let acked = self.metrics.publish.acked.get();
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
        let start = Instant::now();
        while self.metrics.publish.acked.get() < acked + 2 && start.elapsed() < BIRTH_ACK_WAIT {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if self.metrics.publish.acked.get() < acked + 2 {
            tracing::warn!("no acknowledgement of $state and birth within {BIRTH_ACK_WAIT:?}: publishing anyway");
        }
        if self.json.home_assistant {
            for (topic, doc) in json::discovery(&self.topics, &self.site) {
                let _ = client.publish(topic, QoS::AtLeastOnce, true, doc).await;
            }
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
        let zones = self.shared.lock().zones_arc();
        for item in batch.drain(..) {
            self.publish_item(client, &zones, st, &item).await;
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
    ) {
        for z in Zones::bits(item.zones) {
            let Some(spec) = zones.specs().get(z) else {
                continue;
            };
            let (topic, body) = match (&item.key, &item.value) {
                // The table decided staleness when it handed the key over (it must know what
                // displays were shown, to republish on confirmation).
                (Key::Agent(id), Value::Agent(a)) => (
                    self.topics.agent(&spec.name, id),
                    Body::Agent(agent_frame(a, item.stale)),
                ),
                (Key::Queue(id), Value::Queue(q)) => (
                    self.topics.queue(&spec.name, id),
                    Body::Queue(queue_frame(q, spec)),
                ),
                _ => continue,
            };
            let Some(header) = st.header(self.session, z) else {
                continue;
            };
            let frame = Frame { header, body };
            self.publish_frame(client, topic, &frame).await;
            if self.json.mirror {
                self.mirror_item(client, &spec.name, item, &frame).await;
            }
            let named = match (&item.key, &item.value) {
                (Key::Agent(id), Value::Agent(a)) => {
                    Some((self.topics.name(&spec.name, id), &a.name))
                }
                (Key::Queue(id), Value::Queue(q)) => {
                    Some((self.topics.queue_name(&spec.name, id), &q.name))
                }
                _ => None,
            };
            if let (true, Some((topic, name))) = (item.name, named) {
                if !name.is_empty() {
                    if let Some(header) = st.header(self.session, z) {
                        let body = Body::Name(DisplayName::new(name));
                        self.publish_frame(client, topic, &Frame { header, body })
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
            let mirror = self.json.mirror;
            let topics = match item.key {
                Key::Agent(id) => [
                    Some(self.topics.agent(name, &id)),
                    Some(self.topics.name(name, &id)),
                    mirror.then(|| self.topics.json_agent(name, &id)),
                ],
                Key::Queue(id) => [
                    Some(self.topics.queue(name, &id)),
                    Some(self.topics.queue_name(name, &id)),
                    mirror.then(|| self.topics.json_queue(name, &id)),
                ],
            };
            // An empty retained payload deletes the retained frame: the key left the zone.
            for topic in topics.into_iter().flatten() {
                let _ = client
                    .publish(topic, QoS::AtLeastOnce, true, Vec::new())
                    .await;
            }
        }
    }

    /// The JSON mirror of one agent or queue frame just published in `zone`.
    async fn mirror_item(&self, client: &AsyncClient, zone: &str, item: &DirtyItem, frame: &Frame) {
        let mut buf = [0u8; json::DOC_LEN];
        let (topic, doc) = match (&item.key, &item.value, &frame.body) {
            (Key::Agent(id), Value::Agent(a), Body::Agent(f)) => {
                let text = id.to_string();
                let doc = json::AgentDoc::new(&text, &a.name, f, frame.header);
                (
                    self.topics.json_agent(zone, id),
                    json::write(&doc, &mut buf),
                )
            }
            (Key::Queue(id), Value::Queue(q), Body::Queue(f)) => {
                let text = id.to_string();
                let doc = json::QueueDoc::new(&text, &q.name, f, frame.header);
                (
                    self.topics.json_queue(zone, id),
                    json::write(&doc, &mut buf),
                )
            }
            _ => return,
        };
        self.publish_json(client, topic, doc).await;
    }

    /// Hands one JSON mirror document to the client, retained.
    async fn publish_json(&self, client: &AsyncClient, topic: String, doc: Option<&[u8]>) {
        let Some(doc) = doc else {
            // Every document fits its buffer (json::tests pins the largest): unreachable,
            // but never a cut document.
            tracing::warn!(topic, "JSON mirror document over its buffer: not published");
            return;
        };
        if client
            .publish(topic, QoS::AtLeastOnce, true, doc.to_vec())
            .await
            .is_ok()
        {
            self.metrics.publish.json_docs.inc();
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
            let roster = RosterFrame {
                agents: r.agents,
                queues: r.queues,
                generation: r.generation,
            };
            let Some(header) = st.header(self.session, z) else {
                continue;
            };
            let body = Body::Roster(roster);
            self.publish_frame(
                client,
                self.topics.roster(&spec.name),
                &Frame { header, body },
            )
            .await;
            if self.json.mirror {
                let doc = json::RosterDoc {
                    agents: roster.agents,
                    queues: roster.queues,
                    generation: roster.generation,
                    session: header.session,
                    seq: header.seq,
                };
                let mut buf = [0u8; json::DOC_LEN];
                let bytes = json::write(&doc, &mut buf);
                self.publish_json(client, self.topics.json_roster(&spec.name), bytes)
                    .await;
            }
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
            let Some(header) = st.heat_header(self.session, z) else {
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
            if self.json.mirror {
                let counts = &st.heat.0[..];
                let doc = json::HeatmapDoc {
                    end_minute: end,
                    total: counts.iter().map(|&c| u64::from(c)).sum(),
                    counts,
                    session: header.session,
                    seq: header.seq,
                };
                let bytes = json::write(&doc, &mut st.heat_json);
                self.publish_json(client, self.topics.json_heatmap(&spec.name), bytes)
                    .await;
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

    async fn publish_monitor(&self, client: &AsyncClient, uptime_s: u64, watch: &mut AlarmWatch) {
        let sled_bytes = self
            .db
            .as_ref()
            .and_then(|d| d.size_on_disk().ok())
            .unwrap_or(0);
        let snap = monitor::snapshot(
            &self.metrics,
            self.session,
            uptime_s,
            sled_bytes,
            self.audit.dropped(),
        );
        if let Some(doc) = monitor::to_json(&snap) {
            let _ = client.try_publish(self.topics.metrics(), QoS::AtMostOnce, true, doc);
        }
        let m = &self.metrics;
        let upstream = m.upstream.connected.get() == 1;
        let broker = m.publish.connected.get() == 1;
        let backlog = self.shared.lock().dirty_len() as u64;
        let failing_bits = m.upstream.resync_failing.get();
        let failing = ResyncStep::names(failing_bits);
        let mut reasons: heapless::Vec<&str, 7> = heapless::Vec::new();
        for (holds, reason) in [
            (!upstream, "upstream_down"),
            (!broker, "broker_down"),
            (m.upstream.resyncs.get() == 0, "resync_incomplete"),
            (failing_bits != 0, "resync_steps_failing"),
            (m.state.store_degraded.get() == 1, "store_degraded"),
            (
                m.upstream.subscriptions_refused.get() > 0,
                "subscriptions_refused",
            ),
            (
                m.upstream.members_unsubscribed.get() > 0,
                "members_unsubscribed",
            ),
        ] {
            if holds {
                // Seven reasons, seven slots.
                let _ = reasons.push(reason);
            }
        }
        // Alarms: the REST rate over the interval since the last document, scaled to a minute.
        let (then, requests_then) = watch.rest;
        let requests = m.upstream.rest_requests.get();
        let secs = then.elapsed().as_secs_f64().max(1.0);
        let per_min = (requests.saturating_sub(requests_then) as f64 * 60.0 / secs) as u64;
        watch.rest = (Instant::now(), requests);
        let raised = monitor::alarms(m, &self.alarm_limits, per_min);
        for a in monitor::Alarm::ALL {
            let bit = 1u32 << (a as u32);
            if (raised ^ watch.raised) & bit != 0 {
                let now_raised = raised & bit != 0;
                self.audit.record(
                    "alarm",
                    &format!(
                        "{} {}",
                        a.name(),
                        if now_raised { "raised" } else { "cleared" }
                    ),
                );
            }
        }
        watch.raised = raised;
        let alarm_names = monitor::alarm_names(raised);
        let health = Health {
            status: if reasons.is_empty() && raised == 0 {
                "ok"
            } else {
                "degraded"
            },
            alarms: &alarm_names,
            reasons: &reasons,
            resync_failing: &failing,
            session: self.session,
            version: env!("CARGO_PKG_VERSION"),
            upstream_connected: upstream,
            resync_done: m.upstream.resync_done.get(),
            resync_total: m.upstream.resync_total.get(),
            last_resync_age_s: match m.upstream.last_resync_uptime_ms.get() {
                0 => None,
                at => Some(crate::metrics::uptime_ms().saturating_sub(at) / 1000),
            },
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
