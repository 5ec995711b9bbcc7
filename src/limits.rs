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
