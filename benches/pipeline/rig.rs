//! The test rig of the pipeline bench: the simulated org (in this process), a broker (embedded
//! rumqttd in this process, or a mosquitto child), the gateway under test as a child process
//! started from a site config file exactly as in production and pinned to core 0, a probe
//! MQTT client that reads the gateway's metrics and audit documents and timestamps frames,
//! event drivers that call the simulator at a paced or the highest sustainable rate, and the
//! comparison of a display's decoded view with the simulator's ground truth.
//!
//! Owns the processes it starts (gateway, mosquitto): each is killed and reaped on drop.
//! Does not own what is measured or printed (`main`, `figures`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use genesys_sim::{Recording, Sim, SimConfig, SimStats};
use presence_gateway::display::floor::Subscriber;
use presence_gateway::topics::Topics;
use presence_wire::{Body, Presence};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// The simulator for a gateway session: `agents` and `queues`, on Genesys' real limits (300
/// REST requests per minute per token, 1,000 topics per channel, 20 channels per OAuth client)
/// with as many OAuth clients as the org needs: 19 usable channels of 999 weight each per
/// client, an agent weighing 2 and a queue 2 (10,000 agents and 500 queues: two clients).
pub fn sim_config(agents: usize, queues: usize, seed: u64) -> SimConfig {
    let channels = (agents * 2 + queues * 2).div_ceil(999);
    let clients = channels.div_ceil(19).max(1);
    SimConfig {
        agents,
        queues,
        seed,
        more_clients: (1..clients)
            .map(|i| (format!("sim-client-{i}"), format!("sim-secret-{i}")))
            .collect(),
        ..SimConfig::default()
    }
}

/// Frames the simulator has routed to sockets (notifications that had a subscriber).
pub fn routed(s: &SimStats) -> u64 {
    s.notifications
        .saturating_sub(s.notifications_unrouted)
        .saturating_sub(s.notifications_silenced)
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// Which broker a session publishes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    /// rumqttd 0.20 embedded in this process (as in the demo and the tests).
    Rumqttd,
    /// mosquitto, a child process pinned beside the bench.
    Mosquitto,
}

impl BrokerKind {
    /// Name for the table.
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Rumqttd => "rumqttd",
            BrokerKind::Mosquitto => "mosquitto",
        }
    }
}

/// A running broker.
pub struct Broker {
    /// Loopback port.
    pub port: u16,
    child: Option<Child>,
}

impl Broker {
    /// An embedded rumqttd (lives until the process exits: rumqttd has no shutdown).
    pub fn embedded() -> Broker {
        let b = presence_gateway::demo::broker::start().expect("embedded broker");
        Broker {
            port: b.port,
            child: None,
        }
    }

    /// mosquitto on a free loopback port with a config like `.ci/run`'s, plus unlimited
    /// queues so a busy display never loses a QoS 1 frame (the view must be exact).
    pub fn mosquitto(dir: &Path) -> Result<Broker, String> {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n\
                 max_queued_messages 0\nmax_inflight_messages 0\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = crate::machine::plain_env(&mut Command::new("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mosquitto: {e}"))?;
        let mut b = Broker {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline
                || b.child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                return Err(format!("mosquitto did not listen on 127.0.0.1:{port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(b)
    }

    /// (host, port).
    pub fn addr(&self) -> (String, u16) {
        ("127.0.0.1".to_string(), self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free loopback TCP port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

// ---------------------------------------------------------------------------------------------
// The gateway under test

/// A site config file for a gateway pointed at `sim` and `broker`.
pub struct Site {
    /// The config file.
    pub config: PathBuf,
    /// Topic names.
    pub topics: Topics,
}

/// `--json-mirror`: every gateway the bench starts also publishes the JSON mirror (its cost is
/// the difference between two runs, with and without).
pub static JSON_MIRROR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes `dir/site.toml`: the demo's site config (every sim queue watched, the implicit zone
/// `all`) on board `board`, with a unique site id and a metrics document every
/// `metrics_secs` seconds. `state` is the sled directory (reused for warm boots).
pub fn write_site(
    sim: &Sim,
    broker: &Broker,
    dir: &Path,
    state: &Path,
    board: &str,
    metrics_secs: u64,
) -> Site {
    let site = format!("bench-{}", fastrand::u32(..));
    let toml = presence_gateway::demo::site_toml(
        &sim.api_base(),
        &sim.queues(),
        ("127.0.0.1", broker.port),
        state,
    )
    .replace("id = \"demo\"", &format!("id = \"{site}\""))
    .replace("board = \"x86_64\"", &format!("board = \"{board}\""))
    .replace(
        "metrics_interval_secs = 2",
        &format!("metrics_interval_secs = {metrics_secs}"),
    )
    // The demo re-reads queue figures every 5 s; the resync runs wait for a minute without
    // REST requests (a fresh rate-limit window) and would never see one. Once an hour here:
    // the figures are still read by every resync (its `queue_figures` step), and the view is
    // judged without `answered` (`converge`).
    .replace("queue_figures_secs = 5", "queue_figures_secs = 3600");
    // One `[[genesys.client]]` per simulator client (credentials `_C0`, `_C1`, … of `sim_env`).
    let clients = 1 + sim.config().more_clients.len();
    let toml = if clients > 1 {
        let named: String = (0..clients)
            .map(|i| format!("[[genesys.client]]\nname = \"c{i}\"\n"))
            .collect();
        toml.replace("[watch]", &format!("{named}\n[watch]"))
    } else {
        toml
    };
    let toml = if JSON_MIRROR.load(std::sync::atomic::Ordering::Relaxed) {
        toml.replace("[mqtt]\n", "[mqtt]\njson_mirror = true\n")
    } else {
        toml
    };
    let config = dir.join(format!("{site}.toml"));
    std::fs::write(&config, toml).expect("write site config");
    Site {
        config,
        topics: Topics::new("presence", &site),
    }
}

/// The gateway binary, built by cargo for this bench with the same (release) profile.
pub fn gateway_exe() -> String {
    std::env::var("BENCH_GATEWAY_EXE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_presence-gateway").to_string())
}

/// A command the gateway runs under, from `BENCH_GATEWAY_WRAP` (words split on blanks, e.g.
/// `valgrind --tool=massif --massif-out-file=/tmp/m.out`): for a heap profile of the gateway
/// the bench drives (issue 16 point 4). Figures of time, CPU and RSS are then the wrapper's.
/// `BENCH_GATEWAY_EXE` names another gateway binary (a musl build).
fn gateway_wrap() -> Option<Vec<String>> {
    let w = std::env::var("BENCH_GATEWAY_WRAP").ok()?;
    let words: Vec<String> = w.split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}

/// Whether the gateway can be pinned to core 0 with `taskset` (2+ cores and util-linux).
pub fn can_pin() -> bool {
    crate::machine::cores() >= 2 && crate::machine::on_path("taskset")
}

/// The gateway as a child process (`presence-gateway run --config …`), pinned to core 0 when
/// [`can_pin`]. Killed (SIGKILL) and reaped on drop.
pub struct Gateway {
    child: Option<Child>,
    /// Its pid (taskset execs the gateway, so this is the gateway's own).
    pub pid: u32,
    /// When it was spawned.
    pub started: Instant,
    log: PathBuf,
}

impl Gateway {
    /// Spawns the gateway for `site` with the simulator's credentials in its environment.
    pub fn spawn(site: &Site, sim: &Sim, log: &Path) -> Gateway {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("gateway log");
        let mut cmd = if let Some(wrap) = gateway_wrap() {
            let mut c = Command::new(&wrap[0]);
            c.args(&wrap[1..]).arg(gateway_exe());
            c
        } else if can_pin() {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(gateway_exe());
            c
        } else {
            Command::new(gateway_exe())
        };
        crate::machine::plain_env(&mut cmd)
            .args(["--log", "info", "run", "--config"])
            .arg(&site.config)
            .envs(presence_gateway::demo::sim_env(&sim.config()))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file);
        let started = Instant::now();
        let child = cmd.spawn().expect("spawn the gateway");
        let pid = child.id();
        Gateway {
            child: Some(child),
            pid,
            started,
            log: log.to_path_buf(),
        }
    }

    /// (VmRSS, VmHWM) in KiB.
    pub fn rss(&self) -> Option<(u64, u64)> {
        crate::machine::rss_kib(self.pid)
    }

    /// VmRSS by kind (anonymous, file-backed) and the thread count.
    pub fn rss_split(&self) -> Option<crate::machine::RssSplit> {
        crate::machine::rss_split(self.pid)
    }

    /// CPU time used so far.
    pub fn cpu(&self) -> Option<Duration> {
        crate::machine::cpu_time(self.pid)
    }

    /// SIGTERM (the gateway drains, publishes `offline`, flushes sled), up to 20 s, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        // A profiler writes its file at the exit: give it time.
        let grace = if gateway_wrap().is_some() { 300 } else { 20 };
        let deadline = Instant::now() + Duration::from_secs(grace);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("gateway {} ignored SIGTERM for 20 s: killed", self.pid);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe: the gateway's own documents, and timestamped frames

/// Watching a boot: frames of a session newer than `after_session`.
#[derive(Debug, Default)]
pub struct BootWatch {
    /// Frames of sessions up to this one are from earlier boots.
    pub after_session: u32,
    /// Agents to wait for.
    pub expected: usize,
    /// Agents seen with the new session.
    pub seen: HashSet<String>,
    /// First frame of the new session (agent or queue).
    pub first: Option<Instant>,
    /// Every expected agent seen.
    pub all: Option<Instant>,
}

/// Watching end-to-end latency: scripted presence changes waiting for their frame.
#[derive(Debug, Default)]
pub struct LatencyWatch {
    /// user id → (when the simulator was told, the presence the frame must carry).
    pub pending: HashMap<String, (Instant, Presence)>,
    /// Simulator call → frame decoded by this subscriber, µs.
    pub samples: Vec<u32>,
}

/// What the probe has seen.
#[derive(Debug, Default)]
pub struct ProbeState {
    /// Metrics documents with their arrival time.
    pub metrics: Vec<(Instant, serde_json::Value)>,
    /// Audit events with their arrival time.
    pub audits: Vec<(Instant, serde_json::Value)>,
    /// Last `$state`.
    pub gateway_state: Option<String>,
    /// Largest frame session seen.
    pub max_session: u32,
    /// Boot watch, when on.
    pub boot: Option<BootWatch>,
    /// Latency watch, when on.
    pub latency: Option<LatencyWatch>,
}

impl ProbeState {
    /// Audit events of `kind` seen so far.
    pub fn audit_count(&self, kind: &str) -> usize {
        self.audits
            .iter()
            .filter(|(_, a)| a["kind"].as_str() == Some(kind))
            .count()
    }
}

/// An MQTT client on the gateway's monitor topics (metrics, audit, `$state`), and, while
/// [`Probe::watch_zone`] is on, the zone's frames, each timestamped on arrival.
pub struct Probe {
    /// What it has seen.
    pub state: Arc<Mutex<ProbeState>>,
    client: AsyncClient,
    zone_filter: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Probe {
    /// Connects and subscribes to `{base}/gateway/#`.
    pub fn start(broker: (String, u16), topics: &Topics) -> Probe {
        let state = Arc::new(Mutex::new(ProbeState::default()));
        let mut opts = MqttOptions::new(format!("probe-{}", fastrand::u32(..)), broker.0, broker.1);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let gateway = format!("{}/gateway/#", topics.base());
        let (metrics, audit, state_topic) = (topics.metrics(), topics.audit(), topics.state());
        let s = state.clone();
        let c = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.subscribe(&gateway, QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let now = Instant::now();
                        let mut st = s.lock().unwrap_or_else(|e| e.into_inner());
                        if p.topic == metrics || p.topic == audit {
                            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&p.payload) {
                                if p.topic == metrics {
                                    st.metrics.push((now, v));
                                } else {
                                    eprintln!(
                                        "  [audit] {}: {}",
                                        v["kind"].as_str().unwrap_or("?"),
                                        v["detail"].as_str().unwrap_or("")
                                    );
                                    st.audits.push((now, v));
                                }
                            }
                        } else if p.topic == state_topic {
                            st.gateway_state = Some(String::from_utf8_lossy(&p.payload).into());
                        } else {
                            on_frame(&mut st, &p.topic, &p.payload, now);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Probe {
            state,
            client,
            zone_filter: topics.zone_filter("all"),
            task,
        }
    }

    /// Locks what it has seen.
    pub fn lock(&self) -> MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to (or leaves) zone `all`'s frames.
    pub async fn watch_zone(&self, on: bool) {
        let r = if on {
            self.client
                .subscribe(&self.zone_filter, QoS::AtLeastOnce)
                .await
        } else {
            self.client.unsubscribe(&self.zone_filter).await
        };
        r.expect("probe subscription request");
    }

    /// Waits for the next metrics document (after the ones already seen).
    pub async fn next_metrics(&self, timeout: Duration) -> Option<(Instant, serde_json::Value)> {
        let seen = self.lock().metrics.len();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(m) = self.lock().metrics.get(seen) {
                return Some(m.clone());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// Waits until `count` audit events of `kind` have been seen; returns the last's arrival
    /// and document.
    pub async fn audit(
        &self,
        kind: &str,
        count: usize,
        timeout: Duration,
    ) -> Option<(Instant, serde_json::Value)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            {
                let st = self.lock();
                if st.audit_count(kind) >= count {
                    return st
                        .audits
                        .iter()
                        .rev()
                        .find(|(_, a)| a["kind"].as_str() == Some(kind))
                        .cloned();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

fn on_frame(st: &mut ProbeState, topic: &str, payload: &[u8], now: Instant) {
    let mut parts = topic.rsplit('/');
    let (Some(id), Some(kind)) = (parts.next(), parts.next()) else {
        return;
    };
    let Ok(frame) = presence_wire::decode(payload) else {
        return;
    };
    let session = frame.header.session;
    if let Some(b) = st.boot.as_mut() {
        if session > b.after_session {
            b.first.get_or_insert(now);
            if kind == "agent" && b.seen.insert(id.to_string()) && b.seen.len() >= b.expected {
                b.all.get_or_insert(now);
            }
        }
    }
    st.max_session = st.max_session.max(session);
    if let (Some(l), Body::Agent(a)) = (st.latency.as_mut(), frame.body) {
        if let Some(&(sent, presence)) = l.pending.get(id) {
            if a.presence == presence {
                l.pending.remove(id);
                let us = u32::try_from(now.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
                l.samples.push(us);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Drivers: the simulator's events, paced or as fast as the pipeline takes them

/// Scripted presence changes whose frames the probe times (end-to-end latency).
pub struct Probes {
    /// The probe's state (the pending map lives there).
    pub state: Arc<Mutex<ProbeState>>,
    /// Users to change, round robin.
    pub users: Vec<String>,
    /// Two presence definitions to alternate between, with their system presence.
    pub defs: [(String, Presence); 2],
    /// Probes per second.
    pub per_sec: f64,
}

/// What a driver did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Driven {
    /// Events generated (`Sim::step` plus scripted changes).
    pub events: u64,
    /// Seconds driven (for a replay: delivering only, recording excluded).
    pub secs: f64,
    /// Seconds the simulator spent recording ahead of delivery (replay drivers only).
    pub recorded_secs: f64,
    /// Frames delivered (replay drivers only).
    pub frames: u64,
}

/// A driver thread; stop it with [`Driver::finish`].
pub struct Driver {
    stop: Arc<AtomicBool>,
    /// Events generated so far.
    pub events: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<Driven>,
}

impl Driver {
    /// Runs `body` on a thread named `name`, with the stop flag it must poll and the event
    /// counter it keeps current.
    fn spawn(
        name: &str,
        body: impl FnOnce(Arc<AtomicBool>, Arc<AtomicU64>) -> Driven + Send + 'static,
    ) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(AtomicU64::new(0));
        let (s, e) = (stop.clone(), events.clone());
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(s, e))
            .expect("driver thread");
        Driver {
            stop,
            events,
            handle,
        }
    }

    /// Stops (if still running) and returns what it did.
    pub fn finish(self) -> Driven {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("driver thread")
    }

    /// Whether it ended by itself (event budget reached).
    pub fn done(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Generates `rate` events per second (in 5 ms ticks) until stopped; `probes` replaces part
/// of them with timed, scripted presence changes.
pub fn drive_rate(sim: Sim, rate: f64, probes: Option<Probes>) -> Driver {
    Driver::spawn("drive-rate", move |s, e| {
        let start = Instant::now();
        let mut done = 0u64;
        let mut probed = 0u64;
        let mut next_user = 0usize;
        while !s.load(Ordering::Relaxed) {
            let t = start.elapsed().as_secs_f64();
            if let Some(p) = &probes {
                let due = (t * p.per_sec) as u64;
                while probed < due && !p.users.is_empty() {
                    let user = &p.users[next_user % p.users.len()];
                    let (def, presence) = &p.defs[(next_user / p.users.len()) % 2];
                    next_user += 1;
                    probed += 1;
                    {
                        let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(l) = st.latency.as_mut() {
                            l.pending.insert(user.clone(), (Instant::now(), *presence));
                        }
                    }
                    sim.set_presence(user, def);
                    done += 1;
                }
            }
            // At most one scheduler period's worth per call: `Sim::step` holds the
            // simulator's lock (heartbeats wait for it), and a simulator that cannot keep up
            // must show as a lower achieved rate, not as one huge burst.
            let due = (t * rate) as u64;
            if due > done {
                done += sim.step((due - done).min(RATE_STEP_MAX) as usize) as u64;
            }
            e.store(done, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
        Driven {
            events: done,
            secs: start.elapsed().as_secs_f64(),
            ..Driven::default()
        }
    })
}

/// Frames per `Sim::replay` call (the hub's lock is held for one call).
const REPLAY_BATCH: usize = 2_000;
/// Events the soak's replay driver records at a time (~1.4 KB of JSON per frame, ~1.3 frames
/// per event: ~450 MB held per chunk).
pub const SOAK_CHUNK: u64 = 250_000;

/// Delivers `rec` as fast as the gateway reads it (at most [`WINDOW`] frames queued in the
/// simulator's socket queues). Returns (frames, seconds). Never stops half way: a recording
/// cut short would leave the display behind the truth for good.
fn replay_all(sim: &Sim, rec: &mut Recording) -> (u64, f64) {
    let start = Instant::now();
    let sent0 = sim.stats().frames_sent;
    let mut pushed = 0u64;
    while rec.frames_left() > 0 {
        let delivered = sim.stats().frames_sent.saturating_sub(sent0);
        if pushed.saturating_sub(delivered) > WINDOW {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        pushed += sim.replay(rec, REPLAY_BATCH) as u64;
    }
    // Then until the simulator has written them all to the sockets (not only queued them):
    // the next chunk's recording must not hide the gateway's last reads from the time. A
    // frame for a channel without a socket is never written, so this gives up after 5 s
    // without progress.
    let (mut last, mut since) = (0, Instant::now());
    loop {
        let delivered = sim.stats().frames_sent.saturating_sub(sent0);
        if delivered >= pushed || since.elapsed() > Duration::from_secs(5) {
            break;
        }
        if delivered != last {
            (last, since) = (delivered, Instant::now());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    (pushed, start.elapsed().as_secs_f64())
}

/// Replays one recording made beforehand (issue 16 point 1: the load side's cost per frame
/// is a queue push and the socket write, the JSON was built before the clock started).
pub fn drive_recording(sim: Sim, mut rec: Recording) -> Driver {
    Driver::spawn("drive-replay", move |_stop, e| {
        let (frames, secs) = replay_all(&sim, &mut rec);
        e.store(rec.replayed_events(), Ordering::Relaxed);
        Driven {
            events: rec.replayed_events(),
            secs,
            recorded_secs: 0.0,
            frames,
        }
    })
}

/// Records [`SOAK_CHUNK`] events, replays them as fast as the gateway reads, and again, until
/// `budget` events or `until` (checked between chunks: a chunk is always delivered whole).
pub fn drive_replay(sim: Sim, budget: u64, until: Option<Instant>) -> Driver {
    Driver::spawn("drive-replay", move |s, e| {
        let mut d = Driven::default();
        while d.events < budget
            && !s.load(Ordering::Relaxed)
            && until.is_none_or(|u| Instant::now() < u)
        {
            let t = Instant::now();
            let mut rec = sim.record((budget - d.events).min(SOAK_CHUNK) as usize);
            d.recorded_secs += t.elapsed().as_secs_f64();
            if rec.events() == 0 {
                break;
            }
            let (frames, secs) = replay_all(&sim, &mut rec);
            d.frames += frames;
            d.secs += secs;
            d.events += rec.replayed_events();
            e.store(d.events, Ordering::Relaxed);
        }
        d
    })
}

/// Most events per `Sim::step` call of the paced driver.
const RATE_STEP_MAX: u64 = 1_000;
/// Events per `Sim::step` call of the max-rate driver.
const BATCH: usize = 500;
/// Frames allowed between the simulator's socket queues and the gateway (far below the
/// sim's 65,536-frame slow-consumer limit per socket): the driver waits above it.
const WINDOW: u64 = 20_000;

/// Generates events as fast as the gateway reads them (at most [`WINDOW`] frames queued in
/// the simulator), until `budget` events or `until`, or until stopped.
pub fn drive_max(sim: Sim, budget: u64, until: Option<Instant>) -> Driver {
    Driver::spawn("drive-max", move |s, e| {
        let start = Instant::now();
        let mut done = 0u64;
        while done < budget
            && !s.load(Ordering::Relaxed)
            && until.is_none_or(|u| Instant::now() < u)
        {
            let st = sim.stats();
            if routed(&st).saturating_sub(st.frames_sent) > WINDOW {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            let n = (budget - done).min(BATCH as u64) as usize;
            done += sim.step(n) as u64;
            e.store(done, Ordering::Relaxed);
        }
        Driven {
            events: done,
            secs: start.elapsed().as_secs_f64(),
            ..Driven::default()
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The display's view against the truth (the same comparison as tests/support/mod.rs, less the
// REST-polled `answered`: see `diff_events`)

pub use presence_gateway::demo::truth::{diff_events, diff_presence_routing, wire_presence};

/// Waits until the display's view equals the truth (every figure but `answered`, which no
/// notification carries and the gateway reads every `queue_figures_secs`, an hour here):
/// Ok(time waited), or Err(the first differences) after `timeout`.
pub async fn converge(
    sim: &Sim,
    view: &Subscriber,
    timeout: Duration,
) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    loop {
        let d = diff_events(&view.snapshot(), &sim.truth());
        if d.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            let n = d.len();
            let mut first: Vec<String> = d.into_iter().take(3).collect();
            first.insert(0, format!("{n} differences"));
            return Err(first);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the simulator has answered no REST request for `quiet` (its rate-limit window
/// is then fresh for the next run), at most `timeout`.
pub async fn rest_idle(sim: &Sim, quiet: Duration, timeout: Duration) -> bool {
    let start = Instant::now();
    let mut last = sim.stats().rest_requests;
    let mut since = Instant::now();
    while start.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = sim.stats().rest_requests;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return true;
        }
    }
    false
}
