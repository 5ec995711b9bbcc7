//! Shared harness for end-to-end tests: a simulator, a real broker (embedded rumqttd, or
//! mosquitto when `PG_TEST_MOSQUITTO=host:port` is set, as CI does), a gateway started from a
//! site config exactly as in production, a display subscriber, and the comparison of what
//! the display decoded against the simulator's ground truth.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use genesys_sim::{Sim, SimConfig};
use presence_gateway::config::Config;
use presence_gateway::demo::{broker, sim_env, site_toml};
use presence_gateway::display::floor::{Floor, Subscriber};
use presence_wire::{AgentFrame, QueueFrame};
use serde_json::Value;

/// The broker tests publish to: (host, port).
pub fn broker() -> (String, u16) {
    if let Ok(addr) = std::env::var("PG_TEST_MOSQUITTO") {
        let (host, port) = addr.rsplit_once(':').expect("PG_TEST_MOSQUITTO=host:port");
        return (host.to_string(), port.parse().expect("port"));
    }
    let b = broker::start().expect("embedded broker");
    ("127.0.0.1".to_string(), b.port)
}

/// A unique site id, so tests sharing one mosquitto never see each other's retained frames.
pub fn site_id(name: &str) -> String {
    format!("{name}-{}", fastrand::u32(..))
}

/// A site config for `sim`, with the site id replaced and extra TOML appended to [genesys]
/// (and to [watch], for what follows a `[watch]` line in it).
pub fn config(
    sim: &Sim,
    broker: &(String, u16),
    state_dir: &Path,
    site: &str,
    genesys_extra: &str,
) -> Config {
    let toml = site_toml(
        &sim.api_base(),
        &sim.queues(),
        (&broker.0, broker.1),
        state_dir,
    )
    .replace("id = \"demo\"", &format!("id = \"{site}\""));
    // What follows a `[watch]` line in `genesys_extra` goes into the `[watch]` table.
    let (genesys, watch) = genesys_extra
        .split_once("[watch]\n")
        .unwrap_or((genesys_extra, ""));
    let toml = toml.replace("[watch]", &format!("{genesys}\n[watch]\n{watch}"));
    Config::from_toml_str(&toml, state_dir, &sim_env(&sim.config())).expect("valid config")
}

/// Logs to the test's captured output (`RUST_LOG` filters; default warn).
pub fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}

/// Starts a simulator.
pub async fn sim(agents: usize, queues: usize, seed: u64) -> Sim {
    init_logs();
    Sim::start(SimConfig {
        agents,
        queues,
        seed,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

pub use presence_gateway::demo::truth::diff;

impl Scenario {
    /// Moves the simulator's clock `total` forward one heartbeat period at a time; after each
    /// step, waits (real time) until the gateway has received a heartbeat sent in it, so the
    /// gateway's watchdog never sees more than one period of silence and times out only when a
    /// test stops the heartbeats (no wait while no socket is connected). Returns the steps taken.
    pub async fn advance(&self, total: Duration) -> u32 {
        advance(&self.sim, &self.gw.metrics, total).await
    }

    /// [`converge`], and on failure also shows what the gateway's own table holds for the
    /// first differing agent (tells a gateway fault from a broker/display one).
    pub async fn converge(&self, timeout: Duration) -> Duration {
        converge_with(&self.sim, &self.display, timeout, Some(&self.gw)).await
    }
}

/// [`Scenario::advance`] for a gateway started by the test itself (on the sim's clock).
pub async fn advance(sim: &Sim, m: &presence_gateway::metrics::Metrics, total: Duration) -> u32 {
    let period = sim.config().heartbeat_interval;
    let mut left = total;
    let mut steps = 0;
    while !left.is_zero() {
        // A rotation runs in real time (its REST calls are paced at the gateway's budget, ~10 s
        // for 19 channels), while this loop can move hours of simulated time in a second:
        // the clock waits for it, as real time would (a rotation starts hours before any
        // deadline it meets).
        let start = Instant::now();
        while m.upstream.rotating.get() == 1 {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "a rotation still running after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let d = left.min(period);
        let before = m.upstream.heartbeats.get();
        let sent_before = sim.stats().heartbeats_sent;
        sim.advance(d);
        left -= d;
        steps += 1;
        if d < period {
            break; // a partial period need not carry a heartbeat
        }
        // Every heartbeat the step sent (one per open socket: two during a rotation)
        // should arrive before the clock moves on; one sent to a socket the gateway was
        // closing never will, so after a short grace one arrival is enough.
        let sent = sim.stats().heartbeats_sent - sent_before;
        let start = Instant::now();
        let disconnects = m.upstream.disconnects.get();
        loop {
            let got = m.upstream.heartbeats.get() - before;
            if got >= sent || (got > 0 && start.elapsed() > Duration::from_millis(200)) {
                break;
            }
            // A socket that ended carries no heartbeat: that gap is for the test to judge.
            if m.upstream.disconnects.get() != disconnects || m.upstream.connected.get() != 1 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no heartbeat reached the gateway after advancing the sim clock by {d:?} \
                 ({steps} steps, {left:?} left, {sent} sent)"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    steps
}

/// Waits until the display equals the truth, or panics after `timeout` with the differences.
pub async fn converge(sim: &Sim, display: &Subscriber, timeout: Duration) -> Duration {
    converge_with(sim, display, timeout, None).await
}

/// Waits until the display equals the truth; after `timeout`, the differences (at most 8) and
/// the truth's conversation of the first differing agent, for the caller's failure message.
pub async fn try_converge(
    sim: &Sim,
    display: &Subscriber,
    timeout: Duration,
) -> Result<Duration, Unconverged> {
    let start = Instant::now();
    loop {
        let truth = sim.truth();
        let d = diff(&display.snapshot(), &truth);
        if d.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            let first = d[0]
                .split_whitespace()
                .nth(1)
                .map(|id| id.trim_end_matches(':'));
            let conversation = first
                .and_then(|id| truth.agents.get(id))
                .and_then(|a| a.conversation.clone());
            return Err(Unconverged {
                timeout,
                count: d.len(),
                first: first.map(str::to_owned),
                differences: d.into_iter().take(8).collect(),
                conversation,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What [`try_converge`] saw when the display had not converged.
#[derive(Debug)]
pub struct Unconverged {
    pub timeout: Duration,
    pub count: usize,
    /// The first differing agent or queue id.
    pub first: Option<String>,
    pub differences: Vec<String>,
    /// The truth's latest conversation of the first differing agent.
    pub conversation: Option<genesys_sim::ConversationTruth>,
}

impl std::fmt::Display for Unconverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "display did not converge to the truth within {:?}: {} differences, first: {:#?}\ntruth's conversation of the first: {:?}",
            self.timeout, self.count, self.differences, self.conversation
        )
    }
}

async fn converge_with(
    sim: &Sim,
    display: &Subscriber,
    timeout: Duration,
    gw: Option<&presence_gateway::app::Running>,
) -> Duration {
    match try_converge(sim, display, timeout).await {
        Ok(d) => d,
        Err(u) => {
            let gateway_view = gw.zip(u.first.as_deref()).and_then(|(gw, id)| {
                let key =
                    presence_gateway::state::Key::Agent(presence_gateway::event::Id::parse(id)?);
                Some(format!("{:?}", gw.shared.lock().get(&key)))
            });
            panic!("{u}\ngateway table for the first: {gateway_view:?}");
        }
    }
}

/// Says that a test did not run, where it is seen: on the process's real standard error,
/// which the test harness does not capture (a passing test's `eprintln!` is never shown), so
/// `cargo test` prints the line even though the test counts as passed. Under `CI=true` the
/// callers fail instead.
pub fn skipped(what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}");
}

/// Waits for `cond`, panicking with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running scenario: simulator, display, gateway (in-process), its state directory.
pub struct Scenario {
    /// The simulated org.
    pub sim: Sim,
    /// The display's view.
    pub display: Subscriber,
    /// The gateway.
    pub gw: presence_gateway::app::Running,
    /// Holds the state directory alive.
    pub dir: tempfile::TempDir,
    /// The broker (host, port).
    pub broker: (String, u16),
}

/// Starts sim + broker + gateway + display and waits for the first convergence.
/// `genesys_extra` is TOML added to the `[genesys]` table (timers for fault tests).
pub async fn scenario(agents: usize, queues: usize, seed: u64, genesys_extra: &str) -> Scenario {
    let cfg = SimConfig {
        agents,
        queues,
        seed,
        ..SimConfig::default()
    };
    scenario_with(cfg, genesys_extra).await
}

/// [`scenario`] with a simulator configured by the caller.
pub async fn scenario_with(cfg: SimConfig, genesys_extra: &str) -> Scenario {
    scenario_skewed(cfg, genesys_extra, 0).await
}

/// [`scenario_with`] whose gateway clock reads the simulator's clock plus `skew_ms` (a box
/// that booted without a real-time clock, before NTP).
pub async fn scenario_skewed(cfg: SimConfig, genesys_extra: &str, skew_ms: i64) -> Scenario {
    let s = scenario_prepared(cfg, genesys_extra, skew_ms, |_| {}).await;
    let m = s.gw.metrics.clone();
    // The boot done: the first resync, then the watch set read again once subscribed (a test
    // that counts requests or resyncs from here must not see the boot's).
    wait_for("first resync and re-read", Duration::from_secs(30), || {
        m.upstream.resyncs.get() >= 1 && m.upstream.rediscoveries.get() >= 1
    })
    .await;
    converge(&s.sim, &s.display, Duration::from_secs(30)).await;
    s
}

/// Starts sim + broker + gateway + display, with `prepare` run on the simulator before the
/// gateway starts (faults the gateway must meet from its first request); returns at once.
pub async fn scenario_prepared(
    cfg: SimConfig,
    genesys_extra: &str,
    skew_ms: i64,
    prepare: impl FnOnce(&Sim),
) -> Scenario {
    init_logs();
    let sim = Sim::start(cfg).await.expect("simulator");
    prepare(&sim);
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("s");
    let config = config(
        &sim,
        &broker,
        &dir.path().join("state"),
        &site,
        genesys_extra,
    );
    let topics = presence_gateway::topics::Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let display = Subscriber::start(broker.clone(), &topics, "all");
    // The gateway's protocol timers run on the simulator's clock: `Scenario::advance` moves
    // hours of channel life or seconds of heartbeat silence without wall-clock waits.
    let read = sim.clock_reader();
    let clock =
        presence_gateway::clock::Clock::external(move || read().saturating_add_signed(skew_ms));
    let gw = presence_gateway::app::start_with_clock(config, clock)
        .await
        .expect("gateway starts");
    Scenario {
        sim,
        display,
        gw,
        dir,
        broker,
    }
}

/// The gateway binary as a command; cross-target runs (CI under qemu-user) name the emulator
/// in `PG_TEST_RUNNER="qemu-aarch64 -L …"`, since the test host cannot exec an ARM binary itself.
/// `PG_TEST_GATEWAY` names another gateway binary to run instead of the one cargo built (CI
/// points it at the firmware of the shipped bundle).
pub fn gateway_command() -> std::process::Command {
    let exe = std::env::var("PG_TEST_GATEWAY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_presence-gateway").to_string());
    let runner = std::env::var("PG_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut c = std::process::Command::new(emulator);
            c.args(words).arg(exe);
            c
        }
        None => std::process::Command::new(exe),
    }
}

/// A gateway binary running as a child process. Dropping it kills the process (SIGKILL) and
/// reaps it, so a failing test never leaves a gateway behind that holds the test runner's
/// output pipe open (CI would wait on it forever). Its log goes to a file; when the test is
/// panicking, the last lines are printed so the failure shows the gateway's own account.
pub struct GatewayProcess {
    child: Option<std::process::Child>,
    log: std::path::PathBuf,
}

impl GatewayProcess {
    /// Starts `gateway_command()` with `args` and `envs`, logging at `info` to `log`.
    pub fn spawn(args: &[&std::ffi::OsStr], envs: &[(&str, &str)], log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("gateway log file");
        let mut cmd = gateway_command();
        cmd.args(["--log", "info"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn gateway");
        Self {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL and reap: no shutdown code runs in the gateway.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last `n` lines of the gateway's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let running = self.child.is_some();
        self.kill();
        if running && std::thread::panicking() {
            eprintln!(
                "---- gateway log ({}), last lines:\n{}",
                self.log.display(),
                self.log_tail(60)
            );
        }
    }
}

/// Messages a [`Probe`] received: (topic, payload, retain flag), in order.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>, bool)>>>;

/// A plain MQTT client for tests: subscribes to filters, records every message received
/// (topic, payload, retain flag), and publishes.
pub struct Probe {
    /// Messages received, in order.
    pub seen: Seen,
    client: rumqttc::AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Connects and subscribes to `filters` (QoS 1); returns once subscribed.
    pub async fn start(broker: &(String, u16), filters: &[String]) -> Probe {
        use rumqttc::{Event, MqttOptions, Packet, QoS};
        let mut opts = MqttOptions::new(
            format!("probe-{}", fastrand::u32(..)),
            broker.0.clone(),
            broker.1,
        );
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 64);
        let seen: Seen = Default::default();
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let sub = client.clone();
        let filters = filters.to_vec();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for f in &filters {
                            let _ = sub.subscribe(f, QoS::AtLeastOnce).await;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        log.lock()
                            .unwrap()
                            .push((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
            .await
            .expect("probe subscribed in 10 s")
            .expect("probe task alive");
        Probe { seen, client, task }
    }

    /// Publishes `payload` to `topic` (QoS 1, not retained).
    pub async fn publish(&self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .expect("probe publish");
    }

    /// Messages received on `topic` so far.
    pub fn on(&self, topic: &str) -> Vec<Vec<u8>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == topic)
            .map(|(_, p, _)| p.clone())
            .collect()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A JSON enum name as the wire enum (`Default` when absent or unknown).
pub fn enum_of<T: serde::de::DeserializeOwned + Default>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// A JSON time as wire seconds (0 when `null`).
pub fn since(v: &Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// A JSON figure (`null` → `None`).
pub fn opt<T: TryFrom<u64>>(v: &Value) -> Option<T> {
    v.as_u64().and_then(|n| T::try_from(n).ok())
}

/// A floor written as JSON (`{"agents": {id: {…}}, "queues": {id: {…}}}` with the field names
/// of `presence-gateway decode`: the web page's `window.floor`, the JSON mirror's documents)
/// as the Rust display's [`Floor`], the one [`diff`] judges. An unknown time (`null`) is 0 as
/// on the wire.
pub fn floor_of_json(page: &Value) -> Floor {
    let mut floor = Floor::default();
    for (id, a) in page["agents"].as_object().into_iter().flatten() {
        let mut flags = 0;
        for (key, bit) in [
            ("wrapup", AgentFrame::WRAPUP),
            ("stale", AgentFrame::STALE),
            ("out_of_office", AgentFrame::OUT_OF_OFFICE),
        ] {
            if a[key] == true {
                flags |= bit;
            }
        }
        floor.agents.insert(
            id.clone(),
            AgentFrame {
                presence: enum_of(&a["presence"]),
                presence_since: since(&a["presence_since"]),
                routing: enum_of(&a["routing"]),
                routing_since: since(&a["routing_since"]),
                media: enum_of(&a["media"]),
                interaction: enum_of(&a["interaction"]),
                interaction_since: since(&a["interaction_since"]),
                flags,
            },
        );
    }
    for (id, q) in page["queues"].as_object().into_iter().flatten() {
        floor.queues.insert(
            id.clone(),
            QueueFrame {
                waiting: opt(&q["waiting"]),
                interacting: opt(&q["interacting"]),
                alerting: opt(&q["alerting"]),
                on_queue: opt(&q["on_queue"]),
                off_queue: opt(&q["off_queue"]),
                longest_waiting_s: opt(&q["longest_waiting_s"]),
                observed: 0,
                offered: opt(&q["offered"]),
                answered: opt(&q["answered"]),
                abandoned: opt(&q["abandoned"]),
                service_level_pct: opt(&q["service_level_pct"]),
                level: enum_of(&q["level"]),
            },
        );
    }
    floor
}
