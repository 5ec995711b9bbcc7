//! Parsers for the two REST responses of conversation resync (Genesys has no replay, so after a
//! gap the gateway asks which conversations are open for its agents, then reads each one):
//! - `POST /api/v2/analytics/conversations/details/query` → [`conversation_details`]: the
//!   `(user, conversation)` pairs of the page, in response order, each with the state its
//!   segments show ([`Seen`]: provisional, the details index lags the conversation).
//! - `GET /api/v2/conversations/{conversationId}` → [`conversation`]: the agent's
//!   [`ConversationChange`], by the very rules `v2.users.{id}.conversations` frames are decoded
//!   with (one shared function in `ws`).
//!
//! Same rules as the other REST parsers: UTF-8 and depth pre-checks, strings taken raw and
//! unescaped only when kept, unknown fields skipped at any depth, no serde custom error carrying
//! input. Pure, no allocation.
//!
//! Result size on x86_64: [`ConversationHits`] 9 632 B (200 pairs of 16-byte ids and their
//! [`Seen`] states).

use core::fmt;

use heapless::Vec;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::json::{from_seed, JId, Key, Stamp, Text};
use super::ws::conversation::{self, conversation_change, ConvPaths};
use super::Rejected;
use crate::event::{ConversationChange, Id, Interaction, Media, Millis};

pub use crate::limits::MAX_CONVERSATION_HITS;

/// One page of `POST /api/v2/analytics/conversations/details/query`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ConversationHits {
    /// `(userId, conversationId)`, one per participant that has a `userId`, in response order;
    /// a user appearing twice in one conversation (transferred back, consult) is listed once.
    pub hits: Vec<(Id, Id), MAX_CONVERSATION_HITS>,
    /// What the segments of each hit's participant show, `states[i]` for `hits[i]`.
    pub states: Vec<Seen, MAX_CONVERSATION_HITS>,
    /// Pairs beyond [`MAX_CONVERSATION_HITS`] skipped (the tail of the page is lost, not the page).
    pub dropped: usize,
    /// `totalHits`: conversations matching the query over all pages.
    pub total: u32,
}

impl ConversationHits {
    /// Hit `i` as the [`ConversationChange`] its segments show (provisional).
    pub fn change(&self, i: usize) -> Option<ConversationChange> {
        let (user, conversation) = *self.hits.get(i)?;
        let s = self.states.get(i)?;
        Some(ConversationChange {
            user,
            conversation,
            media: s.media,
            interaction: s.interaction,
            wrapup: s.wrapup,
            ended: s.ended,
            changed: s.changed,
        })
    }
}

/// An agent participant's state as the details index last saw it: its open segment (the one
/// without `segmentEnd`; the newest when several sessions have one) decides.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Seen {
    /// Media of the session with the open segment (analytics `mediaType`; `voice` is a call).
    pub media: Media,
    /// `alert` ringing, `interact` connected, `hold` held, `dialing`/`contacting` dialing,
    /// `wrapup` or no open segment disconnected.
    pub interaction: Interaction,
    /// The open segment is `wrapup`: after-call work.
    pub wrapup: bool,
    /// No open segment: the agent has left the conversation.
    pub ended: bool,
    /// Newest `segmentStart`/`segmentEnd` of the participant (orders it against live events).
    pub changed: Millis,
    /// The open segment is a lasting state the resync may take from the index when the agent's
    /// live conversation summary agrees (`interact`, `wrapup`), or there is none; false for
    /// short or hidden states (ringing, hold, dialing, any other kind), which it reads exactly.
    pub settled: bool,
}

/// A segment kind the state is derived from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Alert,
    Interact,
    Hold,
    Dialing,
    Wrapup,
    Other,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        match s {
            "alert" => Kind::Alert,
            "interact" => Kind::Interact,
            "hold" => Kind::Hold,
            "dialing" | "contacting" => Kind::Dialing,
            "wrapup" => Kind::Wrapup,
            _ => Kind::Other,
        }
    }
}

/// Analytics `mediaType` → [`Media`].
fn media_of(s: &str) -> Media {
    match s {
        "voice" => Media::Call,
        "callback" => Media::Callback,
        "chat" => Media::Chat,
        "email" => Media::Email,
        "message" => Media::Message,
        "video" => Media::Video,
        _ => Media::Other,
    }
}

/// One analytics segment (the other fields are skipped).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSegment {
    segment_type: Option<Text<16>>,
    segment_start: Option<Stamp>,
    segment_end: Option<Stamp>,
}

/// A session's segments folded as they stream by: the open one and the newest timestamp.
#[derive(Default)]
struct Segments {
    open: Option<(Kind, Millis)>,
    newest: Millis,
    bad_stamp: bool,
}

impl<'de> Deserialize<'de> for Segments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Segments;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of segments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Segments, A::Error> {
                let mut out = Segments::default();
                while let Some(s) = seq.next_element::<RawSegment>()? {
                    let (start, end) = match (s.segment_start, s.segment_end) {
                        (Some(Stamp(Some(a))), None) => (a, None),
                        (Some(Stamp(Some(a))), Some(Stamp(Some(b)))) => (a, Some(b)),
                        _ => {
                            out.bad_stamp = true;
                            continue;
                        }
                    };
                    out.newest = out.newest.max(start).max(end.unwrap_or(0));
                    if end.is_none() && out.open.is_none_or(|(_, at)| start >= at) {
                        let kind = s
                            .segment_type
                            .map_or(Kind::Other, |t| Kind::parse(t.as_str()));
                        out.open = Some((kind, start));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// One analytics session: its media and folded segments.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSession {
    media_type: Option<Text<16>>,
    segments: Option<Segments>,
}

/// A participant's sessions folded into what it [`Seen`] shows.
struct Sessions(Seen);

impl<'de> Deserialize<'de> for Sessions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sessions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of sessions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sessions, A::Error> {
                let mut open: Option<(Kind, Millis, Media)> = None;
                let mut newest = 0;
                let mut any_media = Media::None;
                let mut bad = false;
                while let Some(s) = seq.next_element::<RawSession>()? {
                    let media = s.media_type.map_or(Media::Other, |t| media_of(t.as_str()));
                    let segs = s.segments.unwrap_or_default();
                    bad |= segs.bad_stamp;
                    if segs.newest >= newest {
                        newest = segs.newest;
                        any_media = media;
                    }
                    if let Some((kind, at)) = segs.open {
                        if open.is_none_or(|(_, t, _)| at >= t) {
                            open = Some((kind, at, media));
                        }
                    }
                }
                let seen = match open {
                    None => Seen {
                        media: any_media,
                        interaction: Interaction::Disconnected,
                        wrapup: false,
                        ended: true,
                        changed: newest,
                        settled: !bad,
                    },
                    Some((kind, _, media)) => Seen {
                        media,
                        interaction: match kind {
                            Kind::Alert => Interaction::Alerting,
                            Kind::Interact | Kind::Other => Interaction::Connected,
                            Kind::Hold => Interaction::Held,
                            Kind::Dialing => Interaction::Dialing,
                            Kind::Wrapup => Interaction::Disconnected,
                        },
                        wrapup: kind == Kind::Wrapup,
                        ended: false,
                        changed: newest,
                        settled: !bad && matches!(kind, Kind::Interact | Kind::Wrapup),
                    },
                };
                Ok(Sessions(seen))
            }
        }
        d.deserialize_seq(V)
    }
}

const CONVERSATION_ID: &str = "conversations[].conversationId";
const USER_ID: &str = "conversations[].participants[].userId";

/// Pairs collected while `conversations` streams by, and the first rejection met.
struct Acc {
    out: ConversationHits,
    error: Option<Rejected>,
}

impl Acc {
    fn reject(&mut self, e: Rejected) {
        self.error.get_or_insert(e);
    }
}

/// Seed for the response object: streams `conversations`, reads `totalHits`, skips the rest.
struct Page<'a>(&'a mut Acc);

impl<'de> DeserializeSeed<'de> for Page<'_> {
    type Value = Option<u32>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Page<'_> {
    type Value = Option<u32>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a conversation details page")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut total = None;
        while let Some(Key(key)) = map.next_key()? {
            match key {
                Some("conversations") => map.next_value_seed(Conversations(&mut *self.0))?,
                Some("totalHits") => total = map.next_value::<Option<u32>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(total)
    }
}

/// Streams the `conversations` array (`null` reads as empty).
struct Conversations<'a>(&'a mut Acc);

impl<'de> DeserializeSeed<'de> for Conversations<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Conversations<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversations")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(OneConversation(&mut *self.0))?
            .is_some()
        {}
        Ok(())
    }
}

/// One conversation: its participants' user ids go straight into the output with a placeholder
/// conversation id, patched once the object ends (`conversationId` may come in any order).
struct OneConversation<'a>(&'a mut Acc);

impl<'de> DeserializeSeed<'de> for OneConversation<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneConversation<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a conversation")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let acc = self.0;
        let start = acc.out.hits.len();
        let mut id = None;
        while let Some(Key(key)) = map.next_key()? {
            match key {
                Some("conversationId") => id = Some(map.next_value::<JId>()?),
                Some("participants") => map.next_value_seed(Participants {
                    acc: &mut *acc,
                    start,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match id {
            Some(JId(Some(conversation))) => {
                for hit in acc.out.hits.get_mut(start..).unwrap_or_default() {
                    hit.1 = conversation;
                }
            }
            Some(JId(None)) => acc.reject(Rejected::BadId(CONVERSATION_ID)),
            None => acc.reject(Rejected::MissingField(CONVERSATION_ID)),
        }
        Ok(())
    }
}

/// An analytics participant: `userId` and its sessions' segments (metrics and the rest are
/// skipped).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParticipant {
    user_id: Option<JId>,
    sessions: Option<Sessions>,
}

/// Streams `participants`, appending each new `userId` of this conversation (from `start`).
struct Participants<'a> {
    acc: &'a mut Acc,
    start: usize,
}

impl<'de> DeserializeSeed<'de> for Participants<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Participants<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of participants")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let acc = self.acc;
        while let Some(p) = seq.next_element::<RawParticipant>()? {
            let user = match p.user_id {
                None => continue,
                Some(JId(None)) => {
                    acc.reject(Rejected::BadId(USER_ID));
                    continue;
                }
                Some(JId(Some(user))) => user,
            };
            let state = p.sessions.map_or(
                Seen {
                    interaction: Interaction::Disconnected,
                    ended: true,
                    ..Seen::default()
                },
                |s| s.0,
            );
            let out = &mut acc.out;
            let start = self.start.min(out.hits.len());
            match out.hits[start..].iter().position(|(u, _)| *u == user) {
                // Twice in one conversation (transferred back): the open or newest one counts.
                Some(i) => {
                    let old = &mut out.states[start + i];
                    if (old.ended && !state.ended)
                        || (old.ended == state.ended && state.changed > old.changed)
                    {
                        *old = state;
                    }
                }
                // Placeholder conversation id, patched at the end of the conversation object.
                None => {
                    if out.hits.push((user, Id([0; 16]))).is_err() {
                        out.dropped = out.dropped.saturating_add(1);
                    } else {
                        let _ = out.states.push(state);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses a conversation details page
/// `{"conversations":[{"conversationId","participants":[{"userId"?…}]…}],"totalHits"}` into
/// `(user, conversation)` pairs: participants without `userId` (customer, acd, ivr, external)
/// are skipped; beyond [`MAX_CONVERSATION_HITS`] pairs the rest are counted in `dropped`. An
/// absent or `null` `conversations` is an empty page (Genesys answers `{"totalHits":0}` when
/// nothing matches); `totalHits` is required; a conversation without a valid
/// `conversationId`, or a participant with an invalid `userId`, refuses the page.
pub fn conversation_details(body: &[u8]) -> Result<ConversationHits, Rejected> {
    let mut acc = Acc {
        out: ConversationHits::default(),
        error: None,
    };
    let total = from_seed(body, Page(&mut acc))?;
    if let Some(e) = acc.error {
        return Err(e);
    }
    acc.out.total = total.ok_or(Rejected::MissingField("totalHits"))?;
    Ok(acc.out)
}

const REST_CONV_PATHS: ConvPaths = ConvPaths {
    id: "id",
    participant: "participants[userId]",
    session: "participants[].{media}[]",
};

/// Parses `GET /api/v2/conversations/{conversationId}` (the `Conversation` a
/// `v2.users.{id}.conversations` notification carries as `eventBody`) into `user`'s
/// [`ConversationChange`], by the same rules as the WebSocket decoder: the last participant
/// whose `userId` is `user`, its newest live session across media, wrap-up pending while
/// disconnected with `wrapupRequired` and no `wrapup`. The conversation id is the body's `id`.
pub fn conversation(body: &[u8], user: Id) -> Result<ConversationChange, Rejected> {
    let b = super::json::read(body, |r| {
        conversation::read(r, user).map_err(|f| r.error(f))
    })?;
    conversation_change(user, b, &REST_CONV_PATHS)
}

#[cfg(test)]
mod tests;
