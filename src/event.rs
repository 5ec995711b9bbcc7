//! The domain vocabulary that flows from `upstream`/`decode` into `state`: fixed-size,
//! `Copy`, no I/O. Owns ids, timestamps and the event enum; does not own JSON shapes
//! (that is `decode`) nor the wire format (that is `presence_wire`).

use core::fmt;
pub use presence_wire::{Interaction, Media, Presence, Routing};
use serde::{Deserialize, Serialize};

/// A Genesys entity id (user, queue, group, presence definition, conversation): a UUID kept
/// as 16 bytes so records and keys are fixed-size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Id(pub [u8; 16]);

impl Id {
    /// Parses the canonical 8-4-4-4-12 hex form (either case).
    pub fn parse(s: &str) -> Option<Id> {
        /// Where each byte's two hex digits start in the 36-character form.
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
        if [b[8], b[13], b[18], b[23]] != [b'-'; 4] {
            return None;
        }
        let mut out = [0u8; 16];
        // Every digit's value ORed together: a non-digit (0xFF) shows in the high nibble.
        let mut seen = 0u8;
        for (o, &at) in out.iter_mut().zip(AT.iter()) {
            let (hi, lo) = (hex(*b.get(at)?), hex(*b.get(at + 1)?));
            seen |= hi | lo;
            *o = (hi << 4) | lo;
        }
        (seen < 16).then_some(Id(out))
    }
}

/// The value of a hex digit (either case), or 0xFF: one table load per digit (an id is
/// parsed for every frame's topic and most bodies).
fn hex(c: u8) -> u8 {
    const TABLE: [u8; 256] = {
        let mut t = [0xFF; 256];
        let mut d = 0u8;
        while d < 10 {
            t[(b'0' + d) as usize] = d;
            d += 1;
        }
        let mut d = 0u8;
        while d < 6 {
            t[(b'a' + d) as usize] = 10 + d;
            t[(b'A' + d) as usize] = 10 + d;
            d += 1;
        }
        t
    };
    TABLE[usize::from(c)]
}

impl Id {
    /// The canonical lowercase hyphenated form (`8-4-4-4-12` hex digits), without going
    /// through the formatting machinery: every MQTT topic carries one.
    pub fn hyphenated(&self) -> [u8; 36] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut at = 0;
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            out[at] = HEX[usize::from(byte >> 4)];
            out[at + 1] = HEX[usize::from(byte & 0x0f)];
            at += 2;
        }
        out
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.hyphenated();
        // Only ASCII hex digits and hyphens were written.
        f.write_str(core::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Milliseconds since the Unix epoch (UTC), as carried by Genesys timestamps.
pub type Millis = u64;

/// An agent's presence changed (`v2.users.{id}.presence`, `.activity`, REST bulk presence).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PresenceChange {
    /// The agent.
    pub user: Id,
    /// Presence definition id (custom presences map to a system presence through it).
    pub definition: Id,
    /// System presence as the source named it (may be refined via the definition table).
    pub presence: Presence,
    /// Source timestamp `modifiedDate`; orders changes (last write wins).
    pub modified: Millis,
}

/// An agent's routing status changed (`.routingStatus`, `.activity`, REST).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RoutingChange {
    /// The agent.
    pub user: Id,
    /// New status.
    pub routing: Routing,
    /// Source timestamp `startTime`; orders changes.
    pub started: Millis,
}

/// An agent's out-of-office state changed (`.activity` `outOfOffice`, REST `outOfOffice`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OutOfOfficeChange {
    /// The agent.
    pub user: Id,
    /// Out of office now.
    pub active: bool,
    /// Source timestamp `modifiedDate` (0 = none sent); orders changes.
    pub modified: Millis,
}

/// The agent's own participant in a conversation changed (`v2.users.{id}.conversations`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ConversationChange {
    /// The agent.
    pub user: Id,
    /// The conversation.
    pub conversation: Id,
    /// Media of the agent's active session.
    pub media: Media,
    /// State of the agent's session.
    pub interaction: Interaction,
    /// After-call work in progress (disconnected, wrap-up required and not yet done).
    pub wrapup: bool,
    /// Conversation over for this agent (disconnected and wrap-up done or not required).
    pub ended: bool,
    /// Newest timestamp in the agent's participant; orders changes.
    pub changed: Millis,
}

/// Queue membership changed (`v2.routing.queues.{id}.users`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MemberChange {
    /// The queue.
    pub queue: Id,
    /// The member.
    pub user: Id,
    /// Joined (true) or left / deactivated (false).
    pub joined: bool,
}

/// Real-time queue observations (interval start == end), each metric optional.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueObservation {
    /// The queue.
    pub queue: Id,
    /// Observation time; orders snapshots.
    pub observed: Millis,
    /// `oWaiting`.
    pub waiting: Option<u32>,
    /// `oInteracting`.
    pub interacting: Option<u32>,
    /// `oAlerting`.
    pub alerting: Option<u32>,
    /// `oOnQueueUsers` (all qualifiers summed).
    pub on_queue: Option<u32>,
    /// `oOffQueueUsers`.
    pub off_queue: Option<u32>,
    /// `oLongestWaiting` (`stats.max`, ms).
    pub longest_waiting: Option<u64>,
}

/// 30-minute aggregate numbers for a queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueAggregate {
    /// The queue.
    pub queue: Id,
    /// Interval start; orders aggregates (a newer interval replaces, same interval updates).
    pub interval_start: Millis,
    /// Interval end.
    pub interval_end: Millis,
    /// `nOffered` count.
    pub offered: Option<u32>,
    /// `tAnswered` count.
    pub answered: Option<u32>,
    /// `tAbandon` count.
    pub abandoned: Option<u32>,
    /// `oServiceLevel` ratio in per mille.
    pub service_level_permille: Option<u16>,
}

/// One decoded change of an agent or a queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// Presence.
    Presence(PresenceChange),
    /// Routing status.
    Routing(RoutingChange),
    /// `.activity` carries both (either may be absent).
    Activity(
        Option<PresenceChange>,
        Option<RoutingChange>,
        Option<OutOfOfficeChange>,
    ),
    /// Conversation.
    Conversation(ConversationChange),
    /// Queue membership.
    Member(MemberChange),
    /// Queue observation snapshot.
    Observation(QueueObservation),
    /// Queue 30-minute aggregate.
    Aggregate(QueueAggregate),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_and_rejects_junk() {
        let s = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";
        let id = Id::parse(s).unwrap();
        assert_eq!(id.to_string(), s);
        assert_eq!(Id::parse(&s.to_uppercase()), Some(id));
        assert_eq!(Id::parse("9ed7d9f6-0c59-4360-ac54-40dd35eb9c2"), None);
        assert_eq!(Id::parse("9ed7d9f6x0c59-4360-ac54-40dd35eb9c2f"), None);
        assert_eq!(Id::parse("9ed7d9f6-0c59-4360-ac54-40dd35eb9c2g"), None);
    }

    #[test]
    fn hyphenated_matches_the_hex_of_every_byte() {
        for b in 0..=255u8 {
            let mut bytes = [0u8; 16];
            for (i, x) in bytes.iter_mut().enumerate() {
                *x = b.wrapping_add(i as u8 * 17);
            }
            let id = Id(bytes);
            let hex: String = bytes.iter().map(|x| format!("{x:02x}")).collect();
            let want = format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            );
            assert_eq!(id.to_string(), want);
            assert_eq!(Id::parse(&want), Some(id));
        }
    }
}
