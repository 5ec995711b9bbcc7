//! Pure decoding of Genesys JSON into the domain vocabulary of [`crate::event`]: one
//! notification-channel WebSocket text frame → [`Event`] ([`parse`]), and the REST responses
//! the upstream task needs ([`rest`]). No I/O, no heap allocation, never panics: every input
//! ends as a value or as a [`Rejected`] carrying evidence, counted per [`Reason`].
//!
//! Owns JSON shapes only. Does not own what an event means for an agent (that is `state`)
//! nor the frames displays read (that is `presence_wire`).
//!
//! # How a frame is decoded
//! 1. Length (`Oversize`), UTF-8 (`NotUtf8`) and a flat nesting pre-scan (`TooDeep`), so a
//!    hostile `[[[[…` never reaches the recursive parser.
//! 2. First pass: only `topicName` (and `result`, for replies to WebSocket `subscribe`);
//!    every other field is skipped, so the envelope's field order does not matter.
//! 3. Second pass: only `eventBody`, into the typed body of that topic.
//!
//! Unknown fields are skipped at any depth; arrays keep what they need (a [`Capped`] head,
//! or a fold over every element), never failing on length. Strings we keep are unescaped
//! into fixed capacities; strings we skip are never copied (see `json` for why no
//! serde-json-core scratch buffer is used, and why no field ever raises a serde custom
//! error that embeds input).
//!
//! # Layout
//! - `json`: pre-checks, the serde-json-core entry, field types ([`Capped`], text, ids, stamps).
//! - `time`: [`parse_timestamp`].
//! - `ws`: topics and event bodies behind [`parse`].
//! - [`rest`]: REST response parsers.

pub mod conversation_rest;
mod json;
pub mod rest;
mod time;
mod ws;

use heapless::String;
use serde::Deserialize;

pub use json::{presence_from_str, routing_from_str, Capped};
pub use time::parse_timestamp;

use crate::event::{Control, Event};
use crate::limits::TOPIC_LEN;

/// Bytes of an unknown topic (or channel message) kept as evidence: enough to tell topic
/// families apart in logs (`v2.users.{36-char id}.` is 46), small enough to keep
/// [`Rejected`] cheap to move.
pub const EVIDENCE_LEN: usize = 64;

/// Entities kept per REST page (`members_page`, `users_page`): Genesys caps `pageSize` at
/// 100 for queue members, and the gateway requests users in pages of at most 100 ids.
pub const MAX_PAGE: usize = 100;

/// Users per bulk presence request: "A comma separated list of user IDs … Limit 50."
pub const MAX_BULK: usize = 50;

/// Presence definitions kept from one listing: 10 system presences plus custom ones;
/// orgs have a few dozen, and the new endpoint is not paged, so leave generous room.
pub const MAX_DEFINITIONS: usize = 256;

/// Queue results per observations query: the gateway queries at most 100 queues at a time.
pub const MAX_QUEUE_RESULTS: usize = 100;

/// Rejected topic ids kept as evidence from a subscriptions response (the count is exact).
pub const MAX_REJECTED_IDS: usize = 4;

/// Bytes of a rejected topic id kept as evidence; combined topics reach 200 characters,
/// and the prefix names the entity.
pub const SUB_TOPIC_LEN: usize = 128;

/// OAuth access tokens: opaque, in practice under 1 KiB; twice that for headroom.
/// A longer token is refused (`OverCapacity`), never truncated.
pub const TOKEN_LEN: usize = 2048;

/// Channel ids are `streaming-{digit}-{26 alnum}` (38 bytes).
pub const CHANNEL_ID_LEN: usize = 64;

/// `connectUri` is `wss://streaming.{env}/channels/{id}`, about 90 bytes.
pub const CONNECT_URI_LEN: usize = 256;

/// `nextUri` of a page: a path plus query (`pageSize`, `pageNumber`, `id=` lists of ≤100
/// ids are not echoed back by Genesys); 512 is ample.
pub const NEXT_URI_LEN: usize = 512;

/// Genesys `ErrorBody.code` (e.g. `too.many.requests.retry.after`).
pub const ERROR_CODE_LEN: usize = 64;

/// Genesys `ErrorBody.message`, kept for logs only (truncated).
pub const ERROR_MESSAGE_LEN: usize = 160;

/// Why an input was refused, with the evidence to log. See [`Reason`] for counting.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Rejected {
    /// The frame is longer than the caller's limit (checked before anything else).
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversize {
        /// Frame length in bytes.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// The bytes are not UTF-8.
    #[error("not UTF-8 (valid up to byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// JSON nests deeper than [`crate::limits::MAX_JSON_DEPTH`] (found by the pre-scan).
    #[error("JSON nesting reaches depth {depth} at byte {offset}")]
    TooDeep {
        /// The depth reached (limit + 1).
        depth: usize,
        /// Byte offset of the bracket that exceeded the limit.
        offset: usize,
    },
    /// Not JSON, or JSON of the wrong type where we need a value (serde-json-core's error).
    #[error("malformed JSON: {0}")]
    Malformed(serde_json_core::de::Error),
    /// A `topicName` we do not decode (its first [`EVIDENCE_LEN`] bytes).
    #[error("unknown topic {0:?}")]
    UnknownTopic(String<EVIDENCE_LEN>),
    /// A `channel.metadata` message other than heartbeat or pong (its first bytes).
    #[error("unknown channel message {0:?}")]
    UnknownMessage(String<EVIDENCE_LEN>),
    /// A field we need is absent (JSON path of the field).
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// An id field is not a canonical UUID (JSON path of the field).
    #[error("bad id in {0}")]
    BadId(&'static str),
    /// A timestamp field is not an ISO-8601 UTC time (JSON path of the field).
    #[error("bad timestamp in {0}")]
    BadTimestamp(&'static str),
    /// A value we must keep whole does not fit its capacity (token, URI, bulk array).
    #[error("{field} exceeds capacity {max}")]
    OverCapacity {
        /// JSON path of the field.
        field: &'static str,
        /// Its capacity (bytes or elements).
        max: usize,
    },
}

impl Rejected {
    /// The counter this rejection belongs to.
    pub fn reason(&self) -> Reason {
        match self {
            Rejected::Oversize { .. } => Reason::Oversize,
            Rejected::NotUtf8 { .. } => Reason::NotUtf8,
            Rejected::TooDeep { .. } => Reason::TooDeep,
            Rejected::Malformed(_) => Reason::Malformed,
            Rejected::UnknownTopic(_) => Reason::UnknownTopic,
            Rejected::UnknownMessage(_) => Reason::UnknownMessage,
            Rejected::MissingField(_) => Reason::MissingField,
            Rejected::BadId(_) => Reason::BadId,
            Rejected::BadTimestamp(_) => Reason::BadTimestamp,
            Rejected::OverCapacity { .. } => Reason::OverCapacity,
        }
    }
}

/// The kind of a [`Rejected`], without evidence: `Copy`, one counter each.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Reason {
    /// [`Rejected::Oversize`].
    Oversize,
    /// [`Rejected::NotUtf8`].
    NotUtf8,
    /// [`Rejected::TooDeep`].
    TooDeep,
    /// [`Rejected::Malformed`].
    Malformed,
    /// [`Rejected::UnknownTopic`].
    UnknownTopic,
    /// [`Rejected::UnknownMessage`].
    UnknownMessage,
    /// [`Rejected::MissingField`].
    MissingField,
    /// [`Rejected::BadId`].
    BadId,
    /// [`Rejected::BadTimestamp`].
    BadTimestamp,
    /// [`Rejected::OverCapacity`].
    OverCapacity,
}

impl Reason {
    /// Every reason, in [`Reason::index`] order.
    pub const ALL: [Reason; 10] = [
        Reason::Oversize,
        Reason::NotUtf8,
        Reason::TooDeep,
        Reason::Malformed,
        Reason::UnknownTopic,
        Reason::UnknownMessage,
        Reason::MissingField,
        Reason::BadId,
        Reason::BadTimestamp,
        Reason::OverCapacity,
    ];

    /// snake_case name, stable, used as a metric key.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Oversize => "oversize",
            Reason::NotUtf8 => "not_utf8",
            Reason::TooDeep => "too_deep",
            Reason::Malformed => "malformed",
            Reason::UnknownTopic => "unknown_topic",
            Reason::UnknownMessage => "unknown_message",
            Reason::MissingField => "missing_field",
            Reason::BadId => "bad_id",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::OverCapacity => "over_capacity",
        }
    }

    /// Position in [`Reason::ALL`]: an index into a `[counter; Reason::ALL.len()]`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// First [`EVIDENCE_LEN`] bytes of `s`, cut at a char boundary.
fn evidence(s: &str) -> String<EVIDENCE_LEN> {
    let mut cut = s.len().min(EVIDENCE_LEN);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::new();
    // Cannot fail: at most EVIDENCE_LEN bytes.
    let _ = out.push_str(s.get(..cut).unwrap_or_default());
    out
}

/// First pass: what decides how the rest is read.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "topicName")]
    topic_name: Option<json::Text<TOPIC_LEN>>,
    /// Replies to WebSocket `subscribe` and channel-gone notices: `"200"`, `"404"`, `"4xx"`.
    result: Option<json::Text<8>>,
}

/// Decodes one notification-channel WebSocket text frame.
///
/// `max_len` is the caller's frame limit (board profile); longer frames are refused before
/// any parsing. Topics match case-insensitively. Frames without `topicName` but with a
/// `result` are channel replies (`"404"` → [`Control::ChannelGone`], `"200"` →
/// [`Control::SubscribeAck`], other → [`Control::SubscribeFailed`]); frames with neither
/// (client-side shapes such as `{"message":"ping"}`) are `MissingField("topicName")`.
pub fn parse(frame: &[u8], max_len: usize) -> Result<Event, Rejected> {
    if frame.len() > max_len {
        return Err(Rejected::Oversize {
            len: frame.len(),
            max: max_len,
        });
    }
    json::precheck(frame)?;
    let head: Head = json::from_json(frame)?;
    match head.topic_name {
        Some(topic) if topic.truncated => Err(Rejected::UnknownTopic(evidence(topic.as_str()))),
        Some(topic) => ws::decode(frame, topic.as_str()),
        None => match head.result {
            Some(r) if r.as_str() == "404" => Ok(Event::Control(Control::ChannelGone)),
            Some(r) if r.as_str() == "200" => Ok(Event::Control(Control::SubscribeAck)),
            Some(_) => Ok(Event::Control(Control::SubscribeFailed)),
            None => Err(Rejected::MissingField("topicName")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_indexed_and_named_uniquely() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            let name = r.as_str();
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert_eq!(Reason::ALL.iter().filter(|o| o.as_str() == name).count(), 1);
        }
    }

    #[test]
    fn evidence_cuts_at_char_boundary() {
        let s = "é".repeat(40); // 80 bytes
        let e = evidence(&s);
        assert_eq!(e.len(), 64);
        let s = format!("a{}", "é".repeat(40)); // boundary at 63
        assert_eq!(evidence(&s).len(), 63);
        assert_eq!(evidence("short").as_str(), "short");
    }
}
