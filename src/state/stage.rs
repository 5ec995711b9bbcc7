//! The state stage: one task that applies updates from upstream in batches under one lock,
//! wakes the publisher, writes changed records behind (every [`super::SAVE_EVERY`]), answers
//! durability points with a save and a flush, and runs the table's own upkeep on its own
//! timer (stale expiry, heatmap saves, storage upkeep). [`Shared`] is how the
//! publisher reads the table.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::store::Disk;
use super::table::Table;
use super::Change;
use crate::event::Millis;
use crate::message::{Durable, Update};
use crate::monitor::Audit;

/// The table shared between the state task (writer) and the publisher (reader).
#[derive(Clone)]
pub struct Shared {
    table: Arc<Mutex<Table>>,
    /// Signalled when keys become dirty.
    pub notify: Arc<Notify>,
}

impl Shared {
    /// Wraps a table.
    pub fn new(table: Table) -> Shared {
        Shared {
            table: Arc::new(Mutex::new(table)),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Locks the table. A poisoned lock (a panic while held) still yields the table: every
    /// mutation leaves it consistent, and the gateway must keep publishing.
    pub fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The state stage: applies updates from upstream until the channel closes or shutdown, and
/// answers checkpoints with a flush.
pub struct StateStage {
    /// The table.
    pub shared: Shared,
    /// Incoming updates.
    pub rx: mpsc::Receiver<Update>,
    /// The store's database (None: a memory-only table).
    pub disk: Option<Disk>,
    /// Where checkpoints are acknowledged.
    pub durable: watch::Sender<Durable>,
    /// How often the table's upkeep runs: stale expiry and storage upkeep (a flush when
    /// healthy, a reopen and rewrite from memory when degraded).
    pub upkeep_every: Duration,
    /// Where storage transitions (degraded, recovered) are reported.
    pub audit: Audit,
}

/// Most updates applied under one lock before the publisher is woken.
const BATCH: usize = 256;

impl StateStage {
    /// Runs the stage.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut upkeep_tick = tokio::time::interval(self.upkeep_every);
        let mut heat_tick = tokio::time::interval(crate::heatmap::PERIOD);
        heat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut save_tick = tokio::time::interval(super::SAVE_EVERY);
        save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The storage upkeep step running on the blocking pool, if any (one at a time).
        let mut upkeep: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    let now = now_ms();
                    let mut any = false;
                    let mut checkpoint = None;
                    {
                        let mut t = self.shared.lock();
                        for u in batch.drain(..) {
                            match u {
                                Update::Checkpoint(seq) => checkpoint = Some(seq),
                                u => any |= t.apply(&u, now) == Change::Applied,
                            }
                        }
                    }
                    if any {
                        self.shared.notify.notify_one();
                    }
                    self.shared
                        .lock()
                        .metrics
                        .state
                        .event_queue_depth
                        .set(self.rx.len() as u64);
                    if let Some(seq) = checkpoint {
                        let ack = self.checkpoint(seq).await;
                        self.durable.send_replace(ack);
                    }
                }
                _ = upkeep_tick.tick() => {
                    if self.shared.lock().mark_expired() > 0 {
                        self.shared.notify.notify_one();
                    }
                    self.start_upkeep(&mut upkeep);
                }
                _ = save_tick.tick() => {
                    self.shared.save_all_unsaved();
                }
                _ = heat_tick.tick() => {
                    // A failure degrades the store (alarm, audit, recovery): nothing to do here.
                    let _ = self.shared.lock().save_heatmaps();
                }
            }
        }
        // Let a running upkeep step finish (bounded: one reopen, rewrite and flush), so the
        // store is not left half reopened and no handle outlives the stage.
        if let Some(step) = upkeep.take() {
            let _ = step.await;
        }
        self.shared.save_all_unsaved();
        let _ = self.shared.lock().save_heatmaps();
    }

    /// Starts one storage upkeep step on the blocking pool unless one is still running. A
    /// blocking task rather than a stage: it is bounded (a flush, or a reopen, a rewrite of the
    /// table and a flush), awaited at shutdown, and off the async workers, so a failing or
    /// slow disk never stalls applying updates or publishing.
    fn start_upkeep(&self, upkeep: &mut Option<tokio::task::JoinHandle<()>>) {
        if upkeep.as_ref().is_some_and(|step| !step.is_finished()) {
            return;
        }
        let Some(disk) = self.disk.clone() else {
            return;
        };
        let shared = self.shared.clone();
        let audit = self.audit.clone();
        *upkeep = Some(tokio::task::spawn_blocking(move || {
            shared.maintain_store(&disk, |event| audit.record("store", &event.to_string()));
        }));
    }

    /// Saves and flushes: every update applied so far (the checkpoint's and any after it in
    /// the same batch) reaches the disk. A failed flush degrades the store, as a failed write
    /// does.
    async fn checkpoint(&self, seq: u64) -> Durable {
        let started = Instant::now();
        self.shared.save_all_unsaved();
        let writable = self.shared.lock().tree.is_some();
        let on_disk = match &self.disk {
            Some(disk) if writable => match disk.flush_async().await {
                Ok(_) => true,
                Err(e) => {
                    self.shared.lock().store_fault(&e);
                    false
                }
            },
            _ => false,
        };
        let flush_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let m = self.shared.lock().metrics.clone();
        m.state.checkpoints.inc();
        m.state.checkpoint_flush_us.set(flush_us);
        Durable {
            seq,
            on_disk,
            flush_us,
        }
    }
}

/// Local wall-clock time, ms since the Unix epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
