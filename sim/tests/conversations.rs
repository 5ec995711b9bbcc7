//! Conversation resync: `POST /api/v2/analytics/conversations/details/query` finds each watched agent's
//! open conversation and `GET /api/v2/conversations/{id}` returns the notification body for its current
//! state, so a client that missed conversation events (no replay) converges to `Sim::truth()`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_sim::{ConversationTruth, Fault, Sim, SimConfig};
use serde_json::{json, Value};
use support::*;

const DAY: u64 = 86_400_000;

/// The query the gateway sends: open conversations (no `conversationEnd`) of any of `users`.
fn open_query(sim: &Sim, users: &[String], page_size: usize, page: usize) -> String {
    let now = sim.now_ms();
    let predicates: Vec<Value> = users
        .iter()
        .map(|u| json!({ "type": "dimension", "dimension": "userId", "operator": "matches", "value": u }))
        .collect();
    json!({
        "interval": format!("{}/{}", iso(now - DAY), iso(now + DAY)),
        "order": "desc",
        "paging": { "pageSize": page_size, "pageNumber": page },
        "conversationFilters": [{ "type": "and", "predicates": [
            { "type": "dimension", "dimension": "conversationEnd", "operator": "notExists" }
        ]}],
        "segmentFilters": [{ "type": "or", "predicates": predicates }],
    })
    .to_string()
}

const QUERY: &str = "/api/v2/analytics/conversations/details/query";

/// Every page of the open-conversations query for `users`: (conversations, totalHits of each page).
async fn all_pages(
    sim: &Sim,
    token: &str,
    users: &[String],
    page_size: usize,
) -> (Vec<Value>, Vec<u64>) {
    let mut out = Vec::new();
    let mut totals = Vec::new();
    for page in 1.. {
        let r = api(
            sim,
            token,
            "POST",
            QUERY,
            Some(&open_query(sim, users, page_size, page)),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        totals.push(v["totalHits"].as_u64().expect("totalHits"));
        let Some(convs) = v.get("conversations") else {
            break;
        };
        let convs = convs.as_array().expect("conversations array");
        assert!(!convs.is_empty() && convs.len() <= page_size);
        out.extend(convs.iter().cloned());
    }
    (out, totals)
}

/// What a client learns about one agent from a `Conversation` body (the same rules the gateway applies to
/// `v2.users.{id}.conversations`): media, session state, after-call work, newest timestamp.
fn read_agent(body: &Value, user: &str) -> ConversationTruth {
    let p = body["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .rfind(|p| p["userId"] == user)
        .expect("the agent's participant");
    let ms = |v: &Value| v.as_str().map(iso_ms);
    let mut changed = ["connectedTime", "startAlertingTime", "endTime"]
        .iter()
        .filter_map(|k| ms(&p[*k]))
        .max()
        .unwrap_or(0);
    let mut found = None;
    for (media, plural) in [
        ("call", "calls"),
        ("callback", "callbacks"),
        ("chat", "chats"),
        ("email", "emails"),
        ("message", "messages"),
    ] {
        for s in p[plural].as_array().into_iter().flatten() {
            for k in ["connectedTime", "disconnectedTime", "startAlertingTime"] {
                changed = changed.max(ms(&s[k]).unwrap_or(0));
            }
            found = Some((media, s["state"].as_str().expect("state").to_owned()));
        }
    }
    let (media, state) = found.expect("one media session");
    let wrapup = state == "disconnected"
        && p["wrapupRequired"] == true
        && p.get("wrapup").is_none_or(Value::is_null);
    ConversationTruth {
        id: body["id"].as_str().expect("id").to_owned(),
        media: media.to_owned(),
        state,
        wrapup,
        changed_ms: changed,
    }
}

/// Agents whose latest conversation is not over (alerting, connected, or in after-call work).
fn open_in_truth(sim: &Sim) -> BTreeMap<String, ConversationTruth> {
    sim.truth()
        .agents
        .into_iter()
        .filter_map(|(u, a)| {
            a.conversation
                .filter(|c| c.state != "disconnected" || c.wrapup)
                .map(|c| (u, c))
        })
        .collect()
}

#[tokio::test]
async fn missed_conversation_events_are_recovered_through_rest() {
    let sim = sim_with(SimConfig {
        agents: 40,
        queues: 3,
        rate_limit_per_min: 0,
        // The query's grammar and shapes: an index without lag (its lag has its own test).
        details_lag: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let users = sim.users();
    let topics: Vec<String> = users
        .iter()
        .map(|u| format!("v2.users.{u}.conversations"))
        .collect();
    let (t, _, mut ws) = connected(&sim, &topics).await;
    sim.step(150);
    // Connection lost (gateway killed): everything from here on is never delivered.
    sim.fault(Fault::DropSockets);
    assert!(matches!(ws.until_end().await, Got::Abnormal(_)));
    sim.step(400);

    let expected = open_in_truth(&sim);
    let truth = sim.truth();
    assert!(
        expected.len() >= 3,
        "the scenario needs open conversations: {expected:?}"
    );
    let finished = truth
        .agents
        .values()
        .filter(|a| {
            a.conversation
                .as_ref()
                .is_some_and(|c| !c.wrapup && c.state == "disconnected")
        })
        .count();
    assert!(finished >= 1, "the scenario needs a finished conversation");
    let states: Vec<&str> = expected.values().map(|c| c.state.as_str()).collect();
    assert!(states.contains(&"connected") || states.contains(&"alerting"));

    // Details query in chunks of 15 users, 4 conversations per page.
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for chunk in users.chunks(15) {
        let (convs, totals) = all_pages(&sim, &t, chunk, 4).await;
        assert!(
            totals.iter().all(|n| *n == convs.len() as u64),
            "{totals:?}"
        );
        let starts: Vec<u64> = convs
            .iter()
            .map(|c| iso_ms(c["conversationStart"].as_str().expect("conversationStart")))
            .collect();
        assert!(starts.windows(2).all(|w| w[0] >= w[1]), "order desc");
        for c in &convs {
            assert!(c.get("conversationEnd").is_none(), "{c}");
            let id = c["conversationId"].as_str().expect("conversationId");
            let mut with_user = 0;
            for p in c["participants"].as_array().expect("participants") {
                assert!(p["sessions"][0]["segments"].is_array());
                if let Some(u) = p["userId"].as_str() {
                    with_user += 1;
                    assert!(chunk.iter().any(|x| x == u), "{u} not asked for");
                    assert!(found.insert(u.to_owned(), id.to_owned()).is_none());
                }
            }
            assert_eq!(with_user, 1);
        }
    }
    let expected_ids: BTreeMap<String, String> = expected
        .iter()
        .map(|(u, c)| (u.clone(), c.id.clone()))
        .collect();
    assert_eq!(found, expected_ids);

    // GET each conversation: the agent's view equals the truth.
    for (user, id) in &found {
        let r = api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/conversations/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(read_agent(&r.json(), user), expected[user], "{user}");
    }
    // A finished conversation is still readable (the agent's latest), and reads as over.
    for (user, a) in &truth.agents {
        let Some(c) = &a.conversation else { continue };
        if expected.contains_key(user) {
            continue;
        }
        let r = api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/conversations/{}", c.id),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let got = read_agent(&r.json(), user);
        assert_eq!(&got, c);
        assert!(got.state == "disconnected" && !got.wrapup);
    }
}

#[tokio::test]
async fn get_conversation_is_exactly_the_last_notification_body() {
    let sim = sim_with(SimConfig {
        agents: 30,
        queues: 3,
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await;
    let topics: Vec<String> = sim
        .users()
        .iter()
        .map(|u| format!("v2.users.{u}.conversations"))
        .collect();
    let (t, _, mut ws) = connected(&sim, &topics).await;
    sim.step(300);
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    loop {
        match ws.next(Duration::from_millis(100)).await {
            Got::Text(v) if v["eventBody"]["message"] == "WebSocket Heartbeat" => {}
            Got::Text(v) => {
                let body = v["eventBody"].clone();
                last.insert(body["id"].as_str().expect("id").to_owned(), body);
            }
            Got::Timeout => break,
            other => panic!("{other:?}"),
        }
    }
    let current: Vec<String> = sim
        .truth()
        .agents
        .values()
        .filter_map(|a| a.conversation.as_ref().map(|c| c.id.clone()))
        .collect();
    assert!(current.len() >= 3, "{current:?}");
    for id in &current {
        let r = api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/conversations/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(&r.json(), &last[id], "{id}");
        // Ids match case-insensitively, like other Genesys ids.
        let upper = api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/conversations/{}", id.to_uppercase()),
            None,
        )
        .await;
        assert_eq!(upper.status, 200);
    }
}

#[tokio::test]
async fn agents_without_an_open_conversation_are_absent() {
    let sim = sim_with(SimConfig {
        agents: 40,
        queues: 2,
        rate_limit_per_min: 0,
        // The query's grammar and shapes: an index without lag (its lag has its own test).
        details_lag: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    let users = sim.users();
    // Nothing happened yet: no conversations at all.
    let r = api(
        &sim,
        &t,
        "POST",
        QUERY,
        Some(&open_query(&sim, &users, 100, 1)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({ "totalHits": 0 }));

    sim.step(200);
    let truth = sim.truth();
    let (convs, _) = all_pages(&sim, &t, &users, 100).await;
    let listed: Vec<&str> = convs
        .iter()
        .flat_map(|c| c["participants"].as_array().into_iter().flatten())
        .filter_map(|p| p["userId"].as_str())
        .collect();
    let mut none = 0;
    let mut done = 0;
    for (u, a) in &truth.agents {
        let open = a
            .conversation
            .as_ref()
            .is_some_and(|c| c.state != "disconnected" || c.wrapup);
        none += usize::from(a.conversation.is_none());
        done += usize::from(a.conversation.is_some() && !open);
        assert_eq!(
            listed.contains(&u.as_str()),
            open,
            "{u}: {:?}",
            a.conversation
        );
    }
    assert!(none > 0 && done > 0, "none={none} done={done}");

    // Without the notExists filter, finished conversations are listed too, with conversationEnd.
    let now = sim.now_ms();
    let everything = json!({
        "interval": format!("{}/{}", iso(now - DAY), iso(now + DAY)),
        "paging": { "pageSize": 100, "pageNumber": 1 },
    });
    let v = api(&sim, &t, "POST", QUERY, Some(&everything.to_string()))
        .await
        .json();
    let with_conversation = truth
        .agents
        .values()
        .filter(|a| a.conversation.is_some())
        .count();
    let total = usize::try_from(v["totalHits"].as_u64().expect("totalHits")).unwrap();
    let ended = v["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .filter(|c| c.get("conversationEnd").is_some())
        .count();
    // Each agent's latest conversation, and the finished ones before them (the index keeps
    // an agent's previous conversation too): every extra one has ended.
    assert!(total >= with_conversation, "{total} < {with_conversation}");
    assert_eq!(
        total - with_conversation,
        ended - done,
        "{total} {ended} {done}"
    );
    let starts: Vec<u64> = v["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| iso_ms(c["conversationStart"].as_str().expect("start")))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "default order asc");

    // An interval that ends before every conversation started finds nothing.
    let old = json!({
        "interval": format!("{}/{}", iso(now - 3 * DAY), iso(now - 2 * DAY)),
        "segmentFilters": [{ "type": "or", "predicates": [{ "dimension": "userId", "value": users[0] }] }],
    });
    let v = api(&sim, &t, "POST", QUERY, Some(&old.to_string()))
        .await
        .json();
    assert_eq!(v, json!({ "totalHits": 0 }));
}

#[tokio::test]
async fn requests_are_validated_authenticated_and_rate_limited() {
    let sim = sim_with(SimConfig {
        agents: 10,
        queues: 2,
        rate_limit_per_min: 6,
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    let users = sim.users();
    let good = open_query(&sim, &users, 25, 1);

    // No bearer token: 401, not counted against the token.
    let r = http(
        "POST",
        &format!("{}{QUERY}", sim.api_base()),
        &[],
        Some(&good),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http(
        "GET",
        &format!("{}/api/v2/conversations/{}", sim.api_base(), users[0]),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 401);

    // 1: unknown conversation → 404 ErrorBody.
    let r = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/conversations/{}", users[0]),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let e = r.json();
    assert_eq!(e["code"], "not.found");
    assert_eq!(e["status"], 404);
    assert!(e["message"].as_str().is_some_and(|m| m.contains(&users[0])));

    // 2-5: malformed queries → 400 bad.request.
    let now = sim.now_ms();
    let interval = format!("{}/{}", iso(now - DAY), iso(now + DAY));
    for bad in [
        json!({ "order": "desc" }).to_string(),
        json!({ "interval": format!("{}/{}", iso(now + DAY), iso(now - DAY)) }).to_string(),
        json!({ "interval": interval, "paging": { "pageSize": 101, "pageNumber": 1 } }).to_string(),
        json!({ "interval": interval, "segmentFilters": [{ "type": "or", "predicates": [
            { "type": "metric", "metric": "tTalk", "operator": "exists" }
        ]}] })
        .to_string(),
    ] {
        let r = api(&sim, &t, "POST", QUERY, Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.json()["code"], "bad.request");
    }
    // 6: fine; 7: over the per-token limit.
    let r = api(&sim, &t, "POST", QUERY, Some(&good)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api(&sim, &t, "POST", QUERY, Some(&good)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("Retry-After").is_some());
    let r = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/conversations/{}", users[0]),
        None,
    )
    .await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn held_conversation_reads_are_answered_when_lifted_with_the_state_then() {
    let sim = sim_with(SimConfig {
        agents: 30,
        queues: 3,
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    while open_in_truth(&sim).is_empty() {
        sim.step(1);
    }
    let (user, before) = open_in_truth(&sim).into_iter().next().expect("an open one");
    sim.fault(Fault::HoldConversationReads(true));
    let read = {
        let (sim, t, id) = (sim.clone(), t.clone(), before.id.clone());
        tokio::spawn(async move {
            api(
                &sim,
                &t,
                "GET",
                &format!("/api/v2/conversations/{id}"),
                None,
            )
            .await
        })
    };
    while sim.stats().conversation_reads_held == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Everything else is served meanwhile, the details query included.
    let q = api(
        &sim,
        &t,
        "POST",
        QUERY,
        Some(&open_query(&sim, std::slice::from_ref(&user), 25, 1)),
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert!(!read.is_finished(), "a held read was answered");
    // The conversation moves on while its read is held; lifting answers it as it is then.
    let mut steps = 0;
    while sim.truth().agents[&user].conversation.as_ref() == Some(&before) && steps < 5_000 {
        steps += sim.step(1);
    }
    let now = sim.truth().agents[&user]
        .conversation
        .clone()
        .expect("a conversation");
    sim.fault(Fault::HoldConversationReads(false));
    let r = read.await.expect("read task");
    if now.id == before.id {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(read_agent(&r.json(), &user), now);
    }
    assert_eq!(sim.stats().conversation_reads_held, 1);
}

/// The details index trails the conversations by `details_lag` (sim time): a conversation offered
/// now is not in it yet, and one it shows is in the state of `details_lag` ago; `GET` is exact.
#[tokio::test]
async fn the_details_index_trails_the_conversations_by_its_lag() {
    let sim = sim_with(SimConfig {
        agents: 30,
        queues: 3,
        rate_limit_per_min: 0,
        clock_speed: 0.0,
        details_lag: Duration::from_secs(5),
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    let users = sim.users();
    let listed = |convs: &[Value]| -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for c in convs {
            for p in c["participants"].as_array().into_iter().flatten() {
                if let Some(u) = p["userId"].as_str() {
                    let segs = p["sessions"][0]["segments"].as_array().expect("segments");
                    let open = segs
                        .iter()
                        .rev()
                        .find(|s| s.get("segmentEnd").is_none())
                        .map_or("none", |s| s["segmentType"].as_str().unwrap_or("?"));
                    out.insert(u.to_owned(), open.to_owned());
                }
            }
        }
        out
    };
    while open_in_truth(&sim).is_empty() {
        sim.step(20);
    }
    let open = open_in_truth(&sim);
    // Offered within the lag: not in the index yet, yet readable exactly.
    let (convs, _) = all_pages(&sim, &t, &users, 100).await;
    assert!(listed(&convs).is_empty(), "{convs:?}");
    for c in open.values() {
        let r = api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/conversations/{}", c.id),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Once the lag has passed, every open conversation is in it.
    sim.advance(Duration::from_secs(5));
    let (convs, _) = all_pages(&sim, &t, &users, 100).await;
    let seen = listed(&convs);
    let open = open_in_truth(&sim);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        open.keys().collect::<Vec<_>>()
    );
    // A change is indexed only `details_lag` later: the index still shows what was.
    let before = seen.clone();
    let mut changed = false;
    for _ in 0..50 {
        sim.step(20);
        if open_in_truth(&sim).iter().any(|(u, c)| {
            before
                .get(u)
                .is_some_and(|k| (k == "alert") != (c.state == "alerting"))
        }) {
            changed = true;
            break;
        }
    }
    assert!(changed, "no conversation changed state in 1,000 steps");
    let (convs, _) = all_pages(&sim, &t, &users, 100).await;
    let now_seen = listed(&convs);
    for (u, k) in &before {
        assert_eq!(
            now_seen.get(u),
            Some(k),
            "{u} changed in the index before its lag"
        );
    }
}
