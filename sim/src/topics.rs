//! Topic grammar: which subscription topics exist, combined-topic expansion, case-insensitive matching.
//!
//! Owns: turning a requested topic string into the lowercase topic names it matches, or a [`TopicError`]
//! saying why it is refused. Pure: no I/O, no channel state (the channel keeps the parsed [`Subscription`]s).
//!
//! Grammar (PROTOCOL.md §3): `v2.users.{id}.{presence|routingStatus|activity|conversations[.media]|…}`,
//! `v2.routing.queues.{id}.{users|conversations[.media]}`, `v2.analytics.queues.{id}.observations`,
//! `v2.analytics.users.{id}.aggregates`, and combined `prefix?a&b` (≤ 200 chars) expanding to `prefix.a`,
//! `prefix.b`. `channel.metadata` and `v2.system.*` are delivered without subscribing and refused here.

use std::fmt;

use crate::model::World;

/// Longest allowed combined topic ("A combined topic can contain up to 200 characters").
pub(crate) const MAX_COMBINED_LEN: usize = 200;

/// Topic suffixes accepted after `v2.users.{id}.` (lowercase). Only presence, routingStatus, activity and
/// conversations (+ media) are generated; the others are accepted and stay quiet, as an idle real topic would.
const USER_SUFFIXES: &[&str] = &[
    "presence",
    "routingstatus",
    "activity",
    "conversations",
    "conversations.calls",
    "conversations.callbacks",
    "conversations.chats",
    "conversations.emails",
    "conversations.messages",
    "conversationsummary",
    "station",
    "outofoffice",
    "geolocation",
];

/// Topic suffixes accepted after `v2.routing.queues.{id}.` (lowercase); only `users` is generated.
const QUEUE_SUFFIXES: &[&str] = &[
    "users",
    "conversations",
    "conversations.calls",
    "conversations.callbacks",
    "conversations.chats",
    "conversations.emails",
    "conversations.messages",
];

/// Why a topic cannot be subscribed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicError {
    /// Empty string.
    Empty,
    /// Combined topic longer than [`MAX_COMBINED_LEN`].
    TooLong { len: usize, max: usize },
    /// `channel.metadata` / `v2.system.*`: delivered automatically, never subscribable.
    System(String),
    /// Names a user this org does not have.
    UnknownUser(String),
    /// Names a queue this org does not have.
    UnknownQueue(String),
    /// Not a topic the notification service offers.
    Unsupported(String),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::Empty => write!(f, "topic is empty"),
            TopicError::TooLong { len, max } => {
                write!(f, "combined topic is {len} characters, the limit is {max}")
            }
            TopicError::System(t) => write!(f, "topic {t} cannot be subscribed to"),
            TopicError::UnknownUser(id) => write!(f, "user {id} does not exist"),
            TopicError::UnknownQueue(id) => write!(f, "queue {id} does not exist"),
            TopicError::Unsupported(t) => write!(f, "topic {t} is not a valid topic"),
        }
    }
}

impl std::error::Error for TopicError {}

/// A stored subscription: the id as the client sent it and the lowercase topics it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub id: String,
    pub expanded: Vec<String>,
}

/// Parses and validates one requested topic against the org.
pub(crate) fn parse(topic: &str, world: &World) -> Result<Subscription, TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    let expanded = match topic.split_once('?') {
        Some((prefix, suffixes)) => {
            if topic.len() > MAX_COMBINED_LEN {
                return Err(TopicError::TooLong {
                    len: topic.len(),
                    max: MAX_COMBINED_LEN,
                });
            }
            let mut out: Vec<String> = Vec::new();
            for s in suffixes.split('&') {
                if s.is_empty() {
                    return Err(TopicError::Unsupported(topic.to_owned()));
                }
                let t = single(&format!("{prefix}.{s}"), world)?;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            out
        }
        None => vec![single(topic, world)?],
    };
    Ok(Subscription {
        id: topic.to_owned(),
        expanded,
    })
}

/// Validates a non-combined topic; returns it lowercased.
fn single(topic: &str, world: &World) -> Result<String, TopicError> {
    let lower = topic.to_ascii_lowercase();
    if lower == "channel.metadata" || lower.starts_with("v2.system.") || lower == "v2.system" {
        return Err(TopicError::System(topic.to_owned()));
    }
    let unsupported = || TopicError::Unsupported(topic.to_owned());
    let parts: Vec<&str> = lower.splitn(4, '.').collect();
    match parts.as_slice() {
        ["v2", "users", id, suffix] => {
            if !USER_SUFFIXES.contains(suffix) {
                return Err(unsupported());
            }
            if !world.agents.contains_key(*id) {
                return Err(TopicError::UnknownUser((*id).to_owned()));
            }
        }
        ["v2", "routing", "queues", rest] => {
            let (id, suffix) = rest.split_once('.').ok_or_else(unsupported)?;
            if !QUEUE_SUFFIXES.contains(&suffix) {
                return Err(unsupported());
            }
            if !world.queues.contains_key(id) {
                return Err(TopicError::UnknownQueue(id.to_owned()));
            }
        }
        ["v2", "analytics", "queues", rest] => {
            let id = rest.strip_suffix(".observations").ok_or_else(unsupported)?;
            if !world.queues.contains_key(id) {
                return Err(TopicError::UnknownQueue(id.to_owned()));
            }
        }
        ["v2", "analytics", "users", rest] => {
            let id = rest.strip_suffix(".aggregates").ok_or_else(unsupported)?;
            if !world.agents.contains_key(id) {
                return Err(TopicError::UnknownUser(id.to_owned()));
            }
        }
        _ => return Err(unsupported()),
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new(1, 3, 2, 1, 1_700_000_000_000)
    }

    #[test]
    fn grammar() {
        let w = world();
        let u = w.agent_order[0].clone();
        let q = w.queue_order[0].clone();
        let s = parse(&format!("v2.users.{u}.routingStatus"), &w).map(|s| s.expanded);
        assert_eq!(s, Ok(vec![format!("v2.users.{u}.routingstatus")]));
        let s = parse(
            &format!("V2.USERS.{}?presence&routingStatus", u.to_uppercase()),
            &w,
        )
        .map(|s| s.expanded);
        assert_eq!(
            s,
            Ok(vec![
                format!("v2.users.{u}.presence"),
                format!("v2.users.{u}.routingstatus")
            ])
        );
        assert!(parse(&format!("v2.analytics.queues.{q}.observations"), &w).is_ok());
        assert!(parse(&format!("v2.routing.queues.{q}.users"), &w).is_ok());
        assert!(matches!(
            parse("channel.metadata", &w),
            Err(TopicError::System(_))
        ));
        assert!(matches!(
            parse("v2.system.socket_closing", &w),
            Err(TopicError::System(_))
        ));
        assert!(matches!(
            parse("v2.users.nope.presence", &w),
            Err(TopicError::UnknownUser(_))
        ));
        assert!(matches!(
            parse(&format!("v2.users.{u}.bogus"), &w),
            Err(TopicError::Unsupported(_))
        ));
        assert!(matches!(
            parse(&format!("v2.users.{u}"), &w),
            Err(TopicError::Unsupported(_))
        ));
        let long = format!("v2.users.{u}?{}", vec!["presence"; 30].join("&"));
        assert!(matches!(parse(&long, &w), Err(TopicError::TooLong { .. })));
    }
}
