//! Resync and consistency: a client that misses events while disconnected converges to the truth through
//! REST; observation notifications converge to the truth's queue metrics; the generator is deterministic
//! and the background generator runs on sim time.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_sim::{Fault, Sim, SimConfig};
use serde_json::Value;
use support::*;

/// What a client knows about one agent: (presence id, modified ms, routing status, start ms).
type Known = BTreeMap<String, (String, u64, String, u64)>;

fn apply(known: &mut Known, v: &Value) {
    let topic = v["topicName"].as_str().unwrap_or("");
    let Some(rest) = topic.strip_prefix("v2.users.") else {
        return;
    };
    let Some((user, suffix)) = rest.split_once('.') else {
        return;
    };
    let e = known.entry(user.to_owned()).or_default();
    let b = &v["eventBody"];
    match suffix {
        "presence" => {
            let t = iso_ms(b["modifiedDate"].as_str().unwrap_or(""));
            if t >= e.1 {
                e.0 = b["presenceDefinition"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                e.1 = t;
            }
        }
        "routingStatus" => {
            let t = iso_ms(b["routingStatus"]["startTime"].as_str().unwrap_or(""));
            if t >= e.3 {
                e.2 = b["routingStatus"]["status"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                e.3 = t;
            }
        }
        _ => {}
    }
}

async fn drain(ws: &mut Ws, known: &mut Known) {
    loop {
        match ws.next(Duration::from_millis(50)).await {
            Got::Text(v) => apply(known, &v),
            Got::Timeout => return,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn missed_events_are_recovered_through_rest_resync() {
    let sim = sim_with(SimConfig {
        agents: 40,
        queues: 3,
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await;
    let users = sim.users();
    let topics: Vec<String> = users
        .iter()
        .map(|u| format!("v2.users.{u}?presence&routingStatus"))
        .collect();
    let (t, id, mut ws) = connected(&sim, &topics).await;
    let mut known = Known::new();
    sim.step(200);
    drain(&mut ws, &mut known).await;

    // Connection lost; events keep happening and are gone for good (no replay).
    sim.fault(Fault::DropSockets);
    assert!(matches!(ws.until_end().await, Got::Abnormal(_)));
    sim.step(300);
    let mut ws = Ws::connect(&format!("{}/channels/{id}", sim.ws_base())).await;
    sim.step(50);
    drain(&mut ws, &mut known).await;

    // Resync: bulk presence (≤50 ids) and per-user routing status, merged by timestamp.
    for chunk in users.chunks(50) {
        let r = api(
            &sim,
            &t,
            "GET",
            &format!(
                "/api/v2/users/presences/purecloud/bulk?id={}",
                chunk.join(",")
            ),
            None,
        )
        .await;
        for p in r.json().as_array().expect("array") {
            let e = known
                .entry(p["userId"].as_str().unwrap_or("").to_owned())
                .or_default();
            let ts = iso_ms(p["modifiedDate"].as_str().unwrap_or(""));
            if ts >= e.1 {
                e.0 = p["presenceDefinition"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                e.1 = ts;
            }
        }
    }
    for u in &users {
        let r = api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/users/{u}/routingstatus"),
            None,
        )
        .await
        .json();
        let e = known.entry(u.clone()).or_default();
        let ts = iso_ms(r["startTime"].as_str().unwrap_or(""));
        if ts >= e.3 {
            e.2 = r["status"].as_str().unwrap_or("").to_owned();
            e.3 = ts;
        }
    }
    let truth = sim.truth();
    for (u, a) in &truth.agents {
        let k = &known[u];
        assert_eq!(
            (&k.0, k.1, &k.2, k.3),
            (
                &a.presence_id,
                a.presence_modified_ms,
                &a.routing_status,
                a.routing_start_ms
            ),
            "{u}"
        );
    }
}

#[tokio::test]
async fn observation_notifications_converge_to_the_truth() {
    let sim = sim_with(SimConfig {
        agents: 30,
        queues: 3,
        ..SimConfig::default()
    })
    .await;
    let topics: Vec<String> = sim
        .queues()
        .iter()
        .map(|q| format!("v2.analytics.queues.{q}.observations"))
        .collect();
    let (_, _, mut ws) = connected(&sim, &topics).await;
    let mut snapshot: BTreeMap<String, Value> = BTreeMap::new();
    let mut aggregate: BTreeMap<String, Value> = BTreeMap::new();
    let mut rounds_seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    sim.step(400);
    // Round 0 drains what `step` emitted; each later round is 1.1 sim seconds later.
    for round in 0..5u64 {
        if round > 0 {
            sim.advance(Duration::from_millis(1_100));
        }
        loop {
            let v = match ws.next(Duration::from_millis(50)).await {
                Got::Text(v) => v,
                Got::Timeout => break,
                other => panic!("{other:?}"),
            };
            let q = v["eventBody"]["group"]["queueId"]
                .as_str()
                .expect("queueId")
                .to_owned();
            let data = v["eventBody"]["data"][0].clone();
            let (start, end) = data["interval"]
                .as_str()
                .and_then(|i| i.split_once('/'))
                .map(|(a, b)| (iso_ms(a), iso_ms(b)))
                .expect("interval");
            rounds_seen.entry(q.clone()).or_default().push(round);
            if start == end {
                snapshot.insert(q, data);
            } else {
                assert_eq!(end - start, 30 * 60 * 1000);
                aggregate.insert(q, data);
            }
        }
    }
    let truth = sim.truth();
    for (q, qt) in &truth.queues {
        let s = &snapshot[q];
        let count = |d: &Value, m: &str| {
            d["metrics"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["metric"] == m))
                .map(|x| x["stats"]["count"].as_u64().unwrap_or(0))
        };
        assert_eq!(count(s, "oWaiting"), Some(u64::from(qt.waiting)), "{q}");
        assert_eq!(count(s, "oInteracting"), Some(u64::from(qt.interacting)));
        assert_eq!(count(s, "oAlerting"), Some(u64::from(qt.alerting)));
        assert_eq!(count(s, "oOnQueueUsers"), Some(u64::from(qt.on_queue)));
        assert_eq!(count(s, "oOffQueueUsers"), Some(u64::from(qt.off_queue)));
        let a = &aggregate[q];
        // Like analytics, a metric with nothing counted is left out.
        assert_eq!(count(a, "nOffered").unwrap_or(0), u64::from(qt.offered));
        assert_eq!(count(a, "tAbandon").unwrap_or(0), u64::from(qt.abandoned));
        // The topic's aggregate follows a live-org capture: no tAnswered (the aggregates query
        // has it), tConnected counts what was answered.
        assert_eq!(count(a, "tAnswered"), None);
        assert_eq!(count(a, "tConnected").unwrap_or(0), u64::from(qt.answered));
        // At most one notification per queue per sim second (rounds are 1.1 s apart).
        let rounds = &rounds_seen[q];
        assert!(rounds.windows(2).all(|w| w[1] > w[0]), "{rounds:?}");
    }
}

/// (user, presence id, routing status, queues, (conversation id, state)) per agent: the truth without timestamps.
type Shape = Vec<(
    String,
    String,
    String,
    Vec<String>,
    Option<(String, String)>,
)>;

fn shape(sim: &Sim) -> Shape {
    sim.truth()
        .agents
        .into_iter()
        .map(|(id, a)| {
            (
                id,
                a.presence_id,
                a.routing_status,
                a.queues,
                a.conversation.map(|c| (c.id, c.state)),
            )
        })
        .collect()
}

#[tokio::test]
async fn same_seed_same_world_and_events() {
    let a = sim_with(SimConfig {
        seed: 9,
        ..SimConfig::default()
    })
    .await;
    let b = sim_with(SimConfig {
        seed: 9,
        ..SimConfig::default()
    })
    .await;
    let c = sim_with(SimConfig {
        seed: 10,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(a.users(), b.users());
    assert_eq!(a.queues(), b.queues());
    assert_eq!(a.groups(), b.groups());
    assert_ne!(a.users(), c.users());
    assert_eq!(a.step(1000), 1000);
    assert_eq!(b.step(1000), 1000);
    assert_eq!(shape(&a), shape(&b));
    let queues = |s: &Sim| {
        s.truth()
            .queues
            .into_iter()
            .map(|(k, q)| (k, q.members, q.waiting, q.offered, q.answered))
            .collect::<Vec<_>>()
    };
    assert_eq!(queues(&a), queues(&b));
}

#[tokio::test]
async fn background_generator_runs_on_sim_time() {
    let sim = sim_with(SimConfig {
        event_rate: 20.0,
        clock_speed: 0.0,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(sim.stats().events_generated, 0);
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.stats().events_generated, 200);
    // Timestamps never run behind the clock and never go beyond the per-agent strictly-increasing nudge.
    let now = sim.now_ms();
    for a in sim.truth().agents.values() {
        assert!(a.presence_modified_ms <= now + 1_000 && a.routing_start_ms <= now + 1_000);
    }
}
