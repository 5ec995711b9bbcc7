//! Unit tests of topic routing and every event body: casing, unknown fields, field order,
//! escapes, tail loss, hostile input and every rejection reason.

use super::super::{parse, Reason, Rejected};
use super::observation::ObsData;
use super::*;
use crate::decode::json::Capped;
use crate::event::{
    ConversationChange, Interaction, Media, Millis, QueueAggregate, QueueObservation, Routing,
};
use crate::limits::MAX_INTERVALS;
use crate::message::{Control, Message};

const USER: &str = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
const QUEUE: &str = "788c3a6d-8b4f-4a2d-a2bc-ffc815bba881";
const ON_QUEUE_DEF: &str = "e08eaf1b-ee47-4fa9-a231-1200e284798f";
const CONV: &str = "5f0f4a10-7c7b-4f4f-9d39-0f8f2e0b3b11";
const MAX: usize = 64 * 1024;

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

fn ok(json: &str) -> Event {
    match parse(json.as_bytes(), MAX) {
        Ok(Message::Event(ev)) => ev,
        Ok(Message::Control(c)) => panic!("control {c:?}, not an event: {json}"),
        Err(e) => panic!("rejected {e:?}: {json}"),
    }
}

fn control(json: &str) -> Control {
    match parse(json.as_bytes(), MAX) {
        Ok(Message::Control(c)) => c,
        Ok(Message::Event(ev)) => panic!("event {ev:?}, not a control message: {json}"),
        Err(e) => panic!("rejected {e:?}: {json}"),
    }
}

fn err(json: &str) -> Rejected {
    match parse(json.as_bytes(), MAX) {
        Ok(ev) => panic!("accepted {ev:?}: {json}"),
        Err(e) => e,
    }
}

fn ts(s: &str) -> Millis {
    super::super::parse_timestamp(s).unwrap()
}

fn presence_frame(topic: &str, system: &str) -> std::string::String {
    format!(
        r#"{{"topicName":"{topic}","version":"2","eventBody":{{"source":"PURECLOUD",
        "presenceDefinition":{{"id":"{ON_QUEUE_DEF}","systemPresence":"{system}"}},
        "primary":true,"message":"","modifiedDate":"2021-05-14T09:03:17.047Z"}},
        "metadata":{{"CorrelationId":"3c5b2f0e-4d2a-4c7e-9a51-0b7f1b6e2a11"}}}}"#
    )
}

#[test]
fn presence_all_casings() {
    for system in ["ON_QUEUE", "On Queue", "OnQueue", "on_queue"] {
        let ev = ok(&presence_frame(
            &format!("v2.users.{USER}.presence"),
            system,
        ));
        assert_eq!(
            ev,
            Event::Presence(PresenceChange {
                user: id(USER),
                definition: id(ON_QUEUE_DEF),
                presence: Presence::OnQueue,
                modified: 1_620_982_997_047,
            })
        );
    }
    let ev = ok(&presence_frame(
        &format!("v2.users.{USER}.presence"),
        "Lunch",
    ));
    assert!(matches!(ev, Event::Presence(p) if p.presence == Presence::Unknown));
}

#[test]
fn topic_matching_ignores_case() {
    let upper = format!("V2.USERS.{}.PRESENCE", USER.to_uppercase());
    assert!(
        matches!(ok(&presence_frame(&upper, "AVAILABLE")), Event::Presence(p) if p.user == id(USER))
    );
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.routingstatus","eventBody":{{"routingStatus":{{"status":"IDLE"}}}}}}"#
    );
    assert!(matches!(ok(&f), Event::Routing(_)));
    for t in ["CHANNEL.METADATA", "channel.Metadata"] {
        let f = format!(r#"{{"topicName":"{t}","eventBody":{{"message":"WebSocket Heartbeat"}}}}"#);
        assert_eq!(control(&f), Control::Heartbeat);
    }
}

#[test]
fn presence_without_modified_date_is_unordered_and_system_optional() {
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.presence","eventBody":{{"presenceDefinition":{{"id":"{ON_QUEUE_DEF}"}}}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Presence(PresenceChange {
            user: id(USER),
            definition: id(ON_QUEUE_DEF),
            presence: Presence::Unknown,
            modified: 0,
        })
    );
}

#[test]
fn field_order_and_unknown_fields_do_not_matter() {
    // eventBody first, unknown fields at every depth, nested junk, escapes in skipped text.
    let f = format!(
        r#"{{"eventBody":{{"extra":{{"deep":[[1,2,{{"x":null}}],"\"q\""]}},
           "presenceDefinition":{{"selfUri":"/x","systemPresence":"On Queue","id":"{ON_QUEUE_DEF}","z":[]}},
           "modifiedDate":"2021-05-14T09:03:17.047Z","futurePresenceDefinition":{{"id":"x"}}}},
           "metadata":{{"CorrelationId":"c"}},"version":"2","unknown":-1.5e3,
           "topicName":"v2.users.{USER}.presence"}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Presence(PresenceChange {
            user: id(USER),
            definition: id(ON_QUEUE_DEF),
            presence: Presence::OnQueue,
            modified: 1_620_982_997_047,
        })
    );
}

#[test]
fn escapes_in_kept_and_skipped_strings() {
    // Escaped id characters unescape (\u0039 = '9'); a long escaped message with a
    // surrogate pair in a skipped field neither overflows nor fails.
    let long = "caf\\u00e9 \\\"quoted\\\" \\ud83d\\ude00 ".repeat(40);
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.presence","eventBody":{{"message":"{long}",
        "presenceDefinition":{{"id":"\u0065\u00308eaf1b-ee47-4fa9-a231-1200e284798f","systemPresence":"ON\u005fQUEUE"}}}}}}"#
    );
    assert!(
        matches!(ok(&f), Event::Presence(p) if p.definition == id(ON_QUEUE_DEF) && p.presence == Presence::OnQueue)
    );
    // A message with an escape in channel.metadata decodes through the same path.
    let f = r#"{"topicName":"channel.metadata","eventBody":{"message":"p\u006fng"}}"#;
    assert_eq!(control(f), Control::Pong);
    // Escaped quotes and é in an unknown channel message are kept as evidence.
    let f = r#"{"topicName":"channel.metadata","eventBody":{"message":"say \"caf\u00e9\""}}"#;
    assert_eq!(
        err(f),
        Rejected::UnknownMessage(heapless::String::try_from("say \"café\"").unwrap())
    );
}

#[test]
fn routing_status() {
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.routingStatus","eventBody":{{"id":"{USER}",
        "routingStatus":{{"status":"NOT_RESPONDING","startTime":"2021-05-14T09:03:17.067Z"}}}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Routing(RoutingChange {
            user: id(USER),
            routing: Routing::NotResponding,
            started: 1_620_982_997_067,
        })
    );
    let f =
        format!(r#"{{"topicName":"v2.users.{USER}.routingStatus","eventBody":{{"id":"{USER}"}}}}"#);
    assert_eq!(err(&f), Rejected::MissingField("eventBody.routingStatus"));
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.routingStatus","eventBody":{{"routingStatus":{{"status":"IDLE","startTime":"yesterday"}}}}}}"#
    );
    assert_eq!(
        err(&f),
        Rejected::BadTimestamp("eventBody.routingStatus.startTime")
    );
}

#[test]
fn activity_carries_both_or_either() {
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.activity","eventBody":{{"id":"{USER}",
        "routingStatus":{{"status":"INTERACTING","startTime":"2024-12-30T09:41:12.000Z"}},
        "presence":{{"presenceDefinition":{{"id":"{ON_QUEUE_DEF}","systemPresence":"ON_QUEUE"}},
                     "presenceMessage":"back soon","modifiedDate":"2024-12-30T09:39:58.512Z"}},
        "outOfOffice":{{"active":false}},"activeQueueIds":["{QUEUE}"],
        "dateActiveQueuesChanged":"2024-12-30T09:00:00.000Z"}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Activity(
            Some(PresenceChange {
                user: id(USER),
                definition: id(ON_QUEUE_DEF),
                presence: Presence::OnQueue,
                modified: 1_735_551_598_512,
            }),
            Some(RoutingChange {
                user: id(USER),
                routing: Routing::Interacting,
                started: 1_735_551_672_000,
            }),
            Some(crate::event::OutOfOfficeChange {
                user: id(USER),
                active: false,
                modified: 0,
            })
        )
    );
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.activity","eventBody":{{"outOfOffice":{{"active":true,"modifiedDate":"2024-12-30T09:00:00.000Z"}}}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Activity(
            None,
            None,
            Some(crate::event::OutOfOfficeChange {
                user: id(USER),
                active: true,
                modified: 1_735_549_200_000,
            })
        )
    );
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.activity","eventBody":{{"routingStatus":{{"status":"OFF_QUEUE"}}}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Activity(
            None,
            Some(RoutingChange {
                user: id(USER),
                routing: Routing::OffQueue,
                started: 0
            }),
            None
        )
    );
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.activity","eventBody":{{"presence":{{"presenceDefinition":{{"id":"nope"}}}}}}}}"#
    );
    assert_eq!(
        err(&f),
        Rejected::BadId("eventBody.presence.presenceDefinition.id")
    );
}

#[test]
fn queue_membership() {
    let f = format!(
        r#"{{"topicName":"v2.routing.queues.{QUEUE}.users","eventBody":{{"id":"{USER}","user":{{"id":"{USER}"}},"queueId":"{QUEUE}","joined":false}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Member(MemberChange {
            queue: id(QUEUE),
            user: id(USER),
            joined: false
        })
    );
    // Older schema: `id` only.
    let f = format!(
        r#"{{"topicName":"v2.routing.queues.{QUEUE}.users","eventBody":{{"id":"{USER}","joined":true,"memberId":"x","ringNumber":1}}}}"#
    );
    assert!(matches!(ok(&f), Event::Member(m) if m.user == id(USER) && m.joined));
    let f = format!(
        r#"{{"topicName":"v2.routing.queues.{QUEUE}.users","eventBody":{{"id":"{USER}"}}}}"#
    );
    assert_eq!(err(&f), Rejected::MissingField("eventBody.joined"));
    let f = format!(
        r#"{{"topicName":"v2.routing.queues.{QUEUE}.users","eventBody":{{"joined":true}}}}"#
    );
    assert_eq!(err(&f), Rejected::MissingField("eventBody.user.id"));
}

fn obs_frame(interval: &str, metrics: &str) -> std::string::String {
    format!(
        r#"{{"topicName":"v2.analytics.queues.{QUEUE}.observations","eventBody":{{"group":{{"queueId":"{QUEUE}","mediaType":"voice"}},
        "data":[{{"interval":"{interval}","metrics":[{metrics}]}}]}}}}"#
    )
}

#[test]
fn observation_snapshot() {
    let t = "2024-12-30T09:46:54.839Z";
    let f = obs_frame(
        &format!("{t}/{t}"),
        r#"{"metric":"oWaiting","stats":{"count":3}},
           {"metric":"oInteracting","stats":{"count":2}},
           {"metric":"oAlerting","stats":{"count":0}},
           {"metric":"oOnQueueUsers","qualifier":"IDLE","stats":{"count":4}},
           {"metric":"oOnQueueUsers","qualifier":"INTERACTING","stats":{"count":2}},
           {"metric":"oOffQueueUsers","qualifier":"a","stats":{"count":1}},
           {"metric":"oOffQueueUsers","qualifier":"b","stats":{"count":5}},
           {"metric":"oLongestWaiting","stats":{"max":93512.0,"min":12,"count":3}},
           {"metric":"oUserPresences","qualifier":"x","stats":{"count":9}},
           {"metric":"oServiceLevel","stats":{"ratio":0.5}}"#,
    );
    assert_eq!(
        ok(&f),
        Event::Observation(QueueObservation {
            queue: id(QUEUE),
            observed: ts(t),
            waiting: Some(3),
            interacting: Some(2),
            alerting: Some(0),
            on_queue: Some(6),
            off_queue: Some(6),
            longest_waiting: Some(93_512),
        })
    );
}

#[test]
fn observation_aggregate() {
    let f = obs_frame(
        "2024-12-30T09:30:00.000Z/2024-12-30T10:00:00.000Z",
        r#"{"metric":"nOffered","stats":{"count":12}},
           {"metric":"tAnswered","stats":{"count":10,"sum":300000}},
           {"metric":"tAbandon","stats":{"count":2}},
           {"metric":"oServiceLevel","stats":{"ratio":0.8567,"numerator":6,"denominator":7}},
           {"metric":"oWaiting","stats":{"count":1}}"#,
    );
    assert_eq!(
        ok(&f),
        Event::Aggregate(QueueAggregate {
            queue: id(QUEUE),
            interval_start: ts("2024-12-30T09:30:00.000Z"),
            interval_end: ts("2024-12-30T10:00:00.000Z"),
            offered: Some(12),
            answered: Some(10),
            abandoned: Some(2),
            service_level_permille: Some(857),
        })
    );
    // The capture's shape: no tAnswered (answered unknown, not 0), no tAbandon (nothing
    // abandoned: the topic carries it when there is one).
    let f = obs_frame(
        "2024-12-30T09:30:00.000Z/2024-12-30T10:00:00.000Z",
        r#"{"metric":"tAlert","stats":{"count":4,"sum":9000}},
           {"metric":"nOffered","stats":{"count":4}},
           {"metric":"tConnected","stats":{"count":4,"sum":600000}},
           {"metric":"tAcd","stats":{"count":4,"sum":50000}},
           {"metric":"oServiceLevel","stats":{"ratio":1.0,"numerator":4,"denominator":4}},
           {"metric":"tWait","stats":{"count":4,"sum":50000}}"#,
    );
    let Event::Aggregate(a) = ok(&f) else {
        panic!("an aggregate")
    };
    assert_eq!(
        (a.offered, a.answered, a.abandoned),
        (Some(4), None, Some(0))
    );
    assert_eq!(a.service_level_permille, Some(1000));
    let f = obs_frame("2024-12-30T10:00:00.000Z/2024-12-30T09:30:00.000Z", "");
    assert_eq!(err(&f), Rejected::BadTimestamp("eventBody.data[].interval"));
    let f = obs_frame("2024-12-30T10:00:00.000Z", "");
    assert_eq!(err(&f), Rejected::BadTimestamp("eventBody.data[].interval"));
    let f = format!(
        r#"{{"topicName":"v2.analytics.queues.{QUEUE}.observations","eventBody":{{"data":[]}}}}"#
    );
    assert_eq!(err(&f), Rejected::MissingField("eventBody.data"));
}

#[test]
fn observation_data_loses_its_tail_not_the_frame() {
    // MAX_INTERVALS + 5 data items: the first is used, the tail is skipped unparsed.
    let t = "2024-12-30T09:46:54.839Z";
    let item = format!(
        r#"{{"interval":"{t}/{t}","metrics":[{{"metric":"oWaiting","stats":{{"count":7}}}}]}}"#
    );
    let junk = r#"{"interval":"garbage","metrics":[{"metric":"oWaiting","stats":{"count":"x"}}]}"#;
    let mut items = vec![item.as_str(); MAX_INTERVALS];
    items.extend([junk; 5]);
    let f = format!(
        r#"{{"topicName":"v2.analytics.queues.{QUEUE}.observations","eventBody":{{"data":[{}]}}}}"#,
        items.join(",")
    );
    assert!(matches!(ok(&f), Event::Observation(o) if o.waiting == Some(7)));
    let b: Capped<ObsData, MAX_INTERVALS> =
        super::super::json::from_json(format!("[{}]", items.join(",")).as_bytes()).unwrap();
    assert_eq!((b.items.len(), b.dropped), (MAX_INTERVALS, 5));
}

/// A conversation frame whose agent participant has the given extra fields and calls.
fn conv_frame(agent_fields: &str, calls: &str) -> std::string::String {
    format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","version":"2","eventBody":{{"id":"{CONV}",
        "participants":[
          {{"id":"p1","purpose":"customer","connectedTime":"2024-12-30T09:40:01.120Z",
            "calls":[{{"state":"connected","connectedTime":"2024-12-30T09:40:01.120Z"}}]}},
          {{"id":"p3","userId":"{USER}","purpose":"agent",{agent_fields}
            "calls":[{calls}]}}
        ]}}}}"#
    )
}

#[test]
fn conversation_states() {
    let cases = [
        (
            r#"{"state":"alerting","startAlertingTime":"2024-12-30T09:40:30.000Z"}"#,
            Interaction::Alerting,
        ),
        (r#"{"state":"offering"}"#, Interaction::Alerting),
        (r#"{"state":"dialing"}"#, Interaction::Dialing),
        (r#"{"state":"contacting"}"#, Interaction::Dialing),
        (
            r#"{"state":"connected","held":false}"#,
            Interaction::Connected,
        ),
        (r#"{"state":"CONNECTED","held":true}"#, Interaction::Held),
        (r#"{"state":"scheduled"}"#, Interaction::None),
    ];
    for (call, want) in cases {
        let ev = ok(&conv_frame("", call));
        let Event::Conversation(c) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (c.media, c.interaction, c.wrapup, c.ended),
            (Media::Call, want, false, false),
            "{call}"
        );
        assert_eq!(c.conversation, id(CONV));
    }
}

#[test]
fn conversation_wrapup_and_end() {
    let disc = r#"{"state":"disconnected","connectedTime":"2024-12-30T09:40:31.050Z","disconnectedTime":"2024-12-30T09:45:00.000Z"}"#;
    let changed = ts("2024-12-30T09:45:00.000Z");
    let expect = |wrapup: bool, ended: bool| {
        Event::Conversation(ConversationChange {
            user: id(USER),
            conversation: id(CONV),
            media: Media::Call,
            interaction: Interaction::Disconnected,
            wrapup,
            ended,
            changed,
        })
    };
    // Wrap-up required and not done → in wrap-up.
    assert_eq!(
        ok(&conv_frame(r#""wrapupRequired":true,"#, disc)),
        expect(true, false)
    );
    // Wrap-up done → ended.
    assert_eq!(
        ok(&conv_frame(
            r#""wrapupRequired":true,"wrapup":{"code":"c","notes":"n"},"#,
            disc
        )),
        expect(false, true)
    );
    // `wrapup: null` is no wrap-up.
    assert_eq!(
        ok(&conv_frame(r#""wrapupRequired":true,"wrapup":null,"#, disc)),
        expect(true, false)
    );
    // Not required → ended.
    assert_eq!(
        ok(&conv_frame(r#""wrapupRequired":false,"#, disc)),
        expect(false, true)
    );
    assert_eq!(
        ok(&conv_frame(
            "",
            r#"{"state":"terminated","endTime":"2024-12-30T09:45:00.000Z"}"#
        )),
        expect(false, true)
    );
}

#[test]
fn conversation_picks_newest_live_session_across_media() {
    // An old disconnected call, a newer live chat, a newest but disconnected email.
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations.chats","eventBody":{{"id":"{CONV}","participants":[
          {{"userId":"{USER}","connectedTime":"2024-12-30T09:00:00.000Z",
            "calls":[{{"state":"disconnected","disconnectedTime":"2024-12-30T09:10:00.000Z"}}],
            "chats":[{{"state":"connected","connectedTime":"2024-12-30T09:20:00.000Z"}},
                     {{"state":"alerting","startAlertingTime":"2024-12-30T09:15:00.000Z"}}],
            "emails":[{{"state":"disconnected","disconnectedTime":"2024-12-30T09:30:00.000Z"}}]}}]}}}}"#
    );
    assert_eq!(
        ok(&f),
        Event::Conversation(ConversationChange {
            user: id(USER),
            conversation: id(CONV),
            media: Media::Chat,
            interaction: Interaction::Connected,
            wrapup: false,
            ended: false,
            changed: ts("2024-12-30T09:30:00.000Z"),
        })
    );
    // All disconnected: the newest wins; socialExpressions map to Other.
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"id":"{CONV}","participants":[
          {{"userId":"{USER}",
            "messages":[{{"state":"disconnected","disconnectedTime":"2024-12-30T09:10:00.000Z"}}],
            "socialExpressions":[{{"state":"disconnected","disconnectedTime":"2024-12-30T09:11:00.000Z"}}]}}]}}}}"#
    );
    assert!(matches!(ok(&f), Event::Conversation(c) if c.media == Media::Other && c.ended));
}

#[test]
fn conversation_keeps_the_last_agent_participant_beyond_any_capacity() {
    // 40 participants (more than MAX_PARTICIPANTS): the agent appears twice, the last wins.
    let mut parts = std::vec::Vec::new();
    for i in 0..40 {
        parts.push(format!(
            r#"{{"id":"p{i}","purpose":"customer","calls":[{{"state":"connected"}}]}}"#
        ));
    }
    parts[5] = format!(r#"{{"userId":"{USER}","calls":[{{"state":"disconnected"}}]}}"#);
    parts[35] = format!(r#"{{"userId":"{USER}","videos":[{{"state":"alerting"}}]}}"#);
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"participants":[{}],"id":"{CONV}"}}}}"#,
        parts.join(",")
    );
    assert!(
        matches!(ok(&f), Event::Conversation(c) if c.media == Media::Video && c.interaction == Interaction::Alerting)
    );
}

#[test]
fn conversation_rejections() {
    // No participant of this user.
    let other = "00000000-0000-4000-8000-000000000000";
    let f = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"id":"{CONV}","participants":[{{"userId":"{other}"}}]}}}}"#
    );
    assert_eq!(
        err(&f),
        Rejected::MissingField("eventBody.participants[userId]")
    );
    let f =
        format!(r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"id":"{CONV}"}}}}"#);
    assert_eq!(
        err(&f),
        Rejected::MissingField("eventBody.participants[userId]")
    );
    let f = conv_frame(
        "",
        r#"{"state":"connected","connectedTime":"2024-13-01T00:00:00Z"}"#,
    );
    assert_eq!(err(&f).reason(), Reason::BadTimestamp);
    let f = conv_frame(r#""connectedTime":"soon","#, r#"{"state":"connected"}"#);
    assert_eq!(err(&f).reason(), Reason::BadTimestamp);
    let f = conv_frame("", "").replace(CONV, "not-a-uuid");
    assert_eq!(err(&f), Rejected::BadId("eventBody.id"));
}

/// The hand-read conversation (issue 16): a participant's media read before its `userId` are
/// folded once the `userId` says it is the agent; other participants' fields are still
/// checked (a bad stamp there is a JSON-level outcome only when the string itself is bad).
#[test]
fn conversation_agent_fields_in_any_order_and_others_checked() {
    let agent_last = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"id":"{CONV}","participants":[
          {{"purpose":"customer","calls":[{{"state":"connected","connectedTime":"2024-12-30T09:40:01.120Z"}}]}},
          {{"purpose":"agent","emails":[{{"state":"alerting","startAlertingTime":"2024-12-30T09:41:00.000Z"}}],
            "calls":[{{"state":"disconnected","disconnectedTime":"2024-12-30T09:40:30.000Z"}}],
            "userId":"{USER}"}}]}}}}"#
    );
    let Event::Conversation(c) = ok(&agent_last) else {
        panic!("not a conversation");
    };
    assert_eq!(
        (c.media, c.interaction),
        (Media::Email, Interaction::Alerting)
    );
    assert_eq!(c.changed, ts("2024-12-30T09:41:00.000Z"));

    // Another participant's stamp that is not a time: never parsed, not the agent's problem.
    let f = agent_last.replace("09:40:01.120Z", "not a time");
    assert!(matches!(ok(&f), Event::Conversation(_)));
    // Another participant's duplicate field or invalid escape: refused as serde's derive
    // refused it (the error value included).
    let dup = agent_last.replace(
        r#""purpose":"customer","#,
        r#""purpose":"customer","calls":[],"#,
    );
    assert_eq!(
        err(&dup),
        Rejected::Malformed(serde::de::Error::duplicate_field("calls"))
    );
    let escape = agent_last.replace("09:40:01.120Z", r"09:40:01\q");
    assert_eq!(
        err(&escape),
        Rejected::Malformed(serde::de::Error::custom("invalid escape in string"))
    );
    // `null` media is refused (an array is required), `null` fields are absent.
    let null_calls = agent_last.replace(
        r#""calls":[{"state":"disconnected","disconnectedTime":"2024-12-30T09:40:30.000Z"}]"#,
        r#""calls":null"#,
    );
    assert_eq!(err(&null_calls).reason(), Reason::Malformed);
    // A session without a known state is still the newest live one: shown, as no interaction.
    let null_state = agent_last.replace(r#""state":"alerting""#, r#""state":null"#);
    let Event::Conversation(c) = ok(&null_state) else {
        panic!("not a conversation");
    };
    assert_eq!((c.media, c.interaction), (Media::Email, Interaction::None));
}

#[test]
fn controls() {
    let hb = r#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#;
    assert_eq!(control(hb), Control::Heartbeat);
    let pong = r#"{"topicName":"channel.metadata","eventBody":{"message":"pong"}}"#;
    assert_eq!(control(pong), Control::Pong);
    for (topic, want) in [
        ("v2.system.socket_closing", Control::SocketClosing),
        (
            "v2.system.no_longer_subscribed.streaming-0-abc",
            Control::NoLongerSubscribed,
        ),
        ("V2.System.Token_Revoked.x.y", Control::TokenRevoked),
    ] {
        let f = format!(r#"{{"topicName":"{topic}","eventBody":{{"message":"PLACEHOLDER"}}}}"#);
        assert_eq!(control(&f), want, "{topic}");
    }
    assert_eq!(
        control(r#"{"result":"404","message":"gone"}"#),
        Control::ChannelGone
    );
    assert_eq!(
        control(r#"{"status":"subscribed","result":"200"}"#),
        Control::SubscribeAck
    );
    assert_eq!(
        control(r#"{"result":"400","status":"failure"}"#),
        Control::SubscribeFailed
    );
    assert_eq!(
        control(r#"{"result":"a very long result string"}"#),
        Control::SubscribeFailed
    );
    assert_eq!(
        err(r#"{"topicName":"channel.metadata","eventBody":{}}"#),
        Rejected::MissingField("eventBody.message")
    );
    assert_eq!(
        err(r#"{"topicName":"channel.metadata"}"#),
        Rejected::MissingField("eventBody")
    );
}

#[test]
fn unknown_topics_keep_evidence() {
    let f = format!(r#"{{"topicName":"v2.users.{USER}.station","eventBody":{{}}}}"#);
    let e = err(&f);
    assert_eq!(e.reason(), Reason::UnknownTopic);
    let Rejected::UnknownTopic(t) = e else {
        unreachable!()
    };
    assert_eq!(t.as_str(), &format!("v2.users.{USER}.station")[..t.len()]);
    assert_eq!(t.len(), 53);
    for topic in [
        "v2.system.socket_closing_soon",
        "v2.system.no_longer_subscribedX",
        "v3.users.x.presence",
        "",
        "a.b.c.d.e.f.g",
        "v2.users",
    ] {
        let f = format!(r#"{{"topicName":"{topic}"}}"#);
        assert_eq!(err(&f).reason(), Reason::UnknownTopic, "{topic}");
    }
    // A topic longer than TOPIC_LEN: first 64 bytes as evidence.
    let long = format!("v2.users.{}", "é".repeat(100));
    let e = err(&format!(r#"{{"topicName":"{long}"}}"#));
    let Rejected::UnknownTopic(t) = e else {
        panic!("{e:?}")
    };
    assert_eq!(t.len(), 63);
    // A known family with a bad id.
    let f = r#"{"topicName":"v2.users.not-a-uuid.presence","eventBody":{}}"#;
    assert_eq!(err(f), Rejected::BadId("topicName"));
    let f = format!(
        r#"{{"topicName":"v2.analytics.queues.{}.observations"}}"#,
        &QUEUE[1..]
    );
    assert_eq!(err(&f), Rejected::BadId("topicName"));
}

#[test]
fn every_reason_is_reachable() {
    let mut seen = [false; Reason::ALL.len()];
    let frames: [&[u8]; 10] = [
        &[b' '; 100],                                                     // oversize at max 10
        b"{\"topicName\":\"\xff\"}",                                     // not utf8
        &[b'['; 40],                                                      // too deep
        b"{\"topicName\":",                                               // malformed
        br#"{"topicName":"v2.nope"}"#,                                    // unknown topic
        br#"{"topicName":"channel.metadata","eventBody":{"message":"?"}}"#, // unknown message
        br#"{"message":"ping"}"#,                                         // missing field
        br#"{"topicName":"v2.users.x.presence"}"#,                        // bad id
        br#"{"topicName":"v2.users.9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f.presence","eventBody":{"presenceDefinition":{"id":"e08eaf1b-ee47-4fa9-a231-1200e284798f"},"modifiedDate":"2021-02-30T00:00:00Z"}}"#,
        b"",
    ];
    for (i, f) in frames.iter().enumerate() {
        let max = if i == 0 { 10 } else { MAX };
        if let Err(e) = parse(f, max) {
            seen[e.reason().index()] = true;
        }
    }
    // OverCapacity has no WebSocket trigger (arrays lose their tail); REST covers it.
    seen[Reason::OverCapacity.index()] = true;
    assert_eq!(seen, [true; Reason::ALL.len()], "{seen:?}");
}

#[test]
fn hostile_inputs_are_refused_before_parsing() {
    // 1 MiB frame over a 64 KiB limit.
    let big = vec![b'a'; 1 << 20];
    assert_eq!(
        parse(&big, MAX),
        Err(Rejected::Oversize {
            len: 1 << 20,
            max: MAX
        })
    );
    // Depth bomb: a million brackets never reach the recursive parser.
    let bomb = vec![b'['; 1 << 20];
    assert_eq!(
        parse(&bomb, 2 << 20),
        Err(Rejected::TooDeep {
            depth: crate::limits::MAX_JSON_DEPTH + 1,
            offset: crate::limits::MAX_JSON_DEPTH
        })
    );
    // A deep-but-legal object inside a skipped field is fine.
    let deep = format!(
        r#"{{"topicName":"channel.metadata","x":{}1{},"eventBody":{{"message":"pong"}}}}"#,
        "[".repeat(30),
        "]".repeat(30)
    );
    assert_eq!(control(&deep), Control::Pong);
    // Invalid UTF-8 (a lone continuation byte inside a string).
    let mut bad = br#"{"topicName":"channel.metadata","eventBody":{"message":"po"#.to_vec();
    bad.extend([0x80, b'"', b'}', b'}']);
    assert!(matches!(
        parse(&bad, MAX),
        Err(Rejected::NotUtf8 { valid_up_to: 58 })
    ));
    // Not an object, trailing garbage, wrong types.
    for f in [
        "[]",
        "42",
        r#"{"topicName":5}"#,
        r#"{"topicName":"channel.metadata","eventBody":{"message":"pong"}} x"#,
        r#"{"topicName":"channel.metadata","eventBody":[1]}"#,
    ] {
        assert_eq!(err(f).reason(), Reason::Malformed, "{f}");
    }
}

#[test]
fn long_values_never_panic_the_parser() {
    // serde-json-core 0.7 panics on custom error messages over 64 bytes; nothing we
    // declare raises one, whatever the length of the input.
    let long = "x".repeat(5000);
    let frames = [
        format!(r#"{{"topicName":"{long}"}}"#),
        format!(r#"{{"result":"{long}"}}"#),
        format!(
            r#"{{"topicName":"v2.users.{USER}.presence","eventBody":{{"presenceDefinition":{{"id":"{long}","systemPresence":"{long}"}}}}}}"#
        ),
        format!(
            r#"{{"topicName":"v2.users.{USER}.routingStatus","eventBody":{{"routingStatus":{{"status":"{long}","startTime":"{long}"}}}}}}"#
        ),
        format!(r#"{{"topicName":"channel.metadata","eventBody":{{"message":"{long}"}}}}"#),
        format!(
            r#"{{"topicName":"v2.analytics.queues.{QUEUE}.observations","eventBody":{{"data":[{{"interval":"{long}","metrics":[{{"metric":"{long}","stats":{{"count":1}}}}]}}]}}}}"#
        ),
        conv_frame("", &format!(r#"{{"state":"{long}"}}"#)),
        format!(
            r#"{{"topicName":"channel.metadata","eventBody":{{"message":"pong","{long}":1}}}}"#
        ),
        format!(
            r#"{{"topicName":"channel.metadata","eventBody":{{"message":"pong"}},"{long}":{{"{long}":"{long}"}}}}"#
        ),
    ];
    for f in &frames {
        let _ = parse(f.as_bytes(), MAX);
    }
    let e = err(&format!(
        r#"{{"topicName":"channel.metadata","eventBody":{{"message":"{long}"}}}}"#
    ));
    assert_eq!(e.reason(), Reason::UnknownMessage);
}

#[test]
fn truncated_frames_never_panic() {
    // Every prefix of a rich frame is either an event or a rejection.
    let f = conv_frame(
        r#""wrapupRequired":true,"#,
        r#"{"state":"connected","held":true,"connectedTime":"2024-12-30T09:40:31.050Z"}"#,
    );
    for cut in 0..f.len() {
        let _ = parse(&f.as_bytes()[..cut], MAX);
    }
    assert!(parse(f.as_bytes(), MAX).is_ok());
}

#[test]
fn duplicate_keys_and_odd_elements_are_malformed_not_panics() {
    let dup = r#"{"topicName":"channel.metadata","topicName":"channel.metadata","eventBody":{"message":"pong"}}"#;
    assert_eq!(err(dup).reason(), Reason::Malformed);
    let dup = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"id":"{CONV}","participants":[{{"userId":"{USER}","socialExpressions":[],"socialExpressions":[]}}]}}}}"#
    );
    assert_eq!(err(&dup).reason(), Reason::Malformed);
    let odd = format!(
        r#"{{"topicName":"v2.users.{USER}.conversations","eventBody":{{"id":"{CONV}","participants":[null,1,"x"]}}}}"#
    );
    assert_eq!(err(&odd).reason(), Reason::Malformed);
    // A duplicate eventBody: the first one is decoded, the second skipped.
    let twice = r#"{"topicName":"channel.metadata","eventBody":{"message":"pong"},"eventBody":{"message":"?"}}"#;
    assert_eq!(control(twice), Control::Pong);
}

/// Issue 7 regression: the flat pre-scan reads `"a":x"` (an ignored scalar, which the parser
/// runs to the next `,`) as a string opening, so the brackets after it were invisible to it
/// and serde-json-core recursed into them: a 200 KB frame (under the rpi4 board's 256 KiB
/// limit) overflowed the stack and aborted the gateway. The reader follows at most
/// `reader::SKIP_DEPTH` levels there and refuses the frame as too deep.
#[test]
fn nesting_hidden_behind_a_swallowed_quote_is_too_deep_not_a_crash() {
    let n = 100_000;
    let f = format!(
        r#"{{"topicName":"channel.metadata","a":x",  "b":{}{}}}"#,
        "[".repeat(n),
        "]".repeat(n)
    );
    let e = parse(f.as_bytes(), 256 * 1024).expect_err("refused");
    assert_eq!(e.reason(), Reason::TooDeep, "{e}");
    // Within the reader's stack, such a frame reads as serde-json-core read it.
    let f = format!(
        r#"{{"topicName":"channel.metadata","a":x",  "b":{}{},"eventBody":{{"message":"pong"}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    assert_eq!(control(&f), Control::Pong);
}

/// Issue 7: with one pass, a JSON error is met before the rest of the frame is read; the
/// outcome must still be the former precheck-then-parse one: too deep anywhere wins over
/// malformed, and malformed anywhere wins over every other rejection.
#[test]
fn one_pass_keeps_the_order_of_rejections() {
    let deep = "[".repeat(40);
    // Malformed at the start, too deep later (unterminated): too deep.
    let f = format!(r#"{{"topicName":5,"x":{deep}"#);
    assert_eq!(err(&f).reason(), Reason::TooDeep);
    let f =
        format!(r#"{{"topicName":"channel.metadata","eventBody":{{"message":"pong"}},"x":{deep}"#);
    assert_eq!(err(&f).reason(), Reason::TooDeep);
    // An unknown topic or a bad id first, malformed later: malformed.
    for topic in ["v2.nope", "v2.users.x.presence"] {
        let f = format!(r#"{{"topicName":"{topic}","eventBody":{{}},"x":[1,]}}"#);
        assert_eq!(err(&f).reason(), Reason::Malformed, "{topic}");
    }
    // A body that decodes, then a repeated topicName after it: malformed.
    let f = r#"{"topicName":"channel.metadata","eventBody":{"message":"pong"},"topicName":"x"}"#;
    assert_eq!(err(f).reason(), Reason::Malformed);
    // A body whose event is refused, then trailing garbage: malformed.
    let f = r#"{"topicName":"channel.metadata","eventBody":{"message":"?"}} x"#;
    assert_eq!(err(f).reason(), Reason::Malformed);
    // eventBody before the topic (decoded after the walk), and a bodiless system topic whose
    // body is never decoded.
    let f = r#"{"eventBody":{"message":"pong"},"version":"2","topicName":"channel.metadata"}"#;
    assert_eq!(control(f), Control::Pong);
    let f = r#"{"eventBody":[1,{}],"topicName":"v2.system.socket_closing"}"#;
    assert_eq!(control(f), Control::SocketClosing);
    let f = r#"{"eventBody":[1,{}],"topicName":"channel.metadata"}"#;
    assert_eq!(err(f).reason(), Reason::Malformed);
}
