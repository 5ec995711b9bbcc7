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

use std::sync::Arc;
use std::time::{Duration, Instant};

use presence_wire::{AgentFrame, Body, Frame, Header, Level, QueueFrame, PCT_UNKNOWN};
use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS, Transport};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::monitor::{self, Audit, AuditEvent, Health};
use crate::state::{now_ms, AgentRecord, DirtyItem, Key, QueueRecord, Shared, Value};
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
    /// sled, for its on-disk size in metrics.
    pub db: Option<sled::Db>,
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

impl Publisher {
    /// Runs until shutdown; then publishes `$state = offline` and disconnects.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (client, link_rx) = self.connect();
        let started = Instant::now();
        let started_ms = now_ms();
        let mut link = link_rx;
        let mut tick = tokio::time::interval(self.metrics_interval);
        let mut seqs = vec![0u32; self.shared.lock().zones().specs().len()];
        let mut batch = Vec::with_capacity(TAKE_BATCH);
        let rate = self.republish_per_second.max(1);
        let mut pacer = crate::pacer::Pacer::new(rate.saturating_mul(60), (rate / 10).max(1));
        let mut sweep_at: Option<tokio::time::Instant> = None;
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
                    }
                }
                _ = self.shared.notify.notified() => {
                    self.drain(&client, &mut seqs, &mut batch).await;
                    if sweep_at.is_none() && self.shared.lock().sweep_len() > 0 {
                        sweep_at = Some(tokio::time::Instant::now());
                    }
                }
                _ = sleep_until_opt(sweep_at) => {
                    // One paced step of a republish sweep; live changes always go first.
                    self.drain(&client, &mut seqs, &mut batch).await;
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
                    self.publish_batch(&client, &mut seqs, &mut batch).await;
                    sweep_at = (self.shared.lock().sweep_len() > 0)
                        .then(|| tokio::time::Instant::now() + wait);
                }
                Some(ev) = self.audit_rx.recv() => {
                    if let Some(doc) = monitor::to_json(&ev) {
                        let _ = client.try_publish(self.topics.audit(), QoS::AtLeastOnce, false, doc);
                    }
                }
                _ = tick.tick() => {
                    self.publish_monitor(&client, started.elapsed().as_secs()).await;
                }
            }
        }
        let _ = client
            .publish(self.topics.state(), QoS::AtLeastOnce, true, "offline")
            .await;
        let _ = client.disconnect().await;
    }

    fn connect(&self) -> (AsyncClient, watch::Receiver<Link>) {
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
                    Ok(_) => {}
                    Err(e) => {
                        if up {
                            up = false;
                            metrics.publish.disconnects.inc();
                            metrics.publish.connected.set(0);
                            audit.record("broker", &format!("connection lost: {e}"));
                        } else {
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

    async fn drain(&mut self, client: &AsyncClient, seqs: &mut [u32], batch: &mut Vec<DirtyItem>) {
        loop {
            self.shared.lock().take_dirty(batch, TAKE_BATCH);
            if batch.is_empty() {
                return;
            }
            self.publish_batch(client, seqs, batch).await;
        }
    }

    async fn publish_batch(
        &mut self,
        client: &AsyncClient,
        seqs: &mut [u32],
        batch: &mut Vec<DirtyItem>,
    ) {
        let stale_ms = u64::try_from(self.stale_ttl.as_millis()).unwrap_or(u64::MAX);
        let zones = self.shared.lock().zones_arc();
        let now = now_ms();
        for item in batch.drain(..) {
            self.publish_item(client, &zones, seqs, &item, now, stale_ms)
                .await;
            if let Some(since) = item.since {
                let us = u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX);
                if let Ok(mut l) = self.metrics.latency.lock() {
                    l.push(us);
                }
            }
        }
    }

    async fn publish_item(
        &self,
        client: &AsyncClient,
        zones: &Zones,
        seqs: &mut [u32],
        item: &DirtyItem,
        now: u64,
        stale_ms: u64,
    ) {
        for z in Zones::bits(item.zones) {
            let (Some(spec), Some(seq)) = (zones.specs().get(z), seqs.get_mut(z)) else {
                continue;
            };
            *seq = seq.wrapping_add(1);
            let header = Header {
                session: self.session,
                seq: *seq,
            };
            let (topic, body) = match (&item.key, &item.value) {
                (Key::Agent(id), Value::Agent(a)) => (
                    self.topics.agent(&spec.name, id),
                    Body::Agent(agent_frame(a, now, stale_ms)),
                ),
                (Key::Queue(id), Value::Queue(q)) => (
                    self.topics.queue(&spec.name, id),
                    Body::Queue(queue_frame(q, spec)),
                ),
                _ => continue,
            };
            let mut buf = [0u8; presence_wire::MAX_FRAME_LEN];
            let Ok(bytes) = presence_wire::encode(&Frame { header, body }, &mut buf) else {
                continue;
            };
            if client
                .publish(topic, QoS::AtLeastOnce, true, bytes.to_vec())
                .await
                .is_ok()
            {
                self.metrics.publish.frames.inc();
            }
        }
        for z in Zones::bits(item.left_zones) {
            let name = zones.name(z);
            let topic = match item.key {
                Key::Agent(id) => self.topics.agent(name, &id),
                Key::Queue(id) => self.topics.queue(name, &id),
            };
            // An empty retained payload deletes the retained frame: the key left the zone.
            let _ = client
                .publish(topic, QoS::AtLeastOnce, true, Vec::new())
                .await;
        }
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
            storage_alarm: m.state.persist_errors.get() > 0,
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
        service_level_pct: q
            .service_level_permille
            .map_or(PCT_UNKNOWN, |p| u8::try_from(p / 10).unwrap_or(100)),
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
