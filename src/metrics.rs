//! Per-stage counters (plain atomics, shared by `Arc`) and the JSON snapshot the monitor
//! publishes. Owns the counter names; does not own when or where they are published
//! (that is `monitor`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// A monotonically increasing counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Overwrites (for gauges).
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
}

/// Counters of the upstream stage (REST, channels, the WebSocket, decode outcomes).
#[derive(Default, Debug)]
pub struct UpstreamMetrics {
    /// Text frames received.
    pub frames: Counter,
    /// Frames decoded into an event.
    pub events: Counter,
    /// Frames rejected, by decode reason (index = `decode::Reason::index`).
    pub rejects: [Counter; 32],
    /// Binary frames (Genesys sends text only): counted and dropped.
    pub binary_frames: Counter,
    /// Heartbeats seen.
    pub heartbeats: Counter,
    /// WebSocket (re)connects.
    pub connects: Counter,
    /// Connections lost (any cause).
    pub disconnects: Counter,
    /// Channels created.
    pub channels_created: Counter,
    /// Channel rotations (make-before-break).
    pub rotations: Counter,
    /// OAuth tokens fetched.
    pub tokens: Counter,
    /// REST requests sent.
    pub rest_requests: Counter,
    /// REST answers 429.
    pub rest_429: Counter,
    /// REST failures (transport, timeout, 5xx, body over the board's cap).
    pub rest_errors: Counter,
    /// REST answers refused because the body exceeded the board's `rest_max_body_bytes`.
    pub rest_too_large: Counter,
    /// Paged listings cut short because the server's `nextUri` looped back to a page already
    /// read, led on past an empty page, or ran past the page limit.
    pub rest_paging_stopped: Counter,
    /// Resyncs completed.
    pub resyncs: Counter,
    /// Watch sets read again and reconciled (joiners subscribed and resynced, leavers
    /// dropped) once a session is subscribed (at boot and after each reconnect) and after
    /// dropped notices: counted once all of it is done.
    pub rediscoveries: Counter,
    /// Gauge: [`uptime_ms`] when the latest resync completed every step (0: none yet).
    pub last_resync_uptime_ms: Counter,
    /// Sockets declared dead because a ping went unanswered for `pong_timeout`.
    pub pong_timeouts: Counter,
    /// Gauge: channels live.
    pub channels: Counter,
    /// Gauge: the latest resync's phases, ms: presence and routing of every agent, then the
    /// queue numbers, then the conversations.
    pub resync_agents_ms: Counter,
    /// See `resync_agents_ms`.
    pub resync_queues_ms: Counter,
    /// See `resync_agents_ms`.
    pub resync_conversations_ms: Counter,
    /// Open conversations the resync took from the details index without a read (the agent's
    /// live summary agreed and the state lasts: connected or after-call work).
    pub conversations_from_index: Counter,
    /// Conversations the resync read exactly (`GET /api/v2/conversations/{id}`).
    pub conversation_reads: Counter,
    /// Rounds in which a resync asked an agent's summary and the details index again, because
    /// the summary counted a conversation the index had not shown yet.
    pub conversation_index_retries: Counter,
    /// Gauge: agents whose live summary counts a conversation the details index still had not
    /// shown when the latest resync gave up asking (left as last known, the step retried).
    pub conversations_unindexed: Counter,
    /// Gauge: channels live on the client that holds the most (each client's budget is
    /// `max_channels_per_client`).
    pub channels_busiest_client: Counter,
    /// Gauge: OAuth clients configured.
    pub clients: Counter,
    /// Gauge: topics subscribed.
    pub topics: Counter,
    /// Gauge: agents watched.
    pub watched_agents: Counter,
    /// Socket notices to the supervisor dropped because 64 were waiting (it was busy: a
    /// resync, a rotation, joiners' subscriptions). A dropped queue join or leave makes it read
    /// the watch set again once free (one re-read for any number); a dropped `socket_closing`
    /// ends in a reconnect and resync when the server closes the socket.
    pub notices_dropped: Counter,
    /// New members that could not be subscribed, or re-reads of the watch set that failed
    /// (a 401 aside): each schedules a re-read (1 min, doubling to 15), audited.
    pub reread_failures: Counter,
    /// Gauge: new members not subscribed yet because their subscription failed (0 once a
    /// re-read has subscribed them): raises the `subscriptions` alarm, health `degraded`
    /// with reason `members_unsubscribed`.
    pub members_unsubscribed: Counter,
    /// Topics not subscribed because the channel budget was exhausted (watch set too large
    /// for `max_channels_per_client` × `max_topics_per_channel`, or new members with every
    /// channel full).
    pub subscriptions_refused: Counter,
    /// Resync steps that failed and were skipped, per [`crate::upstream::ResyncStep`] (index =
    /// the step's position in `ResyncStep::ALL`).
    pub resync_step_failures: [Counter; 7],
    /// Out-of-office states read one by one (after a resync, at spare budget) because the
    /// users page's expand left them out.
    pub out_of_office_reads: Counter,
    /// Gauge: out-of-office states still to be read that way.
    pub out_of_office_pending: Counter,
    /// Queue interval-figure reads (conversation aggregates queries), in resyncs and the
    /// periodic re-read.
    pub queue_figure_reads: Counter,
    /// Periodic interval-figure reads skipped because the REST budget had no spare room.
    pub queue_figure_reads_skipped: Counter,
    /// Gauge: the steps the latest resync had to skip (bit per step; 0 = complete).
    pub resync_failing: Counter,
    /// Gauge: the subscribed topics' weight against the per-channel limits (a combined user
    /// topic weighs `user_topic_weight`).
    pub topic_weight: Counter,
    /// Agents no longer watched because they left every watched queue (unsubscribed, cleared).
    pub agents_unwatched: Counter,
    /// Gauge: 1 while a rotation replaces the channels (one at a time).
    pub rotating: Counter,
    /// Gauge: resync progress, items done.
    pub resync_done: Counter,
    /// Gauge: resync progress, items total.
    pub resync_total: Counter,
    /// Gauge: 1 while the notification socket is up.
    pub connected: Counter,
}

/// Counters of the state stage.
#[derive(Default, Debug)]
pub struct StateMetrics {
    /// Updates that changed a record.
    pub applied: Counter,
    /// Updates equal to the current record (same timestamp and value).
    pub duplicates: Counter,
    /// Updates older than the current record: dropped.
    pub stale: Counter,
    /// Updates for a new key refused because the table is full.
    pub refused_full: Counter,
    /// Dirty marks absorbed by a key already waiting to be published.
    pub coalesced: Counter,
    /// Changes absorbed by a record already waiting to be written to sled (write-behind).
    pub saves_coalesced: Counter,
    /// Members named by a listing page but not applied: a live member event for that agent
    /// and queue came during the listing (the page may predate it; the event wins).
    pub listed_superseded: Counter,
    /// Records written to sled (one insert each: the disk's write volume follows it).
    pub saves: Counter,
    /// Record writes that did not reach sled: failed (disk full, I/O), or held back while the
    /// store is degraded (each is rewritten from the table when the store recovers).
    pub persist_errors: Counter,
    /// Gauge: 1 while the store is degraded (writes failing, displays served from memory,
    /// `storage_alarm` raised), 0 once a reopen and full rewrite from the table succeeded.
    pub store_degraded: Counter,
    /// Times the store entered the degraded state.
    pub store_faults: Counter,
    /// Times the store recovered (reopened, every record rewritten from the table, flushed).
    pub store_recoveries: Counter,
    /// Recovery attempts while degraded (one per storage upkeep: reopen, rewrite, flush).
    pub store_recovery_attempts: Counter,
    /// Records dropped at boot because their format version is unknown.
    pub records_dropped: Counter,
    /// Durability points reached (a flush after every completed resync).
    pub checkpoints: Counter,
    /// Gauge: how long the latest checkpoint's flush took, µs.
    pub checkpoint_flush_us: Counter,
    /// Gauge: updates waiting in the upstream → state channel after the latest batch.
    pub event_queue_depth: Counter,
    /// Gauge: agents in the table.
    pub agents: Counter,
    /// Gauge: queues in the table.
    pub queues: Counter,
}

/// When this process's metrics clock started (the first call).
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Milliseconds since the first call in this process (monotonic: a wall clock step does not
/// move it), at least 1 so that 0 can mean "never".
pub fn uptime_ms() -> u64 {
    let started = STARTED.get_or_init(std::time::Instant::now);
    u64::try_from(started.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Counters of the publish stage.
#[derive(Default, Debug)]
pub struct PublishMetrics {
    /// Frames handed to the MQTT client.
    pub frames: Counter,
    /// JSON mirror documents handed to the MQTT client (`[mqtt] json_mirror`).
    pub json_docs: Counter,
    /// Broker connections (ConnAck).
    pub connects: Counter,
    /// Broker connections lost.
    pub disconnects: Counter,
    /// Broker connection attempts that failed (unreachable, TLS refused, credentials refused).
    pub connect_failures: Counter,
    /// Full republishes (boot, broker reconnect, command).
    pub republishes: Counter,
    /// PUBACKs received.
    pub acked: Counter,
    /// Gauge: 1 while connected to the broker.
    pub connected: Counter,
    /// Commands received on the command topic.
    pub commands: Counter,
    /// Commands refused (invalid, unknown zone or key, queue full).
    pub commands_refused: Counter,
}

/// All counters of one gateway process.
#[derive(Default, Debug)]
pub struct Metrics {
    /// Upstream.
    pub upstream: UpstreamMetrics,
    /// State.
    pub state: StateMetrics,
    /// Publish.
    pub publish: PublishMetrics,
    /// Publish latency (µs, update applied to the table → frame handed to MQTT): a fixed,
    /// log-bucketed histogram of the samples since the last metrics document.
    pub latency: Mutex<LatencyHistogram>,
}

/// Sub-buckets per power of two in [`LatencyHistogram`], as a power of two: 2^5 = 32, so a
/// reported percentile is at most 1/32 (3.1 %) above the true sample.
pub const LATENCY_SUB_BITS: u32 = 5;
const SUB: usize = 1 << LATENCY_SUB_BITS;
/// Buckets of [`LatencyHistogram`]: values below 32 µs exactly, then 32 per power of two up
/// to `u32::MAX` µs (71 minutes). Fixed: recording never allocates or grows.
pub const LATENCY_BUCKETS: usize = (32 - LATENCY_SUB_BITS as usize + 1) * SUB;

/// A fixed-memory latency histogram in microseconds, bucketed like HdrHistogram (log-linear:
/// exact below 32 µs, then 32 linear sub-buckets per power of two, ≤ 3.1 % relative error).
/// 896 `u64` counters (7 KiB), allocated once.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Box<[u64; LATENCY_BUCKETS]>,
    total: u64,
    max: u32,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: Box::new([0; LATENCY_BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

/// Percentiles of a [`LatencyHistogram`], in µs (each the upper edge of its bucket).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// 99.9th percentile.
    pub p999: u32,
    /// Largest sample (exact).
    pub max: u32,
    /// Number of samples.
    pub samples: u64,
}

impl LatencyHistogram {
    /// Bucket index of a value in µs.
    pub fn bucket(micros: u32) -> usize {
        let v = micros as usize;
        if v < SUB {
            return v;
        }
        let e = 31 - micros.leading_zeros(); // ≥ LATENCY_SUB_BITS
        let shift = e - LATENCY_SUB_BITS;
        let mantissa = (v >> shift) & (SUB - 1);
        (e - LATENCY_SUB_BITS + 1) as usize * SUB + mantissa
    }

    /// Largest value (µs) that falls into bucket `index`.
    pub fn bucket_high(index: usize) -> u32 {
        if index < SUB {
            return index as u32;
        }
        let shift = (index / SUB - 1) as u32;
        let low = ((SUB + index % SUB) as u64) << shift;
        u32::try_from(low + (1u64 << shift) - 1).unwrap_or(u32::MAX)
    }

    /// Records one sample.
    pub fn push(&mut self, micros: u32) {
        let i = Self::bucket(micros);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total = self.total.saturating_add(1);
        self.max = self.max.max(micros);
    }

    /// Number of samples held.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when no sample is held.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The smallest bucket edge at or below which a share `q` (0..=1) of the samples lie.
    pub fn quantile(&self, q: f64) -> u32 {
        if self.total == 0 {
            return 0;
        }
        // The rank of the sample wanted, 1-based, rounded up (p99 of 100 samples = the 99th).
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    /// p50, p99, p999, max and count of the samples held.
    pub fn stats(&self) -> LatencyStats {
        LatencyStats {
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: self.max,
            samples: self.total,
        }
    }

    /// Forgets every sample (the memory stays).
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.max = 0;
    }

    /// [`LatencyHistogram::stats`], then [`LatencyHistogram::clear`]: one metrics interval.
    pub fn take_stats(&mut self) -> LatencyStats {
        let s = self.stats();
        self.clear();
        s
    }

    /// Non-empty buckets as (upper edge µs, count), smallest first.
    pub fn buckets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (Self::bucket_high(i), c))
    }
}

/// The JSON document published on `{prefix}/{site}/gateway/metrics`.
#[derive(Serialize, Debug, Default)]
pub struct Snapshot {
    /// Session counter.
    pub session: u32,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Text frames received.
    pub frames: u64,
    /// Frames decoded.
    pub events: u64,
    /// Frames rejected, all reasons.
    pub rejects: u64,
    /// Binary frames dropped.
    pub binary_frames: u64,
    /// Heartbeats seen.
    pub heartbeats: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Stale updates dropped.
    pub stale: u64,
    /// Coalesced dirty marks.
    pub coalesced: u64,
    /// Changes absorbed by a record already waiting to be saved.
    pub saves_coalesced: u64,
    /// Listing pages' members not applied: a live member event came first.
    pub listed_superseded: u64,
    /// Records written to sled.
    pub saves: u64,
    /// Refused for capacity.
    pub refused_full: u64,
    /// WebSocket connects.
    pub reconnects: u64,
    /// Resyncs done.
    pub resyncs: u64,
    /// Watch sets read again and reconciled (each session, and after dropped notices).
    pub rediscoveries: u64,
    /// Socket notices dropped while the supervisor was busy (a member change among them
    /// makes it read the watch set again).
    pub notices_dropped: u64,
    /// Failed subscriptions of new members or re-reads (each retried by a later re-read).
    pub reread_failures: u64,
    /// New members not subscribed yet (a failed subscription waiting for the re-read).
    pub members_unsubscribed: u64,
    /// Sockets declared dead for an unanswered ping.
    pub pong_timeouts: u64,
    /// Channels live.
    pub channels: u64,
    /// The latest resync's phases, ms: presence and routing, queues, conversations.
    pub resync_agents_ms: u64,
    /// See `resync_agents_ms`.
    pub resync_queues_ms: u64,
    /// See `resync_agents_ms`.
    pub resync_conversations_ms: u64,
    /// Open conversations taken from the details index without a read.
    pub conversations_from_index: u64,
    /// Conversations read exactly.
    pub conversation_reads: u64,
    /// Rounds of asking summary and index again.
    pub conversation_index_retries: u64,
    /// Out-of-office states read one by one (the expand left them out).
    pub out_of_office_reads: u64,
    /// Out-of-office states still to be read one by one.
    pub out_of_office_pending: u64,
    /// Agents with a conversation the index had not shown when the latest resync gave up.
    pub conversations_unindexed: u64,
    /// Queue interval-figure reads.
    pub queue_figure_reads: u64,
    /// Periodic interval-figure reads skipped for lack of spare REST budget.
    pub queue_figure_reads_skipped: u64,
    /// Channels live on the busiest OAuth client.
    pub channels_busiest_client: u64,
    /// OAuth clients configured.
    pub clients: u64,
    /// Topics subscribed.
    pub topics: u64,
    /// REST requests.
    pub rest_requests: u64,
    /// REST 429 answers.
    pub rest_429: u64,
    /// REST transport errors, timeouts, 5xx and oversize answers (each retried or refused).
    pub rest_errors: u64,
    /// REST answers over the board's `rest_max_body_bytes`, refused.
    pub rest_too_large: u64,
    /// Listings whose paging was stopped before their end (hostile `nextUri`, page limit).
    pub rest_paging_stopped: u64,
    /// Frames published.
    pub published: u64,
    /// JSON mirror documents published.
    pub json_docs: u64,
    /// Publish latency p50, µs, over the samples since the previous metrics document.
    pub latency_p50_us: u32,
    /// Publish latency p99, µs, same window.
    pub latency_p99_us: u32,
    /// Publish latency p99.9, µs, same window.
    pub latency_p999_us: u32,
    /// Largest publish latency, µs, same window.
    pub latency_max_us: u32,
    /// Latency samples in the window (frames published from live changes).
    pub latency_samples: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB.
    pub hwm_kib: u64,
    /// sled on-disk size, bytes.
    pub sled_bytes: u64,
    /// Record writes that did not reach sled (failed, or held back while degraded).
    pub persist_errors: u64,
    /// 1 while the store is degraded (the health document's `storage_alarm`).
    pub store_degraded: u64,
    /// Times the store entered the degraded state.
    pub store_faults: u64,
    /// Times it recovered (reopened and rewritten from memory).
    pub store_recoveries: u64,
    /// Recovery attempts while degraded.
    pub store_recovery_attempts: u64,
    /// Topics not subscribed for lack of channel budget.
    pub subscriptions_refused: u64,
    /// Failed broker connection attempts.
    pub broker_connect_failures: u64,
    /// Durability points reached (sled flushed after a completed resync).
    pub checkpoints: u64,
    /// How long the latest checkpoint's flush took, µs.
    pub checkpoint_flush_us: u64,
    /// Frames rejected, by reason.
    pub rejects_by_reason: RejectsByReason,
    /// Resync steps skipped because they failed, by step.
    pub resync_step_failures: StepFailures,
    /// Upstream sockets that ended (any cause).
    pub disconnects: u64,
    /// 1 while an upstream socket is connected.
    pub upstream_connected: u64,
    /// Notification channels created.
    pub channels_created: u64,
    /// Rotations (every channel replaced, one at a time).
    pub rotations: u64,
    /// 1 while a rotation runs.
    pub rotating: u64,
    /// OAuth tokens fetched (every client).
    pub tokens: u64,
    /// Agents watched (config, queue and group members).
    pub watched_agents: u64,
    /// Agents no longer watched (left every watched queue and group).
    pub agents_unwatched: u64,
    /// Subscribed topics' weight against the per-channel limits.
    pub topic_weight: u64,
    /// Requests the running (or latest) resync planned, and those done.
    pub resync_total: u64,
    /// See `resync_total`.
    pub resync_done: u64,
    /// Updates that changed a record.
    pub applied: u64,
    /// Records dropped at boot (unknown format version).
    pub records_dropped: u64,
    /// Updates waiting in the upstream → state channel after the latest batch.
    pub event_queue_depth: u64,
    /// Agents in the table.
    pub agents: u64,
    /// Queues in the table.
    pub queues: u64,
    /// Broker connections (ConnAck).
    pub broker_connects: u64,
    /// Broker connections lost.
    pub broker_disconnects: u64,
    /// 1 while connected to the broker.
    pub broker_connected: u64,
    /// Full republishes (boot, broker reconnect, command).
    pub republishes: u64,
    /// PUBACKs received from the broker.
    pub acked: u64,
    /// Commands received, and refused.
    pub commands: u64,
    /// See `commands`.
    pub commands_refused: u64,
    /// Audit events dropped because the trail was full.
    pub audit_dropped: u64,
}

/// `rejects_by_reason` of the metrics document: one count per [`crate::decode::Reason`].
#[derive(Serialize, Debug, Default)]
#[allow(missing_docs)]
pub struct RejectsByReason {
    pub oversize: u64,
    pub not_utf8: u64,
    pub too_deep: u64,
    pub malformed: u64,
    pub unknown_topic: u64,
    pub unknown_message: u64,
    pub missing_field: u64,
    pub bad_id: u64,
    pub bad_timestamp: u64,
    pub over_capacity: u64,
}

/// `resync_step_failures` of the metrics document: one count per
/// [`crate::upstream::ResyncStep`].
#[derive(Serialize, Debug, Default)]
#[allow(missing_docs)]
pub struct StepFailures {
    pub users: u64,
    pub routing_status: u64,
    pub presence: u64,
    pub conversations: u64,
    pub queues: u64,
    pub queue_figures: u64,
    pub out_of_office: u64,
}

impl Metrics {
    /// Sum of all decode rejections.
    pub fn rejects_total(&self) -> u64 {
        self.upstream.rejects.iter().map(Counter::get).sum()
    }
}

/// (VmRSS, VmHWM) of this process in KiB, from /proc (0 where unavailable).
pub fn rss_kib() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_set() {
        let mut h = LatencyHistogram::default();
        for i in 1..=100 {
            h.push(i);
        }
        // Exact below 32 µs; 64..128 has buckets 2 µs wide (upper edges reported).
        let s = h.stats();
        assert_eq!(
            (s.p50, s.p99, s.p999, s.max, s.samples),
            (50, 99, 100, 100, 100)
        );
        h.clear();
        for _ in 0..2000 {
            h.push(7);
        }
        assert_eq!(h.take_stats().p999, 7);
        assert!(h.is_empty());
        assert_eq!(h.stats(), LatencyStats::default());
    }

    #[test]
    fn buckets_cover_u32_with_bounded_error() {
        let mut last = 0;
        for v in (0..64u32).chain([100, 1_000, 65_535, 1 << 20, u32::MAX - 1, u32::MAX]) {
            let i = LatencyHistogram::bucket(v);
            assert!(i < LATENCY_BUCKETS && i >= last, "{v} -> {i}");
            last = i;
            let high = LatencyHistogram::bucket_high(i);
            assert!(high >= v, "{v}: bucket edge {high}");
            assert!(
                u64::from(high - v) * 32 <= u64::from(v),
                "{v}: edge {high} too far"
            );
        }
        assert_eq!(LatencyHistogram::bucket(u32::MAX), LATENCY_BUCKETS - 1);
    }
}
