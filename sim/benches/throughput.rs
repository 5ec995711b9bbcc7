//! Throughput bench: how many generated events per second the simulator turns into WebSocket frames that a
//! real client receives on loopback.
//!
//! Owns: the bench only (`harness = false`, run by `cargo bench -p genesys-sim`). Setup: one org of
//! `SIM_BENCH_AGENTS` agents (default 10,000) and `SIM_BENCH_QUEUES` queues (default 500); one plain
//! tokio-tungstenite client on one channel subscribed to every agent's `v2.users.{id}?presence&routingStatus`
//! (`max_topics` raised for the bench so one channel holds them all, which the real service would shard over
//! channels of ≤ 1000). The simulator runs on its own thread in a current_thread runtime, pinned to core 0
//! with `core_affinity` (safe API; the sim crate stays `forbid(unsafe_code)`); the client runs on another
//! thread pinned to core 1 when there is one. A driver task on the sim thread calls `Sim::step` in batches,
//! keeping at most [`WINDOW`] frames in flight (generated but not yet received) so the sim's slow-consumer
//! rule never fires. A run ends when the client has received every frame the run produced.
//!
//! Environment: `SIM_BENCH_EVENTS` events per measured run (default 1,000,000; e.g. 20000 for a smoke run),
//! `SIM_BENCH_RUNS` measured runs (default 3, at least 1), `SIM_BENCH_AGENTS`, `SIM_BENCH_QUEUES`.
//! Output: one row per run (events generated, frames received, seconds, events/s, frames/s), then the median
//! with min–max, and whether the median meets the 100,000 events/s target.

use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use genesys_sim::{Sim, SimConfig, SimStats};
use tokio_tungstenite::tungstenite::Message;

/// Frames allowed in flight between the generator and the client (well below the sim's per-socket queue).
const WINDOW: u64 = 16_384;
/// Events per `Sim::step` call of the driver: what the sim's own background generator does per 10 ms
/// scheduler tick at `event_rate` = 100,000/s.
const BATCH: usize = 1000;
/// The target from the brief: sustained events per second.
const TARGET_EVENTS_PER_SEC: f64 = 100_000.0;
/// Longest a run may take before the bench gives up (a lost frame would otherwise hang it).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Frames the sim has routed to the (single) socket so far: notifications that had a subscriber.
fn routed(s: &SimStats) -> u64 {
    s.notifications - s.notifications_unrouted - s.notifications_silenced
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    events: u64,
    frames: u64,
    secs: f64,
}

impl Run {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs
    }
    fn frames_per_sec(&self) -> f64 {
        self.frames as f64 / self.secs
    }
}

/// A request to the sim thread: generate this many events, answer with (events, frames routed).
struct Generate {
    events: usize,
    done: mpsc::Sender<(u64, u64)>,
}

fn main() {
    let events = env_usize("SIM_BENCH_EVENTS", 1_000_000).max(1);
    let runs = env_usize("SIM_BENCH_RUNS", 3).max(1);
    let agents = env_usize("SIM_BENCH_AGENTS", 10_000).max(1);
    let queues = env_usize("SIM_BENCH_QUEUES", 500).max(1);
    // `cargo bench` passes `--bench`; a filter argument that doesn't match this bench skips it.
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        if !"throughput".contains(&filter) {
            return;
        }
    }

    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let received = Arc::new(AtomicU64::new(0));
    let (sim_tx, sim_rx) = mpsc::channel::<(Sim, bool)>();
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel::<Generate>();

    // --- the simulator's thread ---------------------------------------------------------------------------
    let sim_core = cores.first().copied();
    let window_seen = Arc::clone(&received);
    let sim_thread = std::thread::Builder::new()
        .name("genesys-sim".to_owned())
        .spawn(move || {
            let pinned = sim_core.is_some_and(core_affinity::set_for_current);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sim runtime");
            rt.block_on(async move {
                let sim = Sim::start(SimConfig {
                    agents,
                    queues,
                    groups: 1,
                    max_topics: 4 * agents + 10,
                    rate_limit_per_min: 0,
                    ..SimConfig::default()
                })
                .await
                .expect("sim starts");
                sim_tx
                    .send((sim.clone(), pinned))
                    .expect("hand out the sim");
                drive(sim, cmd_rx, window_seen).await;
            });
        })
        .expect("sim thread");
    let (sim, sim_pinned) = sim_rx.recv().expect("sim started");

    // --- the client's thread (this one) --------------------------------------------------------------------
    let client_pinned = cores
        .get(1)
        .copied()
        .is_some_and(core_affinity::set_for_current);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let base = sim.api_base();
    let token = oauth(&base);
    let (channel, connect_uri) = create_channel(&base, &token);
    let topics: Vec<String> = sim
        .users()
        .iter()
        .map(|u| format!(r#"{{"id":"v2.users.{u}?presence&routingStatus"}}"#))
        .collect();
    let (status, body) = http(
        &base,
        "PUT",
        &format!("/api/v2/notifications/channels/{channel}/subscriptions"),
        Some(&token),
        &format!("[{}]", topics.join(",")),
    );
    assert_eq!(status, 200, "subscribe: {body}");

    let counter = Arc::clone(&received);
    let (ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(connect_uri.as_str()))
        .expect("ws connect");
    // Runs whenever the client runtime is driven (inside `measure`'s `block_on`).
    let reader = rt.spawn(read_frames(ws, counter));

    println!(
        "genesys-sim throughput: {agents} agents, {queues} queues, 1 client on 1 channel ({} combined topics), \
         {events} events/run, {runs} runs + warm-up; sim thread {}, client thread {}",
        topics.len(),
        if sim_pinned { "pinned to core 0" } else { "unpinned" },
        if client_pinned { "pinned to core 1" } else { "unpinned" },
    );

    let measure = |n: usize| -> Run {
        let start_frames = received.load(Ordering::Relaxed);
        let start = Instant::now();
        let (done_tx, done_rx) = mpsc::channel();
        cmd_tx
            .send(Generate {
                events: n,
                done: done_tx,
            })
            .expect("sim thread alive");
        // Pump the client runtime until the sim has generated the run and the client has every frame.
        let events = rt.block_on(async {
            let (events, routed_end) = loop {
                if let Ok(r) = done_rx.try_recv() {
                    break r;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                assert!(start.elapsed() < RUN_TIMEOUT, "run timed out");
            };
            while received.load(Ordering::Relaxed) < routed_end {
                tokio::time::sleep(Duration::from_millis(1)).await;
                assert!(
                    start.elapsed() < RUN_TIMEOUT,
                    "frames lost: received {} of {routed_end}",
                    received.load(Ordering::Relaxed)
                );
            }
            events
        });
        let secs = start.elapsed().as_secs_f64();
        Run {
            events,
            frames: received.load(Ordering::Relaxed) - start_frames,
            secs,
        }
    };

    let warm = measure((events / 10).max(1));
    println!(
        "warm-up: {} events, {} frames in {:.3} s",
        warm.events, warm.frames, warm.secs
    );
    println!();
    println!(
        "{:>4} | {:>16} | {:>15} | {:>8} | {:>10} | {:>10}",
        "run", "events generated", "frames received", "seconds", "events/s", "frames/s"
    );
    println!("{}", "-".repeat(4 + 16 + 15 + 8 + 10 + 10 + 15));
    let mut results = Vec::with_capacity(runs);
    for i in 1..=runs {
        let r = measure(events);
        println!(
            "{:>4} | {:>16} | {:>15} | {:>8.3} | {:>10.0} | {:>10.0}",
            i,
            r.events,
            r.frames,
            r.secs,
            r.events_per_sec(),
            r.frames_per_sec()
        );
        results.push(r);
    }
    let mut eps: Vec<f64> = results.iter().map(Run::events_per_sec).collect();
    let mut fps: Vec<f64> = results.iter().map(Run::frames_per_sec).collect();
    eps.sort_by(f64::total_cmp);
    fps.sort_by(f64::total_cmp);
    let median = |v: &[f64]| {
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    println!();
    println!(
        "median events/s: {:.0} (min–max {:.0}–{:.0}); median frames/s: {:.0} (min–max {:.0}–{:.0}); over {} runs",
        median(&eps),
        eps[0],
        eps[eps.len() - 1],
        median(&fps),
        fps[0],
        fps[fps.len() - 1],
        runs
    );
    let s = sim.stats();
    println!(
        "sim counters: events_generated {}, frames_sent {}, slow_consumer_drops {}",
        s.events_generated, s.frames_sent, s.slow_consumer_drops
    );
    println!(
        "target ≥ {TARGET_EVENTS_PER_SEC:.0} events/s: {}",
        if median(&eps) >= TARGET_EVENTS_PER_SEC {
            "met"
        } else {
            "NOT met"
        }
    );

    drop(cmd_tx);
    reader.abort();
    drop(rt);
    let _ = sim_thread.join();
}

/// The driver on the sim thread: runs each [`Generate`] request in batches under the in-flight window.
async fn drive(
    sim: Sim,
    mut cmds: tokio::sync::mpsc::UnboundedReceiver<Generate>,
    received: Arc<AtomicU64>,
) {
    while let Some(cmd) = cmds.recv().await {
        let mut left = cmd.events;
        let mut generated = 0u64;
        while left > 0 {
            let in_flight = routed(&sim.stats()).saturating_sub(received.load(Ordering::Relaxed));
            if in_flight > WINDOW {
                // Let the socket task write (and, when the client is behind, wait for the kernel).
                tokio::task::yield_now().await;
                continue;
            }
            let n = left.min(BATCH);
            generated += sim.step(n) as u64;
            left -= n;
            tokio::task::yield_now().await;
        }
        let _ = cmd.done.send((generated, routed(&sim.stats())));
    }
}

/// Counts text frames that look like subscribed events (anything else is counted too, but heartbeats are
/// rare at this timescale and would only add to the count).
async fn read_frames<S>(mut ws: tokio_tungstenite::WebSocketStream<S>, received: Arc<AtomicU64>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                if t.as_str().starts_with(r#"{"topicName":"v2.users."#) {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(_) => {}
            Err(e) => panic!("socket error: {e}"),
        }
    }
}

/// Minimal blocking HTTP/1.1 client for setup (one request per connection).
fn http(base: &str, method: &str, path: &str, bearer: Option<&str>, body: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut s = StdTcpStream::connect(host).expect("connect");
    let auth = bearer
        .map(|t| format!("Authorization: bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

fn oauth(base: &str) -> String {
    let host = base.trim_start_matches("http://");
    let mut s = StdTcpStream::connect(host).expect("connect");
    let body = "grant_type=client_credentials";
    // base64("sim-client:sim-secret")
    let req = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Authorization: Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let json = raw.split_once("\r\n\r\n").expect("response").1;
    let v: serde_json::Value = serde_json::from_str(json).expect("token JSON");
    v["access_token"].as_str().expect("access_token").to_owned()
}

fn create_channel(base: &str, token: &str) -> (String, String) {
    let (status, body) = http(
        base,
        "POST",
        "/api/v2/notifications/channels",
        Some(token),
        "",
    );
    assert_eq!(status, 200, "channel: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("channel JSON");
    (
        v["id"].as_str().expect("id").to_owned(),
        v["connectUri"].as_str().expect("connectUri").to_owned(),
    )
}
