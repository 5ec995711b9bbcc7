//! Every [`Fault`] observed from the client side (a real WebSocket client and raw HTTP).

mod support;

use std::time::Duration;

use genesys_sim::{Fault, PagingLoop, SimConfig};
use serde_json::json;
use support::*;

const ON_QUEUE: &str = "e08eaf1b-ee47-4fa9-a231-1200e284798f";
const AWAY_CUSTOM: &str = "2fa68d50-5edb-4e01-9390-522615f12243";

fn presence_topic(u: &str) -> String {
    format!("v2.users.{u}.presence")
}

#[tokio::test]
async fn drop_sockets_is_an_abrupt_close_without_a_close_frame() {
    let sim = sim().await;
    let (_, _, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::DropSockets);
    match ws.until_end().await {
        Got::Abnormal(_) => {}
        other => panic!("expected an abnormal end (1006), got {other:?}"),
    }
}

#[tokio::test]
async fn close_sockets_sends_the_requested_code() {
    let sim = sim().await;
    let (_, _, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::CloseSockets { code: 1001 });
    assert!(matches!(ws.until_end().await, Got::Close(Some(1001))));
}

#[tokio::test]
async fn silence_loses_events_and_heartbeats_but_keeps_tcp_open() {
    let sim = sim().await;
    let u = sim.users()[0].clone();
    let (_, _, mut ws) = connected(&sim, &[presence_topic(&u)]).await;
    sim.fault(Fault::Silence(true));
    sim.set_presence(&u, AWAY_CUSTOM);
    assert_eq!(
        sim.truth().agents[&u].presence_id,
        AWAY_CUSTOM,
        "the truth still changes"
    );
    sim.advance(Duration::from_secs(65));
    ws.send_text(&json!({ "message": "ping" })).await;
    assert!(
        matches!(ws.next(QUIET).await, Got::Timeout),
        "no heartbeat, no event, no pong"
    );
    sim.fault(Fault::Silence(false));
    // The pending ping is answered once reading resumes; the lost event is not replayed.
    assert_eq!(ws.json().await["eventBody"]["message"], "pong");
    ws.quiet().await;
    sim.set_presence(&u, ON_QUEUE);
    assert_eq!(
        ws.event().await["eventBody"]["presenceDefinition"]["id"],
        ON_QUEUE
    );
    assert!(sim.stats().notifications_silenced >= 1);
}

#[tokio::test]
async fn socket_closing_warns_then_closes_after_the_grace() {
    let sim = sim().await;
    let (_, id, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::SocketClosing);
    let v = ws.json().await;
    assert_eq!(v["topicName"], "v2.system.socket_closing");
    assert_eq!(v["eventBody"]["channelId"], id.as_str());
    sim.advance(Duration::from_secs(59));
    assert!(
        matches!(ws.next(QUIET).await, Got::Timeout | Got::Text(_)),
        "still open inside the grace"
    );
    sim.advance(Duration::from_secs(2));
    assert!(matches!(ws.until_end().await, Got::Close(Some(1001))));
}

#[tokio::test]
async fn socket_closing_spares_a_socket_that_reconnected_during_the_grace() {
    let sim = sim().await;
    let u = sim.users()[1].clone();
    let (_, id, mut old) = connected(&sim, &[presence_topic(&u)]).await;
    sim.fault(Fault::SocketClosing);
    assert_eq!(old.json().await["topicName"], "v2.system.socket_closing");
    // Reconnect to the same channel (Java/.NET SDK behaviour): the old socket is replaced.
    let mut new = Ws::connect(&format!("{}/channels/{id}", sim.ws_base())).await;
    assert!(matches!(old.until_end().await, Got::Close(Some(1000))));
    sim.advance(Duration::from_secs(61));
    sim.set_presence(&u, AWAY_CUSTOM);
    assert_eq!(new.event().await["topicName"], presence_topic(&u));
}

#[tokio::test]
async fn expire_channels_sends_404_then_closes_and_the_channel_is_gone() {
    let sim = sim().await;
    let (t, id, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::ExpireChannels);
    let v = ws.json().await;
    assert_eq!(v["result"], "404");
    assert!(v["message"].is_string());
    assert!(matches!(ws.until_end().await, Got::Close(Some(1000))));
    assert_eq!(
        api(
            &sim,
            &t,
            "HEAD",
            &format!("/api/v2/notifications/channels/{id}"),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/notifications/channels/{id}/subscriptions"),
            None
        )
        .await
        .status,
        404
    );
    let refused =
        tokio_tungstenite::connect_async(format!("{}/channels/{id}", sim.ws_base())).await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status().as_u16() == 404)
    );
}

#[tokio::test]
async fn expire_tokens_ends_their_channels_and_rest_answers_401() {
    let sim = sim().await;
    let (t, _, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::ExpireTokens);
    assert_eq!(ws.json().await["result"], "404");
    assert!(matches!(ws.until_end().await, Got::Close(_)));
    assert_eq!(
        api(&sim, &t, "GET", "/api/v2/notifications/channels", None)
            .await
            .status,
        401
    );
    let fresh = token(&sim).await;
    assert_eq!(
        api(&sim, &fresh, "GET", "/api/v2/notifications/channels", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_lifetime_passing_in_sim_time_ends_the_channel() {
    let sim = sim_with(SimConfig {
        token_lifetime: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let (t, _, mut ws) = connected(&sim, &[]).await;
    sim.advance(Duration::from_secs(601));
    assert_eq!(ws.event().await["result"], "404");
    assert_eq!(
        api(&sim, &t, "GET", "/api/v2/notifications/channels", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn revoke_tokens_sends_token_revoked_then_closes() {
    let sim = sim().await;
    let (t, id, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::RevokeTokens);
    let v = ws.json().await;
    assert_eq!(v["topicName"], format!("v2.system.token_revoked.{id}"));
    assert_eq!(v["eventBody"]["reason"], "user_tokens_revoked");
    assert_eq!(v["eventBody"]["systemTopicType"], "token_revoked");
    assert_eq!(v["eventBody"]["channelId"], id.as_str());
    assert!(matches!(ws.until_end().await, Got::Close(_)));
    assert_eq!(
        api(&sim, &t, "GET", "/api/v2/notifications/channels", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn rate_limit_storm_answers_429_until_it_passes() {
    let sim = sim().await;
    let t = token(&sim).await;
    sim.fault(Fault::RateLimitStorm { secs: 10 });
    let r = api(&sim, &t, "GET", "/api/v2/users", None).await;
    assert_eq!(r.status, 429);
    assert!(r
        .header("Retry-After")
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| (9..=10).contains(&s)));
    assert_eq!(r.json()["code"], "too.many.requests.retry.after");
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        api(&sim, &t, "GET", "/api/v2/users", None).await.status,
        200
    );
}

#[tokio::test]
async fn hostile_rest_loops_pads_and_hangs_until_lifted() {
    let sim = sim().await;
    let t = token(&sim).await;
    let path = "/api/v2/users?pageSize=5";
    // Endless paging: a self-loop links a page to itself; onward links run past the end.
    sim.fault(Fault::EndlessPaging(Some(PagingLoop::SelfLoop)));
    let v = api(&sim, &t, "GET", path, None).await.json();
    assert_eq!(v["nextUri"], v["selfUri"]);
    sim.fault(Fault::EndlessPaging(Some(PagingLoop::Onward)));
    let far = "/api/v2/users?pageSize=5&pageNumber=1000";
    let v = api(&sim, &t, "GET", far, None).await.json();
    assert_eq!(v["entities"].as_array().map(Vec::len), Some(0));
    assert!(v["nextUri"]
        .as_str()
        .is_some_and(|u| u.contains("pageNumber=1001")));
    sim.fault(Fault::EndlessPaging(None));
    let v = api(&sim, &t, "GET", far, None).await.json();
    assert!(v.get("nextUri").is_none());
    // Huge bodies: valid JSON of about the size asked for.
    sim.fault(Fault::HugeBodies(Some(300_000)));
    let r = api(&sim, &t, "GET", path, None).await;
    assert_eq!(r.status, 200);
    let text = serde_json::to_string(&r.json()).unwrap();
    assert!((299_000..=301_000).contains(&text.len()), "{}", text.len());
    sim.fault(Fault::HugeBodies(None));
    // A silent server: the request is read and never answered, until lifted.
    sim.fault(Fault::RestHang(true));
    let held =
        tokio::time::timeout(Duration::from_millis(500), api(&sim, &t, "GET", path, None)).await;
    assert!(held.is_err(), "a held request was answered");
    sim.fault(Fault::RestHang(false));
    assert_eq!(api(&sim, &t, "GET", path, None).await.status, 200);
    let st = sim.stats();
    assert_eq!(
        (st.rest_held, st.rest_endless_pages, st.rest_huge_bodies),
        (1, 2, 1)
    );
}

#[tokio::test]
async fn evict_oldest_channel_sends_no_longer_subscribed() {
    let sim = sim().await;
    let t = token(&sim).await;
    let (a, a_uri) = channel(&sim, &t).await;
    let (b, b_uri) = channel(&sim, &t).await;
    let mut ws_a = Ws::connect(&a_uri).await;
    let mut ws_b = Ws::connect(&b_uri).await;
    sim.fault(Fault::EvictOldestChannel);
    let v = ws_a.json().await;
    assert_eq!(
        v["topicName"],
        format!("v2.system.no_longer_subscribed.{a}")
    );
    assert_eq!(v["eventBody"]["reason"], "another_channel_subscribed");
    assert_eq!(v["eventBody"]["systemTopicType"], "no_longer_subscribed");
    assert!(matches!(ws_a.until_end().await, Got::Close(_)));
    ws_b.quiet().await;
    assert_eq!(
        api(
            &sim,
            &t,
            "HEAD",
            &format!("/api/v2/notifications/channels/{b}"),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn duplicate_delivers_the_next_events_twice() {
    let sim = sim().await;
    let u = sim.users()[0].clone();
    let (_, _, mut ws) = connected(&sim, &[presence_topic(&u)]).await;
    sim.fault(Fault::Duplicate(1));
    sim.set_presence(&u, AWAY_CUSTOM);
    let first = ws.event().await;
    let second = ws.event().await;
    assert_eq!(first, second, "same frame twice, same CorrelationId");
    sim.set_presence(&u, ON_QUEUE);
    assert_eq!(
        ws.event().await["eventBody"]["presenceDefinition"]["id"],
        ON_QUEUE
    );
    ws.quiet().await;
}

#[tokio::test]
async fn reorder_delivers_the_newer_event_before_the_stale_one() {
    let sim = sim().await;
    let u = sim.users()[0].clone();
    let (_, _, mut ws) = connected(&sim, &[presence_topic(&u)]).await;
    sim.fault(Fault::Reorder(1));
    sim.set_presence(&u, AWAY_CUSTOM);
    ws.quiet().await; // held back
    sim.set_presence(&u, ON_QUEUE);
    let newer = ws.event().await;
    let older = ws.event().await;
    assert_eq!(newer["eventBody"]["presenceDefinition"]["id"], ON_QUEUE);
    assert_eq!(older["eventBody"]["presenceDefinition"]["id"], AWAY_CUSTOM);
    let t = |v: &serde_json::Value| iso_ms(v["eventBody"]["modifiedDate"].as_str().unwrap_or(""));
    assert!(t(&newer) > t(&older));
    assert_eq!(
        sim.truth().agents[&u].presence_id,
        ON_QUEUE,
        "the truth is the newer one"
    );
}

#[tokio::test]
async fn hostile_frames_reach_every_socket_and_the_socket_survives() {
    let sim = sim().await;
    let (_, _, mut ws) = connected(&sim, &[]).await;
    sim.fault(Fault::Malformed(3));
    for _ in 0..3 {
        assert!(matches!(ws.next(ARRIVE).await, Got::RawText(_)));
    }
    sim.fault(Fault::Oversize {
        count: 2,
        bytes: 200_000,
    });
    for _ in 0..2 {
        match ws.next(ARRIVE).await {
            Got::Text(v) => assert!(v.to_string().len() >= 199_000),
            other => panic!("{other:?}"),
        }
    }
    sim.fault(Fault::Binary(2));
    for _ in 0..2 {
        assert!(matches!(ws.next(ARRIVE).await, Got::Binary(b) if !b.is_empty()));
    }
    sim.fault(Fault::DeepNesting { depth: 5_000 });
    match ws.next(ARRIVE).await {
        // serde_json's recursion limit refuses it, as a careful decoder should.
        Got::RawText(t) => assert!(t.len() > 5_000 * 5),
        other => panic!("{other:?}"),
    }
    sim.fault(Fault::UnknownTopics(4));
    for _ in 0..4 {
        match ws.next(ARRIVE).await {
            Got::Text(v) => assert!(v["topicName"].is_string()),
            other => panic!("{other:?}"),
        }
    }
    ws.send_text(&json!({ "message": "ping" })).await;
    assert_eq!(ws.json().await["eventBody"]["message"], "pong");
    assert_eq!(sim.stats().hostile_frames_sent, 12);
}
