//! Every compile-time capacity of the gateway, each with the reason for its size.
//!
//! Runtime capacities (agents, queues, channel depths, frame size, sled cache) come from the
//! board profile (`board/*.toml`, see [`crate::config::Board`]); what is here shapes types.

/// Longest topic name the decoder keeps. Genesys topics we subscribe to are at most
/// `v2.analytics.queues.{36}.observations` (68 chars); system topics carry a channel id
/// (`v2.system.no_longer_subscribed.streaming-N-{26}`, 66). 128 leaves room for unknown ones
/// we only need to count.
pub const TOPIC_LEN: usize = 128;

/// Longest JSON string value the decoder unescapes: sizes the serde-json-core scratch buffer.
/// Every string we keep is shorter (ids 36, timestamps 24, enum names < 32).
pub const JSON_SCRATCH: usize = 256;

/// Deepest JSON nesting accepted before parsing. Real event bodies nest about 6 deep
/// (conversation → participants → calls → self → …); the parser recurses per level, so a
/// hostile `[[[[…` must be refused by a flat pre-scan before it reaches the parser.
pub const MAX_JSON_DEPTH: usize = 32;

/// Participants kept per conversation event. Conferences rarely exceed 6 parties; the
/// agent's own participant is looked for among these, the tail beyond is skipped.
pub const MAX_PARTICIPANTS: usize = 16;

/// Media sessions (calls, chats, …) kept per participant; transfers add a few.
pub const MAX_SESSIONS: usize = 8;

/// Metrics kept per queue-observation data item (Genesys sends about 10 observation metrics).
pub const MAX_METRICS: usize = 32;

/// Data items kept per queue-observation event (one per interval, usually 1).
pub const MAX_INTERVALS: usize = 4;

/// Display names kept from REST, in bytes (UTF-8), truncated at a char boundary.
pub const NAME_LEN: usize = 32;

/// Zone names in the config and in MQTT topics.
pub const ZONE_NAME_LEN: usize = 32;

// ---------------------------------------------------------------------------------------------
// REST: what one response may carry (the decoder's fixed capacities) and, derived from them,
// how much the gateway asks for in one request.

/// Entities per REST page (`members_page`, `users_page`): Genesys caps `pageSize` at 100 for
/// queue members, and the gateway asks for users (and open conversations) in pages of this
/// many ids, so every page it requests fits the decoder's fixed page.
pub const MAX_PAGE: usize = 100;

/// Users per bulk presence request: "A comma separated list of user IDs … Limit 50."
pub const MAX_BULK: usize = 50;

/// Presence definitions kept, from one listing and in the state table alike: 10 system
/// presences plus custom ones; orgs have a few dozen, and the new endpoint is not paged, so
/// leave generous room.
pub const MAX_DEFINITIONS: usize = 512;

/// Queue results per observations query: the gateway queries this many queues at a time.
pub const MAX_QUEUE_RESULTS: usize = 100;

/// `(user, conversation)` pairs kept from one conversation details page: a page holds at most
/// [`MAX_PAGE`] conversations, most with one agent; transfers and consults add a few more.
pub const MAX_CONVERSATION_HITS: usize = 2 * MAX_PAGE;

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
