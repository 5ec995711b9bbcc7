//! Unit tests of the conversation resync parsers: realistic analytics pages (unknown fields,
//! any field order, long participant lists, capacity), `Conversation` bodies decoded exactly as
//! the notification decoder does, and rejections.

use super::super::{parse, parse_timestamp, Reason};
use super::*;
use crate::event::{Event, Interaction, Media, Millis};

const USER: &str = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
const USER2: &str = "0b5f1c9e-2a3d-4e5f-8a9b-0c1d2e3f4a5b";
const QUEUE: &str = "788c3a6d-8b4f-4a2d-a2bc-ffc815bba881";
const CONV: &str = "5f0f4a10-7c7b-4f4f-9d39-0f8f2e0b3b11";
const CONV2: &str = "a1b2c3d4-0000-4000-8000-00000000beef";

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

fn ts(s: &str) -> Millis {
    parse_timestamp(s).unwrap()
}

/// A UUID made from `n` (distinct per `n`).
fn nid(n: usize) -> std::string::String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// An analytics customer participant (no `userId`), with the nested data Genesys returns.
fn customer(n: usize) -> std::string::String {
    format!(
        r#"{{"participantId":"{p}","participantName":"Customer \"Jo\" \ud83d\ude00","purpose":"customer",
        "sessions":[{{"mediaType":"voice","sessionId":"{s}","direction":"inbound","ani":"tel:+16145550100",
          "dnis":"tel:+13175550199","edgeId":"e","protocolCallId":"x","remoteNameDisplayable":"Jo",
          "segments":[{{"segmentStart":"2024-12-30T09:40:01.120Z","segmentType":"interact","queueId":"{QUEUE}",
            "conference":false,"properties":[{{"property":"k","propertyType":"string","value":"v"}}]}}],
          "metrics":[{{"name":"nConnected","value":1,"emitDate":"2024-12-30T09:40:01.120Z"}}],
          "mediaEndpointStats":[{{"codecs":["opus"],"minMos":4.41,"minRFactor":92.2}}]}}]}}"#,
        p = nid(n),
        s = nid(n + 1000)
    )
}

/// An analytics agent participant with `userId`.
fn agent(user: &str, n: usize) -> std::string::String {
    format!(
        r#"{{"participantId":"{p}","participantName":"Agnes Agent","userId":"{user}","purpose":"agent",
        "sessions":[{{"mediaType":"voice","sessionId":"{s}","direction":"inbound","requestedRoutings":["Standard"],
          "segments":[{{"segmentStart":"2024-12-30T09:40:30.000Z","segmentEnd":"2024-12-30T09:40:31.050Z",
              "segmentType":"alert","queueId":"{QUEUE}"}},
            {{"segmentStart":"2024-12-30T09:40:31.050Z","segmentType":"interact","queueId":"{QUEUE}"}}],
          "metrics":[{{"name":"tAlert","value":1050,"emitDate":"2024-12-30T09:40:31.050Z"}}]}}]}}"#,
        p = nid(n),
        s = nid(n + 1000)
    )
}

/// An analytics conversation: unknown fields around, `conversationId` first or last.
fn details_conv(
    conv: &str,
    participants: &[std::string::String],
    id_last: bool,
) -> std::string::String {
    let parts = participants.join(",");
    let head = r#""conversationStart":"2024-12-30T09:40:01.120Z","originatingDirection":"inbound",
        "divisionIds":["ab12"],"mediaStatsMinConversationMos":4.41,"evaluations":[{"formId":"f"}]"#;
    if id_last {
        format!(r#"{{{head},"participants":[{parts}],"conversationId":"{conv}"}}"#)
    } else {
        format!(r#"{{"conversationId":"{conv}",{head},"participants":[{parts}]}}"#)
    }
}

fn page(conversations: &[std::string::String], total: usize) -> std::string::String {
    format!(
        r#"{{"conversations":[{}],"totalHits":{total},"aggregations":[{{"type":"termFrequency","results":[]}}]}}"#,
        conversations.join(",")
    )
}

#[test]
fn details_page_pairs_users_with_conversations_in_order() {
    let body = page(
        &[
            details_conv(CONV, &[customer(1), agent(USER, 2)], false),
            // conversationId after the participants; a second agent (consult) and an acd.
            details_conv(
                CONV2,
                &[
                    customer(3),
                    r#"{"participantId":"p","purpose":"acd","participantName":"Support","sessions":[]}"#.into(),
                    agent(USER2, 4),
                    agent(USER, 5),
                ],
                true,
            ),
        ],
        7,
    );
    let h = conversation_details(body.as_bytes()).unwrap();
    assert_eq!(
        h.hits.as_slice(),
        &[
            (id(USER), id(CONV)),
            (id(USER2), id(CONV2)),
            (id(USER), id(CONV2))
        ]
    );
    assert_eq!((h.dropped, h.total), (0, 7));
}

#[test]
fn details_empty_pages() {
    // What Genesys answers when nothing matches: no `conversations` key at all.
    let h = conversation_details(br#"{"totalHits":0}"#).unwrap();
    assert_eq!(h, ConversationHits::default());
    let h = conversation_details(br#"{"conversations":null,"totalHits":0}"#).unwrap();
    assert!(h.hits.is_empty());
    let h = conversation_details(br#"{"conversations":[],"totalHits":3}"#).unwrap();
    assert_eq!((h.hits.len(), h.total), (0, 3));
    // A conversation whose participants have no user (still queued) adds nothing.
    let body = page(&[details_conv(CONV, &[customer(1)], false)], 1);
    let h = conversation_details(body.as_bytes()).unwrap();
    assert_eq!((h.hits.len(), h.total), (0, 1));
    // `userId: null` is no user.
    let body = format!(
        r#"{{"totalHits":1,"conversations":[{{"conversationId":"{CONV}","participants":[{{"userId":null}}]}}]}}"#
    );
    assert!(conversation_details(body.as_bytes())
        .unwrap()
        .hits
        .is_empty());
}

#[test]
fn details_thirty_participants_and_repeated_users() {
    // A conference: 30 participants, 10 customers/externals without userId and 20 agent legs
    // over 12 distinct users (8 transferred back, so they appear twice).
    let mut parts = std::vec::Vec::new();
    let mut users = std::vec::Vec::new();
    for i in 0..30 {
        if i % 3 == 0 {
            parts.push(customer(100 + i));
        } else {
            let u = nid(500 + (i % 12));
            if !users.contains(&u) {
                users.push(u.clone());
            }
            parts.push(agent(&u, 100 + i));
        }
    }
    assert_eq!(parts.len(), 30);
    let body = page(&[details_conv(CONV, &parts, true)], 1);
    let h = conversation_details(body.as_bytes()).unwrap();
    let want: std::vec::Vec<(Id, Id)> = users.iter().map(|u| (id(u), id(CONV))).collect();
    assert_eq!(h.hits.as_slice(), want.as_slice());
    assert_eq!(h.dropped, 0);
}

#[test]
fn details_over_capacity_loses_the_tail_not_the_page() {
    // 120 conversations × 2 agents = 240 pairs: 200 kept, 40 counted.
    let convs: std::vec::Vec<_> = (0..120)
        .map(|c| {
            details_conv(
                &nid(9000 + c),
                &[
                    customer(c),
                    agent(&nid(2 * c), c),
                    agent(&nid(2 * c + 1), c + 500),
                ],
                c % 2 == 0,
            )
        })
        .collect();
    let h = conversation_details(page(&convs, 250).as_bytes()).unwrap();
    assert_eq!(h.hits.len(), MAX_CONVERSATION_HITS);
    assert_eq!((h.dropped, h.total), (40, 250));
    for (i, (u, c)) in h.hits.iter().enumerate() {
        assert_eq!(*u, id(&nid(i)), "{i}");
        assert_eq!(*c, id(&nid(9000 + i / 2)), "{i}");
    }
}

#[test]
fn details_rejections() {
    let r = |s: &str| conversation_details(s.as_bytes());
    assert_eq!(
        r(&format!(
            r#"{{"conversations":[{{"participants":[{{"userId":"{USER}"}}]}}],"totalHits":1}}"#
        )),
        Err(Rejected::MissingField("conversations[].conversationId"))
    );
    assert_eq!(
        r(r#"{"conversations":[{"conversationId":"nope","participants":[]}],"totalHits":1}"#),
        Err(Rejected::BadId("conversations[].conversationId"))
    );
    assert_eq!(
        r(&format!(
            r#"{{"conversations":[{{"conversationId":"{CONV}","participants":[{{"userId":"x"}}]}}],"totalHits":1}}"#
        )),
        Err(Rejected::BadId("conversations[].participants[].userId"))
    );
    assert_eq!(
        r(r#"{"conversations":[]}"#),
        Err(Rejected::MissingField("totalHits"))
    );
    for bad in [
        r#"{"conversations":{},"totalHits":1}"#,
        r#"{"conversations":[1],"totalHits":1}"#,
        r#"{"conversations":[{"conversationId":1}],"totalHits":1}"#,
        r#"{"totalHits":-1}"#,
        r#"{"totalHits":1} x"#,
        r#"[]"#,
        "",
    ] {
        assert_eq!(
            r(bad).map_err(|e| e.reason()),
            Err(Reason::Malformed),
            "{bad}"
        );
    }
    assert_eq!(
        conversation_details(b"{\"totalHits\":1,\"x\":\"\xff\"}").map_err(|e| e.reason()),
        Err(Reason::NotUtf8)
    );
    let deep = format!(
        r#"{{"totalHits":1,"x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(r(&deep).map_err(|e| e.reason()), Err(Reason::TooDeep));
}

#[test]
fn details_skipped_strings_are_never_copied() {
    // A 100 KiB escaped string and lone surrogates in skipped fields do not fail the page.
    let long = "\\\"".repeat(50_000);
    let body = format!(
        r#"{{"totalHits":1,"conversations":[{{"conversationId":"{CONV}","x":"{long}","y":"\ud800",
        "participants":[{{"participantName":"{long}","userId":"{USER}","attributes":{{"a":"\ude00"}}}}]}}]}}"#
    );
    let h = conversation_details(body.as_bytes()).unwrap();
    assert_eq!(h.hits.as_slice(), &[(id(USER), id(CONV))]);
}

/// A `Conversation` as `GET /api/v2/conversations/{id}` returns it (the sim's notification body
/// shape: customer, acd and agent participants), with `agent_extra` fields on the agent
/// participant, its call `call`, and `before` participants ahead of the agent.
fn rest_conv(agent_extra: &str, call: &str, before: &str) -> std::string::String {
    format!(
        r#"{{"id":"{CONV}","maxParticipants":3,"participants":[{before}
          {{"id":"p1","connectedTime":"2024-12-30T09:40:01.120Z","name":"Customer","purpose":"customer",
            "address":"tel:+16145550100","wrapupRequired":false,"mediaRoles":[],
            "attributes":{{"crmId":"sim-crm","nested":{{"a":[1,2,{{"b":null}}]}}}},
            "calls":[{{"id":"c1","state":"connected","initialState":"offering","direction":"inbound",
              "self":{{"addressNormalized":"tel:+16145550100"}},"connectedTime":"2024-12-30T09:40:01.120Z"}}]}},
          {{"id":"p2","connectedTime":"2024-12-30T09:40:01.120Z","endTime":"2024-12-30T09:40:30.000Z",
            "name":"Support","queueId":"{QUEUE}","purpose":"acd","wrapupRequired":false,"attributes":{{}},
            "calls":[{{"id":"c2","state":"disconnected","disconnectType":"transfer",
              "connectedTime":"2024-12-30T09:40:01.120Z","disconnectedTime":"2024-12-30T09:40:30.000Z"}}]}},
          {{"id":"p3","startAlertingTime":"2024-12-30T09:40:30.000Z","userId":"{USER}","name":"Agnes Agent",
            "queueId":"{QUEUE}","purpose":"agent","wrapupRequired":true,"wrapupPrompt":"mandatory",
            "wrapupTimeoutMs":60000,"alertingTimeoutMs":8000,"mediaRoles":[],"attributes":{{}},
            "conversationRoutingData":{{"queue":{{"id":"{QUEUE}"}},"priority":0,"skills":[],
              "scoredAgents":[{{"agent":{{"id":"{USER}"}},"score":100}}]}}{agent_extra},
            "calls":[{call}]}}],
        "recentTransfers":[],"recordingState":"none",
        "divisions":[{{"division":{{"id":"d","selfUri":"/api/v2/authorization/divisions/d"}},"entities":[]}}],
        "selfUri":"/api/v2/conversations/{CONV}"}}"#
    )
}

/// The same body decoded as a notification frame.
fn as_frame(body: &str) -> Event {
    let frame = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","version":"2","eventBody":{body}}}"#
    );
    match parse(frame.as_bytes(), 1 << 20) {
        Ok(crate::message::Message::Event(ev)) => ev,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn conversation_lifecycle_matches_the_notification_decoder() {
    let alerting = r#"{"id":"c3","state":"alerting","initialState":"alerting","held":false}"#;
    let connected = r#"{"id":"c3","state":"connected","held":false,"connectedTime":"2024-12-30T09:40:31.050Z","afterCallWorkRequired":true}"#;
    let held = r#"{"id":"c3","state":"connected","held":true,"connectedTime":"2024-12-30T09:40:31.050Z","startHoldTime":"2024-12-30T09:41:00.000Z"}"#;
    let disc = r#"{"id":"c3","state":"disconnected","connectedTime":"2024-12-30T09:40:31.050Z","disconnectedTime":"2024-12-30T09:45:00.000Z","disconnectType":"peer","afterCallWork":{"state":"pending","startTime":"2024-12-30T09:45:00.000Z"}}"#;
    let joined = r#","connectedTime":"2024-12-30T09:40:31.050Z""#;
    let wrapped = r#","connectedTime":"2024-12-30T09:40:31.050Z","endTime":"2024-12-30T09:45:20.000Z","wrapup":{"code":"7fe1","name":"Resolved","notes":"","tags":[],"durationSeconds":20}"#;
    let cases = [
        (
            "",
            alerting,
            Interaction::Alerting,
            false,
            false,
            "2024-12-30T09:40:30.000Z",
        ),
        (
            joined,
            connected,
            Interaction::Connected,
            false,
            false,
            "2024-12-30T09:40:31.050Z",
        ),
        (
            joined,
            held,
            Interaction::Held,
            false,
            false,
            "2024-12-30T09:41:00.000Z",
        ),
        (
            joined,
            disc,
            Interaction::Disconnected,
            true,
            false,
            "2024-12-30T09:45:00.000Z",
        ),
        (
            wrapped,
            disc,
            Interaction::Disconnected,
            false,
            true,
            "2024-12-30T09:45:20.000Z",
        ),
    ];
    for (extra, call, interaction, wrapup, ended, changed) in cases {
        let body = rest_conv(extra, call, "");
        let got = conversation(body.as_bytes(), id(USER)).unwrap();
        assert_eq!(
            got,
            ConversationChange {
                user: id(USER),
                conversation: id(CONV),
                media: Media::Call,
                interaction,
                wrapup,
                ended,
                changed: ts(changed),
            },
            "{call}"
        );
        assert_eq!(as_frame(&body), Event::Conversation(got));
    }
}

#[test]
fn conversation_finds_the_agent_among_thirty_participants() {
    // 29 other participants (other agents, externals) ahead of ours, in one conversation.
    let mut before = std::string::String::new();
    for i in 0..27 {
        before.push_str(&format!(
            r#"{{"id":"x{i}","userId":"{}","purpose":"agent","calls":[{{"state":"connected","connectedTime":"2024-12-30T10:00:00.000Z"}}],"unknown":{{"deep":[[1],[2]]}}}},"#,
            nid(i)
        ));
    }
    let body = rest_conv(
        r#","connectedTime":"2024-12-30T09:40:31.050Z""#,
        r#"{"state":"connected","connectedTime":"2024-12-30T09:40:31.050Z"}"#,
        &before,
    );
    let n = as_frame(&body);
    let got = conversation(body.as_bytes(), id(USER)).unwrap();
    assert_eq!(
        (got.interaction, got.changed),
        (Interaction::Connected, ts("2024-12-30T09:40:31.050Z"))
    );
    assert_eq!(n, Event::Conversation(got));
    // Another of the 30 reads as its own participant.
    let other = conversation(body.as_bytes(), id(&nid(26))).unwrap();
    assert_eq!(
        (other.user, other.changed),
        (id(&nid(26)), ts("2024-12-30T10:00:00.000Z"))
    );
}

#[test]
fn conversation_other_media_and_field_order() {
    // `id` last, a chat instead of a call.
    let body = format!(
        r#"{{"participants":[{{"userId":"{USER}","purpose":"agent","chats":[{{"state":"alerting","startAlertingTime":"2024-12-30T09:40:30.000Z"}}]}}],"id":"{CONV}"}}"#
    );
    let c = conversation(body.as_bytes(), id(USER)).unwrap();
    assert_eq!(
        (c.media, c.interaction),
        (Media::Chat, Interaction::Alerting)
    );
    assert_eq!(c.conversation, id(CONV));
}

#[test]
fn conversation_rejections_name_rest_paths() {
    let r = |s: &str, u: &str| conversation(s.as_bytes(), id(u));
    let body = rest_conv("", r#"{"state":"alerting"}"#, "");
    assert_eq!(
        r(&body, USER2),
        Err(Rejected::MissingField("participants[userId]"))
    );
    assert_eq!(
        r(
            &format!(r#"{{"participants":[{{"userId":"{USER}"}}]}}"#),
            USER
        ),
        Err(Rejected::MissingField("id"))
    );
    assert_eq!(
        r(
            &format!(r#"{{"id":"x","participants":[{{"userId":"{USER}"}}]}}"#),
            USER
        ),
        Err(Rejected::BadId("id"))
    );
    assert_eq!(
        r(
            &format!(
                r#"{{"id":"{CONV}","participants":[{{"userId":"{USER}","connectedTime":"yesterday"}}]}}"#
            ),
            USER
        ),
        Err(Rejected::BadTimestamp("participants[userId]"))
    );
    assert_eq!(
        r(
            &format!(
                r#"{{"id":"{CONV}","participants":[{{"userId":"{USER}","calls":[{{"state":"connected","connectedTime":"noon"}}]}}]}}"#
            ),
            USER
        ),
        Err(Rejected::BadTimestamp("participants[].{media}[]"))
    );
    assert_eq!(
        r("[]", USER).map_err(|e| e.reason()),
        Err(Reason::Malformed)
    );
    assert_eq!(
        r(&format!("{}{}", "[".repeat(100), "]".repeat(100)), USER).map_err(|e| e.reason()),
        Err(Reason::TooDeep)
    );
}

#[test]
fn type_size() {
    let size = core::mem::size_of::<ConversationHits>();
    std::println!("ConversationHits {size} B");
    assert!(size < 10 * 1024, "{size}");
}

/// An agent participant whose sessions carry `segments` (JSON arrays, one per session) with
/// media `media`.
fn agent_with(user: &str, sessions: &[(&str, &str)]) -> std::string::String {
    let s: std::vec::Vec<std::string::String> = sessions
        .iter()
        .enumerate()
        .map(|(i, (media, segs))| {
            format!(
                r#"{{"mediaType":"{media}","sessionId":"{}","direction":"inbound","segments":{segs},
                   "metrics":[{{"name":"tAlert","value":1}}]}}"#,
                nid(900 + i)
            )
        })
        .collect();
    format!(
        r#"{{"participantId":"{}","userId":"{user}","purpose":"agent","sessions":[{}]}}"#,
        nid(800),
        s.join(",")
    )
}

fn seen_of(participant: std::string::String) -> (ConversationChange, Seen) {
    let body = page(&[details_conv(CONV, &[customer(1), participant], false)], 1);
    let h = conversation_details(body.as_bytes()).unwrap();
    assert_eq!(h.hits.len(), 1);
    (h.change(0).unwrap(), h.states[0])
}

#[test]
fn details_segments_give_the_agents_state_as_indexed() {
    // Connected: the open `interact` segment; lasting, so the resync may take it from the index.
    let (c, s) = seen_of(agent(USER, 2));
    assert_eq!(
        c,
        ConversationChange {
            user: id(USER),
            conversation: id(CONV),
            media: Media::Call,
            interaction: Interaction::Connected,
            wrapup: false,
            ended: false,
            changed: ts("2024-12-30T09:40:31.050Z"),
        }
    );
    assert!(s.settled);

    let cases: [(&str, &str, Interaction, bool, bool, bool); 6] = [
        // (media, segments, interaction, wrapup, ended, settled)
        (
            "chat",
            r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentType":"alert"}]"#,
            Interaction::Alerting,
            false,
            false,
            false,
        ),
        (
            "voice",
            r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentEnd":"2024-12-30T09:40:31.000Z","segmentType":"interact"},
                {"segmentStart":"2024-12-30T09:40:31.000Z","segmentType":"hold"}]"#,
            Interaction::Held,
            false,
            false,
            false,
        ),
        (
            "email",
            r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentEnd":"2024-12-30T09:41:00.000Z","segmentType":"interact"},
                {"segmentStart":"2024-12-30T09:41:00.000Z","segmentType":"wrapup","wrapUpCode":"x"}]"#,
            Interaction::Disconnected,
            true,
            false,
            true,
        ),
        (
            "voice",
            r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentType":"dialing"}]"#,
            Interaction::Dialing,
            false,
            false,
            false,
        ),
        (
            // Left the conversation (transferred on): no open segment.
            "message",
            r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentEnd":"2024-12-30T09:41:00.000Z","segmentType":"interact"}]"#,
            Interaction::Disconnected,
            false,
            true,
            true,
        ),
        (
            // A kind the resync does not know is read exactly.
            "cobrowse",
            r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentType":"monitoring"}]"#,
            Interaction::Connected,
            false,
            false,
            false,
        ),
    ];
    for (media, segs, interaction, wrapup, ended, settled) in cases {
        let (c, s) = seen_of(agent_with(USER, &[(media, segs)]));
        assert_eq!(
            (c.interaction, c.wrapup, c.ended, s.settled),
            (interaction, wrapup, ended, settled),
            "{segs}"
        );
        assert!(c.changed >= ts("2024-12-30T09:40:30.000Z"), "{segs}");
    }

    // Two sessions (a transfer back): the newest open segment decides, and its media.
    let (c, _) = seen_of(agent_with(
        USER,
        &[
            (
                "voice",
                r#"[{"segmentStart":"2024-12-30T09:40:30.000Z","segmentEnd":"2024-12-30T09:40:40.000Z","segmentType":"interact"}]"#,
            ),
            (
                "chat",
                r#"[{"segmentStart":"2024-12-30T09:40:50.000Z","segmentType":"interact"}]"#,
            ),
        ],
    ));
    assert_eq!(
        (c.media, c.interaction, c.changed),
        (
            Media::Chat,
            Interaction::Connected,
            ts("2024-12-30T09:40:50.000Z")
        )
    );

    // A bad timestamp makes the state unsettled (read exactly), never a rejection of the page.
    let (_, s) = seen_of(agent_with(
        USER,
        &[(
            "voice",
            r#"[{"segmentStart":"yesterday","segmentType":"interact"}]"#,
        )],
    ));
    assert!(!s.settled);
}
