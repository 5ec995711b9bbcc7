//! What site engineers watch over MQTT: the health and metrics JSON documents and the
//! audit trail. Owns their shapes and the bounded audit channel; the publisher sends them.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::metrics::{rss_kib, Counter, Metrics, Snapshot};

/// Largest JSON document the monitor writes (health, metrics, one audit event).
pub const DOC_LEN: usize = 4096;

/// Audit events waiting to be published. Audit is for humans: 64 pending is plenty, and a
/// burst beyond it is summarised by the `audit_dropped` counter rather than queued.
pub const AUDIT_DEPTH: usize = 64;

/// One audit event: something a site engineer may want to see in a trail.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    /// What happened: `subscribe`, `rotate`, `reconnect`, `resync`, `eviction`,
    /// `reject_burst`, `token`, `broker`, `store` (quarantine at boot, degraded, recovered).
    pub kind: &'static str,
    /// Details, truncated; never a secret.
    pub detail: heapless::String<240>,
    /// Local time, ms since the epoch.
    pub ts_ms: u64,
}

/// Sender side of the audit trail: never blocks, drops and counts when full.
#[derive(Clone, Debug)]
pub struct Audit {
    tx: mpsc::Sender<AuditEvent>,
    dropped: Arc<Counter>,
}

impl Audit {
    /// A bounded audit channel.
    pub fn channel() -> (Audit, mpsc::Receiver<AuditEvent>) {
        let (tx, rx) = mpsc::channel(AUDIT_DEPTH);
        (
            Audit {
                tx,
                dropped: Arc::new(Counter::default()),
            },
            rx,
        )
    }

    /// Records an event (and logs it).
    pub fn record(&self, kind: &'static str, detail: &str) {
        tracing::info!(kind, detail, "audit");
        let mut d = heapless::String::new();
        for c in detail.chars() {
            if d.push(c).is_err() {
                break;
            }
        }
        let ev = AuditEvent {
            kind,
            detail: d,
            ts_ms: crate::state::now_ms(),
        };
        if self.tx.try_send(ev).is_err() {
            self.dropped.inc();
        }
    }

    /// Events dropped because the trail was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

/// The retained health document.
#[derive(Serialize, Debug)]
pub struct Health<'a> {
    /// `ok` when nothing in `reasons` holds, else `degraded`.
    pub status: &'a str,
    /// Session counter.
    pub session: u32,
    /// Gateway version.
    pub version: &'a str,
    /// Upstream socket connected.
    pub upstream_connected: bool,
    /// Resync progress: done.
    pub resync_done: u64,
    /// Resync progress: total.
    pub resync_total: u64,
    /// Seconds since the latest resync that completed every step, when this document was
    /// made; `None` (null) when none has since start.
    pub last_resync_age_s: Option<u64>,
    /// Agents in the table.
    pub agents: u64,
    /// Queues in the table.
    pub queues: u64,
    /// Keys waiting to be published.
    pub backlog: u64,
    /// Record writes that did not reach sled since start (failed, or held back while the
    /// store was degraded).
    pub persist_errors: u64,
    /// Storage alarm: the store is degraded (writes failing, for example a full disk); displays
    /// are served from memory. Cleared once the store was reopened and rewritten.
    pub storage_alarm: bool,
    /// Why the status is `degraded`, from a documented set: `upstream_down`, `broker_down`,
    /// `resync_incomplete` (no resync has completed every step yet), `resync_steps_failing`
    /// (the latest resync skipped steps: see `resync_failing`), `store_degraded`,
    /// `subscriptions_refused` (the channel budget left topics unsubscribed),
    /// `members_unsubscribed` (new members' subscription failed; a re-read is scheduled).
    pub reasons: &'a [&'a str],
    /// Resync steps the latest resync skipped (retried at a slow pace).
    pub resync_failing: &'a [&'a str],
    /// Alarms raised (see [`Alarm`]): a limit at 80 % or more, or a failure.
    pub alarms: &'a [&'a str],
}

/// What the alarms are measured against (board capacities and the site's limits).
#[derive(Clone, Copy, Debug)]
pub struct AlarmLimits {
    /// Agents the table holds (board).
    pub max_agents: u64,
    /// Queues the table holds (board).
    pub max_queues: u64,
    /// Channels per OAuth client.
    pub max_channels: u64,
    /// Topic weight the usable channels carry (channels less one spare × topics per channel).
    pub topic_weight: u64,
    /// REST requests per minute the gateway allows itself.
    pub rest_per_min: u64,
    /// Depth of the upstream → state channel (board).
    pub event_depth: u64,
}

/// An alarm of the health document: raised at 80 % of a limit (or on a failure), cleared
/// below it, each transition audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// Channels of the busiest client ≥ 80 % of `max_channels_per_client`.
    Channels,
    /// Subscribed topic weight ≥ 80 % of what the usable channels carry.
    Topics,
    /// Agents in the table ≥ 80 % of the board's `max_agents`.
    Agents,
    /// Queues in the table ≥ 80 % of the board's `max_queues`.
    Queues,
    /// REST requests over the last metrics interval ≥ 80 % of the budget (a resync runs at it).
    RestBudget,
    /// The upstream → state channel ≥ 80 % full.
    EventQueue,
    /// The latest resync skipped steps.
    ResyncSteps,
    /// Topics were refused for lack of channel budget, or new members are not subscribed yet
    /// (their subscription failed; a re-read is scheduled).
    Subscriptions,
    /// The store is degraded.
    Storage,
}

impl Alarm {
    /// Every alarm, in bit order.
    pub const ALL: [Alarm; 9] = [
        Alarm::Channels,
        Alarm::Topics,
        Alarm::Agents,
        Alarm::Queues,
        Alarm::RestBudget,
        Alarm::EventQueue,
        Alarm::ResyncSteps,
        Alarm::Subscriptions,
        Alarm::Storage,
    ];

    /// Name in health and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Alarm::Channels => "channels",
            Alarm::Topics => "topics",
            Alarm::Agents => "agents",
            Alarm::Queues => "queues",
            Alarm::RestBudget => "rest_budget",
            Alarm::EventQueue => "event_queue",
            Alarm::ResyncSteps => "resync_steps",
            Alarm::Subscriptions => "subscriptions",
            Alarm::Storage => "storage",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// `used` is at least 80 % of `limit` (a zero limit never alarms).
fn at_80(used: u64, limit: u64) -> bool {
    limit > 0 && used.saturating_mul(5) >= limit.saturating_mul(4)
}

/// The alarms raised now (bits of [`Alarm`]); `rest_per_min` is the REST rate over the last
/// metrics interval, scaled to a minute.
pub fn alarms(m: &Metrics, l: &AlarmLimits, rest_per_min: u64) -> u32 {
    let u = &m.upstream;
    let holds = [
        at_80(u.channels_busiest_client.get(), l.max_channels),
        at_80(u.topic_weight.get(), l.topic_weight),
        at_80(m.state.agents.get(), l.max_agents),
        at_80(m.state.queues.get(), l.max_queues),
        at_80(rest_per_min, l.rest_per_min),
        at_80(m.state.event_queue_depth.get(), l.event_depth),
        u.resync_failing.get() != 0,
        u.subscriptions_refused.get() > 0 || u.members_unsubscribed.get() > 0,
        m.state.store_degraded.get() == 1,
    ];
    Alarm::ALL
        .iter()
        .zip(holds)
        .filter(|(_, h)| *h)
        .fold(0, |bits, (a, _)| bits | a.bit())
}

/// Names of the alarms in `bits`.
pub fn alarm_names(bits: u32) -> heapless::Vec<&'static str, 9> {
    Alarm::ALL
        .iter()
        .filter(|a| bits & a.bit() != 0)
        .map(|a| a.name())
        .collect()
}

/// Serialises `doc` into a JSON byte vector (bounded by [`DOC_LEN`]).
pub fn to_json<T: Serialize>(doc: &T) -> Option<Vec<u8>> {
    let mut buf = [0u8; DOC_LEN];
    let n = serde_json_core::to_slice(doc, &mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// Builds the metrics snapshot. Takes the latency window: its percentiles cover the samples
/// since the previous snapshot (one metrics interval), and the next window starts empty.
pub fn snapshot(
    m: &Metrics,
    session: u32,
    uptime_s: u64,
    sled_bytes: u64,
    audit_dropped: u64,
) -> Snapshot {
    use crate::decode::Reason;
    use crate::upstream::ResyncStep;
    let reject = |r: Reason| m.upstream.rejects[r.index() % m.upstream.rejects.len()].get();
    let step = |s: ResyncStep| m.upstream.resync_step_failures[s as usize].get();
    let (u, st, p) = (&m.upstream, &m.state, &m.publish);
    let (rss, hwm) = rss_kib();
    // The latency window is the time since the previous document: taking it starts the next.
    let latency = m
        .latency
        .lock()
        .map(|mut l| l.take_stats())
        .unwrap_or_default();
    Snapshot {
        session,
        uptime_s,
        frames: m.upstream.frames.get(),
        events: m.upstream.events.get(),
        rejects: m.rejects_total(),
        binary_frames: m.upstream.binary_frames.get(),
        heartbeats: m.upstream.heartbeats.get(),
        duplicates: m.state.duplicates.get(),
        stale: m.state.stale.get(),
        coalesced: m.state.coalesced.get(),
        saves_coalesced: m.state.saves_coalesced.get(),
        listed_superseded: m.state.listed_superseded.get(),
        saves: m.state.saves.get(),
        refused_full: m.state.refused_full.get(),
        reconnects: m.upstream.connects.get(),
        resyncs: m.upstream.resyncs.get(),
        rediscoveries: m.upstream.rediscoveries.get(),
        notices_dropped: m.upstream.notices_dropped.get(),
        reread_failures: m.upstream.reread_failures.get(),
        members_unsubscribed: m.upstream.members_unsubscribed.get(),
        pong_timeouts: m.upstream.pong_timeouts.get(),
        channels: m.upstream.channels.get(),
        resync_agents_ms: m.upstream.resync_agents_ms.get(),
        resync_queues_ms: m.upstream.resync_queues_ms.get(),
        queue_figure_reads: m.upstream.queue_figure_reads.get(),
        queue_figure_reads_skipped: m.upstream.queue_figure_reads_skipped.get(),
        resync_conversations_ms: m.upstream.resync_conversations_ms.get(),
        conversations_from_index: m.upstream.conversations_from_index.get(),
        conversation_reads: m.upstream.conversation_reads.get(),
        conversations_unindexed: m.upstream.conversations_unindexed.get(),
        conversation_index_retries: m.upstream.conversation_index_retries.get(),
        out_of_office_reads: m.upstream.out_of_office_reads.get(),
        out_of_office_pending: m.upstream.out_of_office_pending.get(),
        channels_busiest_client: m.upstream.channels_busiest_client.get(),
        clients: m.upstream.clients.get(),
        topics: m.upstream.topics.get(),
        rest_requests: m.upstream.rest_requests.get(),
        rest_429: m.upstream.rest_429.get(),
        rest_errors: m.upstream.rest_errors.get(),
        rest_too_large: m.upstream.rest_too_large.get(),
        rest_paging_stopped: m.upstream.rest_paging_stopped.get(),
        published: m.publish.frames.get(),
        json_docs: m.publish.json_docs.get(),
        latency_p50_us: latency.p50,
        latency_p99_us: latency.p99,
        latency_p999_us: latency.p999,
        latency_max_us: latency.max,
        latency_samples: latency.samples,
        rss_kib: rss,
        hwm_kib: hwm,
        sled_bytes,
        persist_errors: m.state.persist_errors.get(),
        store_degraded: m.state.store_degraded.get(),
        store_faults: m.state.store_faults.get(),
        store_recoveries: m.state.store_recoveries.get(),
        store_recovery_attempts: m.state.store_recovery_attempts.get(),
        subscriptions_refused: m.upstream.subscriptions_refused.get(),
        broker_connect_failures: m.publish.connect_failures.get(),
        checkpoints: m.state.checkpoints.get(),
        checkpoint_flush_us: m.state.checkpoint_flush_us.get(),
        rejects_by_reason: crate::metrics::RejectsByReason {
            oversize: reject(Reason::Oversize),
            not_utf8: reject(Reason::NotUtf8),
            too_deep: reject(Reason::TooDeep),
            malformed: reject(Reason::Malformed),
            unknown_topic: reject(Reason::UnknownTopic),
            unknown_message: reject(Reason::UnknownMessage),
            missing_field: reject(Reason::MissingField),
            bad_id: reject(Reason::BadId),
            bad_timestamp: reject(Reason::BadTimestamp),
            over_capacity: reject(Reason::OverCapacity),
        },
        resync_step_failures: crate::metrics::StepFailures {
            users: step(ResyncStep::Users),
            routing_status: step(ResyncStep::RoutingStatus),
            presence: step(ResyncStep::Presence),
            conversations: step(ResyncStep::Conversations),
            queues: step(ResyncStep::Queues),
            queue_figures: step(ResyncStep::QueueFigures),
            out_of_office: step(ResyncStep::OutOfOffice),
        },
        disconnects: u.disconnects.get(),
        upstream_connected: u.connected.get(),
        channels_created: u.channels_created.get(),
        rotations: u.rotations.get(),
        rotating: u.rotating.get(),
        tokens: u.tokens.get(),
        watched_agents: u.watched_agents.get(),
        agents_unwatched: u.agents_unwatched.get(),
        topic_weight: u.topic_weight.get(),
        resync_total: u.resync_total.get(),
        resync_done: u.resync_done.get(),
        applied: st.applied.get(),
        records_dropped: st.records_dropped.get(),
        event_queue_depth: st.event_queue_depth.get(),
        agents: st.agents.get(),
        queues: st.queues.get(),
        broker_connects: p.connects.get(),
        broker_disconnects: p.disconnects.get(),
        broker_connected: p.connected.get(),
        republishes: p.republishes.get(),
        acked: p.acked.get(),
        commands: p.commands.get(),
        commands_refused: p.commands_refused.get(),
        audit_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_document_with_every_counter_at_its_largest_fits_the_buffer() {
        // All-zero document: each value is one digit; at worst each becomes u64::MAX (20).
        let zero = to_json(&crate::metrics::Snapshot::default()).expect("fits");
        let values = zero.iter().filter(|&&b| b == b':').count();
        let worst = zero.len() + values * (u64::MAX.to_string().len() - 1);
        assert!(
            worst <= DOC_LEN,
            "{values} values: worst case {worst} B > DOC_LEN {DOC_LEN}"
        );
    }

    /// docs/WIRE.md's table of metrics keys (between its markers) lists exactly the keys the
    /// gateway publishes: a counter added without its line, or a documented key that is gone,
    /// fails here. Objects' members are written `object.member`.
    #[test]
    fn the_documented_metrics_keys_are_the_published_ones() {
        let wire = include_str!("../docs/WIRE.md");
        let table = wire
            .split("<!-- metrics keys: start -->")
            .nth(1)
            .and_then(|t| t.split("<!-- metrics keys: end -->").next())
            .expect("docs/WIRE.md marks its metrics key table");
        let mut documented: Vec<String> = Vec::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let cell = row.split(" | ").next().unwrap_or("");
            documented.extend(cell.split('`').skip(1).step_by(2).map(str::to_string));
        }
        documented.sort();
        let json = to_json(&snapshot(&Metrics::default(), 1, 1, 0, 0)).expect("fits");
        let doc: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        let mut published: Vec<String> = Vec::new();
        for (k, v) in doc.as_object().expect("an object") {
            match v.as_object() {
                Some(inner) => published.extend(inner.keys().map(|m| format!("{k}.{m}"))),
                None => published.push(k.clone()),
            }
        }
        published.sort();
        assert_eq!(documented, published);
    }

    /// docs/WIRE.md's health table lists exactly the keys of the published health document.
    #[test]
    fn the_documented_health_keys_are_the_published_ones() {
        let wire = include_str!("../docs/WIRE.md");
        let table = wire
            .split("#### `health`")
            .nth(1)
            .and_then(|t| t.split("#### `metrics`").next())
            .expect("docs/WIRE.md has a health section before the metrics one");
        let mut documented: Vec<String> = Vec::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let cell = row.split(" | ").next().unwrap_or("");
            documented.extend(cell.split('`').skip(1).step_by(2).map(str::to_string));
        }
        documented.sort();
        let health = Health {
            status: "ok",
            session: 1,
            version: "0",
            upstream_connected: true,
            resync_done: 0,
            resync_total: 0,
            last_resync_age_s: None,
            agents: 0,
            queues: 0,
            backlog: 0,
            persist_errors: 0,
            storage_alarm: false,
            reasons: &[],
            resync_failing: &[],
            alarms: &[],
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&to_json(&health).expect("fits")).expect("JSON");
        let mut published: Vec<String> = doc.as_object().expect("object").keys().cloned().collect();
        published.sort();
        assert_eq!(documented, published);
    }

    #[test]
    fn metrics_snapshot_serialises_to_json() {
        let m = Metrics::default();
        m.upstream.frames.add(5);
        let json = to_json(&snapshot(&m, 3, 10, 0, 0)).unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(text.starts_with("{\"session\":3,\"uptime_s\":10,\"frames\":5,"));
    }

    #[test]
    fn latency_percentiles_cover_one_metrics_interval() {
        let m = Metrics::default();
        {
            let mut l = m.latency.lock().unwrap();
            for us in 1..=1000 {
                l.push(us);
            }
        }
        let first = snapshot(&m, 1, 1, 0, 0);
        assert_eq!(first.latency_samples, 1000);
        assert_eq!(first.latency_max_us, 1000);
        assert!(first.latency_p50_us >= 500 && first.latency_p50_us <= 515);
        assert!(first.latency_p999_us >= 999 && first.latency_p999_us <= 1000);
        let text = String::from_utf8(to_json(&first).unwrap()).unwrap();
        assert!(text.contains("\"latency_p999_us\":"), "{text}");
        let second = snapshot(&m, 1, 2, 0, 0);
        assert_eq!((second.latency_samples, second.latency_p99_us), (0, 0));
    }

    #[test]
    fn alarms_rise_at_80_percent_and_name_themselves() {
        let m = Metrics::default();
        let l = AlarmLimits {
            max_agents: 100,
            max_queues: 10,
            max_channels: 20,
            topic_weight: 19_000,
            rest_per_min: 240,
            event_depth: 4096,
        };
        assert_eq!(alarms(&m, &l, 0), 0);
        m.state.agents.set(79);
        m.upstream.channels_busiest_client.set(16);
        assert_eq!(alarm_names(alarms(&m, &l, 191)).as_slice(), ["channels"]);
        m.state.agents.set(80);
        assert_eq!(
            alarm_names(alarms(&m, &l, 192)).as_slice(),
            ["channels", "agents", "rest_budget"]
        );
        m.upstream.resync_failing.set(0b1000);
        m.state.store_degraded.set(1);
        let names = alarm_names(alarms(&m, &l, 0));
        assert!(names.contains(&"resync_steps") && names.contains(&"storage"));
        assert!(!names.contains(&"subscriptions"));
        // New members whose subscription failed, waiting for the re-read.
        m.upstream.members_unsubscribed.set(2);
        assert!(alarm_names(alarms(&m, &l, 0)).contains(&"subscriptions"));
        m.upstream.members_unsubscribed.set(0);
        assert!(!alarm_names(alarms(&m, &l, 0)).contains(&"subscriptions"));
    }

    #[test]
    fn audit_drops_and_counts_when_full() {
        let (audit, mut rx) = Audit::channel();
        for _ in 0..AUDIT_DEPTH + 3 {
            audit.record("reconnect", "socket closed 1006");
        }
        assert_eq!(audit.dropped(), 3);
        assert_eq!(rx.try_recv().unwrap().kind, "reconnect");
    }
}
