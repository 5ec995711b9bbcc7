//! [`Fault`]: the failures a test can inject, and the hostile frames some of them send.
//!
//! Owns: the public fault vocabulary (also the JSON body of `POST /sim/fault`, serde's externally tagged form:
//! `"DropSockets"`, `{"CloseSockets":{"code":1001}}`, `{"Silence":true}`, `{"Duplicate":3}`,
//! `{"EndlessPaging":"SelfLoop"}`, `{"HugeBodies":3145728}`, `{"RestHang":true}`,
//! `{"HoldConversationReads":true}`, `{"HoldSubscriptions":true}`, `{"DenyEndpoint":{"method":"POST","path_prefix":"/api/v2/analytics","status":403}}`…)
//! and the construction of
//! malformed / oversize / binary / deeply nested / unknown-topic frames and hostile REST answers (endless
//! `nextUri` links, padded bodies). Applying a fault to channels and sockets is `hub.rs`'s job; holding or
//! rewriting REST answers is `rest.rs`'s.

use serde::{Deserialize, Serialize};

/// A failure to inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// Abrupt TCP close of every socket, no close frame (the client sees 1006).
    DropSockets,
    /// Close frame with `code` on every socket, then TCP close.
    CloseSockets {
        /// RFC 6455 close code (e.g. 1001).
        code: u16,
    },
    /// `true`: no frames at all (heartbeats, events, replies) and no reading, while TCP stays open. Events still
    /// change the truth and are lost for the client (no replay). `false` resumes.
    Silence(bool),
    /// `true`: stop heartbeats; `false`: resume.
    StopHeartbeats(bool),
    /// `v2.system.socket_closing` to every socket now, each closed (1001) `socket_closing_grace` later.
    SocketClosing,
    /// Every channel expires now: `{"result":"404",...}`, close; the channel is gone for REST and WS.
    ExpireChannels,
    /// Every token expires now: REST with it → 401; its channels end like expired channels.
    ExpireTokens,
    /// `v2.system.token_revoked.{channelId}` (reason `user_tokens_revoked`) then close; tokens → 401.
    RevokeTokens,
    /// Every REST request except `/oauth/token` gets 429 + `Retry-After` for `secs` sim seconds.
    RateLimitStorm {
        /// Storm length in sim seconds.
        secs: u64,
    },
    /// The eviction a 21st channel would cause: `v2.system.no_longer_subscribed.{id}` to that socket, close.
    EvictOldestChannel,
    /// The next N notifications that reach a socket are each delivered twice.
    Duplicate(u32),
    /// The next N notifications that reach a socket are held back until the next notification on the same
    /// topic, which is delivered first (newer first, the stale one after).
    Reorder(u32),
    /// N text frames of invalid JSON to every socket now.
    Malformed(u32),
    /// `count` text frames of about `bytes` bytes each (valid JSON) to every socket now.
    Oversize {
        /// Number of frames.
        count: u32,
        /// Approximate size of each frame.
        bytes: usize,
    },
    /// N binary frames to every socket now.
    Binary(u32),
    /// One text frame whose eventBody nests `depth` objects deep, to every socket now.
    DeepNesting {
        /// Nesting depth.
        depth: usize,
    },
    /// N well-formed notifications on topics the client never subscribed to, to every socket now.
    UnknownTopics(u32),
    /// Hostile REST: while `Some`, every paged listing answered with `entities` (queue members, group members,
    /// users, presence definitions) carries a `nextUri` that never ends, as [`PagingLoop`] says. `None` lifts it.
    EndlessPaging(Option<PagingLoop>),
    /// Hostile REST: while `Some(bytes)`, every successful `/api/v2/...` JSON answer is padded with an unknown
    /// `padding` string field to about `bytes` bytes (at most 64 MiB). It stays valid JSON, so only the client's
    /// body cap can refuse it. `None` lifts it.
    HugeBodies(Option<usize>),
    /// Hostile REST: while `true`, every REST request (`/oauth/token` and `/api/v2/...`; never `/sim/...`) is
    /// accepted and read, then never answered; the connection stays open until the client gives up (or the
    /// simulator stops). Requests held when it is lifted stay unanswered; new ones are served again.
    RestHang(bool),
    /// A slow conversations service, and a test's way to act at a precise point of a client's conversation
    /// resync: while `true`, every `GET /api/v2/conversations/{id}` is read and held (counted in
    /// `conversation_reads_held`); `false` answers every held one, with the conversation as it is then. Other
    /// requests (the analytics details query included) are served as usual meanwhile.
    HoldConversationReads(bool),
    /// A slow notifications service, and a test's way to act between a client's first REST reads and its
    /// subscription: while `true`, every `PUT`/`POST /api/v2/notifications/channels/{id}/subscriptions` is read
    /// and held (counted in `subscriptions_held`); `false` answers every held one. Until then, events of the
    /// topics asked for go to nobody, as on the real service.
    HoldSubscriptions(bool),
    /// A missing permission or a missing endpoint: while `Some`, every authorised `/api/v2/...` request whose
    /// `method` and path match [`Denial`] is answered with its `status` (403 `not.authorized` or 404
    /// `not.found`, Genesys error bodies) and counted in `rest_denied`; other requests are served as usual.
    /// `None` lifts it.
    DenyEndpoint(Option<Denial>),
}

/// Which requests [`Fault::DenyEndpoint`] refuses, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// HTTP method (`GET`, `POST`, …), or `*` for any.
    pub method: String,
    /// Path prefix, e.g. `/api/v2/analytics/conversations/details/query`.
    pub path_prefix: String,
    /// Path suffix as well (`/outofoffice`: every user's), empty for any.
    #[serde(default)]
    pub path_suffix: String,
    /// 403 or 404.
    pub status: u16,
}

/// The shape of the endless paging of [`Fault::EndlessPaging`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PagingLoop {
    /// Each page's `nextUri` is its own URI (`selfUri`): a client that follows it blindly never stops.
    SelfLoop,
    /// Each page links to the next page number, forever; pages past the last real one are empty.
    Onward,
}

/// Largest frame [`Fault::Oversize`] builds, so a typo cannot exhaust memory (64 MiB, tungstenite's default
/// max message size).
pub(crate) const MAX_OVERSIZE_BYTES: usize = 64 << 20;
/// Deepest nesting [`Fault::DeepNesting`] builds (the frame is built iteratively, but the client must parse it).
pub(crate) const MAX_DEPTH: usize = 1 << 20;

/// The `nextUri` [`Fault::EndlessPaging`] puts on a listing page whose own URI is `self_uri` (as the
/// simulator's listings write it: `{path}?pageSize={n}&pageNumber={k}{other params}`) and number `number`.
pub(crate) fn endless_next(mode: PagingLoop, self_uri: &str, number: u64) -> String {
    match mode {
        PagingLoop::SelfLoop => self_uri.to_owned(),
        PagingLoop::Onward => {
            let here = format!("pageNumber={number}");
            let next = format!("pageNumber={}", number.saturating_add(1));
            if self_uri.contains(&here) {
                self_uri.replacen(&here, &next, 1)
            } else {
                let sep = if self_uri.contains('?') { '&' } else { '?' };
                format!("{self_uri}{sep}{next}")
            }
        }
    }
}

/// The padding [`Fault::HugeBodies`] adds to an answer of `len` bytes so it reaches about `bytes`.
pub(crate) fn padding(bytes: usize, len: usize) -> String {
    "x".repeat(bytes.min(MAX_OVERSIZE_BYTES).saturating_sub(len))
}

/// Invalid-JSON texts, cycled by [`Fault::Malformed`].
pub(crate) fn malformed(i: u32, user: &str) -> String {
    match i % 6 {
        0 => format!("{{\"topicName\":\"v2.users.{user}.presence\",\"version\":\"2\",\"eventBody\":{{\"source\":"),
        1 => "not json at all".to_owned(),
        2 => format!("{{\"topicName\":\"v2.users.{user}.presence\",\"eventBody\":{{\"presenceDefinition\":{{\"id\":\"x\",}}}}}}"),
        3 => "{\"topicName\":\"channel.metadata\",\"eventBody\":{\"message\":\"WebSocket Heartbeat\"".to_owned(),
        4 => "\u{0}\u{1}\u{2}{}[]".to_owned(),
        _ => format!("[\"v2.users.{user}.presence\", 1, 2, ]"),
    }
}

/// A valid notification of about `bytes` bytes whose body is padding only.
pub(crate) fn oversize(bytes: usize, user: &str) -> String {
    let head = format!("{{\"topicName\":\"v2.users.{user}.presence\",\"version\":\"2\",\"eventBody\":{{\"padding\":\"");
    let tail = "\"},\"metadata\":{\"CorrelationId\":\"00000000-0000-4000-8000-000000000000\"}}";
    let pad = bytes
        .min(MAX_OVERSIZE_BYTES)
        .saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(head.len() + pad + tail.len());
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(tail);
    s
}

/// A notification whose eventBody nests `depth` objects.
pub(crate) fn deep(depth: usize, user: &str) -> String {
    let depth = depth.min(MAX_DEPTH);
    let mut s =
        format!("{{\"topicName\":\"v2.users.{user}.presence\",\"version\":\"2\",\"eventBody\":");
    s.reserve(depth * 7 + 64);
    for _ in 0..depth {
        s.push_str("{\"n\":");
    }
    s.push_str("null");
    for _ in 0..depth {
        s.push('}');
    }
    s.push_str(",\"metadata\":{\"CorrelationId\":\"00000000-0000-4000-8000-000000000001\"}}");
    s
}

/// A binary frame payload (a JSON heartbeat in bytes, then garbage).
pub(crate) fn binary(i: u32) -> Vec<u8> {
    let mut v =
        br#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#
            .to_vec();
    v.extend((0..=255u8).map(|b| b.wrapping_mul(31).wrapping_add(i.to_le_bytes()[0])));
    v
}

/// Topic names [`Fault::UnknownTopics`] cycles through: real but unsubscribed, and invented ones.
pub(crate) fn unknown_topic(i: u32, user: &str) -> String {
    match i % 4 {
        0 => format!("v2.users.{user}.station"),
        1 => "v2.sim.unknown.topic".to_owned(),
        2 => format!("v2.users.{user}.outofoffice"),
        _ => "v3.future.topic.with.many.parts".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_have_the_promised_shape() {
        for i in 0..6 {
            assert!(serde_json::from_str::<serde_json::Value>(&malformed(i, "u")).is_err());
        }
        let big = oversize(10_000, "u");
        assert_eq!(big.len(), 10_000);
        assert!(serde_json::from_str::<serde_json::Value>(&big).is_ok());
        let d = deep(10, "u");
        assert!(serde_json::from_str::<serde_json::Value>(&d).is_ok());
        let json = serde_json::to_string(&Fault::CloseSockets { code: 1001 }).unwrap_or_default();
        assert_eq!(json, r#"{"CloseSockets":{"code":1001}}"#);
        let json = serde_json::to_string(&Fault::EndlessPaging(Some(PagingLoop::SelfLoop)))
            .unwrap_or_default();
        assert_eq!(json, r#"{"EndlessPaging":"SelfLoop"}"#);
    }

    #[test]
    fn endless_links_loop_or_run_on() {
        let uri = "/api/v2/routing/queues/q/members?pageSize=100&pageNumber=1";
        assert_eq!(endless_next(PagingLoop::SelfLoop, uri, 1), uri);
        assert_eq!(
            endless_next(PagingLoop::Onward, uri, 1),
            "/api/v2/routing/queues/q/members?pageSize=100&pageNumber=2"
        );
        assert_eq!(
            endless_next(PagingLoop::Onward, "/a?pageSize=5", 1),
            "/a?pageSize=5&pageNumber=2"
        );
        assert_eq!(padding(100, 30).len(), 70);
        assert_eq!(padding(10, 30).len(), 0);
    }
}
