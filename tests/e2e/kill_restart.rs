//! kill -9 during a burst, then restart: the new process republishes the state it finds in
//! sled before it has any upstream connection (proved by holding the simulator's REST API
//! in a 429 storm), then converges to the ground truth, including what changed while it
//! was dead. The gateway runs as a real child process started from a config file.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use crate::support::*;
use genesys_sim::Fault;
use presence_gateway::config::{ENV_CLIENT_ID, ENV_CLIENT_SECRET};
use presence_gateway::display::Subscriber;
use presence_gateway::topics::Topics;

/// The storm that holds the restarted gateway off the REST API (429, Retry-After = this): far
/// longer than a start-up from sled takes, even on a loaded CI machine (about 0.1 s seen here).
const STORM: Duration = Duration::from_secs(15);

fn spawn_gateway(config: &Path, log: &Path, sim: &genesys_sim::Sim) -> GatewayProcess {
    let cfg = sim.config();
    let args = [
        OsStr::new("run"),
        OsStr::new("--config"),
        config.as_os_str(),
    ];
    let envs = [
        (ENV_CLIENT_ID, cfg.client_id.as_str()),
        (ENV_CLIENT_SECRET, cfg.client_secret.as_str()),
    ];
    GatewayProcess::spawn(&args, &envs, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_then_restart_republishes_from_sled_and_converges() {
    let sim = sim(100, 5, 7).await;
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("kill");
    let state = dir.path().join("state");
    let toml = presence_gateway::demo::site_toml(
        &sim.api_base(),
        &sim.queues(),
        (&broker.0, broker.1),
        &state,
    )
    .replace("id = \"demo\"", &format!("id = \"{site}\""));
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, toml).unwrap();
    let topics = Topics::new("presence", &site);
    let display = Subscriber::start(broker.clone(), &topics, "all");
    let audit = Probe::start(&broker, &[topics.audit()]).await;

    let log = dir.path().join("gateway.log");
    let mut child = spawn_gateway(&config_path, &log, &sim);
    converge(&sim, &display, Duration::from_secs(180)).await;
    let first_session = display.snapshot().session.expect("a session");
    // The gateway says its resync is on disk (a flush before the resync is reported done):
    // from here a kill cannot lose the snapshot, however fast the machine.
    wait_for(
        "the resync's audit event saying it is on disk",
        Duration::from_secs(60),
        || resync_on_disk(&audit, &topics),
    )
    .await;

    // A burst, killed in the middle.
    for _ in 0..5 {
        sim.step(200);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // SIGKILL: no shutdown code runs. The broker publishes the last will: displays show the
    // gateway as lost.
    child.kill();
    wait_for("$state = lost (last will)", Duration::from_secs(10), || {
        display.snapshot().gateway_state.as_deref() == Some("lost")
    })
    .await;
    // The world moves on while the gateway is dead (these events are lost upstream).
    sim.step(500);

    // Hold the REST API in a storm: the restarted gateway cannot open a channel yet.
    sim.fault(Fault::RateLimitStorm {
        secs: STORM.as_secs(),
    });
    let sockets_before = sim.stats().ws_connections;
    let _child = spawn_gateway(&config_path, &log, &sim);
    let next = first_session + 1;
    wait_for(
        "republish of every agent from sled",
        Duration::from_secs(20),
        || {
            let f = display.snapshot();
            f.agent_sessions.len() == 100 && f.agent_sessions.values().all(|&s| s == next)
        },
    )
    .await;
    assert_eq!(
        sim.stats().ws_connections,
        sockets_before,
        "the republish must come from sled, before any upstream socket"
    );

    // Storm over: channel, resync, convergence to the truth that includes the lost events.
    converge(&sim, &display, Duration::from_secs(180)).await;
}

/// True once the gateway has reported a resync whose state reached the disk.
fn resync_on_disk(audit: &Probe, topics: &Topics) -> bool {
    audit.on(&topics.audit()).iter().any(|p| {
        let text = String::from_utf8_lossy(p);
        text.contains("\"kind\":\"resync\"") && text.contains("on disk (flush")
    })
}

/// How many random kill points: 20 (the figure) natively; 5 under an emulator, where
/// each gateway start costs seconds. `PG_KILL_POINTS` overrides.
fn kill_points() -> usize {
    if let Some(n) = std::env::var("PG_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if std::env::var("PG_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty()) {
        5
    } else {
        20
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_at_random_points_during_a_burst_always_converges_and_sled_survives() {
    let sim = std::sync::Arc::new(sim(80, 4, 11).await);
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("kill20");
    let state = dir.path().join("state");
    let toml = presence_gateway::demo::site_toml(
        &sim.api_base(),
        &sim.queues(),
        (&broker.0, broker.1),
        &state,
    )
    .replace("id = \"demo\"", &format!("id = \"{site}\""));
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, toml).unwrap();
    let display = Subscriber::start(broker.clone(), &Topics::new("presence", &site), "all");
    let log = dir.path().join("gateway.log");

    // A burst that never stops while the gateway is killed and restarted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burst = {
        let (sim, stop) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            let mut events = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                events += sim.step(25);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            events
        })
    };
    // `PG_KILL_SEED` replays a printed seed's kill delays (the burst's timing still varies).
    let seed = std::env::var("PG_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let points = kill_points();
    println!("kill points: {points}, seed {seed}");
    let mut first_session = None;
    for i in 0..points {
        let mut child = spawn_gateway(&config_path, &log, &sim);
        // Early points land in boot (sled load, token, channel); later ones mid-stream.
        let delay = Duration::from_millis(rng.u64(30..1_500));
        tokio::time::sleep(delay).await;
        child.kill();
        if first_session.is_none() {
            first_session = display.snapshot().session;
        }
        println!("kill {i} after {delay:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let events = burst.await.unwrap();

    // Restart: the store opens (never quarantined), and the display converges to the truth.
    let _child = spawn_gateway(&config_path, &log, &sim);
    if let Err(u) = try_converge(&sim, &display, Duration::from_secs(120)).await {
        // The evidence for a rare failure: the last boot's log lines about resyncs and
        // conversations, and those naming the first differing agent or its conversation.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let last_boot = text.rfind("state loaded from sled").unwrap_or(0);
        let names = [
            u.first.clone(),
            u.conversation.as_ref().map(|c| c.id.clone()),
        ];
        let lines: Vec<&str> = text[last_boot..]
            .lines()
            .filter(|l| {
                l.contains("resync")
                    || l.contains("conversation")
                    || names
                        .iter()
                        .flatten()
                        .any(|n| !n.is_empty() && l.contains(n.as_str()))
            })
            .take(40)
            .collect();
        panic!("{u}\nseed {seed}\nlast boot's log:\n{}", lines.join("\n"));
    }
    let session = display.snapshot().session.expect("a session");
    let corrupt: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("corrupt"))
        .collect();
    assert!(corrupt.is_empty(), "sled was quarantined: {corrupt:?}");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains("quarantined"),
        "a boot found sled unreadable (seed {seed})"
    );
    // Every start that got as far as opening the store did so (a kill in the first
    // milliseconds, before the store opens, is seen under qemu), the last one included.
    let boots = log_text.matches("state loaded from sled").count();
    assert!(
        (1..=points + 1).contains(&boots),
        "{boots} boots opened the store for {} starts (seed {seed})",
        points + 1
    );
    println!("{boots} of {} starts reached the store", points + 1);
    println!(
        "{points} kills during {events} events: converged, session {session} (first seen {first_session:?}), sled never quarantined"
    );
}
