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

/// First byte of every frame. Bumped on any change a version-1 decoder would misread.
pub const WIRE_VERSION: u8 = 1;

/// Largest encoded frame in bytes (version byte included): a buffer of this size always
/// holds any [`Frame`]; pinned by the `largest_frame_fits` test.
pub const MAX_FRAME_LEN: usize = 64;

/// Sentinel for "not known" in the `u8` percentage fields.
pub const PCT_UNKNOWN: u8 = 255;

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
    /// Per-zone frame counter within a session, starting at 1.
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
    /// Bit set: [`AgentFrame::WRAPUP`], [`AgentFrame::STALE`].
    pub flags: u8,
}

impl AgentFrame {
    /// Flag: the agent is in after-call work (wrap-up) for the current interaction.
    pub const WRAPUP: u8 = 1;
    /// Flag: the state was not confirmed by the cloud within the gateway's TTL.
    pub const STALE: u8 = 2;
}

/// One queue's current numbers. The queue id is the last MQTT topic level.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueFrame {
    /// Interactions waiting in queue.
    pub waiting: u16,
    /// Interactions being handled.
    pub interacting: u16,
    /// Interactions offered to an agent, ringing.
    pub alerting: u16,
    /// Members on queue.
    pub on_queue: u16,
    /// Members off queue.
    pub off_queue: u16,
    /// Longest current wait, seconds (0 when nobody waits or unknown).
    pub longest_waiting_s: u32,
    /// When these observations were taken (Unix seconds).
    pub observed: u32,
    /// Offered in the current 30-minute interval.
    pub offered: u16,
    /// Answered in the current 30-minute interval.
    pub answered: u16,
    /// Abandoned in the current 30-minute interval.
    pub abandoned: u16,
    /// Service level of the current interval in percent, [`PCT_UNKNOWN`] when unknown.
    pub service_level_pct: u8,
    /// Threshold level for the waiting count.
    pub level: Level,
}

/// What a frame carries.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Body {
    /// Agent state (topic `…/agent/{userId}`).
    Agent(AgentFrame),
    /// Queue numbers (topic `…/queue/{queueId}`).
    Queue(QueueFrame),
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
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::EncodeBufferFull => f.write_str("encode: buffer full"),
            WireError::DecodeEmpty => f.write_str("decode: empty frame"),
            WireError::DecodeVersion(v) => write!(f, "decode: unknown wire version {v}"),
            WireError::DecodeBody => f.write_str("decode: malformed body"),
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

/// Decodes a frame; rejects unknown versions and trailing garbage-free truncation alike.
pub fn decode(bytes: &[u8]) -> Result<Frame, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::DecodeEmpty)?;
    if version != WIRE_VERSION {
        return Err(WireError::DecodeVersion(version));
    }
    postcard::from_bytes(body).map_err(|_| WireError::DecodeBody)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            0x01, // wire version
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

    #[test]
    fn queue_frame_round_trips() {
        let f = Frame {
            header: Header { session: 1, seq: 2 },
            body: Body::Queue(QueueFrame {
                waiting: 12,
                interacting: 4,
                alerting: 1,
                on_queue: 9,
                off_queue: 3,
                longest_waiting_s: 95,
                observed: 1_735_551_598,
                offered: 120,
                answered: 110,
                abandoned: 10,
                service_level_pct: 87,
                level: Level::Critical,
            }),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = encode(&f, &mut buf).unwrap();
        assert_eq!(decode(bytes).unwrap(), f);
    }

    #[test]
    fn largest_frame_fits() {
        let max = Frame {
            header: Header {
                session: u32::MAX,
                seq: u32::MAX,
            },
            body: Body::Queue(QueueFrame {
                waiting: u16::MAX,
                interacting: u16::MAX,
                alerting: u16::MAX,
                on_queue: u16::MAX,
                off_queue: u16::MAX,
                longest_waiting_s: u32::MAX,
                observed: u32::MAX,
                offered: u16::MAX,
                answered: u16::MAX,
                abandoned: u16::MAX,
                service_level_pct: u8::MAX,
                level: Level::Critical,
            }),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        assert!(encode(&max, &mut buf).is_ok());
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
}
