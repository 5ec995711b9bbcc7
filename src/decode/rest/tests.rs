//! Unit tests of the REST parsers: every endpoint shape, optional expands, truncation,
//! capacity policy, rejections, and the sizes of the result types.

use super::super::{parse_timestamp, Reason};
use super::*;
use crate::event::Routing;

const USER: &str = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
const QUEUE: &str = "788c3a6d-8b4f-4a2d-a2bc-ffc815bba881";
const ON_QUEUE_DEF: &str = "e08eaf1b-ee47-4fa9-a231-1200e284798f";

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

fn ts(s: &str) -> Millis {
    parse_timestamp(s).unwrap()
}

#[test]
fn token_parses_and_redacts() {
    let t =
        token(br#"{"token_type":"bearer","expires_in":86399,"access_token":"abc\/def"}"#).unwrap();
    assert_eq!(t.access_token.as_str(), "abc/def");
    assert_eq!(t.token_type.as_str(), "bearer");
    assert_eq!(t.expires_in, 86_399);
    let dbg = format!("{t:?}");
    assert!(!dbg.contains("abc") && dbg.contains("redacted"), "{dbg}");
    // A long (but fitting) token with escapes is fine; a longer one is refused, not cut.
    let fits = "a".repeat(TOKEN_LEN);
    let json = format!(r#"{{"access_token":"{fits}","token_type":"bearer","expires_in":1}}"#);
    assert_eq!(
        token(json.as_bytes()).unwrap().access_token.len(),
        TOKEN_LEN
    );
    let json = format!(r#"{{"access_token":"{fits}x","token_type":"bearer","expires_in":1}}"#);
    assert_eq!(
        token(json.as_bytes()),
        Err(Rejected::OverCapacity {
            field: "access_token",
            max: TOKEN_LEN
        })
    );
    assert_eq!(
        token(br#"{"token_type":"bearer","expires_in":1}"#),
        Err(Rejected::MissingField("access_token"))
    );
    assert_eq!(
        token(br#"{"access_token":"a","token_type":"bearer"}"#),
        Err(Rejected::MissingField("expires_in"))
    );
    assert_eq!(
        token(br#"{"access_token":"a","token_type":"bearer","expires_in":-1}"#)
            .map_err(|e| e.reason()),
        Err(Reason::Malformed)
    );
}

#[test]
fn channel_parses() {
    let c = channel(
        br#"{"connectUri":"wss://streaming.mypurecloud.com/channels/streaming-2-aa5h48uk0srhpugh2994klj918",
             "id":"streaming-2-aa5h48uk0srhpugh2994klj918","expires":"2021-02-03T17:59:07.650Z"}"#,
    )
    .unwrap();
    assert_eq!(c.id.as_str(), "streaming-2-aa5h48uk0srhpugh2994klj918");
    assert_eq!(
        c.connect_uri.as_str(),
        "wss://streaming.mypurecloud.com/channels/streaming-2-aa5h48uk0srhpugh2994klj918"
    );
    assert_eq!(c.expires, 1_612_375_147_650);
    assert_eq!(
        channel(br#"{"connectUri":"wss://x","id":"s","expires":"tomorrow"}"#),
        Err(Rejected::BadTimestamp("expires"))
    );
    assert_eq!(
        channel(br#"{"connectUri":"wss://x","expires":"2021-02-03T17:59:07Z"}"#),
        Err(Rejected::MissingField("id"))
    );
    let long = format!(
        r#"{{"connectUri":"wss://{}","id":"s","expires":"2021-02-03T17:59:07Z"}}"#,
        "h".repeat(300)
    );
    assert_eq!(
        channel(long.as_bytes()),
        Err(Rejected::OverCapacity {
            field: "connectUri",
            max: CONNECT_URI_LEN
        })
    );
}

#[test]
fn subscriptions_tally_a_thousand_without_storing_them() {
    let mut entities = std::vec::Vec::new();
    for i in 0..1000 {
        let state = if i % 100 == 7 {
            "Rejected"
        } else {
            "Permitted"
        };
        entities.push(format!(
            r#"{{"id":"v2.users.{i}.presence","state":"{state}","rejectionReason":"r","missingPermissions":["a:b:c"],"selfUri":"/x"}}"#
        ));
    }
    let json = format!(r#"{{"entities":[{}]}}"#, entities.join(","));
    let t = subscriptions(json.as_bytes()).unwrap();
    assert_eq!(
        (t.total, t.rejected, t.rejected_ids.len()),
        (1000, 10, MAX_REJECTED_IDS)
    );
    assert_eq!(t.rejected_ids[0].as_str(), "v2.users.7.presence");
    assert_eq!(t.rejected_ids[3].as_str(), "v2.users.307.presence");
    // Without ignoreErrors: no state at all.
    let t = subscriptions(br#"{"entities":[{"id":"a"},{"id":"b"}]}"#).unwrap();
    assert_eq!((t.total, t.rejected), (2, 0));
    // A combined topic longer than the evidence capacity is cut, not refused.
    let long = format!(
        r#"{{"entities":[{{"id":"{}","state":"REJECTED"}}]}}"#,
        "t".repeat(200)
    );
    let t = subscriptions(long.as_bytes()).unwrap();
    assert_eq!(t.rejected_ids[0].len(), SUB_TOPIC_LEN);
    assert_eq!(
        subscriptions(b"{}"),
        Err(Rejected::MissingField("entities"))
    );
}

fn member_json(id_field: &str, name: &str) -> std::string::String {
    format!(
        r#"{{{id_field}"name":"{name}","ringNumber":1,"joined":true,"memberBy":"user",
        "routingStatus":{{"userId":"{USER}","status":"IDLE","startTime":"2024-12-30T09:41:12.000Z"}}}}"#
    )
}

#[test]
fn members_page_parses_truncates_and_counts_tail() {
    let m = member_json(
        &format!(r#""id":"{USER}","user":{{"id":"{USER}","name":"x"}},"#),
        "Agnes Agent",
    );
    let json = format!(r#"{{"entities":[{m}],"pageSize":100,"nextUri":"/api/v2/x?pageNumber=2"}}"#);
    let page = members_page(json.as_bytes()).unwrap();
    assert_eq!(page.next_uri.as_deref(), Some("/api/v2/x?pageNumber=2"));
    assert_eq!(page.dropped, 0);
    assert_eq!(
        page.members.as_slice(),
        &[QueueMember {
            id: id(USER),
            name: heapless::String::try_from("Agnes Agent").unwrap(),
            joined: true,
            routing: Some(RoutingChange {
                user: id(USER),
                routing: Routing::Idle,
                started: ts("2024-12-30T09:41:12.000Z"),
            }),
        }]
    );
    // Long name with escapes and multi-byte chars: cut at a char boundary within NAME_LEN.
    let name = r#"J\u00e9r\u00f4me \"JJ\" de la Fontaine-Beaumarchais"#;
    let m = member_json(&format!(r#""id":"{USER}","#), name);
    let page = members_page(format!(r#"{{"entities":[{m}]}}"#).as_bytes()).unwrap();
    let got = page.members[0].name.as_str();
    assert!(got.len() <= NAME_LEN && "Jérôme \"JJ\" de la Fontaine-Beaumarchais".starts_with(got));
    assert_eq!(got, "Jérôme \"JJ\" de la Fontaine-Bea");
    // 31 ASCII bytes then a 2-byte char straddling the 32-byte limit: cut before it.
    let straddle = format!("{}\\u00e9", "a".repeat(NAME_LEN - 1));
    let m = member_json(&format!(r#""id":"{USER}","#), &straddle);
    let page = members_page(format!(r#"{{"entities":[{m}]}}"#).as_bytes()).unwrap();
    assert_eq!(page.members[0].name.as_str(), "a".repeat(NAME_LEN - 1));
    assert_eq!(page.next_uri, None);
    // MAX_PAGE + 5 members: the tail is counted, not parsed.
    let m = member_json(&format!(r#""id":"{USER}","#), "A");
    let many = vec![m.as_str(); MAX_PAGE + 5].join(",");
    let page =
        members_page(format!(r#"{{"entities":[{many}],"nextUri":null}}"#).as_bytes()).unwrap();
    assert_eq!((page.members.len(), page.dropped), (MAX_PAGE, 5));
    // Missing `joined` counts as joined; missing routing is None; bad id refused.
    let page = members_page(format!(r#"{{"entities":[{{"id":"{USER}"}}]}}"#).as_bytes()).unwrap();
    assert_eq!(
        (page.members[0].joined, page.members[0].routing),
        (true, None)
    );
    assert_eq!(
        members_page(br#"{"entities":[{"id":"x"}]}"#),
        Err(Rejected::BadId("entities[].id"))
    );
    assert_eq!(
        members_page(br#"{"entities":[{"name":"x"}]}"#),
        Err(Rejected::MissingField("entities[].id"))
    );
}

#[test]
fn users_page_with_and_without_expands() {
    let json = format!(
        r#"{{"entities":[
          {{"id":"{USER}","name":"Agnes Agent","email":"a@example.invalid","state":"active",
            "presence":{{"source":"PURECLOUD","presenceDefinition":{{"id":"{ON_QUEUE_DEF}","systemPresence":"On Queue"}},"modifiedDate":"2024-12-30T09:39:58.512Z"}},
            "routingStatus":{{"userId":"{USER}","status":"INTERACTING","startTime":"2024-12-30T09:41:12.000Z"}},
            "conversationSummary":{{"userId":"{USER}","call":{{"contactCenter":{{"active":1,"acw":0}},"enterprise":{{"active":1,"acw":0}}}},
                                    "chat":{{"contactCenter":{{"active":2,"acw":1}}}},"email":null}}}},
          {{"id":"{QUEUE}","name":"No Expands"}}
        ],"pageSize":25,"pageNumber":1,"total":2,"pageCount":1,"selfUri":"/x"}}"#
    );
    let page = users_page(json.as_bytes()).unwrap();
    assert_eq!(
        (page.users.len(), page.next_uri.clone(), page.dropped),
        (2, None, 0)
    );
    assert_eq!(
        page.users[0],
        User {
            id: id(USER),
            name: heapless::String::try_from("Agnes Agent").unwrap(),
            presence: Some(PresenceChange {
                user: id(USER),
                definition: id(ON_QUEUE_DEF),
                presence: Presence::OnQueue,
                modified: ts("2024-12-30T09:39:58.512Z"),
            }),
            routing: Some(RoutingChange {
                user: id(USER),
                routing: Routing::Interacting,
                started: ts("2024-12-30T09:41:12.000Z"),
            }),
            conversations: Some(ConversationSummary { active: 4, acw: 1 }),
            out_of_office: None,
        }
    );
    assert_eq!(
        (
            page.users[1].presence,
            page.users[1].routing,
            page.users[1].conversations
        ),
        (None, None, None)
    );
    assert_eq!(users_page(b"{}").unwrap(), UsersPage::default());
    let bad = format!(
        r#"{{"entities":[{{"id":"{USER}","presence":{{"presenceDefinition":{{"id":"zz"}}}}}}]}}"#
    );
    assert_eq!(
        users_page(bad.as_bytes()),
        Err(Rejected::BadId("entities[].presence.presenceDefinition.id"))
    );
}

#[test]
fn bulk_presence_parses_and_refuses_over_capacity() {
    let one = format!(
        r#"{{"userId":"{USER}","source":"PURECLOUD","presenceDefinition":{{"id":"{ON_QUEUE_DEF}","systemPresence":"On Queue","selfUri":"/x"}},
        "message":"","modifiedDate":"2024-12-30T09:39:58.512Z"}}"#
    );
    let list = bulk_presence(format!("[{one}]").as_bytes()).unwrap();
    assert_eq!(
        list.as_slice(),
        &[PresenceChange {
            user: id(USER),
            definition: id(ON_QUEUE_DEF),
            presence: Presence::OnQueue,
            modified: ts("2024-12-30T09:39:58.512Z"),
        }]
    );
    let full = vec![one.as_str(); MAX_BULK].join(",");
    assert_eq!(
        bulk_presence(format!("[{full}]").as_bytes()).unwrap().len(),
        MAX_BULK
    );
    let over = vec![one.as_str(); MAX_BULK + 1].join(",");
    assert_eq!(
        bulk_presence(format!("[{over}]").as_bytes()),
        Err(Rejected::OverCapacity {
            field: "[]",
            max: MAX_BULK
        })
    );
    assert_eq!(bulk_presence(b"[]").unwrap().len(), 0);
    assert_eq!(
        bulk_presence(br#"[{"presenceDefinition":{"id":"x"}}]"#),
        Err(Rejected::MissingField("[].userId"))
    );
    assert_eq!(
        bulk_presence(b"{}").map_err(|e| e.reason()),
        Err(Reason::Malformed)
    );
}

#[test]
fn routing_status_parses() {
    let json = format!(
        r#"{{"userId":"{USER}","status":"OFF_QUEUE","startTime":"2024-12-30T09:41:12.000Z"}}"#
    );
    assert_eq!(
        routing_status(json.as_bytes()),
        Ok(RoutingChange {
            user: id(USER),
            routing: Routing::OffQueue,
            started: ts("2024-12-30T09:41:12.000Z"),
        })
    );
    assert_eq!(
        routing_status(br#"{"status":"IDLE"}"#),
        Err(Rejected::MissingField("userId"))
    );
    let json = format!(r#"{{"userId":"{USER}"}}"#);
    assert_eq!(
        routing_status(json.as_bytes()),
        Err(Rejected::MissingField("status"))
    );
}

#[test]
fn user_out_of_office_parses_the_model_and_refuses_what_says_nothing() {
    // The `OutOfOffice` model as the SDK documents it (no `modifiedDate`).
    let json = format!(
        r#"{{"id":"{QUEUE}","name":"Holiday","user":{{"id":"{USER}","selfUri":"/api/v2/users/{USER}"}},"startDate":"2024-12-30T00:00:00.000Z","endDate":"2025-01-02T00:00:00.000Z","active":true,"indefinite":false,"selfUri":"/api/v2/users/{USER}/outofoffice"}}"#
    );
    assert_eq!(
        user_out_of_office(json.as_bytes()),
        Ok(OutOfOfficeChange {
            user: id(USER),
            active: true,
            modified: 0,
        })
    );
    let json = format!(r#"{{"user":{{"id":"{USER}"}},"active":false}}"#);
    assert_eq!(
        user_out_of_office(json.as_bytes()).map(|o| o.active),
        Ok(false)
    );
    // Whom and whether are required: a missing `active` is unknown, not "in office".
    let json = format!(r#"{{"user":{{"id":"{USER}"}}}}"#);
    assert_eq!(
        user_out_of_office(json.as_bytes()),
        Err(Rejected::MissingField("active"))
    );
    assert_eq!(
        user_out_of_office(br#"{"active":true}"#),
        Err(Rejected::MissingField("user.id"))
    );
    assert_eq!(
        user_out_of_office(br#"{"user":{"id":"not-a-uuid"},"active":true}"#),
        Err(Rejected::BadId("user.id"))
    );
}

#[test]
fn presence_definitions_both_endpoints() {
    // Legacy casing.
    let legacy = format!(
        r#"{{"entities":[{{"id":"{ON_QUEUE_DEF}","languageLabels":{{"en_US":"On Queue"}},"systemPresence":"On Queue","deactivated":false,"primary":true}},
        {{"id":"{USER}","systemPresence":"Break"}}],"pageSize":20,"pageNumber":1,"total":2,"pageCount":1,
        "nextUri":"/api/v2/presencedefinitions?pageNumber=2"}}"#
    );
    let page = presence_definitions(legacy.as_bytes()).unwrap();
    assert_eq!(
        page.definitions.as_slice(),
        &[
            (id(ON_QUEUE_DEF), Presence::OnQueue),
            (id(USER), Presence::Break)
        ]
    );
    assert_eq!(
        page.next_uri.as_deref(),
        Some("/api/v2/presencedefinitions?pageNumber=2")
    );
    // New casing, no nextUri, an unknown system presence.
    let new = format!(
        r#"{{"total":2,"entities":[{{"id":"{ON_QUEUE_DEF}","systemPresence":"OnQueue","type":"System"}},
        {{"id":"{USER}","systemPresence":"Napping"}}]}}"#
    );
    let page = presence_definitions(new.as_bytes()).unwrap();
    assert_eq!(
        page.definitions.as_slice(),
        &[
            (id(ON_QUEUE_DEF), Presence::OnQueue),
            (id(USER), Presence::Unknown)
        ]
    );
    assert_eq!((page.next_uri, page.dropped), (None, 0));
    let long = format!(
        r#"{{"entities":[],"nextUri":"/{}"}}"#,
        "p".repeat(NEXT_URI_LEN)
    );
    // Too long to follow: not kept (a cut URI would fetch the wrong page), flagged, and the
    // page's items still parse.
    let page = presence_definitions(long.as_bytes()).unwrap();
    assert_eq!((page.next_uri, page.next_uri_too_long), (None, true));
}

#[test]
fn observations_query_parses() {
    let json = format!(
        r#"{{"results":[
          {{"group":{{"queueId":"{QUEUE}"}},"data":[
            {{"metric":"oOnQueueUsers","qualifier":"IDLE","stats":{{"count":3}}}},
            {{"metric":"oOnQueueUsers","qualifier":"INTERACTING","stats":{{"count":2}}}},
            {{"metric":"oOffQueueUsers","stats":{{"count":4}}}},
            {{"metric":"oWaiting","stats":{{"count":1}}}},
            {{"metric":"oInteracting","stats":{{"count":2}}}},
            {{"metric":"oLongestWaiting","stats":{{"max":5000}}}},
            {{"metric":"oUserRoutingStatuses","qualifier":"IDLE","stats":{{"count":3}}}}]}},
          {{"group":{{"queueId":"{USER}","mediaType":"voice"}},"data":[]}}
        ]}}"#
    );
    let list = observations_query(json.as_bytes()).unwrap();
    assert_eq!(
        list.as_slice(),
        &[
            QueueObservation {
                queue: id(QUEUE),
                observed: 0,
                waiting: Some(1),
                interacting: Some(2),
                alerting: None,
                on_queue: Some(5),
                off_queue: Some(4),
                longest_waiting: Some(5000),
            },
            QueueObservation {
                queue: id(USER),
                ..QueueObservation::default()
            }
        ]
    );
    assert_eq!(observations_query(b"{}").unwrap().len(), 0);
    assert_eq!(
        observations_query(br#"{"results":[{"data":[]}]}"#),
        Err(Rejected::MissingField("results[].group.queueId"))
    );
    let one = format!(r#"{{"group":{{"queueId":"{QUEUE}"}}}}"#);
    let over = vec![one.as_str(); MAX_QUEUE_RESULTS + 1].join(",");
    assert_eq!(
        observations_query(format!(r#"{{"results":[{over}]}}"#).as_bytes()),
        Err(Rejected::OverCapacity {
            field: "results",
            max: MAX_QUEUE_RESULTS
        })
    );
}

#[test]
fn error_body_parses_and_cuts() {
    let e = error_body(
        br#"{"message":"Rate limit exceeded the maximum. Retry the request in [59] seconds",
            "code":"too.many.requests.retry.after","status":429,"contextId":"c","details":[],"errors":[]}"#,
    )
    .unwrap();
    assert_eq!(e.code.as_str(), "too.many.requests.retry.after");
    assert_eq!(e.status, 429);
    assert!(e.message.starts_with("Rate limit exceeded"));
    let long = format!(
        r#"{{"message":"{}","code":"{}"}}"#,
        "m".repeat(500),
        "c".repeat(100)
    );
    let e = error_body(long.as_bytes()).unwrap();
    assert_eq!(
        (e.message.len(), e.code.len(), e.status),
        (ERROR_MESSAGE_LEN, ERROR_CODE_LEN, 0)
    );
    assert_eq!(
        error_body(b"not json").map_err(|e| e.reason()),
        Err(Reason::Malformed)
    );
}

#[test]
fn rest_inputs_get_the_same_prechecks() {
    let bomb = vec![b'['; 100];
    assert_eq!(
        bulk_presence(&bomb).map_err(|e| e.reason()),
        Err(Reason::TooDeep)
    );
    assert_eq!(
        error_body(b"{\"message\":\"\xc3\"}").map_err(|e| e.reason()),
        Err(Reason::NotUtf8)
    );
}

#[test]
fn type_sizes() {
    // Every result type stays well under 64 KiB (they live on the caller's stack).
    let sizes = [
        ("Token", core::mem::size_of::<Token>()),
        ("Channel", core::mem::size_of::<Channel>()),
        (
            "SubscriptionTally",
            core::mem::size_of::<SubscriptionTally>(),
        ),
        ("MembersPage", core::mem::size_of::<MembersPage>()),
        ("UsersPage", core::mem::size_of::<UsersPage>()),
        ("DefinitionsPage", core::mem::size_of::<DefinitionsPage>()),
        (
            "bulk",
            core::mem::size_of::<Vec<PresenceChange, MAX_BULK>>(),
        ),
        (
            "observations",
            core::mem::size_of::<Vec<QueueObservation, MAX_QUEUE_RESULTS>>(),
        ),
        ("ErrorBody", core::mem::size_of::<ErrorBody>()),
        ("Rejected", core::mem::size_of::<Rejected>()),
        ("Event", core::mem::size_of::<crate::event::Event>()),
    ];
    for (name, size) in sizes {
        std::println!("{name}: {size} bytes");
        assert!(size < 64 * 1024, "{name} is {size} bytes");
    }
}

/// Issue 7 regression: nesting the flat pre-scan cannot see (an ignored scalar `x"` opens a
/// "string" for it) was followed by serde-json-core's recursion until the stack overflowed;
/// the reader refuses it as too deep.
#[test]
fn nesting_hidden_behind_a_swallowed_quote_is_too_deep_not_a_crash() {
    let n = 100_000;
    let body = format!(r#"{{"a":x", "b":{}{}}}"#, "[".repeat(n), "]".repeat(n));
    assert_eq!(
        error_body(body.as_bytes()).map_err(|e| e.reason()),
        Err(Reason::TooDeep)
    );
}

#[test]
fn queues_page_reads_ids_and_names_and_skips_the_rest() {
    const QUEUE: &str = "788c3a6d-8b4f-4a2d-a2bc-ffc815bba881";
    let json = format!(
        r#"{{"entities":[{{"id":"{QUEUE}","name":"Support \u00e9quipe","division":{{"id":"d","name":"Home"}},
        "memberCount":3,"mediaSettings":{{"call":{{"alertingTimeoutSeconds":8,"serviceLevel":{{"percentage":0.8,"durationMs":20000}}}}}},
        "acwSettings":{{"wrapupPrompt":"MANDATORY_TIMEOUT","timeoutMs":60000}},"selfUri":"/api/v2/routing/queues/{QUEUE}"}},
        {{"id":"{USER}"}}],"pageSize":100,"pageNumber":1,"total":2,"pageCount":1}}"#
    );
    let page = queues_page(json.as_bytes()).unwrap();
    assert_eq!(
        page.queues.as_slice(),
        &[
            QueueName {
                id: id(QUEUE),
                name: heapless::String::try_from("Support équipe").unwrap(),
            },
            QueueName {
                id: id(USER),
                name: heapless::String::new(),
            },
        ]
    );
    assert_eq!(page.next_uri, None);
    // No id: refused, named.
    assert!(matches!(
        queues_page(br#"{"entities":[{"name":"x"}]}"#),
        Err(Rejected::MissingField("entities[].id"))
    ));
}

#[test]
fn queue_aggregates_parse_with_left_out_counts_as_zero() {
    let start = parse_timestamp("2024-12-30T09:30:00.000Z").unwrap();
    let json = format!(
        r#"{{"results":[
          {{"group":{{"queueId":"{QUEUE}"}},"data":[{{"interval":"2024-12-30T09:30:00.000Z/2024-12-30T10:00:00.000Z","metrics":[
            {{"metric":"nOffered","stats":{{"count":7}}}},
            {{"metric":"tAnswered","stats":{{"max":9000,"min":1000,"count":5,"sum":20000}}}},
            {{"metric":"oServiceLevel","stats":{{"ratio":0.8,"numerator":4,"denominator":5,"target":0.8}}}}]}}]}},
          {{"group":{{"queueId":"{USER}"}},"data":[{{"interval":"2024-12-30T09:00:00.000Z/2024-12-30T09:30:00.000Z","metrics":[
            {{"metric":"nOffered","stats":{{"count":3}}}}]}}]}}
        ]}}"#
    );
    let list = queue_aggregates(json.as_bytes(), start).unwrap();
    // The second result is another interval than the one asked for: left out.
    assert_eq!(
        list.as_slice(),
        &[QueueAggregate {
            queue: id(QUEUE),
            interval_start: start,
            interval_end: start + 1_800_000,
            offered: Some(7),
            answered: Some(5),
            // Not in the answer: nothing was abandoned (the query carries tAbandon).
            abandoned: Some(0),
            service_level_permille: Some(800),
        }]
    );
    // No results at all (nothing happened anywhere): an empty list, the caller zeroes.
    assert_eq!(queue_aggregates(b"{}", start).unwrap().len(), 0);
    assert_eq!(
        queue_aggregates(br#"{"results":[{"data":[]}]}"#, start),
        Err(Rejected::MissingField("results[].group.queueId"))
    );
    let bad = format!(
        r#"{{"results":[{{"group":{{"queueId":"{QUEUE}"}},"data":[{{"interval":"yesterday","metrics":[]}}]}}]}}"#
    );
    assert_eq!(
        queue_aggregates(bad.as_bytes(), start),
        Err(Rejected::BadTimestamp("results[].data[].interval"))
    );
}
