//! Notification-channel topics and their `eventBody` shapes (PROTOCOL.md §3-§5): topic-name
//! routing ([`classify`]), then the typed read of `eventBody` for that topic ([`body`]), from
//! wherever the envelope walk met it. Also owns the body pieces REST shares (presence
//! definition, routing status object, conversation; the queue observations and their metric
//! fold are `ws/observation.rs`). Does not own the pre-checks,
//! the reader or field types (`json`, `reader`) nor the walk over the envelope
//! (`decode::parse`).

use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use serde_json_core::de::Error;

use super::json::{
    loose, need_id, stamp_or_zero, JId, Key, RoutingName, Stamp, SysPresence, Text, LOOSE_LEN,
};
use super::reader::Reader;
use super::{evidence, Rejected, EVIDENCE_LEN};
use crate::event::{
    ConversationChange, Event, Id, Interaction, Media, MemberChange, Millis, OutOfOfficeChange,
    Presence, PresenceChange, RoutingChange,
};
use crate::message::{Control, Message};

/// What a topic name says, with the entity id it carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Topic {
    Presence(Id),
    Routing(Id),
    Activity(Id),
    Conversations(Id),
    QueueUsers(Id),
    Observations(Id),
    Metadata,
    SocketClosing,
    NoLongerSubscribed,
    TokenRevoked,
}

/// `a` equals `b` ignoring ASCII case, stopping at the first difference (the slice method
/// compares every byte: callgrind showed ~300 instructions per family test).
fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x.eq_ignore_ascii_case(&y))
}

/// `name` is `prefix` or `prefix.{anything}`, ignoring ASCII case.
fn is_family(name: &str, prefix: &str) -> bool {
    match (name.get(..prefix.len()), name.as_bytes().get(prefix.len())) {
        (Some(head), None | Some(b'.')) => eq(head, prefix),
        _ => false,
    }
}

/// Classifies a topic name (case-insensitively). A known family with an invalid id is
/// `BadId("topicName")`; anything else unknown is `UnknownTopic`.
pub(super) fn classify(name: &str) -> Result<Topic, Rejected> {
    if eq(name, "channel.metadata") {
        return Ok(Topic::Metadata);
    }
    if eq(name, "v2.system.socket_closing") {
        return Ok(Topic::SocketClosing);
    }
    if is_family(name, "v2.system.no_longer_subscribed") {
        return Ok(Topic::NoLongerSubscribed);
    }
    if is_family(name, "v2.system.token_revoked") {
        return Ok(Topic::TokenRevoked);
    }

    let mut seg = [""; 5];
    let mut n = 0;
    let mut rest = Some(name);
    while let Some(r) = rest {
        let (part, tail) = match r.bytes().position(|c| c == b'.') {
            Some(dot) => (r.get(..dot).unwrap_or_default(), r.get(dot + 1..)),
            None => (r, None),
        };
        match seg.get_mut(n) {
            Some(slot) => *slot = part,
            None => return Err(Rejected::UnknownTopic(evidence(name))),
        }
        n += 1;
        rest = tail;
    }
    let id = |s: &str| Id::parse(s).ok_or(Rejected::BadId("topicName"));
    let [v2, family, a, b, c] = seg;
    if !eq(v2, "v2") {
        return Err(Rejected::UnknownTopic(evidence(name)));
    }
    const CONVERSATION_MEDIA: [&str; 5] = ["calls", "callbacks", "chats", "emails", "messages"];
    match n {
        4 if eq(family, "users") => {
            if eq(b, "presence") {
                return Ok(Topic::Presence(id(a)?));
            } else if eq(b, "routingStatus") {
                return Ok(Topic::Routing(id(a)?));
            } else if eq(b, "activity") {
                return Ok(Topic::Activity(id(a)?));
            } else if eq(b, "conversations") {
                return Ok(Topic::Conversations(id(a)?));
            }
        }
        5 if eq(family, "users")
            && eq(b, "conversations")
            && CONVERSATION_MEDIA.iter().any(|m| eq(c, m)) =>
        {
            return Ok(Topic::Conversations(id(a)?));
        }
        5 if eq(family, "routing") && eq(a, "queues") && eq(c, "users") => {
            return Ok(Topic::QueueUsers(id(b)?));
        }
        5 if eq(family, "analytics") && eq(a, "queues") && eq(c, "observations") => {
            return Ok(Topic::Observations(id(b)?));
        }
        _ => {}
    }
    Err(Rejected::UnknownTopic(evidence(name)))
}

/// Whether `topic` is decoded from its `eventBody` (system topics are not: their name says
/// it all, and their body is never read).
pub(super) fn has_body(topic: Topic) -> bool {
    !matches!(
        topic,
        Topic::SocketClosing | Topic::NoLongerSubscribed | Topic::TokenRevoked
    )
}

/// The event of a topic without a body (see [`has_body`]).
pub(super) fn bodiless(topic: Topic) -> Result<Message, Rejected> {
    match topic {
        Topic::SocketClosing => Ok(Message::Control(Control::SocketClosing)),
        Topic::NoLongerSubscribed => Ok(Message::Control(Control::NoLongerSubscribed)),
        Topic::TokenRevoked => Ok(Message::Control(Control::TokenRevoked)),
        _ => Err(Rejected::MissingField("eventBody")),
    }
}

/// Decodes the `eventBody` value `r` is at, for a frame whose topic is `topic`. The outer
/// `Err` is a JSON error (the frame is malformed); the inner result is the event or why the
/// body does not make one.
pub(super) fn body(topic: Topic, r: &mut Reader<'_>) -> Result<Result<Message, Rejected>, Error> {
    let event = match topic {
        Topic::Presence(user) => {
            let b = PresenceBody::deserialize(&mut *r)?;
            presence_change(user, b, &PRESENCE_PATHS).map(Event::Presence)
        }
        Topic::Routing(user) => {
            let b = RoutingBody::deserialize(&mut *r)?;
            b.routing_status
                .ok_or(Rejected::MissingField("eventBody.routingStatus"))
                .and_then(|s| routing_change(user, s, &ROUTING_PATHS))
                .map(Event::Routing)
        }
        Topic::Activity(user) => {
            let b = ActivityBody::deserialize(&mut *r)?;
            activity(user, b)
        }
        Topic::Conversations(user) => {
            let b = ConvSeed { user }.deserialize(&mut *r)?;
            conversation_change(user, b, &CONV_PATHS).map(Event::Conversation)
        }
        Topic::QueueUsers(queue) => {
            member(queue, MemberBody::deserialize(&mut *r)?).map(Event::Member)
        }
        Topic::Observations(queue) => observation(queue, ObsBody::deserialize(&mut *r)?),
        Topic::Metadata => return Ok(metadata(MetadataBody::deserialize(&mut *r)?)),
        Topic::SocketClosing | Topic::NoLongerSubscribed | Topic::TokenRevoked => {
            // Never asked (see `has_body`); the body was read, so it is well-formed.
            return Ok(bodiless(topic));
        }
    };
    Ok(event.map(Message::Event))
}

fn activity(user: Id, b: ActivityBody) -> Result<Event, Rejected> {
    let p = b
        .presence
        .map(|p| presence_change(user, p, &ACTIVITY_PRESENCE_PATHS))
        .transpose()?;
    let r = b
        .routing_status
        .map(|r| routing_change(user, r, &ROUTING_PATHS))
        .transpose()?;
    let o = match b.out_of_office {
        Some(o) => out_of_office(user, o, "eventBody.outOfOffice.modifiedDate")?,
        None => None,
    };
    Ok(Event::Activity(p, r, o))
}

fn metadata(b: MetadataBody) -> Result<Message, Rejected> {
    let m = b
        .message
        .ok_or(Rejected::MissingField("eventBody.message"))?;
    if m.as_str().eq_ignore_ascii_case("WebSocket Heartbeat") && !m.truncated {
        Ok(Message::Control(Control::Heartbeat))
    } else if m.as_str().eq_ignore_ascii_case("pong") && !m.truncated {
        Ok(Message::Control(Control::Pong))
    } else {
        Err(Rejected::UnknownMessage(evidence(m.as_str())))
    }
}

// ---------------------------------------------------------------------------------------
// Presence and routing status (shared with REST).

/// `presenceDefinition{id, systemPresence}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PresenceDef {
    pub id: Option<JId>,
    pub system_presence: Option<SysPresence>,
}

/// A presence object: `{presenceDefinition, modifiedDate}` (the presence topic's body, the
/// activity topic's `presence`, REST `UserPresence`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PresenceBody {
    pub presence_definition: Option<PresenceDef>,
    pub modified_date: Option<Stamp>,
}

/// JSON paths named in rejections, per place a presence object appears.
pub(super) struct PresencePaths {
    pub definition: &'static str,
    pub id: &'static str,
    pub modified: &'static str,
}

const PRESENCE_PATHS: PresencePaths = PresencePaths {
    definition: "eventBody.presenceDefinition",
    id: "eventBody.presenceDefinition.id",
    modified: "eventBody.modifiedDate",
};

const ACTIVITY_PRESENCE_PATHS: PresencePaths = PresencePaths {
    definition: "eventBody.presence.presenceDefinition",
    id: "eventBody.presence.presenceDefinition.id",
    modified: "eventBody.presence.modifiedDate",
};

/// Builds a [`PresenceChange`]: definition id required, unknown/missing system presence →
/// `Unknown`, missing `modifiedDate` → 0 (unordered).
pub(super) fn presence_change(
    user: Id,
    b: PresenceBody,
    paths: &PresencePaths,
) -> Result<PresenceChange, Rejected> {
    let def = b
        .presence_definition
        .ok_or(Rejected::MissingField(paths.definition))?;
    Ok(PresenceChange {
        user,
        definition: need_id(def.id, paths.id)?,
        presence: def.system_presence.map_or(Presence::Unknown, |p| p.0),
        modified: stamp_or_zero(b.modified_date, paths.modified)?,
    })
}

/// `routingStatus{status, startTime}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RoutingObj {
    pub status: Option<RoutingName>,
    pub start_time: Option<Stamp>,
}

/// JSON paths named in rejections, per place a routing object appears.
pub(super) struct RoutingPaths {
    pub status: &'static str,
    pub start: &'static str,
}

const ROUTING_PATHS: RoutingPaths = RoutingPaths {
    status: "eventBody.routingStatus.status",
    start: "eventBody.routingStatus.startTime",
};

/// Builds a [`RoutingChange`]: status required (unknown names → `Unknown`), missing
/// `startTime` → 0 (unordered).
pub(super) fn routing_change(
    user: Id,
    r: RoutingObj,
    paths: &RoutingPaths,
) -> Result<RoutingChange, Rejected> {
    let status = r.status.ok_or(Rejected::MissingField(paths.status))?;
    Ok(RoutingChange {
        user,
        routing: status.0,
        started: stamp_or_zero(r.start_time, paths.start)?,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoutingBody {
    routing_status: Option<RoutingObj>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityBody {
    routing_status: Option<RoutingObj>,
    presence: Option<PresenceBody>,
    out_of_office: Option<OutOfOfficeBody>,
}

/// `outOfOffice` of an activity event or a user (REST expand).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutOfOfficeBody {
    pub active: Option<bool>,
    pub modified_date: Option<Stamp>,
}

/// The out-of-office change an `outOfOffice` object says; None without `active` (unknown is
/// not "in office").
pub(super) fn out_of_office(
    user: Id,
    b: OutOfOfficeBody,
    field: &'static str,
) -> Result<Option<OutOfOfficeChange>, Rejected> {
    let Some(active) = b.active else {
        return Ok(None);
    };
    Ok(Some(OutOfOfficeChange {
        user,
        active,
        modified: stamp_or_zero(b.modified_date, field)?,
    }))
}

#[derive(Deserialize)]
struct MetadataBody {
    message: Option<Text<EVIDENCE_LEN>>,
}

// ---------------------------------------------------------------------------------------
// Queue membership.

#[derive(Deserialize)]
pub(super) struct UserRef {
    pub id: Option<JId>,
}

#[derive(Deserialize)]
struct MemberBody {
    id: Option<JId>,
    user: Option<UserRef>,
    joined: Option<bool>,
}

fn member(queue: Id, b: MemberBody) -> Result<MemberChange, Rejected> {
    let user = match b.user.and_then(|u| u.id) {
        Some(id) => need_id(Some(id), "eventBody.user.id")?,
        None => need_id(b.id, "eventBody.user.id")?,
    };
    Ok(MemberChange {
        queue,
        user,
        joined: b.joined.ok_or(Rejected::MissingField("eventBody.joined"))?,
    })
}

// ---------------------------------------------------------------------------------------
// Conversations: the agent's own participant, found while streaming `participants`.

/// Longest session `state` compared (`disconnected` is 12).
const STATE_LEN: usize = 24;

/// One media session (`calls[]`, `chats[]`, …) as received.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSession {
    state: Option<Text<STATE_LEN>>,
    held: Option<bool>,
    start_alerting_time: Option<Stamp>,
    connected_time: Option<Stamp>,
    start_hold_time: Option<Stamp>,
    disconnected_time: Option<Stamp>,
    end_time: Option<Stamp>,
}

/// A session reduced to what selection needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Session {
    interaction: Interaction,
    /// Newest of its timestamps (0 when it has none).
    newest: Millis,
}

impl Session {
    fn live(&self) -> bool {
        self.interaction != Interaction::Disconnected
    }

    /// Newest live session wins over any disconnected one; among equals the later in the
    /// stream wins (`>=`).
    fn at_least(&self, other: &Session) -> bool {
        (self.live(), self.newest) >= (other.live(), other.newest)
    }
}

fn interaction(state: &str, held: bool) -> Interaction {
    let mut buf = [0; LOOSE_LEN];
    match loose(state, &mut buf).unwrap_or_default() {
        b"alerting" | b"offering" => Interaction::Alerting,
        b"dialing" | b"contacting" => Interaction::Dialing,
        b"connected" if held => Interaction::Held,
        b"connected" => Interaction::Connected,
        // A parked interaction is on hold, waiting to be picked up again.
        b"parked" => Interaction::Held,
        b"disconnected" | b"terminated" => Interaction::Disconnected,
        _ => Interaction::None,
    }
}

/// One media array folded as it streams by: the selected session, the newest timestamp of
/// all its sessions, and whether any timestamp was invalid.
#[derive(Clone, Copy, Default, Debug)]
struct Sessions {
    best: Option<Session>,
    newest: Option<Millis>,
    bad_stamp: bool,
}

impl<'de> Deserialize<'de> for Sessions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sessions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of sessions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sessions, A::Error> {
                let mut out = Sessions::default();
                while let Some(raw) = seq.next_element::<RawSession>()? {
                    let mut newest = 0;
                    for s in [
                        raw.start_alerting_time,
                        raw.connected_time,
                        raw.start_hold_time,
                        raw.disconnected_time,
                        raw.end_time,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        match s.0 {
                            Some(ms) => newest = newest.max(ms),
                            None => out.bad_stamp = true,
                        }
                    }
                    let state = raw.state.as_ref().map_or("", |t| t.as_str());
                    let session = Session {
                        interaction: interaction(state, raw.held == Some(true)),
                        newest,
                    };
                    out.newest = Some(out.newest.map_or(newest, |n| n.max(newest)));
                    if out.best.is_none_or(|b| session.at_least(&b)) {
                        out.best = Some(session);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// A participant as received; only the agent's one is kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Participant {
    user_id: Option<JId>,
    wrapup_required: Option<bool>,
    /// Present (non-null) once the agent has submitted wrap-up.
    wrapup: Option<IgnoredAny>,
    connected_time: Option<Stamp>,
    start_alerting_time: Option<Stamp>,
    end_time: Option<Stamp>,
    start_acw_time: Option<Stamp>,
    end_acw_time: Option<Stamp>,
    #[serde(default)]
    calls: Sessions,
    #[serde(default)]
    callbacks: Sessions,
    #[serde(default)]
    chats: Sessions,
    #[serde(default)]
    emails: Sessions,
    #[serde(default)]
    messages: Sessions,
    #[serde(default)]
    videos: Sessions,
    #[serde(default)]
    social_expressions: Sessions,
}

impl Participant {
    fn media(&self) -> [(Media, &Sessions); 7] {
        [
            (Media::Call, &self.calls),
            (Media::Callback, &self.callbacks),
            (Media::Chat, &self.chats),
            (Media::Email, &self.emails),
            (Media::Message, &self.messages),
            (Media::Video, &self.videos),
            // Public social posts; social DMs arrive as `messages`.
            (Media::Other, &self.social_expressions),
        ]
    }
}

/// Seed for a `Conversation` object (a conversation topic's `eventBody`, REST
/// `GET /api/v2/conversations/{id}`), knowing whose participant to keep.
#[derive(Clone, Copy)]
pub(super) struct ConvSeed {
    pub user: Id,
}

/// A `Conversation` reduced to its id and the agent's participant.
pub(super) struct ConvBody {
    id: Option<JId>,
    agent: Option<Participant>,
}

impl<'de> DeserializeSeed<'de> for ConvSeed {
    type Value = ConvBody;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ConvBody, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConvSeed {
    type Value = ConvBody;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a conversation")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConvBody, A::Error> {
        let mut body = ConvBody {
            id: None,
            agent: None,
        };
        while let Some(Key(key)) = map.next_key()? {
            match key {
                Some("id") => body.id = Some(map.next_value()?),
                Some("participants") => {
                    if let Some(p) = map.next_value_seed(ParticipantsSeed(self))? {
                        body.agent = Some(p);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(body)
    }
}

/// Streams `participants`, keeping the last one whose `userId` is the topic's user.
struct ParticipantsSeed(ConvSeed);

impl<'de> DeserializeSeed<'de> for ParticipantsSeed {
    type Value = Option<Participant>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ParticipantsSeed {
    type Value = Option<Participant>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of participants")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut agent = None;
        while let Some(p) = seq.next_element::<Participant>()? {
            if p.user_id == Some(JId(Some(self.0.user))) {
                agent = Some(p);
            }
        }
        Ok(agent)
    }
}

/// JSON paths named in rejections, per place a `Conversation` appears.
pub(super) struct ConvPaths {
    pub id: &'static str,
    pub participant: &'static str,
    pub session: &'static str,
}

const CONV_PATHS: ConvPaths = ConvPaths {
    id: "eventBody.id",
    participant: "eventBody.participants[userId]",
    session: "eventBody.participants[].{media}[]",
};

/// Builds the agent's [`ConversationChange`] from a `Conversation` (the one rule set for
/// notifications and REST).
pub(super) fn conversation_change(
    user: Id,
    b: ConvBody,
    paths: &ConvPaths,
) -> Result<ConversationChange, Rejected> {
    let conversation = need_id(b.id, paths.id)?;
    let p = b.agent.ok_or(Rejected::MissingField(paths.participant))?;

    let mut changed = 0;
    for s in [
        p.connected_time,
        p.start_alerting_time,
        p.end_time,
        p.start_acw_time,
        p.end_acw_time,
    ]
    .into_iter()
    .flatten()
    {
        changed = changed.max(s.0.ok_or(Rejected::BadTimestamp(paths.participant))?);
    }

    let mut chosen: Option<(Media, Session)> = None;
    for (media, sessions) in p.media() {
        if sessions.bad_stamp {
            return Err(Rejected::BadTimestamp(paths.session));
        }
        changed = changed.max(sessions.newest.unwrap_or(0));
        if let Some(best) = sessions.best {
            if chosen.is_none_or(|(_, c)| best.at_least(&c)) {
                chosen = Some((media, best));
            }
        }
    }

    let (media, interaction) = chosen.map_or((Media::None, Interaction::None), |(m, s)| {
        (m, s.interaction)
    });
    let disconnected = interaction == Interaction::Disconnected;
    let wrapup = disconnected && p.wrapup_required == Some(true) && p.wrapup.is_none();
    Ok(ConversationChange {
        user,
        conversation,
        media,
        interaction,
        wrapup,
        ended: disconnected && !wrapup,
        changed,
    })
}

mod observation;
use observation::{observation, ObsBody};
pub(super) use observation::{MetricFold, ObsData};

#[cfg(test)]
mod tests;
