//! Notification-channel topics and their `eventBody` shapes (PROTOCOL.md §3-§5): topic-name
//! routing ([`classify`]), then the typed read of `eventBody` for that topic ([`body`]), from
//! wherever the envelope walk met it. Also owns the body pieces REST shares (presence
//! definition, routing status object, conversation; the queue observations and their metric
//! fold are `ws/observation.rs`). Does not own the pre-checks,
//! the reader or field types (`json`, `reader`) nor the walk over the envelope
//! (`decode::parse`).

use serde::Deserialize;

use serde_json_core::de::Error;

use super::json::{need_id, stamp_or_zero, JId, RoutingName, Stamp, SysPresence, Text};
use super::reader::Reader;
use super::{evidence, Rejected, EVIDENCE_LEN};
use crate::event::{
    Event, Id, MemberChange, OutOfOfficeChange, Presence, PresenceChange, RoutingChange,
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
    if let Some(topic) = user_topic(name) {
        return Ok(topic);
    }
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

/// The common case first, without splitting the name: `v2.users.{id}.{kind}` as Genesys writes
/// it (lower case, a valid id, one of the single-segment kinds). Anything else, `None`: the
/// general path decides, and gives the same answer for these (callgrind: the split cost ~300
/// instructions of every activity frame).
fn user_topic(name: &str) -> Option<Topic> {
    let rest = name.strip_prefix("v2.users.")?;
    let (id, kind) = (rest.get(..36)?, rest.get(36..)?.strip_prefix('.')?);
    let id = Id::parse(id)?;
    Some(match kind {
        "activity" => Topic::Activity(id),
        "presence" => Topic::Presence(id),
        "routingStatus" => Topic::Routing(id),
        "conversations" => Topic::Conversations(id),
        _ => return None,
    })
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
            let b = activity::presence(r).map_err(|f| r.error(f))?;
            presence_change(user, b, &PRESENCE_PATHS).map(Event::Presence)
        }
        Topic::Routing(user) => activity::routing_body(r)
            .map_err(|f| r.error(f))?
            .ok_or(Rejected::MissingField("eventBody.routingStatus"))
            .and_then(|s| routing_change(user, s, &ROUTING_PATHS))
            .map(Event::Routing),
        Topic::Activity(user) => {
            let b = activity::activity(r).map_err(|f| r.error(f))?;
            activity(user, b)
        }
        Topic::Conversations(user) => {
            let b = conversation::read(r, user).map_err(|f| r.error(f))?;
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

/// The activity topic's body (read by hand: `ws/activity.rs`).
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

const CONV_PATHS: ConvPaths = ConvPaths {
    id: "eventBody.id",
    participant: "eventBody.participants[userId]",
    session: "eventBody.participants[].{media}[]",
};

mod activity;
pub(super) mod conversation;
use conversation::conversation_change;
pub(super) use conversation::ConvPaths;
mod observation;
use observation::{observation, ObsBody};
pub(super) use observation::{MetricFold, ObsData};

#[cfg(test)]
mod tests;
