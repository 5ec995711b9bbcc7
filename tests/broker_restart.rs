//! Broker restart: mosquitto (a real, separate broker process) is stopped while events keep
//! arriving, stays down, and comes back empty (no persistence). The gateway keeps state,
//! coalesces, and republishes everything on reconnect; the display converges to the truth.
//! A second run keeps the broker down for ten minutes of simulated time (the gateway on the
//! simulator's clock, heartbeats flowing), checks the backlog stays one entry per key and
//! memory flat, and times the republish against a bound derived from config.
//! Needs the `mosquitto` binary (CI installs it); without it the test says so and passes.

#[path = "e2e/support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use presence_gateway::display::Subscriber;
use presence_gateway::topics::Topics;
use support::*;

fn mosquitto(port: u16, dir: &std::path::Path) -> Option<Child> {
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
        ),
    )
    .ok()?;
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut child = child;
    for _ in 0..100 {
        // Listening, and it is ours: a mosquitto that could not bind exits.
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(
                matches!(child.try_wait(), Ok(None)),
                "mosquitto exited: port {port} is held by another process"
            );
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A mosquitto on a free port, or `None` when the binary is missing.
fn first_mosquitto(dir: &std::path::Path) -> Option<(Child, u16)> {
    let port = presence_gateway::demo::broker::free_port().ok()?;
    Some((mosquitto(port, dir)?, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_then_back_empty_gets_everything_republished() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut broker, port)) = first_mosquitto(dir.path()) else {
        eprintln!("SKIPPED: no mosquitto binary on this machine (CI installs it)");
        return;
    };
    let sim = sim(80, 4, 21).await;
    let addr = ("127.0.0.1".to_string(), port);
    let site = site_id("broker");
    let config = config(&sim, &addr, &dir.path().join("state"), &site, "");
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let gw = presence_gateway::app::start(config).await.unwrap();
    let m = gw.metrics.clone();
    wait_for("first resync", Duration::from_secs(30), || {
        m.upstream.resyncs.get() >= 1
    })
    .await;
    {
        let display = Subscriber::start(addr.clone(), &topics, "all");
        converge(&sim, &display, Duration::from_secs(30)).await;
    }

    broker.kill().unwrap();
    broker.wait().unwrap();
    // The floor keeps changing while the broker is down: the gateway holds the latest state.
    for _ in 0..10 {
        sim.step(100);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(
        "the gateway to notice the broker is gone",
        Duration::from_secs(10),
        || m.publish.connected.get() == 0,
    )
    .await;
    let coalesced_before = m.state.coalesced.get();
    sim.step(500);
    wait_for(
        "updates to coalesce while the broker is down",
        Duration::from_secs(30),
        || m.state.coalesced.get() > coalesced_before,
    )
    .await;

    // Back, empty: no retained frame survived. Everything must be republished.
    let mut broker = mosquitto(port, dir.path()).expect("mosquitto restarts");
    let display = Subscriber::start(addr.clone(), &topics, "all");
    let took = converge(&sim, &display, Duration::from_secs(30)).await;
    eprintln!("display converged {took:?} after the broker came back");
    assert!(m.publish.republishes.get() >= 2, "a republish sweep ran");
    gw.stop().await;
    broker.kill().unwrap();
    broker.wait().unwrap();
}

/// Resident set of this test process (gateway, simulator and display together), KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_ten_simulated_minutes_keeps_state_and_republishes_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut broker, port)) = first_mosquitto(dir.path()) else {
        eprintln!("SKIPPED: no mosquitto binary on this machine (CI installs it)");
        return;
    };
    let (agents, queues) = (120, 6);
    let sim = sim(agents, queues, 24).await;
    let addr = ("127.0.0.1".to_string(), port);
    let site = site_id("broker10");
    // The small board (512 MiB armv7, 4 MiB sled cache): its budget is the memory bound.
    let state = dir.path().join("state");
    let toml = presence_gateway::demo::site_toml(
        &sim.api_base(),
        &sim.queues(),
        (&addr.0, addr.1),
        &state,
    )
    .replace("id = \"demo\"", &format!("id = \"{site}\""))
    .replace("board = \"x86_64\"", "board = \"armv7-512\"");
    let config = presence_gateway::config::Config::from_toml_str(
        &toml,
        &state,
        &presence_gateway::demo::sim_env(&sim.config()),
    )
    .expect("valid config");
    assert_eq!(config.board.name.as_str(), "armv7-512");
    let rate = config.board.capacity.republish_per_second;
    let sled_cache_kib = config.board.capacity.sled_cache_bytes / 1024;
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    // The gateway's timers on the simulator's clock: ten minutes pass in simulated time,
    // heartbeats included, with the upstream socket alive throughout.
    let clock = presence_gateway::clock::Clock::external(sim.clock_reader());
    let gw = presence_gateway::app::start_with_clock(config, clock)
        .await
        .unwrap();
    let m = gw.metrics.clone();
    wait_for("first resync", Duration::from_secs(30), || {
        m.upstream.resyncs.get() >= 1
    })
    .await;
    {
        let display = Subscriber::start(addr.clone(), &topics, "all");
        converge(&sim, &display, Duration::from_secs(30)).await;
    }
    let disconnects = m.upstream.disconnects.get();

    broker.kill().unwrap();
    broker.wait().unwrap();
    wait_for(
        "the gateway to notice the broker is gone",
        Duration::from_secs(10),
        || m.publish.connected.get() == 0,
    )
    .await;
    let coalesced_before = m.state.coalesced.get();
    // Warm-up: the first minute of the outage sizes the allocator's arenas.
    sim.step(200);
    advance(&sim, &m, Duration::from_secs(60)).await;
    let rss_start = rss_kib();
    let mut rss_peak = rss_start;
    // Nine more simulated minutes of a busy floor, events every 30 s.
    for _ in 0..18 {
        sim.step(200);
        advance(&sim, &m, Duration::from_secs(30)).await;
        rss_peak = rss_peak.max(rss_kib());
        let backlog = gw.shared.lock().dirty_len();
        assert!(
            backlog <= agents + queues,
            "the backlog is one entry per key at most: {backlog} for {} keys",
            agents + queues
        );
    }
    eprintln!("outage: rss {rss_start} KiB after the first minute, peak {rss_peak} KiB after ten");
    assert!(
        m.state.coalesced.get() > coalesced_before,
        "updates to the same key coalesce while the broker is down"
    );
    assert_eq!(
        m.upstream.disconnects.get(),
        disconnects,
        "the upstream socket lived through the outage (heartbeats on simulated time)"
    );
    // Gateway, simulator and display share this process (the simulator alone stays flat
    // over such a run). The gateway's resident set grows while sled's page cache fills,
    // with the broker up or down alike, up to the board's `sled_cache_bytes`; anything
    // past that plus 1 MiB of allocator noise would be growth the budget does not allow.
    let emulated = std::env::var("PG_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty());
    if !emulated {
        assert!(
            rss_peak <= rss_start + sled_cache_kib + 1024,
            "resident memory grew during the outage: {rss_start} -> {rss_peak} KiB \
             (sled cache budget {sled_cache_kib} KiB)"
        );
    }

    // Back, empty. The bound comes from config: one reconnect pause (1 s), the paced sweep
    // of every key at the board's `republish_per_second`, and 1 s for the display's own
    // subscription and delivery (more under qemu-user, where everything runs emulated).
    let republishes = m.publish.republishes.get();
    let back = std::time::Instant::now();
    let mut broker = mosquitto(port, dir.path()).expect("mosquitto restarts");
    let display = Subscriber::start(addr.clone(), &topics, "all");
    converge(&sim, &display, Duration::from_secs(60)).await;
    let took = back.elapsed();
    let sweep = Duration::from_secs_f64((agents + queues) as f64 / f64::from(rate.max(1)));
    let slack = if emulated { 10 } else { 1 };
    let bound = Duration::from_secs(1) + sweep + Duration::from_secs(slack);
    eprintln!("display converged {took:?} after the broker came back (bound {bound:?})");
    assert!(
        took <= bound,
        "republished in {took:?}, over the bound {bound:?}"
    );
    assert!(
        m.publish.republishes.get() > republishes,
        "a republish sweep ran"
    );
    gw.stop().await;
    broker.kill().unwrap();
    broker.wait().unwrap();
}
