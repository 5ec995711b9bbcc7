//! End to end: simulator → gateway (started from a site config, as in production) → real
//! MQTT broker → a display subscriber decoding frames. The display's view must equal the
//! simulator's ground truth exactly after a scenario.

mod support;

use std::time::Duration;

use presence_gateway::demo::view::Subscriber;
use presence_gateway::topics::Topics;
use support::*;

/// Issue 3's acceptance scenario: 500 agents, 20 queues, 10,000 events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_agents_ten_thousand_events_match_ground_truth() {
    let sim = sim(500, 20, 42).await;
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("e2e");
    let config = config(&sim, &broker, &dir.path().join("state"), &site, "");
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let display = Subscriber::start(broker.clone(), &topics, "all");
    let gw = presence_gateway::app::start(config).await.unwrap();

    let m = gw.metrics.clone();
    wait_for("first resync", Duration::from_secs(60), || {
        m.upstream.resyncs.get() >= 1
    })
    .await;
    converge(&sim, &display, Duration::from_secs(60)).await;

    let mut generated = 0;
    while generated < 10_000 {
        generated += sim.step(500);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = converge(&sim, &display, Duration::from_secs(60)).await;
    eprintln!("converged {took:?} after the last of {generated} events");

    let floor = display.snapshot();
    assert_eq!(floor.agents.len(), 500);
    assert_eq!(floor.queues.len(), 20);
    assert_eq!(floor.bad_frames, 0);
    assert_eq!(floor.gateway_state.as_deref(), Some("online"));
    assert_eq!(floor.session, Some(gw.session));
    // Every event reached the gateway: nothing rejected, and frames were received.
    assert_eq!(m.rejects_total(), 0, "no sim frame may be rejected");
    assert!(
        m.upstream.events.get() >= 10_000,
        "events decoded: {}",
        m.upstream.events.get()
    );
    gw.stop().await;
}
