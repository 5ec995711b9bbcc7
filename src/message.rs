//! The vocabulary between the stages, owned by none of them (as rumqttc keeps `Request` and
//! `Event` apart from the tasks that send them): what `decode` hands the socket
//! ([`Message`]: an [`Event`] for the state, or a [`Control`] only the socket acts on), and what
//! `upstream` sends the state stage ([`Update`]) with the state stage's answer to a durability
//! point ([`Durable`]). Fixed size, no I/O. The domain types inside (ids, presences, changes)
//! are in [`crate::event`].

use crate::event::{Event, Id, MemberChange, Presence};
use crate::limits::NAME_LEN;

/// One decoded notification-channel frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Message {
    /// A change of an agent or a queue: forwarded to the state stage.
    Event(Event),
    /// About the channel itself: acted on by the socket, never forwarded.
    Control(Control),
}

/// Messages about the channel itself, not about agents or queues.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Control {
    /// `channel.metadata` "WebSocket Heartbeat".
    Heartbeat,
    /// `channel.metadata` "pong" (answer to our `{"message":"ping"}`).
    Pong,
    /// `v2.system.socket_closing`: the server closes this socket in about a minute.
    SocketClosing,
    /// `v2.system.no_longer_subscribed.{channel}`: another channel evicted this one.
    NoLongerSubscribed,
    /// `v2.system.token_revoked.{…}`: the token behind this channel is revoked.
    TokenRevoked,
    /// `{"result":"404",…}`: the channel is gone (expired, evicted, token expired).
    ChannelGone,
    /// `{"result":"200",…}`: a WebSocket-level subscribe was accepted.
    SubscribeAck,
    /// `{"result":"4xx",…}` other than 404: a WebSocket-level subscribe failed.
    SubscribeFailed,
}

/// What the state stage receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// A decoded notification or REST resync result.
    Event(Event),
    /// A presence definition (custom presences map to a system presence through it).
    Definition {
        /// Definition id.
        id: Id,
        /// Its system presence.
        presence: Presence,
    },
    /// An agent's display name (REST).
    Name {
        /// Agent.
        user: Id,
        /// Name, truncated.
        name: heapless::String<NAME_LEN>,
    },
    /// A watched queue's display name (REST).
    QueueName {
        /// Queue.
        queue: Id,
        /// Name, truncated.
        name: heapless::String<NAME_LEN>,
    },
    /// An agent is watched (discovered via config, queue or group membership): make sure a
    /// record exists so displays list the agent even before its first event.
    Watch(Id),
    /// An agent is no longer watched (it left every watched queue and is not watched
    /// directly): it leaves every zone (displays get empty payloads) and its record is deleted.
    Unwatch(Id),
    /// A complete listing of a queue's members (REST) begins or ends; in between, its
    /// members arrive as [`Update::Listed`]. At the end, an agent the table holds as a member
    /// but the listing did not name has left (during a gap, or while the gateway was off): the
    /// queue is removed from it and its zones follow.
    MemberListing {
        /// The queue.
        queue: Id,
        /// Begin or complete.
        phase: ListingPhase,
    },
    /// A member named by a page of the [`Update::MemberListing`] in progress. Applied as a
    /// member change, unless a live member event for that agent and queue was applied since
    /// the listing began: the page may have been read before it, and the live event wins (a
    /// leave during the listing is not undone by a page that still names the agent).
    Listed(MemberChange),
    /// A durability point: once every update sent before it is applied, the state stage
    /// flushes sled and acknowledges `seq` on its [`Durable`] watch. Upstream sends one at the
    /// end of every resync and reports the resync done only after the acknowledgement, so a
    /// completed resync is on disk (a power cut after it cannot lose what it read).
    Checkpoint(u64),
}

/// The state stage's acknowledgement of the latest [`Update::Checkpoint`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// The checkpoint acknowledged.
    pub seq: u64,
    /// sled's flush succeeded: everything applied before the checkpoint is on disk. False for a
    /// memory-only table, a degraded store or a failed flush (which degrades the store).
    pub on_disk: bool,
    /// How long the flush took, µs.
    pub flush_us: u64,
}

/// Phase of an [`Update::MemberListing`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ListingPhase {
    /// The listing starts.
    Begin,
    /// Every page was read; members not named have left. (A listing cut short by a paging
    /// limit never completes and removes nobody.)
    Complete,
}
