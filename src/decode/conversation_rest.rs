//! Parsers for the two REST responses of conversation resync (Genesys has no replay, so after a
//! gap the gateway asks which conversations are open for its agents, then reads each one):
//! - `POST /api/v2/analytics/conversations/details/query` → [`conversation_details`]: the
//!   `(user, conversation)` pairs of the page, in response order.
//! - `GET /api/v2/conversations/{conversationId}` → [`conversation`]: the agent's
//!   [`ConversationChange`], by the very rules `v2.users.{id}.conversations` frames are decoded
//!   with (one shared function in `ws`).
//!
//! Same rules as the other REST parsers: UTF-8 and depth pre-checks, strings taken raw and
//! unescaped only when kept, unknown fields skipped at any depth, no serde custom error carrying
//! input. Pure, no allocation.
//!
//! Result size on x86_64: [`ConversationHits`] 6 424 B (200 pairs of 16-byte ids).

use core::fmt;

use heapless::Vec;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::json::{from_seed, JId, Key};
use super::ws::{conversation_change, ConvPaths, ConvSeed};
use super::Rejected;
use crate::event::{ConversationChange, Id};

pub use crate::limits::MAX_CONVERSATION_HITS;

/// One page of `POST /api/v2/analytics/conversations/details/query`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ConversationHits {
    /// `(userId, conversationId)`, one per participant that has a `userId`, in response order;
    /// a user appearing twice in one conversation (transferred back, consult) is listed once.
    pub hits: Vec<(Id, Id), MAX_CONVERSATION_HITS>,
    /// Pairs beyond [`MAX_CONVERSATION_HITS`] skipped (the tail of the page is lost, not the page).
    pub dropped: usize,
    /// `totalHits`: conversations matching the query over all pages.
    pub total: u32,
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

/// An analytics participant: only `userId` is read (sessions, segments, metrics are skipped).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParticipant {
    user_id: Option<JId>,
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
            let seen = acc
                .out
                .hits
                .get(self.start..)
                .unwrap_or_default()
                .iter()
                .any(|(u, _)| *u == user);
            // Placeholder conversation id, patched at the end of the conversation object.
            if !seen && acc.out.hits.push((user, Id([0; 16]))).is_err() {
                acc.out.dropped = acc.out.dropped.saturating_add(1);
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
    let b = from_seed(body, ConvSeed { user })?;
    conversation_change(user, b, &REST_CONV_PATHS)
}

#[cfg(test)]
mod tests;
