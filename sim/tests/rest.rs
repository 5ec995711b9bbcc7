//! REST and OAuth behaviour observed through a raw HTTP client: tokens, auth errors, rate limits, channels,
//! subscriptions (limits, ignoreErrors, combined topics) and the resync endpoints.

mod support;

use std::time::Duration;

use genesys_sim::SimConfig;
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn oauth_issues_bearer_tokens_and_refuses_bad_credentials() {
    let sim = sim().await;
    let url = format!("{}/oauth/token", sim.api_base());
    let good = base64_basic("sim-client:sim-secret");
    let r = http(
        "POST",
        &url,
        &[("Authorization", &good)],
        Some("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 86_400);
    assert!(v["access_token"].as_str().is_some_and(|t| t.len() > 20));

    let bad = base64_basic("sim-client:wrong");
    let r = http(
        "POST",
        &url,
        &[("Authorization", &bad)],
        Some("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].is_string());
    let r = http("POST", &url, &[], Some("grant_type=client_credentials")).await;
    assert_eq!(r.status, 401);
    let r = http(
        "POST",
        &url,
        &[("Authorization", &good)],
        Some("grant_type=password"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(sim.stats().tokens_issued, 1);
}

fn base64_basic(s: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

#[tokio::test]
async fn api_needs_a_valid_bearer_token_with_genesys_error_bodies() {
    let sim = sim().await;
    let r = http(
        "GET",
        &format!("{}/api/v2/notifications/channels", sim.api_base()),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    let v = r.json();
    assert_eq!(v["status"], 401);
    assert!(v["code"].is_string() && v["message"].is_string() && v["contextId"].is_string());
    let r = api(
        &sim,
        "not-a-token",
        "GET",
        "/api/v2/notifications/channels",
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "bad.credentials");
    // Scheme is case-insensitive.
    let t = token(&sim).await;
    let r = http(
        "GET",
        &format!("{}/api/v2/notifications/channels", sim.api_base()),
        &[("Authorization", &format!("BEARER {t}"))],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    // Unknown route after auth: 404 ErrorBody.
    let r = api(&sim, &t, "GET", "/api/v2/nope", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["status"], 404);
}

#[tokio::test]
async fn rate_limit_per_token_gives_429_with_retry_after() {
    let sim = sim_with(SimConfig {
        rate_limit_per_min: 5,
        clock_speed: 0.0,
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    for _ in 0..5 {
        assert_eq!(
            api(&sim, &t, "GET", "/api/v2/notifications/channels", None)
                .await
                .status,
            200
        );
    }
    let r = api(&sim, &t, "GET", "/api/v2/notifications/channels", None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), Some("60"));
    assert_eq!(
        r.json(),
        json!({ "message": "Rate limit exceeded the maximum. Retry the request in [60] seconds", "code": "too.many.requests.retry.after", "status": 429 })
    );
    // Another token has its own budget.
    let t2 = token(&sim).await;
    assert_eq!(
        api(&sim, &t2, "GET", "/api/v2/notifications/channels", None)
            .await
            .status,
        200
    );
    // Retry-After counts down in sim time; after it the budget is back.
    sim.advance(Duration::from_secs(45));
    let r = api(&sim, &t, "GET", "/api/v2/notifications/channels", None).await;
    assert_eq!(r.header("Retry-After"), Some("15"));
    sim.advance(Duration::from_secs(15));
    assert_eq!(
        api(&sim, &t, "GET", "/api/v2/notifications/channels", None)
            .await
            .status,
        200
    );
    assert_eq!(sim.stats().rate_limited, 2);
}

#[tokio::test]
async fn channels_create_list_head_and_expire_per_protocol() {
    let sim = sim().await;
    let t = token(&sim).await;
    let r = api(&sim, &t, "POST", "/api/v2/notifications/channels", None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let id = v["id"].as_str().expect("id");
    let tail = id
        .strip_prefix("streaming-")
        .and_then(|s| s.split_once('-'))
        .map(|(_, t)| t)
        .expect("shape");
    assert_eq!(tail.len(), 26);
    assert!(tail
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert!(v["connectUri"]
        .as_str()
        .is_some_and(|u| u.starts_with("ws://") && u.ends_with(&format!("/channels/{id}"))));
    let expires = iso_ms(v["expires"].as_str().expect("expires"));
    let want = sim.now_ms() + 86_400_000;
    assert!(
        expires.abs_diff(want) < 5_000,
        "expires {expires} vs {want}"
    );

    let list = api(&sim, &t, "GET", "/api/v2/notifications/channels", None)
        .await
        .json();
    assert_eq!(list["entities"].as_array().map(Vec::len), Some(1));
    let t2 = token(&sim).await;
    let list2 = api(
        &sim,
        &t2,
        "GET",
        "/api/v2/notifications/channels?includechannels=token",
        None,
    )
    .await
    .json();
    assert_eq!(list2["entities"].as_array().map(Vec::len), Some(0));
    let list3 = api(
        &sim,
        &t2,
        "GET",
        "/api/v2/notifications/channels?includechannels=oauthclient",
        None,
    )
    .await
    .json();
    assert_eq!(list3["entities"].as_array().map(Vec::len), Some(1));
    assert!(
        list3["entities"][0].get("id").is_none(),
        "other tokens' channel ids are hidden"
    );

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
        200
    );
    assert_eq!(
        api(
            &sim,
            &t,
            "HEAD",
            "/api/v2/notifications/channels/streaming-0-nope",
            None
        )
        .await
        .status,
        404
    );
    // Another token may not manage this channel's subscriptions.
    let r = api(
        &sim,
        &t2,
        "GET",
        &format!("/api/v2/notifications/channels/{id}/subscriptions"),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    // Channel lifetime passes in sim time (the tokens, also 24 h, expire with it: use a fresh one).
    sim.advance(Duration::from_secs(86_401));
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
        401
    );
    let t3 = token(&sim).await;
    assert_eq!(
        api(
            &sim,
            &t3,
            "HEAD",
            &format!("/api/v2/notifications/channels/{id}"),
            None
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn twenty_first_channel_evicts_the_oldest_unconnected_one() {
    let sim = sim_with(SimConfig {
        max_channels: 3,
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    let (a, a_uri) = channel(&sim, &t).await;
    let (b, _) = channel(&sim, &t).await;
    let (c, _) = channel(&sim, &t).await;
    let mut ws_a = Ws::connect(&a_uri).await;
    tokio::task::yield_now().await;
    // a is connected, so b (oldest unconnected) goes.
    let (d, _) = channel(&sim, &t).await;
    let head = |id: String| {
        let sim = sim.clone();
        let t = t.clone();
        async move {
            api(
                &sim,
                &t,
                "HEAD",
                &format!("/api/v2/notifications/channels/{id}"),
                None,
            )
            .await
            .status
        }
    };
    assert_eq!(head(a.clone()).await, 200);
    assert_eq!(head(b).await, 404);
    assert_eq!(head(c.clone()).await, 200);
    assert_eq!(head(d).await, 200);
    ws_a.quiet().await;
    assert_eq!(sim.stats().channels_evicted, 1);
    let _ = c;
}

#[tokio::test]
async fn subscriptions_add_replace_delete_and_limits() {
    let sim = sim_with(SimConfig {
        agents: 600,
        queues: 3,
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await;
    let users = sim.users();
    let t = token(&sim).await;
    let (id, _) = channel(&sim, &t).await;
    let path = format!("/api/v2/notifications/channels/{id}/subscriptions");
    let p = |u: &str| format!("v2.users.{u}.presence");

    let r = subscribe(&sim, &t, &id, &[p(&users[0])]).await;
    assert_eq!(r.status, 200);
    // Idempotent add, case-insensitive.
    let r = subscribe(
        &sim,
        &t,
        &id,
        &[
            p(&users[0]).to_uppercase().replace("V2.USERS", "v2.users"),
            p(&users[1]),
        ],
    )
    .await;
    let ids: Vec<String> = r.json()["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|e| e["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    // Replace.
    let body = json!([{ "id": p(&users[2]) }]).to_string();
    let r = api(&sim, &t, "PUT", &path, Some(&body)).await;
    assert_eq!(
        r.json()["entities"],
        json!([{ "id": p(&users[2]), "selfUri": format!("/api/v2/notifications/channels/{id}/subscriptions") }])
    );
    let r = api(&sim, &t, "GET", &path, None).await;
    assert_eq!(r.json()["entities"].as_array().map(Vec::len), Some(1));
    // Delete all.
    assert_eq!(api(&sim, &t, "DELETE", &path, None).await.status, 200);
    assert_eq!(
        api(&sim, &t, "GET", &path, None).await.json()["entities"],
        json!([])
    );

    // > 1000 topics → 400 ErrorBody, nothing stored.
    let many: Vec<String> = users
        .iter()
        .flat_map(|u| [p(u), format!("v2.users.{u}.routingStatus")])
        .take(1001)
        .collect();
    let r = subscribe(&sim, &t, &id, &many).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["status"], 400);
    assert_eq!(
        api(&sim, &t, "GET", &path, None).await.json()["entities"],
        json!([])
    );
    // Exactly 1000 is fine.
    let r = subscribe(&sim, &t, &id, &many[..1000]).await;
    assert_eq!(r.status, 200);

    // Combined topics count per expanded topic toward the limit (choice for an unknown).
    assert_eq!(api(&sim, &t, "DELETE", &path, None).await.status, 200);
    let combined: Vec<String> = users
        .iter()
        .take(501)
        .map(|u| format!("v2.users.{u}?presence&routingStatus"))
        .collect();
    assert_eq!(subscribe(&sim, &t, &id, &combined).await.status, 400);
    assert_eq!(subscribe(&sim, &t, &id, &combined[..500]).await.status, 200);
}

#[tokio::test]
async fn subscription_validation_and_ignore_errors() {
    let sim = sim().await;
    let u = sim.users()[0].clone();
    let q = sim.queues()[0].clone();
    let t = token(&sim).await;
    let (id, _) = channel(&sim, &t).await;
    for bad in [
        "channel.metadata".to_owned(),
        "v2.system.socket_closing".to_owned(),
        "v2.users.00000000-0000-4000-8000-000000000000.presence".to_owned(),
        format!("v2.users.{u}.nonsense"),
        format!("v2.users.{u}?{}", vec!["presence"; 40].join("&")),
    ] {
        let r = subscribe(&sim, &t, &id, std::slice::from_ref(&bad)).await;
        assert_eq!(r.status, 400, "{bad} → {}", r.body);
        assert!(r.json()["message"].is_string());
    }
    let body = json!([
        { "id": format!("v2.users.{u}.presence") },
        { "id": format!("v2.analytics.queues.{q}.observations") },
        { "id": "v2.users.00000000-0000-4000-8000-000000000000.presence" },
        { "id": "channel.metadata" },
    ])
    .to_string();
    let r = api(
        &sim,
        &t,
        "POST",
        &format!("/api/v2/notifications/channels/{id}/subscriptions?ignoreErrors=true"),
        Some(&body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = r.json()["entities"].clone();
    let states: Vec<(&str, &str)> = e
        .as_array()
        .expect("array")
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap_or(""),
                x["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        states.iter().filter(|(_, s)| *s == "Permitted").count(),
        2,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|(_, s)| *s == "Rejected").count(),
        2,
        "{states:?}"
    );
    assert!(e
        .as_array()
        .expect("array")
        .iter()
        .any(|x| x["state"] == "Rejected" && x["rejectionReason"].is_string()));
}

#[tokio::test]
async fn resync_endpoints_match_the_truth() {
    let sim = sim_with(SimConfig {
        agents: 120,
        queues: 2,
        groups: 2,
        rate_limit_per_min: 0,
        ..SimConfig::default()
    })
    .await;
    sim.step(300);
    let truth = sim.truth();
    let users = sim.users();
    let t = token(&sim).await;

    // Bulk presence: ≤ 50 ids, bare array, legacy casing.
    let ids = users[..50].join(",");
    let r = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/users/presences/purecloud/bulk?id={ids}"),
        None,
    )
    .await;
    let arr = r.json();
    assert_eq!(arr.as_array().map(Vec::len), Some(50));
    for p in arr.as_array().expect("array") {
        let a = &truth.agents[p["userId"].as_str().expect("userId")];
        assert_eq!(p["presenceDefinition"]["id"], a.presence_id.as_str());
        assert_eq!(
            norm(
                p["presenceDefinition"]["systemPresence"]
                    .as_str()
                    .expect("sp")
            ),
            norm(&a.system_presence)
        );
        assert!(
            p["presenceDefinition"]["systemPresence"]
                .as_str()
                .is_some_and(|s| !s.contains('_')),
            "REST casing"
        );
        assert_eq!(
            iso_ms(p["modifiedDate"].as_str().expect("date")),
            a.presence_modified_ms
        );
    }
    let too_many = users[..51].join(",");
    assert_eq!(
        api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/users/presences/purecloud/bulk?id={too_many}"),
            None
        )
        .await
        .status,
        400
    );

    // Users with expand, both id forms.
    let path = format!("/api/v2/users?id={}&id={},{}&expand=presence,routingStatus,conversationSummary&pageSize=25", users[0], users[1], users[2]);
    let v = api(&sim, &t, "GET", &path, None).await.json();
    assert_eq!(v["entities"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["total"], 3);
    for e in v["entities"].as_array().expect("array") {
        let a = &truth.agents[e["id"].as_str().expect("id")];
        assert_eq!(e["routingStatus"]["status"], a.routing_status.as_str());
        assert_eq!(
            iso_ms(e["routingStatus"]["startTime"].as_str().expect("t")),
            a.routing_start_ms
        );
        assert_eq!(
            e["presence"]["presenceDefinition"]["id"],
            a.presence_id.as_str()
        );
        assert!(e["conversationSummary"]["call"]["contactCenter"]["active"].is_number());
    }
    // Per-user endpoints.
    let a = &truth.agents[&users[5]];
    let rs = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/users/{}/routingstatus", users[5]),
        None,
    )
    .await
    .json();
    assert_eq!(rs["status"], a.routing_status.as_str());
    let pr = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/users/{}/presences/purecloud", users[5]),
        None,
    )
    .await
    .json();
    assert_eq!(pr["presenceDefinition"]["id"], a.presence_id.as_str());
    let ooo = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/users/{}/outofoffice", users[5]),
        None,
    )
    .await
    .json();
    assert_eq!(ooo["active"], a.out_of_office);
    assert_eq!(ooo["user"]["id"], users[5].as_str());
    let unknown = api(
        &sim,
        &t,
        "GET",
        "/api/v2/users/00000000-0000-4000-8000-000000000000/routingstatus",
        None,
    )
    .await
    .json();
    assert_eq!(unknown["status"], "OFF_QUEUE");

    // Queue members: pageSize ≤ 100, nextUri only, no total.
    let q = &sim.queues()[0];
    let members = &truth.queues[q].members;
    assert!(members.len() > 10);
    assert_eq!(
        api(
            &sim,
            &t,
            "GET",
            &format!("/api/v2/routing/queues/{q}/members?pageSize=101"),
            None
        )
        .await
        .status,
        400
    );
    let mut seen = Vec::new();
    let mut next = Some(format!("/api/v2/routing/queues/{q}/members?pageSize=10"));
    while let Some(p) = next {
        let v = api(&sim, &t, "GET", &p, None).await.json();
        assert!(v.get("total").is_none() && v.get("pageCount").is_none());
        for m in v["entities"].as_array().expect("array") {
            let id = m["id"].as_str().expect("id");
            assert_eq!(
                m["routingStatus"]["status"],
                truth.agents[id].routing_status.as_str()
            );
            seen.push(id.to_owned());
        }
        next = v["nextUri"].as_str().map(str::to_owned);
    }
    assert_eq!(&seen, members);

    // Groups: members and individuals, paged.
    let g = &sim.groups()[0];
    let want = sim.group_members(g);
    for kind in ["members", "individuals"] {
        let mut got = Vec::new();
        let mut next = Some(format!("/api/v2/groups/{g}/{kind}?pageSize=7"));
        while let Some(p) = next {
            let v = api(&sim, &t, "GET", &p, None).await.json();
            got.extend(
                v["entities"]
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|e| e["id"].as_str().unwrap_or("").to_owned()),
            );
            next = v["nextUri"].as_str().map(str::to_owned);
        }
        assert_eq!(got, want);
    }

    // Observations query equals the truth snapshot.
    let body = json!({ "filter": { "type": "or", "predicates": sim.queues().iter().map(|q| json!({ "dimension": "queueId", "value": q })).collect::<Vec<_>>() }, "metrics": ["oWaiting", "oInteracting", "oAlerting", "oOnQueueUsers", "oOffQueueUsers"] }).to_string();
    let v = api(
        &sim,
        &t,
        "POST",
        "/api/v2/analytics/queues/observations/query",
        Some(&body),
    )
    .await
    .json();
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for r in results {
        let qt = &truth.queues[r["group"]["queueId"].as_str().expect("queueId")];
        let metric = |name: &str| {
            r["data"]
                .as_array()
                .and_then(|d| d.iter().find(|m| m["metric"] == name))
                .map(|m| m["stats"]["count"].clone())
        };
        assert_eq!(metric("oWaiting"), Some(json!(qt.waiting)));
        assert_eq!(metric("oInteracting"), Some(json!(qt.interacting)));
        assert_eq!(metric("oAlerting"), Some(json!(qt.alerting)));
        assert_eq!(metric("oOnQueueUsers"), Some(json!(qt.on_queue)));
        assert_eq!(metric("oOffQueueUsers"), Some(json!(qt.off_queue)));
    }

    // Conversation aggregates by queue: the current interval's figures; a queue with nothing
    // counted has no result, a metric with nothing counted is left out.
    let start = truth
        .queues
        .values()
        .next()
        .expect("a queue")
        .aggregate_interval_start_ms;
    let body = json!({
        "interval": format!("{}/{}", iso(start), iso(start + 1_800_000)),
        "granularity": "PT30M",
        "groupBy": ["queueId"],
        "filter": { "type": "or", "predicates": sim.queues().iter().map(|q| json!({ "dimension": "queueId", "value": q })).collect::<Vec<_>>() },
        "metrics": ["nOffered", "tAnswered", "tAbandon", "oServiceLevel"],
    })
    .to_string();
    let v = api(
        &sim,
        &t,
        "POST",
        "/api/v2/analytics/conversations/aggregates/query",
        Some(&body),
    )
    .await
    .json();
    let results = v["results"].as_array().cloned().unwrap_or_default();
    for (q, qt) in &truth.queues {
        let r = results.iter().find(|r| r["group"]["queueId"] == q.as_str());
        let count = |name: &str| {
            r.and_then(|r| r["data"][0]["metrics"].as_array())
                .and_then(|d| d.iter().find(|m| m["metric"] == name))
                .map_or(0, |m| m["stats"]["count"].as_u64().expect("count"))
        };
        assert_eq!(count("nOffered"), u64::from(qt.offered), "{q}");
        assert_eq!(count("tAnswered"), u64::from(qt.answered), "{q}");
        assert_eq!(count("tAbandon"), u64::from(qt.abandoned), "{q}");
        if qt.offered + qt.answered + qt.abandoned == 0 {
            assert!(r.is_none(), "{q}: nothing counted, no result");
        }
    }
    // Another interval: nothing (the sim keeps the current one).
    let old = body
        .replace(&iso(start), &iso(start - 1_800_000))
        .replace(&iso(start + 1_800_000), &iso(start));
    let v = api(
        &sim,
        &t,
        "POST",
        "/api/v2/analytics/conversations/aggregates/query",
        Some(&old),
    )
    .await
    .json();
    assert!(v.get("results").is_none(), "{v}");
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

#[tokio::test]
async fn presence_definitions_in_both_casings_and_drop_expand() {
    let sim = sim_with(SimConfig {
        drop_expand: true,
        ..SimConfig::default()
    })
    .await;
    let t = token(&sim).await;
    let legacy = api(&sim, &t, "GET", "/api/v2/presencedefinitions", None)
        .await
        .json();
    let new = api(&sim, &t, "GET", "/api/v2/presence/definitions", None)
        .await
        .json();
    let find = |v: &Value, id: &str| {
        v["entities"]
            .as_array()
            .and_then(|e| e.iter().find(|x| x["id"] == id))
            .map(|x| x["systemPresence"].clone())
    };
    let on_queue = "e08eaf1b-ee47-4fa9-a231-1200e284798f";
    assert_eq!(find(&legacy, on_queue), Some(json!("On Queue")));
    assert_eq!(find(&new, on_queue), Some(json!("OnQueue")));
    // Custom definitions map to Break/Away.
    assert_eq!(
        find(&legacy, "992c2437-1833-4737-9ff4-eafdc4a360c8"),
        Some(json!("Break"))
    );
    assert_eq!(
        find(&legacy, "2fa68d50-5edb-4e01-9390-522615f12243"),
        Some(json!("Away"))
    );
    let defs = sim.presence_definitions();
    assert!(defs.contains(&(on_queue.to_owned(), "ON_QUEUE".to_owned())));
    assert_eq!(
        defs.len(),
        legacy["entities"].as_array().map(Vec::len).unwrap_or(0)
    );
    let sys = api(&sim, &t, "GET", "/api/v2/systempresences", None)
        .await
        .json();
    assert!(sys.as_array().is_some_and(|a| a.len() == 10));

    let u = &sim.users()[0];
    let v = api(
        &sim,
        &t,
        "GET",
        &format!("/api/v2/users?id={u}&expand=presence,routingStatus"),
        None,
    )
    .await
    .json();
    assert!(
        v["entities"][0].get("presence").is_none()
            && v["entities"][0].get("routingStatus").is_none()
    );
}

#[tokio::test]
async fn sim_control_routes_over_http() {
    let sim = sim().await;
    let base = sim.api_base();
    let r = http("POST", &format!("{base}/sim/step?n=25"), &[], None).await;
    assert_eq!(r.json()["generated"], 25);
    let before = sim.now_ms();
    let r = http("POST", &format!("{base}/sim/advance?ms=60000"), &[], None).await;
    assert!(r.json()["nowMs"]
        .as_u64()
        .is_some_and(|n| n >= before + 60_000));
    let truth: Value = http("GET", &format!("{base}/sim/truth"), &[], None)
        .await
        .json();
    assert_eq!(
        truth,
        serde_json::to_value(sim.truth()).expect("truth json")
    );
    let r = http(
        "POST",
        &format!("{base}/sim/fault"),
        &[],
        Some(r#"{"RateLimitStorm":{"secs":5}}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let t = token(&sim).await; // /oauth/token is exempt from the storm
    let r = api(&sim, &t, "GET", "/api/v2/notifications/channels", None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), Some("5"));
    assert_eq!(
        http(
            "POST",
            &format!("{base}/sim/fault"),
            &[],
            Some("{\"Nope\":1}")
        )
        .await
        .status,
        400
    );
    assert_eq!(sim.stats().events_generated, 25);
}
