//! Broker restart: mosquitto (a real, separate broker process) is stopped while events keep
//! arriving, stays down, and comes back empty (no persistence). The gateway keeps state,
//! coalesces, and republishes everything on reconnect; the display converges to the truth.
//! Needs the `mosquitto` binary (CI installs it); without it the test says so and passes.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use presence_gateway::demo::view::Subscriber;
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
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_then_back_empty_gets_everything_republished() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(mut broker) = mosquitto(port, dir.path()) else {
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        m.state.coalesced.get() > coalesced_before,
        "updates coalesce while the broker is down"
    );

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
