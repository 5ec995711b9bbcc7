//! Parsers for the Genesys REST responses the upstream task reads (OAuth, channels,
//! subscriptions, resync listings, observation queries, error bodies), each
//! `fn(&[u8]) -> Result<T, Rejected>` into fixed-capacity types. Pure, no allocation.
//!
//! Owns response shapes only: not the requests, paging loops or retries (`upstream`).
//! Inputs get the same UTF-8 and depth pre-checks as WebSocket frames; their size is bounded
//! by the HTTP client. Listings keep the first entities up to their capacity and count the
//! rest in `dropped` (the caller chose a page size within the capacity, so `dropped > 0`
//! means the server ignored it: log it); arrays where losing entries would silently lose
//! state the caller asked for (bulk presence, observation results) are refused instead.
//!
//! Result sizes on x86_64 (printed by the `type_sizes` test, which asserts each < 64 KiB):
//! [`Token`] 2 088 B, [`Channel`] 344 B, [`SubscriptionTally`] 560 B, [`MembersPage`]
//! 10 144 B, [`UsersPage`] 15 744 B, [`DefinitionsPage`] 4 896 B, bulk presence 2 408 B,
//! observations 8 008 B, [`ErrorBody`] 248 B.

use core::fmt;

use heapless::{String, Vec};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::json::{
    from_json, need_id, stamp_or_zero, Capped, JId, RoutingName, Stamp, SysPresence, Text,
};
use super::ws::{
    out_of_office, presence_change, routing_change, MetricFold, ObsData, OutOfOfficeBody,
    PresenceBody, PresenceDef, PresencePaths, RoutingObj, RoutingPaths, UserRef,
};
use super::{
    Rejected, CHANNEL_ID_LEN, CONNECT_URI_LEN, ERROR_CODE_LEN, ERROR_MESSAGE_LEN, MAX_BULK,
    MAX_DEFINITIONS, MAX_PAGE, MAX_QUEUE_RESULTS, MAX_REJECTED_IDS, NEXT_URI_LEN, SUB_TOPIC_LEN,
    TOKEN_LEN,
};
use crate::event::{
    Id, Millis, OutOfOfficeChange, Presence, PresenceChange, QueueAggregate, QueueObservation,
    RoutingChange,
};
use crate::limits::NAME_LEN;

/// Checks then parses a whole response body.
fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Rejected> {
    from_json(body)
}

/// A string field that must be present and whole.
fn need_whole<const N: usize>(
    v: Option<Text<N>>,
    field: &'static str,
) -> Result<String<N>, Rejected> {
    v.ok_or(Rejected::MissingField(field))?
        .whole()
        .ok_or(Rejected::OverCapacity { field, max: N })
}

/// An optional `nextUri`: absent or `null` → `(None, false)`. Longer than
/// [`NEXT_URI_LEN`] → `(None, true)`: a cut URI would fetch the wrong page, so it is not
/// kept, but the page's items still parse (a caller that follows pages ends the listing
/// there and counts it; one that never follows them, as the users-by-id resync, is not
/// failed by a link it does not need).
fn next_uri(v: Option<Text<NEXT_URI_LEN>>) -> (Option<String<NEXT_URI_LEN>>, bool) {
    match v.map(Text::whole) {
        None => (None, false),
        Some(Some(uri)) => (Some(uri), false),
        Some(None) => (None, true),
    }
}

/// Longest `token_type` kept (`bearer`).
const TOKEN_TYPE_LEN: usize = 16;

/// OAuth client-credentials token response.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The bearer token. Secret: `Debug` redacts it.
    pub access_token: String<TOKEN_LEN>,
    /// Authorization scheme, `bearer`.
    pub token_type: String<TOKEN_TYPE_LEN>,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawToken {
    access_token: Option<Text<TOKEN_LEN>>,
    token_type: Option<Text<TOKEN_TYPE_LEN>>,
    expires_in: Option<u64>,
}

/// Parses `POST /oauth/token` → `{access_token, token_type, expires_in}`. A token longer
/// than [`TOKEN_LEN`] is refused (`OverCapacity`), never cut.
pub fn token(body: &[u8]) -> Result<Token, Rejected> {
    let raw: RawToken = read(body)?;
    Ok(Token {
        access_token: need_whole(raw.access_token, "access_token")?,
        token_type: need_whole(raw.token_type, "token_type")?,
        expires_in: raw.expires_in.ok_or(Rejected::MissingField("expires_in"))?,
    })
}

/// A notification channel (`POST /api/v2/notifications/channels`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Channel {
    /// `streaming-N-…`.
    pub id: String<CHANNEL_ID_LEN>,
    /// The WebSocket URL to dial as-is.
    pub connect_uri: String<CONNECT_URI_LEN>,
    /// When the channel expires (Unix ms).
    pub expires: Millis,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChannel {
    connect_uri: Option<Text<CONNECT_URI_LEN>>,
    id: Option<Text<CHANNEL_ID_LEN>>,
    expires: Option<Stamp>,
}

/// Parses a `Channel` `{connectUri, id, expires}`; all three required.
pub fn channel(body: &[u8]) -> Result<Channel, Rejected> {
    let raw: RawChannel = read(body)?;
    let expires = match raw.expires {
        None => return Err(Rejected::MissingField("expires")),
        Some(Stamp(None)) => return Err(Rejected::BadTimestamp("expires")),
        Some(Stamp(Some(ms))) => ms,
    };
    Ok(Channel {
        id: need_whole(raw.id, "id")?,
        connect_uri: need_whole(raw.connect_uri, "connectUri")?,
        expires,
    })
}

/// Outcome of a subscriptions PUT/POST (`ChannelTopicEntityListing`), tallied as it streams
/// by: up to 1000 topics are counted, never stored.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SubscriptionTally {
    /// Topics in the response.
    pub total: u32,
    /// Topics with `state` `Rejected` (only with `ignoreErrors=true`).
    pub rejected: u32,
    /// The first rejected topic ids (each cut to [`SUB_TOPIC_LEN`] bytes), as evidence.
    pub rejected_ids: Vec<String<SUB_TOPIC_LEN>, MAX_REJECTED_IDS>,
}

/// Longest `state` compared (`Permitted`, `Rejected`).
const STATE_LEN: usize = 16;

#[derive(Deserialize)]
struct RawTopic {
    id: Option<Text<SUB_TOPIC_LEN>>,
    state: Option<Text<STATE_LEN>>,
}

impl<'de> Deserialize<'de> for SubscriptionTally {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SubscriptionTally;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of topics")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut t = SubscriptionTally::default();
                while let Some(topic) = seq.next_element::<RawTopic>()? {
                    t.total = t.total.saturating_add(1);
                    let rejected = topic
                        .state
                        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("rejected"));
                    if rejected {
                        t.rejected = t.rejected.saturating_add(1);
                        // Full: the count stays exact, the evidence keeps the first few.
                        let _ = t.rejected_ids.push(topic.id.unwrap_or_default().s);
                    }
                }
                Ok(t)
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
struct RawSubscriptions {
    entities: Option<SubscriptionTally>,
}

/// Parses a subscriptions response `{"entities":[{"id","state"?…}]}` into a tally.
pub fn subscriptions(body: &[u8]) -> Result<SubscriptionTally, Rejected> {
    let raw: RawSubscriptions = read(body)?;
    raw.entities.ok_or(Rejected::MissingField("entities"))
}

/// One queue member of a `QueueMemberEntityListing` page.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QueueMember {
    /// The user (`user.id`, else `id`).
    pub id: Id,
    /// Display name, cut to [`NAME_LEN`] bytes at a char boundary (empty when absent).
    pub name: String<NAME_LEN>,
    /// Joined (true) or listed but not joined; a member without the field counts as joined.
    pub joined: bool,
    /// `routingStatus`, when the listing carried it.
    pub routing: Option<RoutingChange>,
}

/// One page of `GET /api/v2/routing/queues/{id}/members`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct MembersPage {
    /// The members, in response order.
    pub members: Vec<QueueMember, MAX_PAGE>,
    /// The next page's path, absent on the last page.
    pub next_uri: Option<String<NEXT_URI_LEN>>,
    /// A `nextUri` was given but is longer than [`NEXT_URI_LEN`]: not kept.
    pub next_uri_too_long: bool,
    /// Members beyond [`MAX_PAGE`] skipped (0 unless the server ignored `pageSize`).
    pub dropped: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMember {
    id: Option<JId>,
    name: Option<Text<NAME_LEN>>,
    user: Option<UserRef>,
    joined: Option<bool>,
    routing_status: Option<RoutingObj>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMembersPage {
    #[serde(default)]
    entities: Capped<RawMember, MAX_PAGE>,
    next_uri: Option<Text<NEXT_URI_LEN>>,
}

const MEMBER_ROUTING: RoutingPaths = RoutingPaths {
    status: "entities[].routingStatus.status",
    start: "entities[].routingStatus.startTime",
};

/// Parses a `QueueMemberEntityListing` page (≤ [`MAX_PAGE`] members + `nextUri`).
pub fn members_page(body: &[u8]) -> Result<MembersPage, Rejected> {
    let raw: RawMembersPage = read(body)?;
    let (next_uri, next_uri_too_long) = next_uri(raw.next_uri);
    let mut page = MembersPage {
        next_uri,
        next_uri_too_long,
        dropped: raw.entities.dropped,
        ..MembersPage::default()
    };
    for m in raw.entities.items {
        let id = match m.user.and_then(|u| u.id) {
            Some(id) => need_id(Some(id), "entities[].user.id")?,
            None => need_id(m.id, "entities[].id")?,
        };
        let member = QueueMember {
            id,
            name: m.name.unwrap_or_default().s,
            joined: m.joined.unwrap_or(true),
            routing: m
                .routing_status
                .map(|r| routing_change(id, r, &MEMBER_ROUTING))
                .transpose()?,
        };
        // Cannot fail: at most MAX_PAGE items came out of the Capped.
        let _ = page.members.push(member);
    }
    Ok(page)
}

/// One queue of a `QueueEntityListing` page: its id and display name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QueueName {
    /// The queue.
    pub id: Id,
    /// Display name, cut to [`NAME_LEN`] bytes at a char boundary (empty when absent).
    pub name: String<NAME_LEN>,
}

/// One page of `GET /api/v2/routing/queues?id=…` (the names of the watched queues).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct QueuesPage {
    /// The queues, in response order.
    pub queues: Vec<QueueName, MAX_PAGE>,
    /// The next page's path, absent on the last page.
    pub next_uri: Option<String<NEXT_URI_LEN>>,
    /// A `nextUri` was given but is longer than [`NEXT_URI_LEN`]: not kept.
    pub next_uri_too_long: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawQueue {
    id: Option<JId>,
    name: Option<Text<NAME_LEN>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawQueuesPage {
    #[serde(default)]
    entities: Capped<RawQueue, MAX_PAGE>,
    next_uri: Option<Text<NEXT_URI_LEN>>,
}

/// Parses a `QueueEntityListing` page (≤ [`MAX_PAGE`] queues + `nextUri`); every other
/// field of a queue (media settings, member counts, …) is skipped unread.
pub fn queues_page(body: &[u8]) -> Result<QueuesPage, Rejected> {
    let raw: RawQueuesPage = read(body)?;
    let (next_uri, next_uri_too_long) = next_uri(raw.next_uri);
    let mut page = QueuesPage {
        next_uri,
        next_uri_too_long,
        ..QueuesPage::default()
    };
    for q in raw.entities.items {
        let queue = QueueName {
            id: need_id(q.id, "entities[].id")?,
            name: q.name.unwrap_or_default().s,
        };
        // Cannot fail: at most MAX_PAGE items came out of the Capped.
        let _ = page.queues.push(queue);
    }
    Ok(page)
}

/// A user's interaction counts from the `conversationSummary` expand, summed over media
/// types and over contact-center and enterprise conversations.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ConversationSummary {
    /// Active conversations.
    pub active: u32,
    /// Conversations in after-call work.
    pub acw: u32,
}

/// One user of a `UserEntityListing` page.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct User {
    /// The user.
    pub id: Id,
    /// Display name, cut to [`NAME_LEN`] bytes at a char boundary (empty when absent).
    pub name: String<NAME_LEN>,
    /// The `presence` expand, when returned (expands are best effort upstream).
    pub presence: Option<PresenceChange>,
    /// The `routingStatus` expand, when returned.
    pub routing: Option<RoutingChange>,
    /// The `conversationSummary` expand, when returned.
    pub conversations: Option<ConversationSummary>,
    /// The `outOfOffice` expand, when returned with `active` (the REST model has no
    /// `modifiedDate`: `modified` is 0, so it applies only when it differs).
    pub out_of_office: Option<OutOfOfficeChange>,
}

/// One page of `GET /api/v2/users` or `/api/v2/groups/{id}/members`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct UsersPage {
    /// The users, in response order.
    pub users: Vec<User, MAX_PAGE>,
    /// The next page's path, absent on the last page.
    pub next_uri: Option<String<NEXT_URI_LEN>>,
    /// A `nextUri` was given but is longer than [`NEXT_URI_LEN`]: not kept.
    pub next_uri_too_long: bool,
    /// Users beyond [`MAX_PAGE`] skipped (0 unless the server ignored `pageSize`).
    pub dropped: usize,
}

#[derive(Deserialize, Default)]
struct Counts {
    active: Option<u32>,
    acw: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaSummary {
    contact_center: Option<Counts>,
    enterprise: Option<Counts>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSummary {
    call: Option<MediaSummary>,
    callback: Option<MediaSummary>,
    email: Option<MediaSummary>,
    message: Option<MediaSummary>,
    chat: Option<MediaSummary>,
    social_expression: Option<MediaSummary>,
    video: Option<MediaSummary>,
}

impl RawSummary {
    fn total(self) -> ConversationSummary {
        let mut sum = ConversationSummary::default();
        let media = [
            self.call,
            self.callback,
            self.email,
            self.message,
            self.chat,
            self.social_expression,
            self.video,
        ];
        for m in media.into_iter().flatten() {
            for c in [m.contact_center, m.enterprise].into_iter().flatten() {
                sum.active = sum.active.saturating_add(c.active.unwrap_or(0));
                sum.acw = sum.acw.saturating_add(c.acw.unwrap_or(0));
            }
        }
        sum
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser {
    id: Option<JId>,
    name: Option<Text<NAME_LEN>>,
    presence: Option<PresenceBody>,
    routing_status: Option<RoutingObj>,
    conversation_summary: Option<RawSummary>,
    out_of_office: Option<OutOfOfficeBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUsersPage {
    #[serde(default)]
    entities: Capped<RawUser, MAX_PAGE>,
    next_uri: Option<Text<NEXT_URI_LEN>>,
}

const USER_PRESENCE: PresencePaths = PresencePaths {
    definition: "entities[].presence.presenceDefinition",
    id: "entities[].presence.presenceDefinition.id",
    modified: "entities[].presence.modifiedDate",
};

const USER_ROUTING: RoutingPaths = RoutingPaths {
    status: "entities[].routingStatus.status",
    start: "entities[].routingStatus.startTime",
};

/// Parses a `UserEntityListing` page (≤ [`MAX_PAGE`] users + `nextUri`); the expands
/// (`presence`, `routingStatus`, `conversationSummary`, `outOfOffice`) are optional.
pub fn users_page(body: &[u8]) -> Result<UsersPage, Rejected> {
    let raw: RawUsersPage = read(body)?;
    let (next_uri, next_uri_too_long) = next_uri(raw.next_uri);
    let mut page = UsersPage {
        next_uri,
        next_uri_too_long,
        dropped: raw.entities.dropped,
        ..UsersPage::default()
    };
    for u in raw.entities.items {
        let id = need_id(u.id, "entities[].id")?;
        let user = User {
            id,
            name: u.name.unwrap_or_default().s,
            presence: u
                .presence
                .map(|p| presence_change(id, p, &USER_PRESENCE))
                .transpose()?,
            routing: u
                .routing_status
                .map(|r| routing_change(id, r, &USER_ROUTING))
                .transpose()?,
            conversations: u.conversation_summary.map(RawSummary::total),
            out_of_office: match u.out_of_office {
                Some(o) => out_of_office(id, o, "entities[].outOfOffice.modifiedDate")?,
                None => None,
            },
        };
        // Cannot fail: at most MAX_PAGE items came out of the Capped.
        let _ = page.users.push(user);
    }
    Ok(page)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBulk {
    user_id: Option<JId>,
    presence_definition: Option<PresenceDef>,
    modified_date: Option<Stamp>,
}

const BULK_PRESENCE: PresencePaths = PresencePaths {
    definition: "[].presenceDefinition",
    id: "[].presenceDefinition.id",
    modified: "[].modifiedDate",
};

/// Parses `GET /api/v2/users/presences/purecloud/bulk` (a bare array of `UcUserPresence`).
/// More than [`MAX_BULK`] entries (the endpoint's own limit) is refused: the caller asked
/// for at most that many, and a silent cut would lose agents.
pub fn bulk_presence(body: &[u8]) -> Result<Vec<PresenceChange, MAX_BULK>, Rejected> {
    let raw: Capped<RawBulk, MAX_BULK> = read(body)?;
    if raw.dropped > 0 {
        return Err(Rejected::OverCapacity {
            field: "[]",
            max: MAX_BULK,
        });
    }
    let mut out = Vec::new();
    for b in raw.items {
        let user = need_id(b.user_id, "[].userId")?;
        let p = PresenceBody {
            presence_definition: b.presence_definition,
            modified_date: b.modified_date,
        };
        // Cannot fail: at most MAX_BULK items came out of the Capped.
        let _ = out.push(presence_change(user, p, &BULK_PRESENCE)?);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoutingStatus {
    user_id: Option<JId>,
    status: Option<RoutingName>,
    start_time: Option<Stamp>,
}

/// Parses `GET /api/v2/users/{id}/routingstatus` → `{userId, status, startTime}`.
pub fn routing_status(body: &[u8]) -> Result<RoutingChange, Rejected> {
    let raw: RawRoutingStatus = read(body)?;
    Ok(RoutingChange {
        user: need_id(raw.user_id, "userId")?,
        routing: raw.status.ok_or(Rejected::MissingField("status"))?.0,
        started: stamp_or_zero(raw.start_time, "startTime")?,
    })
}

#[derive(Deserialize)]
struct RawUserOutOfOffice {
    user: Option<UserRef>,
    active: Option<bool>,
}

/// Parses `GET /api/v2/users/{id}/outofoffice` → `{id, name, user{id}, startDate, endDate,
/// active, indefinite, selfUri}` (the `OutOfOffice` model; it has no `modifiedDate`, so
/// `modified` is 0). `user.id` and `active` are required: without them the answer says
/// nothing about whom, or whether (unknown is not "in office").
pub fn user_out_of_office(body: &[u8]) -> Result<OutOfOfficeChange, Rejected> {
    let raw: RawUserOutOfOffice = read(body)?;
    let user = need_id(raw.user.and_then(|u| u.id), "user.id")?;
    let active = raw.active.ok_or(Rejected::MissingField("active"))?;
    Ok(OutOfOfficeChange {
        user,
        active,
        modified: 0,
    })
}

/// One page of presence definitions: `definition id → system presence`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DefinitionsPage {
    /// `(definition id, normalised system presence)`, in response order.
    pub definitions: Vec<(Id, Presence), MAX_DEFINITIONS>,
    /// The next page's path (legacy endpoint only), absent on the last page.
    pub next_uri: Option<String<NEXT_URI_LEN>>,
    /// A `nextUri` was given but is longer than [`NEXT_URI_LEN`]: not kept.
    pub next_uri_too_long: bool,
    /// Definitions beyond [`MAX_DEFINITIONS`] skipped (their presences stay unmapped).
    pub dropped: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDefinition {
    id: Option<JId>,
    system_presence: Option<SysPresence>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDefinitionsPage {
    #[serde(default)]
    entities: Capped<RawDefinition, MAX_DEFINITIONS>,
    next_uri: Option<Text<NEXT_URI_LEN>>,
}

/// Parses `GET /api/v2/presence/definitions` or the legacy `/api/v2/presencedefinitions`
/// (`{entities:[{id, systemPresence}], nextUri?}`); every casing of `systemPresence`
/// normalises (`On Queue`, `OnQueue`, `ON_QUEUE`).
pub fn presence_definitions(body: &[u8]) -> Result<DefinitionsPage, Rejected> {
    let raw: RawDefinitionsPage = read(body)?;
    let (next_uri, next_uri_too_long) = next_uri(raw.next_uri);
    let mut page = DefinitionsPage {
        next_uri,
        next_uri_too_long,
        dropped: raw.entities.dropped,
        ..DefinitionsPage::default()
    };
    for d in raw.entities.items {
        let id = need_id(d.id, "entities[].id")?;
        let presence = d.system_presence.map_or(Presence::Unknown, |p| p.0);
        // Cannot fail: at most MAX_DEFINITIONS items came out of the Capped.
        let _ = page.definitions.push((id, presence));
    }
    Ok(page)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    queue_id: Option<JId>,
}

#[derive(Deserialize)]
struct RawResult {
    group: Option<Group>,
    #[serde(default)]
    data: MetricFold,
}

#[derive(Deserialize)]
struct RawObservations {
    #[serde(default)]
    results: Capped<RawResult, MAX_QUEUE_RESULTS>,
}

/// Parses `POST /api/v2/analytics/queues/observations/query` →
/// `{"results":[{"group":{"queueId"},"data":[{"metric","qualifier"?,"stats":{…}}]}]}`: one
/// [`QueueObservation`] per result, in order, with `observed = 0` for the caller to fill.
/// Counts of one metric are summed over qualifiers. More than [`MAX_QUEUE_RESULTS`] results
/// is refused. Group by `queueId` only: a `mediaType` grouping yields one entry per
/// (queue, media).
pub fn observations_query(
    body: &[u8],
) -> Result<Vec<QueueObservation, MAX_QUEUE_RESULTS>, Rejected> {
    let raw: RawObservations = read(body)?;
    if raw.results.dropped > 0 {
        return Err(Rejected::OverCapacity {
            field: "results",
            max: MAX_QUEUE_RESULTS,
        });
    }
    let mut out = Vec::new();
    for r in raw.results.items {
        let queue = need_id(r.group.and_then(|g| g.queue_id), "results[].group.queueId")?;
        // Cannot fail: at most MAX_QUEUE_RESULTS items came out of the Capped.
        let _ = out.push(r.data.observation(queue, 0));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct RawAggregateResult {
    group: Option<Group>,
    #[serde(default)]
    /// One 30-minute interval is asked for: a second one is dropped (and counted).
    data: Capped<ObsData, 1>,
}

#[derive(Deserialize)]
struct RawAggregates {
    #[serde(default)]
    results: Capped<RawAggregateResult, MAX_QUEUE_RESULTS>,
}

/// Parses `POST /api/v2/analytics/conversations/aggregates/query` grouped by `queueId` with a
/// 30-minute granularity → `{"results":[{"group":{"queueId"},"data":[{"interval","metrics":[…]}]}]}`:
/// one [`QueueAggregate`] per result whose interval starts at `interval_start` (the one asked
/// for), counts analytics left out as 0 (`tAnswered` included: this query carries it). A queue
/// with nothing in the interval has no result at all: the caller sets it to zeros. More than
/// [`MAX_QUEUE_RESULTS`] results is refused.
pub fn queue_aggregates(
    body: &[u8],
    interval_start: Millis,
) -> Result<Vec<QueueAggregate, MAX_QUEUE_RESULTS>, Rejected> {
    const PATH: &str = "results[].data[].interval";
    let raw: RawAggregates = read(body)?;
    if raw.results.dropped > 0 {
        return Err(Rejected::OverCapacity {
            field: "results",
            max: MAX_QUEUE_RESULTS,
        });
    }
    let mut out = Vec::new();
    for r in raw.results.items {
        let queue = need_id(r.group.and_then(|g| g.queue_id), "results[].group.queueId")?;
        for d in r.data.items.iter() {
            let interval = d.interval(PATH)?;
            if interval.0 == interval_start {
                // Cannot fail: one per result, at most MAX_QUEUE_RESULTS results.
                let _ = out.push(d.aggregate(queue, interval, true));
            }
        }
    }
    Ok(out)
}

/// A Genesys `ErrorBody`, reduced to what logs need.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `too.many.requests.retry.after` (cut to fit).
    pub code: String<ERROR_CODE_LEN>,
    /// HTTP status echoed in the body (0 when absent).
    pub status: u16,
    /// Human-readable message (cut to fit).
    pub message: String<ERROR_MESSAGE_LEN>,
}

#[derive(Deserialize)]
struct RawError {
    message: Option<Text<ERROR_MESSAGE_LEN>>,
    code: Option<Text<ERROR_CODE_LEN>>,
    status: Option<u16>,
}

/// Parses a Genesys `ErrorBody` `{message, code, status, …}`; every field optional, long
/// strings cut (for logs only).
pub fn error_body(body: &[u8]) -> Result<ErrorBody, Rejected> {
    let raw: RawError = read(body)?;
    Ok(ErrorBody {
        code: raw.code.unwrap_or_default().s,
        status: raw.status.unwrap_or(0),
        message: raw.message.unwrap_or_default().s,
    })
}

#[cfg(test)]
mod tests;
