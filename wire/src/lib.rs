//! presence-wire: the frames presence-gateway publishes over MQTT, as a display decodes them.
//!
//! Owns the wire format and nothing else: no I/O, no allocation, `no_std`, so a display
//! microcontroller can depend on it with `default-features = false`.
//!
//! # Format
//! Every MQTT payload the gateway publishes on an agent or queue topic is
//! `[WIRE_VERSION: u8][postcard(Frame)]`. postcard encodes integers as LEB128 varints,
//! enums as a varint variant index (declaration order, never reordered), structs as their
//! fields in order with no names or lengths. The first byte lets a display reject a frame
//! from a format it does not know instead of misreading it.
//!
//! A [`Header`] opens every frame: `session` grows by one each time the gateway process
//! starts (a display seeing it change knows the gateway restarted and every retained value
//! will be re-sent), and `seq` grows by one for each frame published into the same zone
//! within a session (a display subscribed to one zone detects gaps by a jump in `seq`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

use serde::{Deserialize, Serialize};

/// First byte of every frame. Bumped on any change an older decoder would misread: 2 made
/// every queue figure that can be unknown an `Option` (version 1 sent 0 for "unknown").
pub const WIRE_VERSION: u8 = 2;

/// Largest encoded frame in bytes (version byte included): a buffer of this size always
/// holds any [`Frame`]; pinned by the `largest_frame_fits` test.
pub const MAX_FRAME_LEN: usize = 64;

/// System presence, normalised from Genesys' three casings (`ON_QUEUE`, `On Queue`, `OnQueue`).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Presence {
    /// Not yet known, or a value this version does not know.
    #[default]
    Unknown,
    /// Available.
    Available,
    /// Away.
    Away,
    /// Busy.
    Busy,
    /// Offline.
    Offline,
    /// Idle.
    Idle,
    /// On queue: taking ACD interactions.
    OnQueue,
    /// Meal.
    Meal,
    /// Training.
    Training,
    /// Meeting.
    Meeting,
    /// Break.
    Break,
}

/// ACD routing status of an agent.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Routing {
    /// Not yet known.
    #[default]
    Unknown,
    /// Not on queue.
    OffQueue,
    /// On queue, waiting for an interaction.
    Idle,
    /// Handling an ACD interaction.
    Interacting,
    /// Did not answer an offered interaction.
    NotResponding,
    /// Handling a non-ACD interaction.
    Communicating,
}

/// Media type of the agent's current interaction.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Media {
    /// No current interaction.
    #[default]
    None,
    /// Voice call.
    Call,
    /// Callback.
    Callback,
    /// Web chat.
    Chat,
    /// Email.
    Email,
    /// Messaging (SMS, web messaging, social DMs).
    Message,
    /// Video.
    Video,
    /// Another media type.
    Other,
}

/// State of the agent's current interaction.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Interaction {
    /// No current interaction.
    #[default]
    None,
    /// Offered to the agent, ringing.
    Alerting,
    /// Outbound, being placed.
    Dialing,
    /// Connected.
    Connected,
    /// Connected, on hold.
    Held,
    /// Ended; the agent may still be in wrap-up (see [`AgentFrame::WRAPUP`]).
    Disconnected,
}

/// Threshold level a display shows as a colour, computed by the gateway from zone config.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Level {
    /// Below every threshold (green).
    #[default]
    Normal,
    /// At or above the warning threshold (amber).
    Warning,
    /// At or above the critical threshold (red).
    Critical,
}

/// Opens every frame: who sent it and where it sits in the zone's stream.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Header {
    /// Gateway boot counter: changes when the gateway restarts.
    pub session: u32,
    /// Per-zone frame counter within a session: 1 for the zone's first frame, +1 for each
    /// frame after it (wrapping from `u32::MAX` to 0).
    pub seq: u32,
}

/// One agent's current state. The agent id is the last MQTT topic level, not in the frame.
/// Times are Unix seconds (UTC) of the source event; 0 = unknown.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct AgentFrame {
    /// System presence.
    pub presence: Presence,
    /// When the presence last changed.
    pub presence_since: u32,
    /// Routing status.
    pub routing: Routing,
    /// When the routing status last changed.
    pub routing_since: u32,
    /// Current interaction's media type.
    pub media: Media,
    /// Current interaction's state.
    pub interaction: Interaction,
    /// When the interaction state last changed.
    pub interaction_since: u32,
    /// Bit set: [`AgentFrame::WRAPUP`], [`AgentFrame::STALE`], [`AgentFrame::OUT_OF_OFFICE`].
    pub flags: u8,
}

impl AgentFrame {
    /// Flag: the agent is in after-call work (wrap-up) for the current interaction.
    pub const WRAPUP: u8 = 1;
    /// Flag: the state was not confirmed by the cloud within the gateway's TTL.
    pub const STALE: u8 = 2;
    /// Flag: the agent is out of office (Genesys `outOfOffice.active`).
    pub const OUT_OF_OFFICE: u8 = 4;
}

/// One queue's current numbers. The queue id is the last MQTT topic level.
///
/// Every figure the cloud may not have sent is an `Option`: `None` is "unknown" (a display
/// shows "–"), never a made-up 0. On the wire an option is one raw tag byte, 0 = `None` or
/// 1 = `Some` followed by the value.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueFrame {
    /// Interactions waiting in queue.
    pub waiting: Option<u16>,
    /// Interactions being handled.
    pub interacting: Option<u16>,
    /// Interactions offered to an agent, ringing.
    pub alerting: Option<u16>,
    /// Members on queue.
    pub on_queue: Option<u16>,
    /// Members off queue.
    pub off_queue: Option<u16>,
    /// Longest current wait, seconds; `Some(0)` when nobody waits.
    pub longest_waiting_s: Option<u32>,
    /// When these observations were taken (Unix seconds); 0 = never observed.
    pub observed: u32,
    /// Offered in the current 30-minute interval.
    pub offered: Option<u16>,
    /// Answered in the current 30-minute interval.
    pub answered: Option<u16>,
    /// Abandoned in the current 30-minute interval.
    pub abandoned: Option<u16>,
    /// Service level of the current interval in percent (0-100).
    pub service_level_pct: Option<u8>,
    /// Threshold level for the waiting count (`Normal` while it is unknown).
    pub level: Level,
}

/// What a frame carries.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Body {
    /// Agent state (topic `…/agent/{userId}`).
    Agent(AgentFrame),
    /// Queue numbers (topic `…/queue/{queueId}`).
    Queue(QueueFrame),
    /// An agent's display name (topic `…/name/{userId}`), sent when it changes and on every
    /// full republish; names change rarely, so agent frames stay small.
    Name(DisplayName),
    /// The zone's roster (topic `…/roster`): how many agents and queues the zone holds now.
    Roster(RosterFrame),
}

/// Longest display name in bytes (UTF-8; the gateway truncates at a character boundary).
pub const NAME_MAX: usize = 32;

/// A display name of at most [`NAME_MAX`] UTF-8 bytes, in a fixed buffer (no allocation).
/// On the wire it is a postcard string: a varint byte length, then the UTF-8 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DisplayName {
    len: u8,
    bytes: [u8; NAME_MAX],
}

impl DisplayName {
    /// `name` truncated to at most [`NAME_MAX`] bytes at a character boundary.
    pub fn new(name: &str) -> DisplayName {
        let mut end = name.len().min(NAME_MAX);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; NAME_MAX];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        DisplayName {
            // end ≤ NAME_MAX = 32.
            len: end as u8,
            bytes,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` cut at a character boundary: always valid UTF-8.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl Default for DisplayName {
    fn default() -> Self {
        DisplayName::new("")
    }
}

impl core::fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for DisplayName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DisplayName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DisplayName;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a string of at most 32 bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DisplayName, E> {
                if v.len() > NAME_MAX {
                    return Err(E::invalid_length(v.len(), &self));
                }
                Ok(DisplayName::new(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// A zone's roster: the number of agents and queues whose frames are retained in the zone
/// now. A display that has received this many `agent/+` and `queue/+` frames has them all;
/// `generation` grows by one whenever a member joins or leaves (within a session).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RosterFrame {
    /// Agents in the zone.
    pub agents: u16,
    /// Queues in the zone.
    pub queues: u16,
    /// Membership changes seen in this session.
    pub generation: u32,
}

/// Minutes in a heatmap: the last 24 hours.
pub const HEATMAP_MINUTES: usize = 24 * 60;

/// Largest encoded heatmap in bytes (version byte, header, end minute, 1,440 varint `u16`s).
pub const MAX_HEATMAP_LEN: usize = 1 + 10 + 5 + HEATMAP_MINUTES * 3;

/// A zone's activity heatmap (topic `…/heatmap`, retained, republished each minute): agent
/// state transitions (presence or routing status changes) per minute over the last 24 hours.
/// Encoded on its own (`[WIRE_VERSION][postcard(HeatmapFrame)]`), not as a [`Body`], because it
/// is larger than [`MAX_FRAME_LEN`]; decode it with [`decode_heatmap`].
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct HeatmapFrame {
    /// Session and sequence (the zone's sequence, shared with its other frames).
    pub header: Header,
    /// Unix minute (Unix seconds / 60) of the newest bucket, the current minute.
    pub end_minute: u32,
    /// Transitions per minute, oldest first: `counts[HEATMAP_MINUTES - 1]` is `end_minute`,
    /// `counts[i]` is minute `end_minute - (HEATMAP_MINUTES - 1 - i)`. Saturates at 65,535.
    pub counts: Minutes,
}

/// 1,440 per-minute counts; on the wire 1,440 varints with no length prefix.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Minutes(pub [u16; HEATMAP_MINUTES]);

impl Default for Minutes {
    fn default() -> Self {
        Minutes([0; HEATMAP_MINUTES])
    }
}

impl Serialize for Minutes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(HEATMAP_MINUTES)?;
        for c in &self.0 {
            t.serialize_element(c)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Minutes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Minutes;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("1440 per-minute counts")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Minutes, A::Error> {
                let mut m = Minutes::default();
                for (i, slot) in m.0.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(m)
            }
        }
        d.deserialize_tuple(HEATMAP_MINUTES, V)
    }
}

/// A whole frame, as published.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Frame {
    /// Session and sequence.
    pub header: Header,
    /// Payload.
    pub body: Body,
}

/// Why a frame could not be encoded or decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WireError {
    /// The output buffer is smaller than the frame.
    EncodeBufferFull,
    /// The frame was empty.
    DecodeEmpty,
    /// The first byte names a wire version this decoder does not know.
    DecodeVersion(u8),
    /// The postcard body is truncated or holds a value this version does not know.
    DecodeBody,
    /// The header is whole but the body kind (the [`Body`] variant index) is one this decoder
    /// does not know: a newer gateway sent a kind added after it was built. A display skips
    /// the frame (it is not corrupt); WIRE.md §7.
    DecodeUnknownKind(u32),
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::EncodeBufferFull => f.write_str("encode: buffer full"),
            WireError::DecodeEmpty => f.write_str("decode: empty frame"),
            WireError::DecodeVersion(v) => write!(f, "decode: unknown wire version {v}"),
            WireError::DecodeBody => f.write_str("decode: malformed body"),
            WireError::DecodeUnknownKind(k) => {
                write!(
                    f,
                    "decode: unknown body kind {k} (a newer gateway): skipped"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// Encodes `frame` into `buf`, returning the used prefix. No allocation.
pub fn encode<'a>(frame: &Frame, buf: &'a mut [u8]) -> Result<&'a [u8], WireError> {
    let (first, rest) = buf.split_first_mut().ok_or(WireError::EncodeBufferFull)?;
    *first = WIRE_VERSION;
    let used = postcard::to_slice(frame, rest)
        .map_err(|_| WireError::EncodeBufferFull)?
        .len();
    Ok(&buf[..=used])
}

/// Decodes a frame: rejects an empty input, an unknown version, a truncated body and an
/// unknown value; bytes after a complete frame are ignored.
pub fn decode(bytes: &[u8]) -> Result<Frame, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::DecodeEmpty)?;
    if version != WIRE_VERSION {
        return Err(WireError::DecodeVersion(version));
    }
    postcard::from_bytes(body).map_err(|_| unknown_kind(body).unwrap_or(WireError::DecodeBody))
}

/// The header of a frame whose body this decoder skips (an unknown body kind from a newer
/// gateway, or a body that does not match its topic): it still took a sequence number, and a
/// display tracking gaps must count it (WIRE.md §7.2).
pub fn decode_header(bytes: &[u8]) -> Result<Header, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::DecodeEmpty)?;
    if version != WIRE_VERSION {
        return Err(WireError::DecodeVersion(version));
    }
    postcard::take_from_bytes::<Header>(body)
        .map(|(h, _)| h)
        .map_err(|_| WireError::DecodeBody)
}

/// Body kinds this version knows (the [`Body`] variants).
const BODY_KINDS: u32 = 4;

/// [`WireError::DecodeUnknownKind`] when `body` holds a whole header followed by a body kind
/// past the known ones; None when the body is malformed some other way.
fn unknown_kind(body: &[u8]) -> Option<WireError> {
    let (_, rest) = postcard::take_from_bytes::<Header>(body).ok()?;
    let (kind, _) = postcard::take_from_bytes::<u32>(rest).ok()?;
    (kind >= BODY_KINDS).then_some(WireError::DecodeUnknownKind(kind))
}

/// Encodes a heatmap into `buf` (at least [`MAX_HEATMAP_LEN`] bytes), returning the used prefix.
pub fn encode_heatmap<'a>(frame: &HeatmapFrame, buf: &'a mut [u8]) -> Result<&'a [u8], WireError> {
    let (first, rest) = buf.split_first_mut().ok_or(WireError::EncodeBufferFull)?;
    *first = WIRE_VERSION;
    let used = postcard::to_slice(frame, rest)
        .map_err(|_| WireError::EncodeBufferFull)?
        .len();
    Ok(&buf[..=used])
}

/// Decodes a heatmap published on a zone's `heatmap` topic.
pub fn decode_heatmap(bytes: &[u8]) -> Result<HeatmapFrame, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::DecodeEmpty)?;
    if version != WIRE_VERSION {
        return Err(WireError::DecodeVersion(version));
    }
    postcard::from_bytes(body).map_err(|_| WireError::DecodeBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_body_kind_is_told_apart_from_a_corrupt_frame() {
        // Version 2, header {session 3, seq 7}, body kind 9 with some bytes a newer gateway
        // would carry.
        assert_eq!(
            decode(&[2, 3, 7, 9, 0x42, 0x42]),
            Err(WireError::DecodeUnknownKind(9))
        );
        // Kind 4 is the first unknown one; a large kind is a varint too.
        assert_eq!(decode(&[2, 3, 7, 4]), Err(WireError::DecodeUnknownKind(4)));
        assert_eq!(
            decode(&[2, 3, 7, 0x80, 0x01]),
            Err(WireError::DecodeUnknownKind(128))
        );
        // Its header still counts for gap tracking.
        assert_eq!(
            decode_header(&[2, 3, 7, 9, 0x42]),
            Ok(Header { session: 3, seq: 7 })
        );
        assert_eq!(decode_header(&[2, 3]), Err(WireError::DecodeBody));
        // A known kind with a truncated body, or a truncated header: corrupt.
        assert_eq!(decode(&[2, 3, 7, 0]), Err(WireError::DecodeBody));
        assert_eq!(decode(&[2, 3]), Err(WireError::DecodeBody));
    }

    fn agent() -> Frame {
        Frame {
            header: Header {
                session: 3,
                seq: 1000,
            },
            body: Body::Agent(AgentFrame {
                presence: Presence::OnQueue,
                presence_since: 1_735_551_598,
                routing: Routing::Interacting,
                routing_since: 1_735_551_631,
                media: Media::Call,
                interaction: Interaction::Connected,
                interaction_since: 1_735_551_631,
                flags: AgentFrame::WRAPUP,
            }),
        }
    }

    /// Golden bytes: pin the wire format. A change here breaks every display in the field.
    #[test]
    fn agent_frame_golden_bytes() {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = encode(&agent(), &mut buf).unwrap();
        let golden: &[u8] = &[
            0x02, // wire version
            0x03, // session 3
            0xe8, 0x07, // seq 1000
            0x00, // Body::Agent
            0x06, // Presence::OnQueue
            0xee, 0xd4, 0xc9, 0xbb, 0x06, // presence_since
            0x03, // Routing::Interacting
            0x8f, 0xd5, 0xc9, 0xbb, 0x06, // routing_since
            0x01, // Media::Call
            0x03, // Interaction::Connected
            0x8f, 0xd5, 0xc9, 0xbb, 0x06, // interaction_since
            0x01, // flags: WRAPUP
        ];
        assert_eq!(bytes, golden);
        assert!(bytes.len() <= 32, "agent frame is {} bytes", bytes.len());
        assert_eq!(decode(bytes).unwrap(), agent());
    }

    fn queue() -> Frame {
        Frame {
            header: Header { session: 1, seq: 2 },
            body: Body::Queue(QueueFrame {
                waiting: Some(12),
                interacting: Some(4),
                alerting: Some(1),
                on_queue: Some(9),
                off_queue: Some(3),
                longest_waiting_s: Some(95),
                observed: 1_735_551_598,
                offered: Some(120),
                answered: None,
                abandoned: Some(10),
                service_level_pct: Some(87),
                level: Level::Critical,
            }),
        }
    }

    /// WIRE.md §5.5: every figure known but `answered`.
    #[test]
    fn queue_frame_golden_bytes() {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = encode(&queue(), &mut buf).unwrap();
        let golden: &[u8] = &[
            0x02, // wire version
            0x01, // session 1
            0x02, // seq 2
            0x01, // Body::Queue
            0x01, 0x0c, // waiting Some(12)
            0x01, 0x04, // interacting Some(4)
            0x01, 0x01, // alerting Some(1)
            0x01, 0x09, // on_queue Some(9)
            0x01, 0x03, // off_queue Some(3)
            0x01, 0x5f, // longest_waiting_s Some(95)
            0xee, 0xd4, 0xc9, 0xbb, 0x06, // observed 1735551598
            0x01, 0x78, // offered Some(120)
            0x00, // answered None
            0x01, 0x0a, // abandoned Some(10)
            0x01, 0x57, // service_level_pct Some(87), a raw byte
            0x02, // Level::Critical
        ];
        assert_eq!(bytes, golden);
        assert_eq!(decode(bytes).unwrap(), queue());
    }

    /// A queue nothing is known of yet: every option `None`, `observed` 0.
    #[test]
    fn unknown_queue_frame_golden_bytes() {
        let f = Frame {
            header: Header { session: 1, seq: 1 },
            body: Body::Queue(QueueFrame::default()),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = encode(&f, &mut buf).unwrap();
        assert_eq!(
            bytes,
            &[0x02, 0x01, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x00, 0, 0, 0, 0, 0x00]
        );
        assert_eq!(decode(bytes).unwrap(), f);
        // An option tag other than 0 or 1 is malformed.
        let mut bad = [0u8; 16];
        bad.copy_from_slice(bytes);
        bad[4] = 2;
        assert_eq!(decode(&bad), Err(WireError::DecodeBody));
    }

    #[test]
    fn largest_frame_fits() {
        let max = Frame {
            header: Header {
                session: u32::MAX,
                seq: u32::MAX,
            },
            body: Body::Queue(QueueFrame {
                waiting: Some(u16::MAX),
                interacting: Some(u16::MAX),
                alerting: Some(u16::MAX),
                on_queue: Some(u16::MAX),
                off_queue: Some(u16::MAX),
                longest_waiting_s: Some(u32::MAX),
                observed: u32::MAX,
                offered: Some(u16::MAX),
                answered: Some(u16::MAX),
                abandoned: Some(u16::MAX),
                service_level_pct: Some(u8::MAX),
                level: Level::Critical,
            }),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        let len = encode(&max, &mut buf).unwrap().len();
        // 1 version + 10 header + 1 kind + 5 × 4 + 6 + 5 + 3 × 4 + 2 + 1.
        assert_eq!(len, 58);
    }

    #[test]
    fn rejects_unknown_version_and_truncation() {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let len = encode(&agent(), &mut buf).unwrap().len();
        assert_eq!(decode(&[]), Err(WireError::DecodeEmpty));
        let mut bad = buf;
        bad[0] = 9;
        assert_eq!(decode(&bad[..len]), Err(WireError::DecodeVersion(9)));
        assert_eq!(decode(&buf[..len - 3]), Err(WireError::DecodeBody));
        assert_eq!(
            encode(&agent(), &mut [0u8; 4]),
            Err(WireError::EncodeBufferFull)
        );
    }

    #[test]
    fn name_frame_golden_bytes_and_truncation() {
        let f = Frame {
            header: Header { session: 2, seq: 5 },
            body: Body::Name(DisplayName::new("Ana")),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = encode(&f, &mut buf).unwrap();
        // version, session, seq, Body::Name = 2, length 3, "Ana"
        assert_eq!(bytes, &[0x02, 0x02, 0x05, 0x02, 0x03, b'A', b'n', b'a']);
        assert_eq!(decode(bytes).unwrap(), f);
        // 40 bytes of two-byte characters: cut to 32 bytes, never inside a character.
        let long = "é".repeat(20);
        let n = DisplayName::new(&long);
        assert_eq!(n.as_str(), "é".repeat(16));
        let f = Frame {
            header: Header {
                session: u32::MAX,
                seq: u32::MAX,
            },
            body: Body::Name(DisplayName::new(&"x".repeat(100))),
        };
        let bytes = encode(&f, &mut buf).unwrap();
        assert_eq!(decode(bytes).unwrap(), f);
    }

    #[test]
    fn a_name_longer_than_the_limit_is_rejected_on_decode() {
        // Hand-made: Body::Name with a 33-byte string.
        let mut bytes = [b'x'; 38];
        bytes[..5].copy_from_slice(&[0x02, 0x01, 0x01, 0x02, 33]);
        assert_eq!(decode(&bytes), Err(WireError::DecodeBody));
    }

    #[test]
    fn roster_frame_golden_bytes() {
        let f = Frame {
            header: Header { session: 1, seq: 9 },
            body: Body::Roster(RosterFrame {
                agents: 300,
                queues: 4,
                generation: 2,
            }),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = encode(&f, &mut buf).unwrap();
        assert_eq!(bytes, &[0x02, 0x01, 0x09, 0x03, 0xac, 0x02, 0x04, 0x02]);
        assert_eq!(decode(bytes).unwrap(), f);
    }

    #[test]
    fn heatmap_golden_prefix_round_trip_and_bound() {
        let mut counts = Minutes::default();
        counts.0[HEATMAP_MINUTES - 1] = 300;
        counts.0[0] = 1;
        let f = HeatmapFrame {
            header: Header { session: 1, seq: 2 },
            end_minute: 29_000_000,
            counts,
        };
        let mut buf = [0u8; MAX_HEATMAP_LEN];
        let bytes = encode_heatmap(&f, &mut buf).unwrap();
        // version, session, seq, end_minute varint, then 1440 varints (1 byte each but the last).
        assert_eq!(
            &bytes[..8],
            &[0x02, 0x01, 0x02, 0xc0, 0x82, 0xea, 0x0d, 0x01]
        );
        assert_eq!(&bytes[bytes.len() - 2..], &[0xac, 0x02]);
        assert_eq!(bytes.len(), 7 + HEATMAP_MINUTES + 1);
        assert_eq!(decode_heatmap(bytes).unwrap(), f);
        assert_eq!(
            decode_heatmap(&bytes[..bytes.len() - 1]),
            Err(WireError::DecodeBody)
        );
        let full = HeatmapFrame {
            header: Header {
                session: u32::MAX,
                seq: u32::MAX,
            },
            end_minute: u32::MAX,
            counts: Minutes([u16::MAX; HEATMAP_MINUTES]),
        };
        let bytes = encode_heatmap(&full, &mut buf).unwrap();
        assert_eq!(bytes.len(), MAX_HEATMAP_LEN);
    }
}
