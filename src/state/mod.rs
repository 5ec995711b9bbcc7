//! The current-state table: the latest value per agent and per queue, persisted in sled so
//! it survives kill -9 and power cuts, with a coalescing dirty set feeding the publisher.
//!
//! Owns last-write-wins ordering (by source timestamp), capacity (a full table refuses new
//! keys and counts them; it never grows), persistence and the dirty set. Does not own any
//! socket: `apply` is pure apart from the sled write, and the publisher reads the table
//! through [`Shared`].
//!
//! The dirty set holds each key at most once (a flag per slot plus a FIFO of slot indices
//! sized to the table), so a slow broker costs no memory: a key changed ten times while the
//! broker was slow is published once, with its latest value, and nine coalesces are counted.
//!
//! Records are written behind, the same way: a change queues its slot for the next save (a
//! flag and a FIFO sized to the table), and the state stage writes each queued record once
//! every [`SAVE_EVERY`], before every durability point's flush and at shutdown. A burst of
//! changes to one agent costs one sled write. Durability is what it was within a save period:
//! sled only reaches the disk at its own flush (every 500 ms) anyway.
//!
//! # When the disk fails (full, I/O error)
//!
//! The table in memory is the truth; sled is its copy. sled 0.34 accepts writes into memory
//! and reports a failed write only when its background flush (every 500 ms) hits the disk;
//! from then on the whole database is poisoned: every later write and flush fails, even
//! once space is back, until it is closed and reopened. So a failed write puts the table in a
//! bounded *degraded* state instead of being retried: the trees are dropped, later writes are
//! held back (counted, never queued), the publisher keeps serving displays from memory, and
//! the health document raises `storage_alarm`. [`Shared::maintain_store`], run on the
//! state stage's upkeep tick, then reopens the store through [`Disk`] and rewrites every slot
//! of the table (and the heatmaps) from memory; the first flush that succeeds clears the
//! alarm. Memory stays fixed: the rewrite of the whole bounded table replaces a retry queue.
//!
//! # Layout
//! - `record`: keys, values and their persisted bytes (versioned, golden-tested).
//! - `table`: the slots and `apply` (last write wins, staleness, membership).
//! - `dirty`: the coalescing dirty set and the republish sweep.
//! - `store`: sled, the shared [`Disk`] handle, degraded mode and recovery.
//! - `stage`: the task, [`Shared`], durability points, the table's timers.

use std::path::PathBuf;

mod dirty;
mod record;
mod stage;
mod store;
mod table;
#[cfg(test)]
mod tests;

pub use dirty::DirtyItem;
pub use record::{
    decode_record, encode_record, AgentRecord, Key, QueueRecord, Value, RECORD_BUF, RECORD_VERSION,
};
pub use stage::{now_ms, Shared, StateStage};
pub use store::{Disk, Reason, Store, StoreEvent, LOCK_WAIT, SEGMENT_BYTES};
pub use table::Table;

/// How often the records changed since the last save are written to sled: a power cut loses
/// at most this plus sled's flush period (`app::SLED_FLUSH_MS`) of changes, which the resync
/// after the restart repairs.
pub const SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Outcome of one update.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Change {
    /// The record changed and is marked dirty.
    Applied,
    /// Same timestamp and value as the record.
    Duplicate,
    /// Older than the record.
    Stale,
    /// New key refused: the table is full.
    Refused,
    /// Nothing to do (control message, unknown queue, …).
    Ignored,
}

/// Why the state store failed to open, or a write to it failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process (a second gateway, a manual run beside the service) holds the store:
    /// its lock was still held after [`LOCK_WAIT`].
    #[error("state store at {path} is in use by another process (still locked after {} s): {source}", LOCK_WAIT.as_secs())]
    Locked {
        /// Directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// sled refused to open the directory even after quarantining it.
    #[error("state store at {path}: {source}")]
    Open {
        /// Directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// The disk holding the store is full. The store is intact (a full disk is not corruption,
    /// so it is never quarantined); sled cannot open even an existing store without free space.
    #[error("state store at {path}: the disk is full ({source}); free space and start again")]
    Full {
        /// Directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// A write or flush failed, or the store was closed for reopening (storage upkeep).
    #[error("state store write failed: {0}")]
    Write(sled::Error),
}

/// Sizes of the table, from the board profile.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Most agents.
    pub agents: usize,
    /// Most queues.
    pub queues: usize,
}
