//! End to end: simulator → gateway (started from a site config, as in production) → real
//! MQTT broker → a display subscriber decoding frames. The display's view must equal the
//! simulator's ground truth exactly after a scenario.

use std::time::Duration;

use crate::support::*;
use presence_gateway::display::Subscriber;
use presence_gateway::topics::Topics;

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
    wait_for("first resync", Duration::from_secs(180), || {
        m.upstream.resyncs.get() >= 1
    })
    .await;
    converge(&sim, &display, Duration::from_secs(180)).await;

    let mut generated = 0;
    while generated < 10_000 {
        generated += sim.step(500);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = converge(&sim, &display, Duration::from_secs(180)).await;
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

/// Site engineers watch the gateway over MQTT: `$state`, birth (session), retained health
/// and metrics JSON, and the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_topics_report_state_birth_health_metrics_and_audit() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    use std::collections::HashMap;

    let sim = sim(20, 2, 5).await;
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("mon");
    let config = config(&sim, &broker, &dir.path().join("state"), &site, "");
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let mut opts = MqttOptions::new(format!("watcher-{site}"), broker.0.clone(), broker.1);
    opts.set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, mut events) = AsyncClient::new(opts, 16);
    client
        .subscribe(format!("{}/gateway/#", topics.base()), QoS::AtLeastOnce)
        .await
        .unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<String, Vec<String>>::new()));
    let s2 = seen.clone();
    let watcher = tokio::spawn(async move {
        while let Ok(ev) = events.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = ev {
                let text = String::from_utf8_lossy(&p.payload).into_owned();
                s2.lock()
                    .unwrap()
                    .entry(p.topic.clone())
                    .or_default()
                    .push(text);
            }
        }
    });
    let gw = presence_gateway::app::start(config).await.unwrap();
    let m = gw.metrics.clone();
    wait_for("first resync", Duration::from_secs(30), || {
        m.upstream.resyncs.get() >= 1
    })
    .await;
    let has = |topic: &str, needle: &str| {
        seen.lock()
            .unwrap()
            .get(topic)
            .is_some_and(|v| v.iter().any(|t| t.contains(needle)))
    };
    let health_ok = format!("\"status\":\"ok\",\"session\":{}", gw.session);
    wait_for("monitor documents", Duration::from_secs(15), || {
        has(&topics.state(), "online")
            && has(&topics.birth(), &format!("\"session\":{}", gw.session))
            && has(&topics.health(), &health_ok)
            && has(&topics.health(), "\"resync_done\":")
            && has(&topics.metrics(), "\"frames\":")
            && has(&topics.audit(), "\"kind\":\"subscribe\"")
            && has(&topics.audit(), "\"kind\":\"resync\"")
    })
    .await;
    // Every metrics document is valid JSON with the per-stage counters.
    let docs = seen
        .lock()
        .unwrap()
        .get(&topics.metrics())
        .cloned()
        .unwrap();
    for d in &docs {
        assert!(d.starts_with('{') && d.ends_with('}'), "{d}");
        for key in [
            "\"rejects\":",
            "\"coalesced\":",
            "\"rss_kib\":",
            "\"latency_p99_us\":",
        ] {
            assert!(d.contains(key), "{key} missing in {d}");
        }
    }
    gw.stop().await;
    wait_for(
        "$state offline after a clean stop",
        Duration::from_secs(10),
        || has(&topics.state(), "offline"),
    )
    .await;
    watcher.abort();
}
