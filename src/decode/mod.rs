//! Pure decoding of Genesys JSON into the domain vocabulary of [`crate::event`]: one
//! notification-channel WebSocket text frame → [`Message`] ([`parse`]: an event, or a channel
//! control message), and the REST responses the upstream task needs ([`rest`]). No I/O, no heap allocation, never panics: every input
//! ends as a value or as a [`Rejected`] carrying evidence, counted per [`Reason`].
//!
//! Owns JSON shapes only. Does not own what an event means for an agent (that is `state`)
//! nor the frames displays read (that is `presence_wire`).
//!
//! # How a frame is decoded: one pass (issue 7)
//! 1. Length (`Oversize`), then UTF-8 (`NotUtf8`).
//! 2. One walk over the envelope with `reader`: `topicName` (and `result`, for replies to
//!    WebSocket `subscribe`) read as they come, `eventBody` decoded in place into the typed
//!    body of the topic when the topic came first (as Genesys and the simulator write it),
//!    everything else skipped; an `eventBody` met before the topic is skipped and its range
//!    decoded after the walk, so field order does not matter.
//! 3. Nesting deeper than [`crate::limits::MAX_JSON_DEPTH`] anywhere (`TooDeep`) wins over
//!    any JSON error (`Malformed`), which wins over every other outcome: the reader counts
//!    nesting as it reads and stops past the limit, and the flat nesting scan over the whole
//!    frame (`json::depth_exceeded`) runs only when reading failed, so the outcome is the one
//!    the former precheck-then-parse order gave (see `json::read`).
//!
//! It was three passes (pre-scan, a `topicName` pass and an `eventBody` pass, each over the
//! whole frame, the last two through serde-json-core); `BENCHMARKS.md` has the micro-bench's
//! instructions per event before and after.
//!
//! Unknown fields are skipped at any depth; arrays keep what they need (a [`Capped`] head,
//! or a fold over every element), never failing on length. Strings we keep are unescaped
//! into fixed capacities; strings we skip are never copied (see `json` for why strings reach
//! field types raw, and why no field ever raises a serde custom error that embeds input).
//!
//! # Layout
//! - `reader`: the JSON tokenizer and serde `Deserializer` (serde-json-core's grammar).
//! - `json`: the entry into the reader with its checks, field types ([`Capped`], text, ids,
//!   stamps).
//! - `time`: [`parse_timestamp`].
//! - `ws`: topics and event bodies behind [`parse`].
//! - [`rest`]: REST response parsers.

pub mod conversation_rest;
mod deserializer;
mod json;
mod reader;
pub mod rest;
mod time;
mod ws;

use heapless::String;
use serde::de;
use serde::Deserialize;
use serde_json_core::de::Error as JsonError;

pub use json::{presence_from_str, routing_from_str, Capped};
pub use time::parse_timestamp;

use crate::limits::TOPIC_LEN;
pub(crate) use crate::limits::{
    CHANNEL_ID_LEN, CONNECT_URI_LEN, ERROR_CODE_LEN, ERROR_MESSAGE_LEN, MAX_BULK, MAX_DEFINITIONS,
    MAX_PAGE, MAX_QUEUE_RESULTS, MAX_REJECTED_IDS, NEXT_URI_LEN, SUB_TOPIC_LEN, TOKEN_LEN,
};
use crate::message::{Control, Message};
use reader::Reader;

/// Bytes of an unknown topic (or channel message) kept as evidence: enough to tell topic
/// families apart in logs (`v2.users.{36-char id}.` is 46), small enough to keep
/// [`Rejected`] cheap to move.
pub const EVIDENCE_LEN: usize = 64;

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

/// Where the envelope's `eventBody` is, as the walk over the envelope goes.
enum Body {
    /// Not met (yet).
    Absent,
    /// Met before the topic was known: its byte range, decoded after the walk.
    At(usize, usize),
    /// Decoded as it was met (the topic came first, as Genesys writes it).
    Decoded(Result<Message, Rejected>),
}

/// Decodes one notification-channel WebSocket text frame.
///
/// `max_len` is the caller's frame limit (board profile); longer frames are refused before
/// any parsing. Topics match case-insensitively. Frames without `topicName` but with a
/// `result` are channel replies (`"404"` → [`Control::ChannelGone`], `"200"` →
/// [`Control::SubscribeAck`], other → [`Control::SubscribeFailed`]); frames with neither
/// (client-side shapes such as `{"message":"ping"}`) are `MissingField("topicName")`.
pub fn parse(frame: &[u8], max_len: usize) -> Result<Message, Rejected> {
    if frame.len() > max_len {
        return Err(Rejected::Oversize {
            len: frame.len(),
            max: max_len,
        });
    }
    json::read(frame, envelope)?
}

/// One walk over the envelope object: `topicName` and `result` read as they come (a repeat
/// of either is malformed), the first `eventBody` decoded in place once the topic is known
/// (or its range kept, when it comes before the topic), everything else skipped. The outer
/// `Err` is a JSON error anywhere in the frame, which wins over any other outcome.
fn envelope(r: &mut Reader<'_>) -> Result<Result<Message, Rejected>, JsonError> {
    let mut topic_seen = false;
    // Replies to WebSocket `subscribe` and channel-gone notices: `"200"`, `"404"`, `"4xx"`.
    let mut result: Option<Option<json::Text<8>>> = None;
    let mut route: Option<Result<ws::Topic, Rejected>> = None;
    let mut body = Body::Absent;
    r.begin_object()?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        match key {
            b"topicName" => {
                if topic_seen {
                    return Err(de::Error::duplicate_field("topicName"));
                }
                topic_seen = true;
                r.colon()?;
                // Classified where it lies (`Option<Text<TOPIC_LEN>>` as it was, not copied).
                route = r.opt(|r| {
                    json::read_text::<TOPIC_LEN, _>(r, |t, truncated| match truncated {
                        true => Err(Rejected::UnknownTopic(evidence(t))),
                        false => ws::classify(t),
                    })
                })?;
            }
            b"result" => {
                if result.is_some() {
                    return Err(de::Error::duplicate_field("result"));
                }
                r.colon()?;
                result = Some(Option::deserialize(&mut *r)?);
            }
            b"eventBody" if matches!(body, Body::Absent) => {
                r.colon()?;
                body = match route {
                    Some(Ok(t)) if ws::has_body(t) => Body::Decoded(ws::body(t, r)?),
                    _ => {
                        r.whitespace();
                        let start = r.pos();
                        r.skip()?;
                        Body::At(start, r.pos())
                    }
                };
            }
            _ => {
                r.colon()?;
                r.skip()?;
            }
        }
    }
    r.end_object()?;
    r.end()?;

    let topic = match (route, result.flatten()) {
        (Some(Ok(topic)), _) => topic,
        (Some(Err(e)), _) => return Ok(Err(e)),
        (None, Some(r)) if r.as_str() == "404" => {
            return Ok(Ok(Message::Control(Control::ChannelGone)))
        }
        (None, Some(r)) if r.as_str() == "200" => {
            return Ok(Ok(Message::Control(Control::SubscribeAck)))
        }
        (None, Some(_)) => return Ok(Ok(Message::Control(Control::SubscribeFailed))),
        (None, None) => return Ok(Err(Rejected::MissingField("topicName"))),
    };
    if !ws::has_body(topic) {
        return Ok(ws::bodiless(topic));
    }
    match body {
        Body::Decoded(outcome) => Ok(outcome),
        Body::At(start, end) => {
            // `start..end` is one whole value the walk skipped: ASCII-bounded, valid UTF-8.
            // Inside the envelope object: one bracket deep.
            let mut b = Reader::new(r.text().get(start..end).unwrap_or_default(), 1);
            let outcome = ws::body(topic, &mut b).and_then(|o| Ok(b.end().map(|_| o)?));
            r.deep_at = b.deep_at.map(|at| start + at);
            outcome
        }
        Body::Absent => Ok(Err(Rejected::MissingField("eventBody"))),
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
