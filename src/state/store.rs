//! The store: sled under the state directory (bounded cache, the flush period), opened with
//! quarantine of an unreadable directory and a bounded wait for a released lock; [`Disk`],
//! the one shared handle that can be reopened in place; the table's writes into it; and the
//! degraded mode with its recovery by a rewrite from memory (see the module doc of `state`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::record::{encode_record, RECORD_BUF};
use super::stage::Shared;
use super::table::Table;
use super::StateError;

/// The sled database of one gateway, opened with bounded cache.
pub struct Store {
    /// The database, behind a handle that can reopen it in place.
    pub db: Disk,
    /// Records.
    pub records: sled::Tree,
    /// Session counter of this boot (incremented and flushed at open).
    pub session: u32,
}

/// How long an open waits for another handle's lock on the store to go. sled releases its
/// directory lock when the last handle on a database is dropped, and its background flusher
/// (woken every flush period) can hold one for a moment after the store was dropped in this
/// process: a reopen (the disk-full recovery, a restart in the same process) waits for that
/// instead of racing it. A lock still held after this long is another process's.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// How often a held lock is tried again within [`LOCK_WAIT`].
const LOCK_POLL: Duration = Duration::from_millis(10);

/// sled's log segment size, which is also the size of each in-memory log buffer: 64 KiB
/// instead of sled's default 512 KiB. Measured (bench phase `p`, 10,000 agents, cold start,
/// resync and 400,000 events at 20,000/s, musl firmware, two processes each): VmHWM 19.3 and
/// 19.3 MiB against 25.3 and 20.2 MiB, the steady VmRSS the same (19.2–19.9 MiB) and the
/// instructions per event the same: the larger buffers only made transient peaks when they
/// rotate. Records are ~100 bytes, far below a segment.
pub const SEGMENT_BYTES: usize = 64 * 1024;

/// Opens sled in `dir` with the gateway's settings (bounded cache, low-space mode, the
/// flush period, [`SEGMENT_BYTES`]), without any recovery: a fresh `Config` each time, since a
/// `Config` that opened a database carries that database's state (its poisoned-error flag
/// included).
/// A held lock is tried again until [`LOCK_WAIT`] has passed; the error at that bound is the
/// lock error (blocking: callers run it at boot or off the async workers).
fn open_db(dir: &Path, cache_bytes: u64, flush_ms: u64) -> sled::Result<sled::Db> {
    open_db_segments(dir, cache_bytes, flush_ms, SEGMENT_BYTES)
}

/// [`open_db`] with another segment size (a store written before [`SEGMENT_BYTES`]).
fn open_db_segments(
    dir: &Path,
    cache_bytes: u64,
    flush_ms: u64,
    segment: usize,
) -> sled::Result<sled::Db> {
    let started = Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            .flush_every_ms(Some(flush_ms))
            .segment_size(segment)
            .open();
        match opened {
            Err(e) if is_lock_error(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(LOCK_POLL);
            }
            other => return other,
        }
    }
}

/// The segment size a store in `dir` was written with (sled's `conf` file), if it has one.
fn segment_of(dir: &Path) -> Option<usize> {
    let conf = std::fs::read(dir.join("conf")).ok()?;
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|l| l.strip_prefix("segment_size: "))
        .and_then(|v| v.trim().parse().ok())
}

/// `dir` with `suffix` appended to its name (a sibling directory).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}.{suffix}", dir.display()))
}

/// Rewrites a store written with another segment size (sled refuses to open it with
/// [`SEGMENT_BYTES`]; every store before that constant used 512 KiB) into one with ours, so
/// an upgraded gateway keeps its last state for the displays at boot: every tree copied into
/// `<dir>.migrating`, flushed, then swapped in. A power cut midway leaves the old store where
/// it was (the copy is redone) or, between the two renames, no store (a fresh one is made and
/// the resync rebuilds it, as for an unreadable store). `Ok(true)` when it migrated.
fn migrate_segments(dir: &Path, cache_bytes: u64, flush_ms: u64) -> sled::Result<bool> {
    let Some(old) = segment_of(dir).filter(|s| *s != SEGMENT_BYTES) else {
        return Ok(false);
    };
    let fresh = sibling(dir, "migrating");
    let old_dir = sibling(dir, "segments-old");
    for leftover in [&fresh, &old_dir] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover)?;
        }
    }
    {
        let from = open_db_segments(dir, cache_bytes, flush_ms, old)?;
        let to = open_db(&fresh, cache_bytes, flush_ms)?;
        for name in from.tree_names() {
            let (src, dst) = (from.open_tree(&name)?, to.open_tree(&name)?);
            for kv in src.iter() {
                let (k, v) = kv?;
                dst.insert(k, v)?;
            }
        }
        to.flush()?;
    }
    std::fs::rename(dir, &old_dir)?;
    std::fs::rename(&fresh, dir)?;
    std::fs::remove_dir_all(&old_dir)?;
    tracing::info!(path = %dir.display(), from = old, to = SEGMENT_BYTES, "state store rewritten with the new segment size");
    Ok(true)
}

impl Store {
    /// Opens (or creates) the store in `dir`; a store of an older build, written with another
    /// segment size, is rewritten with [`SEGMENT_BYTES`] first, its records kept. A directory
    /// sled cannot open (truncated or corrupt) is moved aside to `<dir>.corrupt-<unix secs>` and a fresh store is created:
    /// the state is rebuilt through resync, never a crash loop. A held lock and a full disk
    /// are not corruption: they are refused ([`StateError::Locked`], [`StateError::Full`])
    /// and the store is left where it is.
    pub fn open(dir: &Path, cache_bytes: u64, flush_ms: u64) -> Result<(Store, bool), StateError> {
        // A store of an older build, written with sled's default segment size: rewritten
        // first. If that fails, the open below fails too and the store is quarantined.
        if let Err(e) = migrate_segments(dir, cache_bytes, flush_ms) {
            tracing::error!(path = %dir.display(), error = %e, "state store: rewriting it with the new segment size failed");
        }
        let open = || {
            open_db(dir, cache_bytes, flush_ms).and_then(|db| {
                let records = db.open_tree("records")?;
                Ok((db, records))
            })
        };
        let (db, records, quarantined) = match open() {
            Ok((db, r)) => (db, r, false),
            // A held lock is not corruption: never move a live store aside.
            Err(e) if is_lock_error(&e) => {
                return Err(StateError::Locked {
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
            // Nor is a full disk: sled needs free space to open even an intact store.
            Err(e) if is_full_error(&e) => {
                return Err(StateError::Full {
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
            Err(first) => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside = PathBuf::from(format!("{}.corrupt-{secs}", dir.display()));
                tracing::error!(path = %dir.display(), error = %first, aside = %aside.display(), "state store unreadable: quarantined, rebuilding through resync");
                std::fs::rename(dir, &aside).map_err(|e| StateError::Open {
                    path: dir.to_path_buf(),
                    source: sled::Error::Io(e),
                })?;
                let (db, r) = open().map_err(|source| StateError::Open {
                    path: dir.to_path_buf(),
                    source,
                })?;
                (db, r, true)
            }
        };
        let prev = db
            .get(b"session")
            .ok()
            .flatten()
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map_or(0, u32::from_le_bytes);
        let session = prev.wrapping_add(1);
        let persisted = db
            .insert(b"session", &session.to_le_bytes())
            .and_then(|_| db.flush());
        if let Err(e) = persisted {
            tracing::warn!(error = %e, "could not persist the session counter");
        }
        Ok((
            Store {
                db: Disk {
                    inner: Arc::new(DiskInner {
                        dir: dir.to_path_buf(),
                        cache_bytes,
                        flush_ms,
                        db: Mutex::new(Some(db)),
                    }),
                },
                records,
                session,
            },
            quarantined,
        ))
    }
}

/// The gateway's sled database as every stage holds it: one shared handle, so that after a
/// write fault (sled stays poisoned until reopened, see the module doc) storage upkeep can
/// close it and open it again in place. sled locks its directory until the last handle on a
/// database is dropped, so no stage keeps a `sled::Db` of its own: they call through this.
#[derive(Clone)]
pub struct Disk {
    inner: Arc<DiskInner>,
}

struct DiskInner {
    dir: PathBuf,
    cache_bytes: u64,
    flush_ms: u64,
    /// None between closing a poisoned database and a successful reopen.
    db: Mutex<Option<sled::Db>>,
}

impl Disk {
    /// The store in `dir`, not open yet: a disk full at boot. Storage upkeep opens it (and
    /// rewrites it from memory) once space returns, as after any write fault.
    pub fn unopened(dir: &Path, cache_bytes: u64, flush_ms: u64) -> Disk {
        Disk {
            inner: Arc::new(DiskInner {
                dir: dir.to_path_buf(),
                cache_bytes,
                flush_ms,
                db: Mutex::new(None),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<sled::Db>> {
        self.inner.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open database (a cheap clone of sled's handle, held only for one call).
    fn current(&self) -> sled::Result<sled::Db> {
        self.lock().clone().ok_or_else(closed)
    }

    /// Flushes sled's log to disk; this is also where sled reports a failed background flush.
    pub fn flush(&self) -> sled::Result<usize> {
        self.current()?.flush()
    }

    /// [`Disk::flush`] without blocking the runtime (shutdown).
    pub async fn flush_async(&self) -> sled::Result<usize> {
        self.current()?.flush_async().await
    }

    /// sled's size on disk, bytes (metrics).
    pub fn size_on_disk(&self) -> sled::Result<u64> {
        self.lock().as_ref().ok_or_else(closed)?.size_on_disk()
    }

    /// Opens (or creates) the tree `name`.
    pub fn open_tree(&self, name: impl AsRef<[u8]>) -> sled::Result<sled::Tree> {
        self.lock().as_ref().ok_or_else(closed)?.open_tree(name)
    }

    /// Closes the database and opens it again. Never quarantines: the store was readable at
    /// boot, and what failed since is the disk. Every tree of the old database must have been
    /// dropped first, or sled's directory lock refuses the reopen (an error, retried later).
    fn reopen(&self) -> sled::Result<()> {
        let mut db = self.lock();
        *db = None;
        let i = &self.inner;
        *db = Some(open_db(&i.dir, i.cache_bytes, i.flush_ms)?);
        Ok(())
    }
}

/// The error of an operation on a [`Disk`] closed for reopening.
fn closed() -> sled::Error {
    sled::Error::Io(std::io::Error::other(
        "state store closed: reopening after a write fault",
    ))
}

/// Why the store became degraded, as the audit trail shows it (truncated).
pub type Reason = heapless::String<120>;

fn reason(e: &sled::Error) -> Reason {
    let text = match e {
        // sled wraps the OS error in a custom one whose text is a Debug dump: name the kind.
        sled::Error::Io(io) => format!("{}: {io}", io.kind()),
        other => other.to_string(),
    };
    let mut out = Reason::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// A change of the store's health, reported by [`Shared::maintain_store`] for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// Writes failed: displays are served from memory, the alarm is raised.
    Degraded {
        /// What sled said.
        reason: Reason,
    },
    /// The store was reopened and every record rewritten from the table: alarm cleared.
    Recovered {
        /// Records rewritten.
        records: usize,
    },
}

impl std::fmt::Display for StoreEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreEvent::Degraded { reason } => write!(
                f,
                "state store degraded ({reason}): publishing from memory, retrying"
            ),
            StoreEvent::Recovered { records } => write!(
                f,
                "state store recovered: {records} records rewritten from memory"
            ),
        }
    }
}

fn is_full_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            // sled passes ENOSPC on as is at open, wrapped in a custom error of the same kind
            // from its flusher.
            io.kind() == std::io::ErrorKind::StorageFull
        }
        _ => false,
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
        }
        _ => false,
    }
}

impl Table {
    /// Starts degraded, without a store (a disk full at boot): the alarm is raised, writes are
    /// held back, and storage upkeep opens the store's `records` and `heatmap` trees and
    /// rewrites them from memory once it can, as after a write fault.
    pub fn start_degraded(&mut self, why: &str) {
        self.tree = None;
        self.heat_tree = None;
        self.tree_names = [
            Some(sled::IVec::from("records")),
            Some(sled::IVec::from("heatmap")),
        ];
        self.degraded = true;
        self.metrics.state.store_faults.inc();
        self.metrics.state.store_degraded.set(1);
        let mut r = Reason::new();
        for c in why.chars() {
            if r.push(c).is_err() {
                break;
            }
        }
        self.fault = Some(r);
    }

    /// Writes the records changed since the last save, at most `max`, each once however often
    /// it changed (write-behind: a burst of changes to one agent costs one sled write); returns
    /// how many were taken. Held back and counted while the store is degraded, as any write.
    pub fn save_unsaved(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(i) = self.unsaved.pop_front() else {
                break;
            };
            self.slots[i as usize].unsaved = false;
            let _ = self.persist(i);
            n += 1;
        }
        n
    }

    /// Records waiting to be written.
    pub fn unsaved_len(&self) -> usize {
        self.unsaved.len()
    }

    /// Deletes slot `i`'s record (an agent no longer watched); a failure degrades the store.
    pub(super) fn forget(&mut self, i: u32) {
        let Some(tree) = &self.tree else {
            return;
        };
        let key = self.slots[i as usize].key.to_bytes();
        match tree.remove(key) {
            Ok(_) => self.wrote = true,
            Err(e) => self.store_fault(&e),
        }
    }

    /// Writes slot `i` to sled. While the store is degraded the write is held back (counted
    /// in `persist_errors`; the recovery rewrites it from the table); a failed write degrades
    /// the store. A memory-only table has nothing to write.
    pub(super) fn persist(&mut self, i: u32) -> Result<(), StateError> {
        if !self.slots[i as usize].watched {
            return Ok(()); // no longer watched: its record was deleted
        }
        let Some(tree) = &self.tree else {
            if self.degraded {
                self.metrics.state.persist_errors.inc();
                return Err(StateError::Write(closed()));
            }
            return Ok(());
        };
        let slot = &self.slots[i as usize];
        let mut buf = [0u8; RECORD_BUF];
        let Some(bytes) = encode_record(&slot.value, &mut buf) else {
            // A record larger than RECORD_BUF is a bug in the record types, not a disk fault.
            self.metrics.state.persist_errors.inc();
            return Ok(());
        };
        match tree.insert(slot.key.to_bytes(), bytes) {
            Ok(_) => {
                self.wrote = true;
                self.metrics.state.saves.inc();
                Ok(())
            }
            Err(e) => {
                self.store_fault(&e);
                Err(StateError::Write(e))
            }
        }
    }

    /// A sled write or flush failed: drop the trees (sled is poisoned now, see the module doc)
    /// and, the first time, enter the degraded state: alarm on, fault counted and kept for the
    /// audit trail.
    pub(super) fn store_fault(&mut self, e: &sled::Error) {
        self.metrics.state.persist_errors.inc();
        self.tree = None;
        self.heat_tree = None;
        if self.degraded {
            return;
        }
        self.degraded = true;
        self.metrics.state.store_faults.inc();
        self.metrics.state.store_degraded.set(1);
        tracing::error!(error = %e, "state store writes failing: serving displays from memory, alarm raised");
        self.fault = Some(reason(e));
    }

    /// True while the store is degraded (writes held back, alarm raised).
    pub fn store_degraded(&self) -> bool {
        self.degraded
    }

    /// Persists heatmaps in `tree` (keyed by zone name) and restores the saved ones.
    pub fn set_heat_tree(&mut self, tree: sled::Tree) {
        self.tree_names[1] = Some(tree.name());
        for (z, spec) in self.zones.specs().iter().enumerate() {
            if let Ok(Some(bytes)) = tree.get(spec.name.as_bytes()) {
                if !self.heat.restore(z, &bytes) {
                    self.metrics.state.records_dropped.inc();
                }
            }
        }
        self.heat_tree = Some(tree);
    }

    /// Writes every zone's heatmap to sled (each minute; a few KiB per zone). Nothing while
    /// the store is degraded: the recovery saves them.
    pub fn save_heatmaps(&mut self) -> Result<(), StateError> {
        let Some(tree) = &self.heat_tree else {
            return Ok(());
        };
        for (z, spec) in self.zones.specs().iter().enumerate() {
            if let Some(bytes) = self.heat.persisted(z) {
                if let Err(e) = tree.insert(spec.name.as_bytes(), bytes) {
                    self.store_fault(&e);
                    return Err(StateError::Write(e));
                }
            }
        }
        Ok(())
    }
}

/// Slots rewritten per table lock while the store recovers: each is one in-memory sled
/// insert, so the state stage and the publisher never wait for more than this many.
const REWRITE_CHUNK: usize = 256;

impl Shared {
    /// Writes every record changed since the last save, 256 (`REWRITE_CHUNK`) per table lock (the
    /// publisher never waits for more than that many in-memory sled inserts).
    pub fn save_all_unsaved(&self) -> usize {
        let mut total = 0;
        loop {
            let n = self.lock().save_unsaved(REWRITE_CHUNK);
            total += n;
            if n < REWRITE_CHUNK {
                return total;
            }
        }
    }

    /// One step of storage upkeep (blocking sled I/O: the state stage runs it off the async
    /// workers, once per metrics interval). Healthy and written to since the last upkeep:
    /// nothing (sled flushes in the background every `SLED_FLUSH_MS`, and a failed background
    /// flush fails the next write, which degrades the store). Healthy and quiet: a flush, which
    /// has nothing to write and is how a failed background flush is seen when no write follows
    /// it. (An explicit flush on every interval under load made the resident set grow by
    /// ~2.5 MiB per 12,000-event burst in `tests/e2e/burst.rs`.) Degraded: close and reopen the store,
    /// rewrite every record and heatmap from the table, flush; success clears the alarm.
    /// Entering and leaving the degraded state are reported to `report` (the audit trail).
    pub fn maintain_store(&self, disk: &Disk, mut report: impl FnMut(StoreEvent)) {
        if !self.lock().degraded {
            if std::mem::take(&mut self.lock().wrote) {
                return;
            }
            match disk.flush() {
                Ok(_) => return,
                Err(e) => self.lock().store_fault(&e),
            }
        }
        if let Some(reason) = self.lock().fault.take() {
            report(StoreEvent::Degraded { reason });
        }
        self.lock().metrics.state.store_recovery_attempts.inc();
        match self.recover(disk) {
            Ok(records) => {
                tracing::info!(records, "state store recovered: alarm cleared");
                report(StoreEvent::Recovered { records });
            }
            Err(e) => tracing::debug!(error = %e, "state store still failing"),
        }
    }

    fn recover(&self, disk: &Disk) -> Result<usize, StateError> {
        let names = {
            let mut t = self.lock();
            t.tree = None;
            t.heat_tree = None;
            t.tree_names.clone()
        };
        disk.reopen().map_err(StateError::Write)?;
        let [records, heat] = names.map(|n| n.map(|n| disk.open_tree(n)).transpose());
        let (records, heat) = (
            records.map_err(StateError::Write)?,
            heat.map_err(StateError::Write)?,
        );
        {
            // From here on, live changes are written through again; the rewrite below may
            // write a key twice, never an older value over a newer one (both under the lock).
            let mut t = self.lock();
            t.tree = records;
            t.heat_tree = heat;
        }
        let mut done = 0;
        loop {
            let mut t = self.lock();
            let end = (done + REWRITE_CHUNK).min(t.slots.len());
            for i in done..end {
                // i < slots.len() ≤ u32::MAX, checked at insert.
                t.persist(i as u32)?;
            }
            done = end;
            if done == t.slots.len() {
                t.save_heatmaps()?;
                break;
            }
        }
        if let Err(e) = disk.flush() {
            self.lock().store_fault(&e);
            return Err(StateError::Write(e));
        }
        let mut t = self.lock();
        if t.tree.is_none() && t.tree_names[0].is_some() {
            // A live write failed after the flush: still degraded.
            return Err(StateError::Write(closed()));
        }
        t.degraded = false;
        t.metrics.state.store_degraded.set(0);
        t.metrics.state.store_recoveries.inc();
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of an older build (sled's default 512 KiB segments, which sled refuses to open
    /// with ours) keeps its records and its session count across the upgrade.
    #[test]
    fn a_store_written_with_another_segment_size_is_rewritten_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        {
            let db = open_db_segments(&path, 1 << 20, 100, 512 * 1024).unwrap();
            let records = db.open_tree("records").unwrap();
            for i in 0u32..300 {
                records.insert(i.to_be_bytes(), &[7u8; 90][..]).unwrap();
            }
            db.insert(b"session", &41u32.to_le_bytes()).unwrap();
            db.flush().unwrap();
        }
        assert_eq!(segment_of(&path), Some(512 * 1024));
        // Ours cannot open it as it is: what the rewrite is for.
        assert!(matches!(
            open_db(&path, 1 << 20, 100),
            Err(sled::Error::Unsupported(_))
        ));

        let (store, quarantined) = Store::open(&path, 1 << 20, 100).unwrap();
        assert!(!quarantined);
        assert_eq!(store.session, 42);
        assert_eq!(store.records.len(), 300);
        assert_eq!(
            store.records.get(299u32.to_be_bytes()).unwrap().as_deref(),
            Some(&[7u8; 90][..])
        );
        assert_eq!(segment_of(&path), Some(SEGMENT_BYTES));
        assert!(!sibling(&path, "migrating").exists());
        assert!(!sibling(&path, "segments-old").exists());
        drop(store);

        // Once rewritten, it opens as it is.
        let (store, quarantined) = Store::open(&path, 1 << 20, 100).unwrap();
        assert!(!quarantined);
        assert_eq!((store.session, store.records.len()), (43, 300));
    }
}
