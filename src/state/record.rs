//! The persisted record format: the table's keys and values as sled holds them,
//! `[RECORD_VERSION][postcard(Value)]`. A record of another version is dropped at boot and
//! rebuilt through resync, never misread; the golden-bytes tests below pin every kind, so a
//! field inserted without a version bump fails them. Does not own the table (`table`) nor
//! the database (`store`).

use serde::{Deserialize, Serialize};

use crate::event::{Id, Interaction, Media, Millis, Presence, Routing};
use crate::limits::NAME_LEN;
use crate::zones::MAX_AGENT_QUEUES;

/// Format version of a persisted record (first byte of every sled value). A record with
/// another version is dropped at boot and rebuilt through resync, never misread.
pub const RECORD_VERSION: u8 = 4;

/// Largest encoded record, for the fixed encode buffer.
pub const RECORD_BUF: usize = 256;

/// A key of the table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Key {
    /// An agent (user id).
    Agent(Id),
    /// A queue (queue id).
    Queue(Id),
}

impl Key {
    /// sled key: a kind byte then the 16 id bytes.
    pub fn to_bytes(self) -> [u8; 17] {
        let (kind, id) = match self {
            Key::Agent(id) => (b'a', id),
            Key::Queue(id) => (b'q', id),
        };
        let mut out = [0u8; 17];
        out[0] = kind;
        out[1..].copy_from_slice(&id.0);
        out
    }

    /// Inverse of [`Key::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Key> {
        let id = Id(b.get(1..17)?.try_into().ok()?);
        match b.first()? {
            b'a' => Some(Key::Agent(id)),
            b'q' => Some(Key::Queue(id)),
            _ => None,
        }
    }

    /// The id.
    pub fn id(self) -> Id {
        match self {
            Key::Agent(id) | Key::Queue(id) => id,
        }
    }
}

/// Everything known about one agent.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentRecord {
    /// System presence.
    pub presence: Presence,
    /// Presence definition id.
    pub definition: Id,
    /// Source time of the presence.
    pub presence_ms: Millis,
    /// Routing status.
    pub routing: Routing,
    /// Source time of the routing status.
    pub routing_ms: Millis,
    /// Media of the current interaction.
    pub media: Media,
    /// State of the current interaction.
    pub interaction: Interaction,
    /// In after-call work.
    pub wrapup: bool,
    /// Current (or last) conversation.
    pub conversation: Id,
    /// Source time of the interaction state.
    pub conversation_ms: Millis,
    /// Indices (see [`crate::zones::Zones::queue_index`]) of the watched queues the agent is a member of.
    pub queues: heapless::Vec<u16, MAX_AGENT_QUEUES>,
    /// Display name from REST.
    pub name: heapless::String<NAME_LEN>,
    /// Local wall-clock time the cloud last confirmed this record (event or resync).
    pub confirmed_ms: Millis,
    /// Out of office (Genesys `outOfOffice.active`; false until the cloud says otherwise).
    pub out_of_office: bool,
    /// Source time of the out-of-office state.
    pub out_of_office_ms: Millis,
}

/// Everything known about one queue. `None` is "the cloud has not told us" (shown as unknown,
/// never as 0): observations are `None` until the first observation carrying them, interval
/// figures until the interval's first aggregate event or read carrying them.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Waiting interactions.
    pub waiting: Option<u32>,
    /// Interactions being handled.
    pub interacting: Option<u32>,
    /// Interactions alerting.
    pub alerting: Option<u32>,
    /// Members on queue.
    pub on_queue: Option<u32>,
    /// Members off queue.
    pub off_queue: Option<u32>,
    /// Longest current wait, ms; `Some(0)` when nobody waits.
    pub longest_waiting_ms: Option<u64>,
    /// Source time of the observation.
    pub observed_ms: Millis,
    /// Offered in the current interval.
    pub offered: Option<u32>,
    /// Answered in the current interval.
    pub answered: Option<u32>,
    /// Abandoned in the current interval.
    pub abandoned: Option<u32>,
    /// Service level, per mille.
    pub service_level_permille: Option<u16>,
    /// Start of the 30-minute interval the aggregates belong to.
    pub interval_start_ms: Millis,
    /// Local wall-clock time of the last confirmation.
    pub confirmed_ms: Millis,
    /// Display name from REST (`GET /api/v2/routing/queues`).
    pub name: heapless::String<NAME_LEN>,
}

/// A record of either kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Agent.
    Agent(AgentRecord),
    /// Queue.
    Queue(QueueRecord),
}

/// `[RECORD_VERSION][postcard(Value)]` into `buf`.
pub fn encode_record<'a>(v: &Value, buf: &'a mut [u8; RECORD_BUF]) -> Option<&'a [u8]> {
    buf[0] = RECORD_VERSION;
    let n = postcard::to_slice(v, &mut buf[1..]).ok()?.len();
    Some(&buf[..=n])
}

/// Inverse of [`encode_record`]; None for an unknown version or a corrupt record.
pub fn decode_record(b: &[u8]) -> Option<Value> {
    let (&version, body) = b.split_first()?;
    if version != RECORD_VERSION {
        return None;
    }
    postcard::from_bytes(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowercase hex of `b`, for golden comparisons that print readably.
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// One record of each kind with every field set to a distinct value, and the bytes sled
    /// holds for it at [`RECORD_VERSION`] 4 (3 had no unknown queue figures, 2 no queue name). A field added, removed, reordered or retyped
    /// changes these bytes: bump `RECORD_VERSION` (old records are then dropped at boot and
    /// rebuilt by resync) and write the new golden bytes here.
    fn golden() -> [(Value, &'static str); 2] {
        let mut queues = heapless::Vec::new();
        queues.push(3).unwrap();
        queues.push(300).unwrap();
        let agent = AgentRecord {
            presence: Presence::OnQueue,
            definition: Id([0x11; 16]),
            presence_ms: 1_764_000_000_001,
            routing: Routing::Interacting,
            routing_ms: 1_764_000_000_002,
            media: Media::Call,
            interaction: Interaction::Connected,
            wrapup: true,
            conversation: Id([0x22; 16]),
            conversation_ms: 1_764_000_000_003,
            queues,
            name: heapless::String::try_from("Ana é").unwrap(),
            confirmed_ms: 1_764_000_000_004,
            out_of_office: true,
            out_of_office_ms: 1_764_000_000_008,
        };
        let queue = QueueRecord {
            waiting: Some(1),
            interacting: Some(2),
            alerting: Some(3),
            on_queue: Some(400),
            off_queue: Some(5),
            longest_waiting_ms: Some(60_000),
            observed_ms: 1_764_000_000_005,
            offered: Some(6),
            answered: Some(7),
            abandoned: Some(8),
            service_level_permille: Some(875),
            interval_start_ms: 1_764_000_000_006,
            confirmed_ms: 1_764_000_000_007,
            name: heapless::String::try_from("Sales ü").unwrap(),
        };
        [
            (Value::Agent(agent), AGENT_GOLDEN),
            (Value::Queue(queue), QUEUE_GOLDEN),
        ]
    }

    const AGENT_GOLDEN: &str = "0400061111111111111111111111111111111181d0dfb4ab330382d0dfb4ab330103012222222222222222222222222222222283d0dfb4ab330203ac0206416e6120c3a984d0dfb4ab330188d0dfb4ab33";
    const QUEUE_GOLDEN: &str =
        "0401010101020103019003010501e0d40385d0dfb4ab3301060107010801eb0686d0dfb4ab3387d0dfb4ab330853616c657320c3bc";

    #[test]
    fn records_match_their_golden_bytes_and_round_trip() {
        for (value, golden) in golden() {
            let mut buf = [0u8; RECORD_BUF];
            let bytes = encode_record(&value, &mut buf).expect("fits RECORD_BUF");
            assert_eq!(hex(bytes), golden, "{value:?}");
            assert_eq!(bytes[0], RECORD_VERSION);
            assert_eq!(decode_record(bytes), Some(value));
        }
    }

    #[test]
    fn keys_match_their_golden_bytes() {
        let id = Id([0xab; 16]);
        assert_eq!(
            hex(&Key::Agent(id).to_bytes()),
            format!("61{}", "ab".repeat(16))
        );
        assert_eq!(
            hex(&Key::Queue(id).to_bytes()),
            format!("71{}", "ab".repeat(16))
        );
        for k in [Key::Agent(id), Key::Queue(id)] {
            assert_eq!(Key::from_bytes(&k.to_bytes()), Some(k));
        }
    }
}
