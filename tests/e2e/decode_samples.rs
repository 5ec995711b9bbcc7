//! Golden tests: every Genesys sample in `tests/fixtures/genesys/` (copied from
//! `shared/genesys/samples/`) decodes to exactly the expected value, or is refused with the
//! named reason. Owns the sample → expectation table; a fixture without an entry, an entry
//! without a fixture, or a shared sample without an identical fixture copy fails the build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use presence_gateway::decode::{self, rest, Reason, Rejected};
use presence_gateway::event::{
    ConversationChange, Event, Id, Interaction, Media, MemberChange, Presence, PresenceChange,
    QueueObservation, Routing, RoutingChange,
};
use presence_gateway::message::{Control, Message};

/// Frame limit used for the samples (the board default is larger; all samples are small).
const MAX_LEN: usize = 64 * 1024;

const USER: &str = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
const QUEUE: &str = "788c3a6d-8b4f-4a2d-a2bc-ffc815bba881";

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

/// What `decode::parse` must make of a sample.
enum Ws {
    /// Decodes to exactly this message (an event, or a channel control message).
    Event(Message),
    /// Refused with this reason: the file is not a server→client notification frame.
    Refused(Reason, &'static str),
}

/// The expectation for every fixture, by file name.
fn expectation(name: &str) -> Option<Ws> {
    use Ws::{Event as E, Refused};
    Some(match name {
        "presence.json" => E(Message::Event(Event::Presence(PresenceChange {
            user: id(USER),
            definition: id("6a3af858-942f-489d-9700-5f9bcdcdae9b"),
            presence: Presence::Available,
            modified: 0, // no modifiedDate in the verbatim capture: unordered
        }))),
        "presence.full.json" => E(Message::Event(Event::Presence(PresenceChange {
            user: id(USER),
            definition: id("e08eaf1b-ee47-4fa9-a231-1200e284798f"),
            presence: Presence::OnQueue,
            modified: 1_620_982_997_047, // 2021-05-14T09:03:17.047Z
        }))),
        "routingStatus.json" => E(Message::Event(Event::Routing(RoutingChange {
            user: id(USER),
            routing: Routing::Idle,
            started: 1_620_982_997_067, // 2021-05-14T09:03:17.067Z
        }))),
        "queueUsers.json" => E(Message::Event(Event::Member(MemberChange {
            queue: id(QUEUE),
            user: id(USER),
            joined: true,
        }))),
        "queueObservations.json" => E(Message::Event(Event::Observation(QueueObservation {
            queue: id(QUEUE),
            observed: 1_735_552_014_839, // 2024-12-30T09:46:54.839Z (start == end)
            waiting: Some(0),
            interacting: None,
            alerting: Some(0),
            on_queue: None,
            off_queue: None,
            longest_waiting: None,
        }))),
        "userConversations.json" => E(Message::Event(Event::Conversation(ConversationChange {
            user: id(USER),
            conversation: id("5f0f4a10-7c7b-4f4f-9d39-0f8f2e0b3b11"),
            media: Media::Call,
            interaction: Interaction::Connected,
            wrapup: false,
            ended: false,
            changed: 1_735_551_631_050, // agent's connectedTime 2024-12-30T09:40:31.050Z
        }))),
        "heartbeat.json" => E(Message::Control(Control::Heartbeat)),
        "pong.json" => E(Message::Control(Control::Pong)),
        "socketClosing.json" => E(Message::Control(Control::SocketClosing)),
        "noLongerSubscribed.json" => E(Message::Control(Control::NoLongerSubscribed)),
        "ws.channel.gone.json" => E(Message::Control(Control::ChannelGone)),
        "ws.subscribe.ack.json" => E(Message::Control(Control::SubscribeAck)),
        "ws.subscribe.error.json" => E(Message::Control(Control::SubscribeFailed)),
        // Client → server frames: no topicName, no result.
        "ping.client.json" => Refused(Reason::MissingField, "client frame"),
        "ws.subscribe.client.json" => Refused(Reason::MissingField, "client frame"),
        // A REST request body: a bare JSON array, not an envelope object.
        "subscriptions.request.json" => Refused(Reason::Malformed, "REST request body"),
        "presences.bulk.response.json" => Refused(Reason::Malformed, "REST response (array)"),
        // REST response objects: checked against their own parser in `rest_samples`.
        "channel.create.response.json"
        | "error.429.json"
        | "oauth.token.response.json"
        | "presencedefinitions.legacy.response.json"
        | "queue.members.page.json"
        | "subscriptions.response.ignoreErrors.json" => {
            Refused(Reason::MissingField, "REST response")
        }
        _ => return None,
    })
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/genesys")
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap()
}

#[test]
fn every_fixture_has_an_expectation() {
    let missing: Vec<_> = names(&fixtures_dir())
        .into_iter()
        .filter(|n| expectation(n).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures without an expectation: {missing:?}"
    );
}

#[test]
fn shared_samples_are_all_copied() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/genesys/samples");
    if !shared.is_dir() {
        eprintln!("{} absent: copy check skipped", shared.display());
        return;
    }
    for name in names(&shared) {
        let theirs = std::fs::read(shared.join(&name)).unwrap();
        let ours = std::fs::read(fixtures_dir().join(&name))
            .unwrap_or_else(|_| panic!("sample {name} has no copy in tests/fixtures/genesys"));
        assert_eq!(
            ours, theirs,
            "fixture {name} differs from the shared sample"
        );
    }
}

#[test]
fn ws_samples() {
    for name in names(&fixtures_dir()) {
        let bytes = fixture(&name);
        let got = decode::parse(&bytes, MAX_LEN);
        match expectation(&name).unwrap() {
            Ws::Event(want) => assert_eq!(got, Ok(want), "{name}"),
            Ws::Refused(reason, why) => {
                let e = got.expect_err(&name);
                assert_eq!(e.reason(), reason, "{name} ({why}): {e}");
            }
        }
    }
    // The exact evidence for the client frames.
    assert_eq!(
        decode::parse(&fixture("ping.client.json"), MAX_LEN),
        Err(Rejected::MissingField("topicName"))
    );
}

#[test]
fn rest_samples() {
    let t = rest::token(&fixture("oauth.token.response.json")).unwrap();
    assert_eq!(
        (t.access_token.as_str(), t.token_type.as_str(), t.expires_in),
        ("REDACTED-opaque-token", "bearer", 86_399)
    );

    let c = rest::channel(&fixture("channel.create.response.json")).unwrap();
    assert_eq!(c.id.as_str(), "streaming-2-aa5h48uk0srhpugh2994klj918");
    assert_eq!(
        c.connect_uri.as_str(),
        "wss://streaming.mypurecloud.com/channels/streaming-2-aa5h48uk0srhpugh2994klj918"
    );
    assert_eq!(c.expires, 1_612_375_147_650); // 2021-02-03T17:59:07.650Z

    let e = rest::error_body(&fixture("error.429.json")).unwrap();
    assert_eq!(
        (e.code.as_str(), e.status, e.message.as_str()),
        (
            "too.many.requests.retry.after",
            429,
            "Rate limit exceeded the maximum. Retry the request in [59] seconds"
        )
    );

    let s = rest::subscriptions(&fixture("subscriptions.response.ignoreErrors.json")).unwrap();
    assert_eq!((s.total, s.rejected), (3, 1));
    assert_eq!(
        s.rejected_ids
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>(),
        ["v2.analytics.queues.788c3a6d-8b4f-4a2d-a2bc-ffc815bba881.observations"]
    );

    let b = rest::bulk_presence(&fixture("presences.bulk.response.json")).unwrap();
    assert_eq!(
        b.as_slice(),
        &[PresenceChange {
            user: id(USER),
            definition: id("e08eaf1b-ee47-4fa9-a231-1200e284798f"),
            presence: Presence::OnQueue,
            modified: 1_735_551_598_512, // 2024-12-30T09:39:58.512Z
        }]
    );

    let m = rest::members_page(&fixture("queue.members.page.json")).unwrap();
    assert_eq!(m.members.len(), 1);
    let a = &m.members[0];
    assert_eq!(
        (a.id, a.name.as_str(), a.joined),
        (id(USER), "Agnes Agent", true)
    );
    assert_eq!(
        a.routing,
        Some(RoutingChange {
            user: id(USER),
            routing: Routing::Idle,
            started: 1_735_551_672_000, // 2024-12-30T09:41:12.000Z
        })
    );
    assert_eq!(
        m.next_uri.as_deref(),
        Some("/api/v2/routing/queues/788c3a6d-8b4f-4a2d-a2bc-ffc815bba881/members?pageSize=100&pageNumber=2")
    );
    assert_eq!(m.dropped, 0);

    let d =
        rest::presence_definitions(&fixture("presencedefinitions.legacy.response.json")).unwrap();
    let want = [
        ("6a3af858-942f-489d-9700-5f9bcdcdae9b", Presence::Available),
        ("992c2437-1833-4737-9ff4-eafdc4a360c8", Presence::Break),
        ("09dd6ff4-ff90-4d98-a3de-88a63db56e64", Presence::Break),
        ("31fe3bac-dea6-44b7-bed7-47f91660a1a0", Presence::Busy),
        ("7ffa01cd-7866-4ad7-8faa-31e11b42f51f", Presence::Idle),
        ("5e5c5c66-ea97-4e7f-ac41-6424784829f2", Presence::Away),
        ("bbdff279-7ae1-48ea-bade-7831d7234c64", Presence::Meeting),
        ("2fa68d50-5edb-4e01-9390-522615f12243", Presence::Away),
        ("3fd96123-badb-4f69-bc03-1b1ccc6d8014", Presence::Meal),
        ("d2390a99-8546-bad9-8f0a-219548e8aeb0", Presence::Training),
        ("e08eaf1b-ee47-4fa9-a231-1200e284798f", Presence::OnQueue),
        ("227b37e2-f1d0-4dd0-8f50-badd7cf6d158", Presence::Break),
        ("ccf3c10a-aa2c-4845-8e8d-f59fa48c58e5", Presence::Offline),
    ]
    .map(|(i, p)| (id(i), p));
    assert_eq!(d.definitions.as_slice(), &want);
    assert_eq!((d.next_uri, d.dropped), (None, 0));
}

#[test]
fn field_order_of_samples_does_not_matter() {
    // Rebuild each topic sample with eventBody (and metadata) before topicName.
    for name in [
        "presence.full.json",
        "routingStatus.json",
        "userConversations.json",
        "queueObservations.json",
    ] {
        let text = String::from_utf8(fixture(name)).unwrap();
        let start = text.find("\"topicName\"").unwrap();
        let end = start + text[start..].find(",\n").unwrap() + 2;
        let topic = text[start..end - 2].to_string();
        let rest = text[..start].to_string() + &text[end..];
        let body_end = rest.rfind('}').unwrap();
        let reordered = format!("{},\n  {}\n}}", &rest[..body_end].trim_end(), topic);
        let want = decode::parse(&fixture(name), MAX_LEN).unwrap();
        assert_eq!(
            decode::parse(reordered.as_bytes(), MAX_LEN),
            Ok(want),
            "{reordered}"
        );
    }
}
