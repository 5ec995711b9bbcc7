//! WebSocket behaviour observed through a real client: event delivery to subscribers only, envelope shape,
//! combined-topic expansion, heartbeats on sim time, ping/pong, WS-level subscribe, handshake refusal,
//! one socket per channel, and conversation/observation payloads consistent with the truth.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use genesys_sim::SimConfig;
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

const ON_QUEUE: &str = "e08eaf1b-ee47-4fa9-a231-1200e284798f";
const BREAK_CUSTOM: &str = "992c2437-1833-4737-9ff4-eafdc4a360c8";

#[tokio::test]
async fn subscribed_presence_is_delivered_in_the_genesys_envelope() {
    let sim = sim().await;
    let users = sim.users();
    let (_, _, mut ws) = connected(&sim, &[format!("v2.users.{}.presence", users[0])]).await;
    sim.set_presence(&users[1], BREAK_CUSTOM); // not subscribed
    sim.set_presence(&users[0], BREAK_CUSTOM);
    let v = ws.event().await;
    assert_eq!(v["topicName"], format!("v2.users.{}.presence", users[0]));
    assert_eq!(v["version"], "2");
    assert!(v["metadata"]["CorrelationId"]
        .as_str()
        .is_some_and(|c| c.len() == 36));
    let body = &v["eventBody"];
    assert_eq!(body["source"], "PURECLOUD");
    assert_eq!(body["presenceDefinition"]["id"], BREAK_CUSTOM);
    assert_eq!(body["presenceDefinition"]["systemPresence"], "BREAK");
    let truth = sim.truth();
    assert_eq!(
        iso_ms(body["modifiedDate"].as_str().expect("modifiedDate")),
        truth.agents[&users[0]].presence_modified_ms
    );
    assert_eq!(truth.agents[&users[0]].system_presence, "BREAK");
    ws.quiet().await;
}

#[tokio::test]
async fn combined_topic_expands_into_separate_notifications_case_insensitively() {
    let sim = sim().await;
    let u = sim.users()[3].clone();
    let (_, _, mut ws) = connected(
        &sim,
        &[format!(
            "V2.Users.{}?presence&ROUTINGSTATUS",
            u.to_uppercase()
        )],
    )
    .await;
    sim.set_routing(&u, "not_responding");
    let v = ws.event().await;
    assert_eq!(v["topicName"], format!("v2.users.{u}.routingStatus"));
    assert_eq!(v["eventBody"]["routingStatus"]["status"], "NOT_RESPONDING");
    assert_eq!(
        iso_ms(
            v["eventBody"]["routingStatus"]["startTime"]
                .as_str()
                .expect("t")
        ),
        sim.truth().agents[&u].routing_start_ms
    );
    sim.set_presence(&u, ON_QUEUE);
    let v = ws.event().await;
    assert_eq!(v["topicName"], format!("v2.users.{u}.presence"));
    ws.quiet().await; // .activity was not subscribed
}

#[tokio::test]
async fn activity_and_queue_topics() {
    let sim = sim().await;
    let u = sim.users()[0].clone();
    let q = sim.truth().agents[&u].queues[0].clone();
    let (_, _, mut ws) = connected(
        &sim,
        &[
            format!("v2.users.{u}.activity"),
            format!("v2.analytics.queues.{q}.observations"),
        ],
    )
    .await;
    sim.set_presence(&u, ON_QUEUE);
    sim.set_presence(&u, BREAK_CUSTOM);
    let mut activity = None;
    let mut observation = None;
    while activity.is_none() || observation.is_none() {
        let v = ws.event().await;
        if v["topicName"]
            .as_str()
            .is_some_and(|t| t.ends_with(".activity"))
        {
            activity.get_or_insert(v);
        } else {
            observation = Some(v);
        }
        if activity.is_some() && observation.is_none() {
            sim.advance(Duration::from_millis(1100)); // observations are paced to 1/s
        }
    }
    let a = activity.expect("activity");
    assert_eq!(
        a["eventBody"]["presence"]["presenceDefinition"]["systemPresence"],
        "ON_QUEUE"
    );
    assert!(a["eventBody"]["activeQueueIds"]
        .as_array()
        .is_some_and(|q| !q.is_empty()));
    let o = observation.expect("observation");
    assert_eq!(
        o["topicName"],
        format!("v2.analytics.queues.{q}.observations")
    );
    let interval = o["eventBody"]["data"][0]["interval"]
        .as_str()
        .expect("interval");
    let (start, end) = interval.split_once('/').expect("interval");
    assert_eq!(
        start, end,
        "snapshot observations have a zero-width interval"
    );
}

#[tokio::test]
async fn heartbeat_after_advance_and_can_be_stopped() {
    let sim = sim().await;
    let (_, _, mut ws) = connected(&sim, &[]).await;
    tokio::task::yield_now().await;
    ws.quiet().await;
    sim.advance(Duration::from_secs(31));
    let v = ws.json().await;
    assert_eq!(
        v,
        json!({ "topicName": "channel.metadata", "eventBody": { "message": "WebSocket Heartbeat" } })
    );
    sim.fault(genesys_sim::Fault::StopHeartbeats(true));
    sim.advance(Duration::from_secs(61));
    assert!(matches!(ws.next(QUIET).await, Got::Timeout));
    sim.fault(genesys_sim::Fault::StopHeartbeats(false));
    sim.advance(Duration::from_secs(30));
    assert_eq!(
        ws.json().await["eventBody"]["message"],
        "WebSocket Heartbeat"
    );
    assert!(sim.stats().heartbeats_sent >= 2);
}

#[tokio::test]
async fn ping_gets_pong_and_rfc_pings_are_answered() {
    let sim = sim().await;
    let (_, _, mut ws) = connected(&sim, &[]).await;
    ws.send_text(&json!({ "message": "ping" })).await;
    assert_eq!(
        ws.json().await,
        json!({ "topicName": "channel.metadata", "eventBody": { "message": "pong" } })
    );
    ws.inner
        .send(Message::Ping(b"hi".to_vec().into()))
        .await
        .expect("ping");
    let got = tokio::time::timeout(ARRIVE, async {
        loop {
            match futures_util::StreamExt::next(&mut ws.inner).await {
                Some(Ok(Message::Pong(p))) => return p.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("no pong: {other:?}"),
            }
        }
    })
    .await
    .expect("pong in time");
    assert_eq!(got, b"hi");
}

#[tokio::test]
async fn websocket_subscribe_and_unsubscribe() {
    let sim = sim().await;
    let u = sim.users()[2].clone();
    let (_, _, mut ws) = connected(&sim, &[]).await;
    ws.send_text(&json!({ "message": "subscribe", "topics": [format!("v2.users.{u}.presence")], "correlationId": "c-1" })).await;
    let ack = ws.json().await;
    assert_eq!(ack["result"], "200");
    assert_eq!(ack["status"], "subscribed");
    assert!(ack.get("topicName").is_none());
    sim.set_presence(&u, BREAK_CUSTOM);
    assert_eq!(
        ws.event().await["topicName"],
        format!("v2.users.{u}.presence")
    );
    ws.send_text(&json!({ "message": "subscribe", "topics": ["v2.users.nope.presence"] }))
        .await;
    let err = ws.json().await;
    assert_eq!(err["result"], "400");
    assert_eq!(err["status"], "failure");
    assert!(err["message"].is_string());
    ws.send_text(
        &json!({ "message": "unsubscribe", "topics": [format!("v2.users.{u}.presence")] }),
    )
    .await;
    assert_eq!(ws.json().await["result"], "200");
    sim.set_presence(&u, ON_QUEUE);
    ws.quiet().await;
}

#[tokio::test]
async fn unknown_channel_handshake_is_refused_with_404() {
    let sim = sim().await;
    let uri = format!(
        "{}/channels/streaming-0-aaaaaaaaaaaaaaaaaaaaaaaaaa",
        sim.ws_base()
    );
    match tokio_tungstenite::connect_async(&uri).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 404)
        }
        other => panic!("expected an HTTP 404 refusal, got {other:?}"),
    }
    assert_eq!(sim.stats().ws_refused, 1);
}

#[tokio::test]
async fn second_socket_on_a_channel_closes_the_first() {
    let sim = sim().await;
    let u = sim.users()[0].clone();
    let t = token(&sim).await;
    let (id, uri) = channel(&sim, &t).await;
    assert_eq!(
        subscribe(&sim, &t, &id, &[format!("v2.users.{u}.presence")])
            .await
            .status,
        200
    );
    let mut first = Ws::connect(&uri).await;
    tokio::task::yield_now().await;
    let mut second = Ws::connect(&uri).await;
    assert!(matches!(first.until_end().await, Got::Close(Some(1000))));
    // Subscriptions live on the channel: the new socket gets events without resubscribing.
    sim.set_presence(&u, BREAK_CUSTOM);
    assert_eq!(
        second.event().await["topicName"],
        format!("v2.users.{u}.presence")
    );
}

#[tokio::test]
async fn generated_conversations_follow_the_lifecycle_and_match_the_truth() {
    let sim = sim_with(SimConfig {
        agents: 10,
        queues: 1,
        ..SimConfig::default()
    })
    .await;
    let users = sim.users();
    let topics: Vec<String> = users
        .iter()
        .map(|u| format!("v2.users.{u}.conversations"))
        .collect();
    let (_, _, mut ws) = connected(&sim, &topics).await;
    let mut states = std::collections::BTreeSet::new();
    let mut saw_wrapup = false;
    let mut steps = 0;
    while !(saw_wrapup && states.len() >= 3) && steps < 4000 {
        sim.step(20);
        steps += 20;
        loop {
            let v = match ws.next(Duration::from_millis(20)).await {
                Got::Text(v) => v,
                Got::Timeout => break,
                other => panic!("{other:?}"),
            };
            let body = &v["eventBody"];
            let agent = body["participants"]
                .as_array()
                .and_then(|p| p.iter().find(|x| x["purpose"] == "agent"))
                .expect("agent participant")
                .clone();
            let user = agent["userId"].as_str().expect("userId");
            let media = ["calls", "callbacks", "chats", "emails", "messages"]
                .into_iter()
                .find(|m| agent.get(*m).is_some())
                .expect("media");
            let comm = &agent[media][0];
            states.insert(comm["state"].as_str().unwrap_or("").to_owned());
            if agent.get("wrapup").is_some() {
                saw_wrapup = true;
                assert!(agent["endTime"].is_string());
                assert!(agent["wrapup"]["code"].is_string());
            }
            // The newest timestamp in the agent participant is the truth's changed_ms (while it is the latest).
            let newest = ["startAlertingTime", "connectedTime", "endTime"]
                .iter()
                .filter_map(|k| agent[*k].as_str())
                .chain(
                    ["connectedTime", "disconnectedTime"]
                        .iter()
                        .filter_map(|k| comm[*k].as_str()),
                )
                .map(iso_ms)
                .max()
                .expect("timestamps");
            let truth = sim.truth();
            if let Some(c) = &truth.agents[user].conversation {
                if c.id == body["id"].as_str().unwrap_or("") && c.changed_ms == newest {
                    assert_eq!(c.media, media.trim_end_matches('s'));
                }
                assert!(c.changed_ms >= newest);
            }
        }
    }
    assert!(saw_wrapup, "a wrap-up was seen");
    assert!(
        states.contains("alerting")
            && states.contains("connected")
            && states.contains("disconnected"),
        "{states:?}"
    );
}

/// A recording (the bench's replay load source) moves the truth at once but sends nothing;
/// replaying it delivers exactly the frames a live step would have, in order, and the last
/// one per topic is the truth.
#[tokio::test]
async fn a_recording_is_delivered_only_when_replayed_and_ends_at_the_truth() {
    let sim = sim_with(SimConfig {
        agents: 4,
        queues: 1,
        ..SimConfig::default()
    })
    .await;
    let users = sim.users();
    let topics: Vec<String> = users
        .iter()
        .map(|u| format!("v2.users.{u}.presence"))
        .collect();
    let (_, _, mut ws) = connected(&sim, &topics).await;
    let before = sim.truth();
    let mut rec = sim.record(40);
    assert_eq!(rec.events(), 40);
    assert!(rec.frames_left() > 0, "40 events made no presence frame");
    assert_eq!(rec.replayed_events(), 0);
    ws.quiet().await; // recorded, not sent
    let truth = sim.truth();
    assert_ne!(
        before.agents, truth.agents,
        "the recording did not move the truth"
    );
    let frames = rec.frames_left();
    assert_eq!(sim.replay(&mut rec, 1), 1);
    let rest = sim.replay(&mut rec, usize::MAX);
    assert_eq!(1 + rest, frames);
    assert_eq!(rec.frames_left(), 0);
    assert_eq!(rec.replayed_events(), 40);
    let mut last = std::collections::BTreeMap::new();
    for _ in 0..frames {
        let v = ws.event().await;
        let user = v["topicName"]
            .as_str()
            .and_then(|t| t.split('.').nth(2))
            .expect("a user topic")
            .to_owned();
        last.insert(user, v["eventBody"]["presenceDefinition"]["id"].clone());
    }
    ws.quiet().await;
    for (user, id) in last {
        assert_eq!(id, truth.agents[&user].presence_id.as_str(), "{user}");
    }
}
