//! kill -9 during a burst, then restart: the new process republishes the state it finds in
//! sled before it has any upstream connection (proved by holding the simulator's REST API
//! in a 429 storm), then converges to the ground truth, including what changed while it
//! was dead. The gateway runs as a real child process started from a config file.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use genesys_sim::Fault;
use presence_gateway::config::{ENV_CLIENT_ID, ENV_CLIENT_SECRET};
use presence_gateway::demo::view::Subscriber;
use presence_gateway::topics::Topics;
use support::*;

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

    let log = dir.path().join("gateway.log");
    let mut child = spawn_gateway(&config_path, &log, &sim);
    converge(&sim, &display, Duration::from_secs(180)).await;
    let first_session = display.snapshot().session.expect("a session");

    // A burst, killed in the middle.
    for _ in 0..5 {
        sim.step(200);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    child.kill(); // SIGKILL: no shutdown code runs
                  // The broker publishes the last will: displays show the gateway as lost.
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
