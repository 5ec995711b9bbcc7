//! The fuzzed entry points and their properties, one function per cargo-fuzz target
//! (`fuzz_targets/*.rs`). `tests/fuzz_corpus.rs` includes this same file to replay the
//! committed corpus on stable without a fuzzer, so an input that once crashed a target keeps
//! failing `cargo test` until the fix is in.
//!
//! Properties checked on every input: no panic (a panic is a crash for libFuzzer and a failed
//! test for the replay), no hang (libFuzzer's `-timeout`; the replay's test time), outcomes
//! inside the gateway's bounds (a rejection names a reason the metrics array has a slot for;
//! frames over the limit are refused as `Oversize`), and for the frame codec an exact
//! encode → decode round trip, both for frames decoded from the bytes and for frames built
//! field by field from them.

use presence_gateway::command;
use presence_gateway::decode::{self, conversation_rest, rest, Reason};
use presence_gateway::event::Id;
use presence_wire::{
    AgentFrame, Body, DisplayName, Frame, Header, HeatmapFrame, Interaction, Level, Media,
    Presence, QueueFrame, RosterFrame, Routing, MAX_FRAME_LEN, MAX_HEATMAP_LEN,
};

/// The frame limits `ws_frame` decodes each input under: the largest board's WebSocket
/// message limit (1 MiB), and a small one so the `Oversize` path runs too.
pub const WS_LIMITS: [usize; 2] = [1 << 20, 256];

/// Counter slots per rejection reason in the gateway's metrics (`UpstreamMetrics::rejects`).
const REJECT_SLOTS: usize = 32;

/// Target `ws_frame`: one notification-channel WebSocket text frame through `decode::parse`.
pub fn ws_frame(data: &[u8]) {
    for max in WS_LIMITS {
        match decode::parse(data, max) {
            Ok(_) => assert!(data.len() <= max, "a frame over the limit was decoded"),
            Err(r) => {
                let reason = r.reason();
                assert!(reason.index() < Reason::ALL.len() && reason.index() < REJECT_SLOTS);
                if data.len() > max {
                    assert_eq!(reason.index(), Reason::Oversize.index(), "{r:?}");
                }
            }
        }
    }
}

/// The user a conversation body is read for (any valid id will do).
fn user() -> Id {
    // A literal UUID: `parse` cannot fail on it.
    Id::parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").unwrap_or_else(|| unreachable!())
}

/// Target `rest_bodies`: every REST body parser the upstream task calls, on the same bytes.
pub fn rest_bodies(data: &[u8]) {
    let _ = rest::token(data);
    let _ = rest::channel(data);
    let _ = rest::subscriptions(data);
    if let Ok(p) = rest::members_page(data) {
        assert!(!(p.next_uri.is_some() && p.next_uri_too_long));
    }
    if let Ok(p) = rest::users_page(data) {
        assert!(!(p.next_uri.is_some() && p.next_uri_too_long));
    }
    let _ = rest::bulk_presence(data);
    let _ = rest::routing_status(data);
    if let Ok(o) = rest::user_out_of_office(data) {
        // The model has no modifiedDate: the caller stamps it.
        assert_eq!(o.modified, 0);
    }
    if let Ok(p) = rest::presence_definitions(data) {
        assert!(!(p.next_uri.is_some() && p.next_uri_too_long));
    }
    let _ = rest::observations_query(data);
    let _ = rest::error_body(data);
    let _ = conversation_rest::conversation_details(data);
    let _ = conversation_rest::conversation(data, user());
}

/// Target `command`: one MQTT command payload through `command::parse`.
pub fn command(data: &[u8]) {
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.len() <= command::REPLY_TOKEN_MAX
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match command::parse(data) {
        Ok(c) => {
            assert!(data.len() <= command::MAX_COMMAND_BYTES);
            let _ = c.scope.label();
            // The token becomes an MQTT topic level: never a separator or a wildcard.
            if let Some(t) = &c.reply {
                assert!(token_ok(t), "{t:?}");
            }
        }
        Err((_, Some(t))) => assert!(token_ok(&t), "{t:?}"),
        Err((_, None)) => {}
    }
}

/// Target `wire_codec`: `presence_wire::decode` and `decode_heatmap` on the bytes, with a
/// round trip of whatever decodes, then a frame built field by field from the bytes.
pub fn wire_codec(data: &[u8]) {
    let mut buf = [0u8; MAX_FRAME_LEN];
    if let Ok(f) = presence_wire::decode(data) {
        round_trip(&f, &mut buf);
    }
    if let Ok(h) = presence_wire::decode_heatmap(data) {
        let mut big = vec![0u8; MAX_HEATMAP_LEN];
        let bytes = presence_wire::encode_heatmap(&h, &mut big)
            .unwrap_or_else(|e| panic!("a decodable heatmap does not fit MAX_HEATMAP_LEN: {e}"));
        assert_eq!(presence_wire::decode_heatmap(bytes).as_ref(), Ok(&h));
    }
    round_trip(&build(data), &mut buf);
    round_trip_heatmap(data);
}

/// Every frame encodes within [`MAX_FRAME_LEN`] and decodes back equal; encoding is stable.
fn round_trip(f: &Frame, buf: &mut [u8; MAX_FRAME_LEN]) {
    let bytes = presence_wire::encode(f, buf)
        .unwrap_or_else(|e| panic!("{f:?} does not fit MAX_FRAME_LEN: {e}"))
        .to_vec();
    let back = presence_wire::decode(&bytes);
    assert_eq!(back.as_ref(), Ok(f));
    let mut again = [0u8; MAX_FRAME_LEN];
    if let Ok(b) = back {
        assert_eq!(presence_wire::encode(&b, &mut again).ok(), Some(&bytes[..]));
    }
}

/// A heatmap whose counts come from the bytes, round-tripped.
fn round_trip_heatmap(data: &[u8]) {
    let mut r = Reader(data);
    let mut h = HeatmapFrame {
        header: Header {
            session: r.u32(),
            seq: r.u32(),
        },
        end_minute: r.u32(),
        counts: presence_wire::Minutes::default(),
    };
    for c in h.counts.0.iter_mut() {
        if r.0.is_empty() {
            break;
        }
        *c = r.u16();
    }
    let mut big = vec![0u8; MAX_HEATMAP_LEN];
    let bytes = presence_wire::encode_heatmap(&h, &mut big)
        .unwrap_or_else(|e| panic!("a heatmap does not fit MAX_HEATMAP_LEN: {e}"));
    assert_eq!(presence_wire::decode_heatmap(bytes).as_ref(), Ok(&h));
}

/// Reads fields off the fuzz bytes; zeros once they run out.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// `None` when the next byte is even, else `Some` of what `read` takes next.
    fn opt<T>(&mut self, read: fn(&mut Self) -> T) -> Option<T> {
        (self.u8() % 2 == 1).then(|| read(self))
    }
    fn pick<T: Copy>(&mut self, all: &[T]) -> T {
        all[usize::from(self.u8()) % all.len()]
    }
    fn str(&mut self) -> &str {
        let n = usize::from(self.u8()).min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        match std::str::from_utf8(s) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&s[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

const PRESENCES: [Presence; 11] = [
    Presence::Unknown,
    Presence::Available,
    Presence::Away,
    Presence::Busy,
    Presence::Offline,
    Presence::Idle,
    Presence::OnQueue,
    Presence::Meal,
    Presence::Training,
    Presence::Meeting,
    Presence::Break,
];
const ROUTINGS: [Routing; 6] = [
    Routing::Unknown,
    Routing::OffQueue,
    Routing::Idle,
    Routing::Interacting,
    Routing::NotResponding,
    Routing::Communicating,
];
const MEDIAS: [Media; 8] = [
    Media::None,
    Media::Call,
    Media::Callback,
    Media::Chat,
    Media::Email,
    Media::Message,
    Media::Video,
    Media::Other,
];
const INTERACTIONS: [Interaction; 6] = [
    Interaction::None,
    Interaction::Alerting,
    Interaction::Dialing,
    Interaction::Connected,
    Interaction::Held,
    Interaction::Disconnected,
];
const LEVELS: [Level; 3] = [Level::Normal, Level::Warning, Level::Critical];

/// A frame of any kind with every field taken from the bytes.
fn build(data: &[u8]) -> Frame {
    let mut r = Reader(data);
    let header = Header {
        session: r.u32(),
        seq: r.u32(),
    };
    let body = match r.u8() % 4 {
        0 => Body::Agent(AgentFrame {
            presence: r.pick(&PRESENCES),
            presence_since: r.u32(),
            routing: r.pick(&ROUTINGS),
            routing_since: r.u32(),
            media: r.pick(&MEDIAS),
            interaction: r.pick(&INTERACTIONS),
            interaction_since: r.u32(),
            flags: r.u8(),
        }),
        1 => Body::Queue(QueueFrame {
            waiting: r.opt(Reader::u16),
            interacting: r.opt(Reader::u16),
            alerting: r.opt(Reader::u16),
            on_queue: r.opt(Reader::u16),
            off_queue: r.opt(Reader::u16),
            longest_waiting_s: r.opt(Reader::u32),
            observed: r.u32(),
            offered: r.opt(Reader::u16),
            answered: r.opt(Reader::u16),
            abandoned: r.opt(Reader::u16),
            service_level_pct: r.opt(Reader::u8),
            level: r.pick(&LEVELS),
        }),
        2 => Body::Name(DisplayName::new(r.str())),
        _ => Body::Roster(RosterFrame {
            agents: r.u16(),
            queues: r.u16(),
            generation: r.u32(),
        }),
    };
    Frame { header, body }
}
