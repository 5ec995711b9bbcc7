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
    /// REST failures (transport, 5xx, unparsable).
    pub rest_errors: Counter,
    /// Resyncs completed.
    pub resyncs: Counter,
    /// Gauge: channels live.
    pub channels: Counter,
    /// Gauge: topics subscribed.
    pub topics: Counter,
    /// Gauge: agents watched.
    pub watched_agents: Counter,
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
    /// sled writes failed (disk full, I/O): state kept in memory, alarm raised.
    pub persist_errors: Counter,
    /// Records dropped at boot because their format version is unknown.
    pub records_dropped: Counter,
    /// Gauge: agents in the table.
    pub agents: Counter,
    /// Gauge: queues in the table.
    pub queues: Counter,
}

/// Counters of the publish stage.
#[derive(Default, Debug)]
pub struct PublishMetrics {
    /// Frames handed to the MQTT client.
    pub frames: Counter,
    /// Broker connections (ConnAck).
    pub connects: Counter,
    /// Broker connections lost.
    pub disconnects: Counter,
    /// Full republishes (boot, broker reconnect, command).
    pub republishes: Counter,
    /// PUBACKs received.
    pub acked: Counter,
    /// Gauge: 1 while connected to the broker.
    pub connected: Counter,
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
    /// Publish latency samples (µs, event received → handed to MQTT), a fixed ring.
    pub latency: Mutex<LatencyRing>,
}

/// The number of latency samples kept: enough for a stable p99 over a metrics interval.
pub const LATENCY_SAMPLES: usize = 1024;

/// A fixed ring of latency samples in microseconds.
#[derive(Debug)]
pub struct LatencyRing {
    samples: Box<[u32; LATENCY_SAMPLES]>,
    next: usize,
    len: usize,
}

impl Default for LatencyRing {
    fn default() -> Self {
        LatencyRing {
            samples: Box::new([0; LATENCY_SAMPLES]),
            next: 0,
            len: 0,
        }
    }
}

impl LatencyRing {
    /// Records one sample, overwriting the oldest.
    pub fn push(&mut self, micros: u32) {
        self.samples[self.next] = micros;
        self.next = (self.next + 1) % LATENCY_SAMPLES;
        self.len = (self.len + 1).min(LATENCY_SAMPLES);
    }
    /// (p50, p99) of the samples held, in µs; (0, 0) when empty.
    pub fn percentiles(&self) -> (u32, u32) {
        if self.len == 0 {
            return (0, 0);
        }
        let mut v = [0u32; LATENCY_SAMPLES];
        v[..self.len].copy_from_slice(&self.samples[..self.len]);
        let v = &mut v[..self.len];
        v.sort_unstable();
        let at = |q: usize| v[((self.len - 1) * q) / 100];
        (at(50), at(99))
    }
}

/// The JSON document published on `{prefix}/{site}/gateway/metrics`.
#[derive(Serialize, Debug)]
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
    /// Refused for capacity.
    pub refused_full: u64,
    /// WebSocket connects.
    pub reconnects: u64,
    /// Resyncs done.
    pub resyncs: u64,
    /// Channels live.
    pub channels: u64,
    /// Topics subscribed.
    pub topics: u64,
    /// REST requests.
    pub rest_requests: u64,
    /// REST 429 answers.
    pub rest_429: u64,
    /// Frames published.
    pub published: u64,
    /// Publish latency p50, µs.
    pub latency_p50_us: u32,
    /// Publish latency p99, µs.
    pub latency_p99_us: u32,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB.
    pub hwm_kib: u64,
    /// sled on-disk size, bytes.
    pub sled_bytes: u64,
    /// sled write failures.
    pub persist_errors: u64,
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
        let mut r = LatencyRing::default();
        for i in 1..=100 {
            r.push(i);
        }
        assert_eq!(r.percentiles(), (50, 99));
        for _ in 0..2000 {
            r.push(7);
        }
        assert_eq!(r.percentiles(), (7, 7));
    }
}
