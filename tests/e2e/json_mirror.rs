//! The JSON mirror (`[mqtt] json_mirror = true`) and Home Assistant discovery
//! (`home_assistant_discovery = true`) end to end: simulator → gateway → broker → a plain MQTT
//! client reading `{prefix}/{site}/json/#` as Node-RED would. The documents, read back as a
//! floor, must equal the simulator's truth (the same [`diff`] every display is judged by),
//! carry the agents' and queues' names, agree with the binary roster and heatmap, and survive a
//! socket drop with events in the gap; a fresh subscriber rebuilds the same floor from the
//! retained documents alone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use genesys_sim::{Fault, Sim, SimConfig};
use presence_gateway::publish::JsonOptions;
use presence_gateway::topics::Topics;
use serde_json::{json, Value};

use crate::support::*;

/// The retained state under `{base}/json/{zone}/`, as the probe saw it last (an empty payload
/// deletes): `{"agents": {id: doc}, "queues": {id: doc}, "roster": doc, "heatmap": doc}`.
fn mirror(probe: &Probe, base: &str, zone: &str) -> Value {
    let prefix = format!("{base}/json/{zone}/");
    let mut last: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (topic, payload, _) in probe.seen.lock().unwrap().iter() {
        if let Some(rest) = topic.strip_prefix(&prefix) {
            last.insert(rest.to_string(), payload.clone());
        }
    }
    let mut out = json!({ "agents": {}, "queues": {}, "roster": null, "heatmap": null });
    for (rest, payload) in last {
        if payload.is_empty() {
            continue;
        }
        let doc: Value = serde_json::from_slice(&payload)
            .unwrap_or_else(|e| panic!("{rest}: not JSON ({e}): {payload:?}"));
        match rest.split_once('/') {
            Some(("agent", id)) => out["agents"][id] = doc,
            Some(("queue", id)) => out["queues"][id] = doc,
            None if rest == "roster" || rest == "heatmap" => out[rest.as_str()] = doc,
            _ => panic!("unexpected mirror topic {prefix}{rest}"),
        }
    }
    out
}

/// What differs between the mirror and the truth (empty when equal): the floor by [`diff`],
/// plus names, the document ids, the roster's counts, and `null` (never 0) for unknown times.
fn mirror_diff(model: &Value, sim: &Sim) -> Vec<String> {
    let mut d = diff(&floor_of_json(model), &sim.truth());
    let truth = sim.truth();
    for (id, a) in model["agents"].as_object().into_iter().flatten() {
        if a["id"] != id.as_str() {
            d.push(format!("agent {id}: id field {}", a["id"]));
        }
        if let Some(t) = truth.agents.get(id) {
            if a["name"].as_str() != Some(t.name.as_str()) {
                d.push(format!("agent {id}: name {} != {:?}", a["name"], t.name));
            }
        }
        for key in ["presence_since", "routing_since", "interaction_since"] {
            if a[key] == 0 {
                d.push(format!("agent {id}: {key} is 0, not null"));
            }
        }
    }
    for q in sim.queues() {
        let want = sim.queue_name(&q);
        if model["queues"][&q]["name"].as_str() != want.as_deref() {
            d.push(format!(
                "queue {q}: name {} != {want:?}",
                model["queues"][&q]["name"]
            ));
        }
    }
    let roster = &model["roster"];
    let agents = model["agents"].as_object().map_or(0, |m| m.len());
    let queues = model["queues"].as_object().map_or(0, |m| m.len());
    if roster["agents"] != agents || roster["queues"] != queues {
        d.push(format!(
            "roster {roster} but {agents} agent and {queues} queue documents"
        ));
    }
    d
}

async fn mirror_converges(probe: &Probe, base: &str, sim: &Sim, timeout: Duration) -> Value {
    let start = Instant::now();
    loop {
        let model = mirror(probe, base, "all");
        let d = mirror_diff(&model, sim);
        if d.is_empty() {
            return model;
        }
        assert!(
            start.elapsed() < timeout,
            "the JSON mirror did not converge within {timeout:?}: {} differences, first: {:#?}",
            d.len(),
            &d[..d.len().min(6)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_mirror_equals_the_truth_after_a_drop_and_from_retained_documents() {
    init_logs();
    let sim = Sim::start(SimConfig {
        agents: 40,
        queues: 3,
        seed: 43,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let broker = broker();
    let dir = tempfile::tempdir().unwrap();
    let site = site_id("json");
    let mut config = config(
        &sim,
        &broker,
        &dir.path().join("state"),
        &site,
        "backoff_min_ms = 50\nbackoff_max_secs = 2\n",
    );
    config.mqtt.json = JsonOptions {
        mirror: true,
        home_assistant: true,
    };
    let topics = Topics::new(&config.mqtt.topic_prefix, &config.site.id);
    let base = topics.base().to_string();
    let node = format!("presence_gateway_{}", site.replace('-', "_"));
    let probe = Probe::start(
        &broker,
        &[
            format!("{base}/json/#"),
            format!("homeassistant/+/{node}/+/config"),
        ],
    )
    .await;
    let display = presence_gateway::display::Subscriber::start(broker.clone(), &topics, "all");
    let gw = presence_gateway::app::start(config)
        .await
        .expect("gateway starts");
    let long = Duration::from_secs(60);

    sim.step(300);
    converge(&sim, &display, long).await;
    mirror_converges(&probe, &base, &sim, long).await;

    // A socket drop with events during the gap: back through the gateway's resync.
    let resyncs = gw.metrics.upstream.resyncs.get();
    sim.fault(Fault::DropSockets);
    sim.step(300);
    wait_for("the resync after the drop", long, || {
        gw.metrics.upstream.resyncs.get() > resyncs
    })
    .await;
    sim.step(100);
    converge(&sim, &display, long).await;
    let live = mirror_converges(&probe, &base, &sim, long).await;

    // The heatmap document is the binary heatmap frame of the same sequence number.
    let heat = &live["heatmap"];
    let counts: Vec<u64> = heat["counts"]
        .as_array()
        .expect("heatmap counts")
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(counts.len(), presence_wire::HEATMAP_MINUTES);
    assert_eq!(heat["total"], counts.iter().sum::<u64>());
    let binary = display.snapshot().heatmap.expect("binary heatmap");
    if heat["seq"] == binary.header.seq {
        let wire: Vec<u64> = binary.counts.0.iter().map(|&c| u64::from(c)).collect();
        assert_eq!(counts, wire, "JSON and binary heatmaps of one seq differ");
    }

    // A consumer that connects now (Node-RED after a restart) gets the floor from retained
    // documents alone.
    let fresh = Probe::start(&broker, &[format!("{base}/json/#")]).await;
    let retained = mirror_converges(&fresh, &base, &sim, long).await;
    assert_eq!(
        retained["agents"], live["agents"],
        "retained agent documents"
    );
    assert!(gw.metrics.publish.json_docs.get() > 0);

    // Home Assistant discovery: three entities bound to the gateway's own topics.
    wait_for("discovery documents", long, || {
        probe
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t.starts_with("homeassistant/"))
            .count()
            >= 3
    })
    .await;
    let online = probe.on(&format!("homeassistant/binary_sensor/{node}/online/config"));
    let online: Value = serde_json::from_slice(online.last().expect("online entity")).unwrap();
    assert_eq!(online["state_topic"], topics.state());
    let status = probe.on(&format!("homeassistant/sensor/{node}/status/config"));
    let status: Value = serde_json::from_slice(status.last().expect("status entity")).unwrap();
    assert_eq!(status["state_topic"], topics.health());
    assert_eq!(status["availability"][0]["topic"], topics.state());
    gw.stop().await;
}
