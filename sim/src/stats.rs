//! [`SimStats`]: counters of what the simulator did, for tests and the bench.
//!
//! Owns: the atomic counters (updated from every task without taking the hub lock) and their snapshot type.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A snapshot of the simulator's counters.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct SimStats {
            $($(#[$doc])* pub $name: u64,)*
        }

        /// Live counters.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub $name: AtomicU64,)*
        }

        impl Counters {
            /// Reads every counter.
            pub(crate) fn snapshot(&self) -> SimStats {
                SimStats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Tokens issued by `/oauth/token`.
    tokens_issued,
    /// `/oauth/token` requests refused (bad client or grant).
    token_failures,
    /// REST requests received (`/oauth/token` and `/api/v2/...`; not `/sim/...`).
    rest_requests,
    /// REST requests answered 401.
    unauthorized,
    /// REST requests answered 429.
    rate_limited,
    /// Channels created.
    channels_created,
    /// REST requests refused by [`crate::Fault::DenyEndpoint`] (403/404).
    rest_denied,
    /// Channels evicted by the per-client limit or the fault.
    channels_evicted,
    /// Channels ended by expiry (own `expires` or their token's).
    channels_expired,
    /// WebSocket handshakes accepted.
    ws_connections,
    /// WebSocket handshakes refused (unknown/expired channel).
    ws_refused,
    /// Events generated (logical changes, by `step`, the background generator, or scripted calls).
    events_generated,
    /// Notifications produced by events (including observation notifications).
    notifications,
    /// Notifications no socket was subscribed to.
    notifications_unrouted,
    /// Notifications lost to `Silence`.
    notifications_silenced,
    /// Frames written to sockets (text and binary).
    frames_sent,
    /// Heartbeats queued to sockets.
    heartbeats_sent,
    /// Hostile frames queued by faults.
    hostile_frames_sent,
    /// Sockets dropped because their outbound queue was full (slow consumer).
    slow_consumer_drops,
    /// Client text frames received on sockets.
    client_messages,
    /// Background-generator events skipped because a tick was too far behind.
    generator_skipped,
    /// REST requests held unanswered by [`crate::Fault::RestHang`].
    rest_held,
    /// `GET /api/v2/conversations/{id}` requests held by [`crate::Fault::HoldConversationReads`].
    conversation_reads_held,
    /// Subscription requests held by [`crate::Fault::HoldSubscriptions`].
    subscriptions_held,
    /// Listing pages given an endless `nextUri` by [`crate::Fault::EndlessPaging`].
    rest_endless_pages,
    /// REST answers padded by [`crate::Fault::HugeBodies`].
    rest_huge_bodies,
    /// `POST /api/v2/analytics/conversations/details/query` requests received.
    conversation_queries,
    /// `GET /api/v2/conversations/{id}` requests received.
    conversation_reads,
    /// `GET /api/v2/users/presences/{source}/bulk` requests received.
    bulk_presence_reads,
    /// `POST /api/v2/analytics/queues/observations/query` requests received.
    queue_observation_queries,
    /// `POST /api/v2/analytics/conversations/aggregates/query` requests received.
    queue_aggregate_queries,
}

impl Counters {
    /// Adds one.
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
