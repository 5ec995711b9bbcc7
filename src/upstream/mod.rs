//! The upstream stage: everything that talks to Genesys Cloud, supervised by one task.
//!
//! Owns the session lifecycle: OAuth token (refreshed at a fraction of its lifetime),
//! presence definitions, discovery of the watched agents (config, queue and group
//! membership, paged), the channel set (≤ `max_topics` topics per channel, combined
//! per-user topics, one bulk PUT per channel, verified), make-before-break rotation (on
//! `socket_closing`, before the 24 h `expires`, and with every new token), reconnect with
//! full-jitter backoff (honouring `Retry-After`), and the REST resync after every
//! (re)connect, paced under the rate budget, with progress in metrics/health.
//!
//! Everything it learns goes to the state stage as [`Update`]s through one bounded channel.
//!
//! # Layout
//! - this file: the supervisor (sessions, backoff, the notices of sockets).
//! - `channels`: topics, channels, subscriptions, rotation.
//! - `discovery`: presence definitions and the watched agents, paged.
//! - `resync`: the REST resync and its durability point.
//! - `rest`: HTTP client, pacing, retries.
//! - `socket`: one WebSocket's read loop and watchdog.

mod channels;
mod discovery;
pub mod rest;
mod resync;
pub mod socket;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::clock::{Clock, Ms};
use crate::decode;
use crate::event::{ConversationChange, Event, Id, Interaction, Media, MemberChange};
use crate::message::{Durable, ListingPhase, Update};
use crate::metrics::Metrics;
use crate::monitor::Audit;
pub use channels::USER_TOPIC_WEIGHT;
use rest::{Rest, RestError};
pub use resync::{ResyncReport, ResyncStep};
use resync::{RESYNC_RETRY_MAX, RESYNC_RETRY_MIN};
use socket::{End, Notice, SocketSettings};

use channels::*;
pub use resync::Checkpoints;

/// Notices pending from sockets; each socket sends at most a handful, so a small bound holds.
const NOTICE_DEPTH: usize = 64;

/// Upstream tunables, resolved from config and board.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Socket limits and timers.
    pub socket: SocketSettings,
    /// Refresh the token when this fraction of its lifetime has passed.
    pub token_refresh_fraction: f64,
    /// Rotate a channel this long before its `expires`.
    pub rotate_before: Duration,
    /// Backoff floor.
    pub backoff_min: Duration,
    /// Backoff cap.
    pub backoff_max: Duration,
    /// Topics per channel.
    pub max_topics: usize,
    /// What a combined user topic counts toward `max_topics` (default: its sub-topics).
    pub user_topic_weight: usize,
    /// Channels per OAuth client (Genesys: 20; a 21st evicts the oldest). One is kept spare,
    /// so a one-at-a-time rotation never needs more than this many.
    pub max_channels: usize,
    /// Agents the table holds (discovery stops there).
    pub max_agents: usize,
    /// Watched groups' members are re-read this often.
    pub group_refresh: Duration,
    /// Watched queues' interval figures are re-read this often.
    pub queue_figures: Duration,
}

/// What to watch.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    /// Users named in config.
    pub users: Vec<Id>,
    /// Queues.
    pub queues: Vec<Id>,
    /// Groups whose members are watched.
    pub groups: Vec<Id>,
}

/// Why a session ended (the supervisor backs off and starts a new one).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A REST call failed.
    #[error("{what}: {source}")]
    Rest {
        /// Which step.
        what: &'static str,
        /// The failure.
        source: RestError,
    },
    /// The WebSocket could not be opened.
    #[error("connect {channel}: {reason}")]
    Connect {
        /// Channel id.
        channel: String,
        /// Why.
        reason: String,
    },
    /// Subscribing failed or was only partly permitted.
    #[error("subscribe on {channel}: {rejected} of {total} topics rejected")]
    Subscribe {
        /// Channel id.
        channel: String,
        /// Rejected topics.
        rejected: u32,
        /// Topics sent.
        total: u32,
    },
    /// A live socket ended.
    #[error("socket ended: {0:?}")]
    Socket(End),
    /// Agents whose live conversation summary still counted a conversation the analytics
    /// details index had not shown after the resync's last try.
    #[error("{agents} agents have a conversation the details index has not shown yet")]
    Unindexed {
        /// How many.
        agents: usize,
    },
}

impl UpstreamError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::Rest {
                source: RestError::RateLimited(d),
                ..
            } => Some(*d),
            _ => None,
        }
    }
}

/// The upstream stage.
pub struct Upstream {
    /// Tunables.
    pub settings: Settings,
    /// The OAuth clients, at least one, each a REST client with its own token and budget.
    /// Reads go round-robin over all of them (`Upstream::rest`); a channel is created and
    /// subscribed with its own client's token and counts toward that client's channel budget.
    pub clients: Vec<Client>,
    /// The client of the next read.
    pub next_read: std::sync::atomic::AtomicUsize,
    /// TLS for the WebSocket.
    pub tls: Arc<rustls::ClientConfig>,
    /// What to watch.
    pub watch: Watch,
    /// Into the state stage.
    pub tx: mpsc::Sender<Update>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Audit trail.
    pub audit: Audit,
    /// Agents watched (kept across reconnects).
    pub agents: Option<Vec<Id>>,
    /// When the current token should be replaced (kept across reconnects).
    pub token_refresh_at: Option<Ms>,
    /// The clock the protocol timers run on (the simulator's in tests).
    pub clock: Clock,
    /// The state stage's checkpoint acknowledgements.
    pub checkpoints: Checkpoints,
    /// Where socket readers are spawned (the app's helper tracker, which shutdown drains).
    pub tasks: TaskTracker,
    /// The app's shutdown: every socket reader's token is a child of it.
    pub cancel: CancellationToken,
    /// Why each agent is watched (kept across reconnects).
    pub membership: Membership,
}

/// One OAuth client: its name (audit, metrics) and its REST client (token, budget).
pub struct Client {
    /// `default`, or its `[[genesys.client]]` name.
    pub name: String,
    /// Its REST client.
    pub rest: Rest,
}

/// Why agents are watched: the watched queues each is a member of, and the agents watched
/// directly (config users, members of watched groups). Only watched agents have entries, so it
/// is bounded by the board's `max_agents`.
#[derive(Default, Debug)]
pub struct Membership {
    pub(super) queues: std::collections::HashMap<Id, Vec<Id>>,
    pub(super) direct: HashSet<Id>,
}

impl Membership {
    /// `user` is a member of the watched `queue`.
    pub(super) fn join(&mut self, user: Id, queue: Id) {
        let v = self.queues.entry(user).or_default();
        if !v.contains(&queue) {
            v.push(queue);
        }
    }

    /// `user` left `queue`; true when nothing watches the agent any more.
    fn leave(&mut self, user: Id, queue: Id) -> bool {
        if let Some(v) = self.queues.get_mut(&user) {
            v.retain(|q| *q != queue);
            if v.is_empty() {
                self.queues.remove(&user);
            }
        }
        !self.direct.contains(&user) && !self.queues.contains_key(&user)
    }
}

/// One connected session: its channels (each with its own generation, so a notice from a
/// channel already replaced is told apart from one of a live channel), the agents watched and
/// when the token is due.
struct Session {
    live: Vec<Live>,
    agents: Vec<Id>,
    known: HashSet<Id>,
    token_refresh_at: Ms,
    /// A resync left steps out: when to try it again (on the clock), and the pause after that.
    resync_retry: Option<(Ms, Duration)>,
    /// Agents no longer watched (they left every watched queue): dropped at the next rotation.
    leavers: HashSet<Id>,
    /// When to re-read the watched groups (on the clock; never without groups).
    groups_at: Ms,
    /// When the queues' interval figures are next read (`Ms::MAX`: no queues).
    figures_at: Ms,
    /// Agents whose out-of-office state a resync could not read from the users page (the
    /// expand is best effort), read one by one at spare budget; at most the watched agents.
    out_of_office: Vec<Id>,
    /// When the next batch of them is read.
    out_of_office_at: Ms,
    /// Set while those reads fail: the current pause between tries.
    out_of_office_pause: Option<Duration>,
    /// `notices_dropped` when the watch set was last read: a drop since means member
    /// changes were missed, and the watch set is read again.
    dropped_seen: u64,
    /// New members could not be subscribed, or a re-read failed: when to read the watch set
    /// again (on the clock), and the pause after that.
    reread: Option<(Ms, Duration)>,
}

impl Session {
    /// After a resync of every agent (`whole`) or of a few joiners: the out-of-office states
    /// it left out join the line read at spare budget; then none pending when a whole resync was
    /// complete (a joiners' one that completes leaves a pending retry of the whole in place),
    /// otherwise a retry after the current pause (doubling from [`RESYNC_RETRY_MIN`] up to
    /// [`RESYNC_RETRY_MAX`]).
    fn after_resync(&mut self, report: ResyncReport, clock: &Clock, whole: bool) {
        if !report.out_of_office.is_empty() {
            let mut queued: HashSet<Id> = self.out_of_office.iter().copied().collect();
            self.out_of_office.extend(
                report
                    .out_of_office
                    .iter()
                    .copied()
                    .filter(|id| queued.insert(*id)),
            );
            if self.out_of_office_pause.is_none() {
                self.out_of_office_at = clock.now_ms();
            }
        }
        if report.complete() {
            if whole {
                self.resync_retry = None;
            }
            return;
        }
        let pause = self
            .resync_retry
            .map_or(RESYNC_RETRY_MIN, |(_, p)| (p * 2).min(RESYNC_RETRY_MAX));
        self.resync_retry = Some((clock.after(pause), pause));
    }

    /// Whether the channel of generation `g` is one of this session's live channels.
    fn holds(&self, g: u64) -> bool {
        self.live.iter().any(|l| l.generation == g)
    }
}

impl Upstream {
    /// Runs until shutdown: sessions, each ended by a fault, separated by backoff.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.backoff_min, self.settings.backoff_max);
        let (ntx, mut nrx) = mpsc::channel(NOTICE_DEPTH);
        let mut generation = 0u64;
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.session(&mut generation, &ntx, &mut nrx, &shutdown, &mut backoff) => r,
            };
            match result {
                Ok(()) => return,
                Err(e) => {
                    if matches!(
                        e,
                        UpstreamError::Rest {
                            source: RestError::Unauthorized,
                            ..
                        }
                    ) {
                        for c in &mut self.clients {
                            c.rest.drop_token();
                        }
                        self.token_refresh_at = None;
                    }
                    let wait = backoff.next(e.retry_after());
                    self.audit.record(
                        "reconnect",
                        &format!("{e}; retrying in {} ms", wait.as_millis()),
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn session(
        &mut self,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
        nrx: &mut mpsc::Receiver<Notice>,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), UpstreamError> {
        // A token that is still good is reused across reconnects (no login storm).
        let token_refresh_at = match self.token_refresh_at {
            Some(at)
                if self.clients.iter().all(|c| c.rest.has_token()) && self.clock.now_ms() < at =>
            {
                at
            }
            _ => {
                let lifetime = self.login().await?;
                let at = self.clock.after(lifetime);
                self.token_refresh_at = Some(at);
                at
            }
        };
        self.load_definitions().await?;
        // On a reconnect the agents watched before are subscribed at once, so the gap is
        // as short as the channel setup; membership is re-read after the resync.
        let agents = match self.agents.clone() {
            Some(a) => a,
            None => {
                let a = Box::pin(self.discover()).await?;
                self.agents = Some(a.clone());
                a
            }
        };
        let live = self.open_channels(generation, &agents, ntx).await?;
        let mut s = Session {
            live,
            known: agents.iter().copied().collect(),
            agents,
            token_refresh_at,
            resync_retry: None,
            reread: None,
            leavers: HashSet::new(),
            groups_at: self.next_group_refresh(),
            figures_at: self.next_figures_read(),
            out_of_office: Vec::new(),
            out_of_office_at: Ms::MAX,
            out_of_office_pause: None,
            dropped_seen: self.metrics.upstream.notices_dropped.get(),
        };
        // The out_of_office step fails while this session's reads are paused: a previous
        // session's pending reads ended with it (this resync lists again what is missing), so
        // its failure is not this one's (else health would stay degraded for good).
        resync::mark_failing(&self.metrics, ResyncStep::OutOfOffice, false);
        // Subscribed and connected: now read the truth that may have changed while we were
        // away. Events arriving meanwhile are ordered against it by source timestamps.
        // (The resync, discovery and placement futures are boxed: their fixed-capacity pages
        // would otherwise sit inside this future, deep enough to overflow a worker stack in a
        // debug build.)
        // A step that fails (a missing permission, an endpoint down) is skipped and retried
        // later at a slow pace; it never tears the channels down.
        match Box::pin(self.resync(&s.agents)).await {
            Ok(report) => s.after_resync(report, &self.clock, true),
            Err(e) => {
                cancel_all(&s.live);
                return Err(e);
            }
        }
        // Membership is read again now that its topics are subscribed (Genesys notifies a
        // channel only of what happens once it subscribed): after a reconnect for what changed
        // while away, at boot for what changed between the first listing and the subscription
        // (a member event then went to nobody, and the change was lost until a reconnect).
        if let Err(e) = Box::pin(self.rediscover(&mut s, generation, ntx)).await {
            cancel_all(&s.live);
            return Err(e);
        }
        backoff.reset();
        let clock = self.clock.clone();
        loop {
            let rotate_at = next_rotation(&s);
            tokio::select! {
                _ = shutdown.cancelled() => {
                    cancel_all(&s.live);
                    return Ok(());
                }
                _ = clock.sleep_until(s.resync_retry.map_or(Ms::MAX, |(at, _)| at)), if s.resync_retry.is_some() => {
                    let agents = s.agents.clone();
                    match Box::pin(self.resync(&agents)).await {
                        Ok(report) => s.after_resync(report, &clock, true),
                        Err(e) => {
                            cancel_all(&s.live);
                            return Err(e);
                        }
                    }
                }
                _ = clock.sleep_until(s.reread.map_or(Ms::MAX, |(at, _)| at)), if s.reread.is_some() => {
                    if let Err(e) = self.reread(&mut s, generation, ntx).await {
                        cancel_all(&s.live);
                        return Err(e);
                    }
                }
                _ = clock.sleep_until(s.groups_at), if s.groups_at != Ms::MAX => {
                    let read = Box::pin(self.refresh_groups(&mut s, generation, ntx)).await;
                    s.groups_at = self.next_group_refresh();
                    match read {
                        Err(UpstreamError::Rest { source: RestError::Unauthorized, what }) => {
                            cancel_all(&s.live);
                            return Err(UpstreamError::Rest { source: RestError::Unauthorized, what });
                        }
                        // Kept as they were until the next re-read; the rest goes on.
                        Err(e) => self.audit.record("subscribe", &format!("group re-read failed, retried in {} s: {e}", self.settings.group_refresh.as_secs())),
                        Ok(()) => {}
                    }
                }
                _ = clock.sleep_until(s.figures_at), if s.figures_at != Ms::MAX => {
                    s.figures_at = self.next_figures_read();
                    // Low priority: only on spare budget (a resync or a rotation first); a
                    // skipped read is counted and tried again a second later.
                    let needed = self.watch.queues.len().div_ceil(resync::QUEUES_PER_QUERY);
                    let per_client = u32::try_from(needed.div_ceil(self.clients.len())).unwrap_or(u32::MAX);
                    if !self.spare_budget(per_client).await {
                        self.metrics.upstream.queue_figure_reads_skipped.inc();
                        s.figures_at = clock.after(Duration::from_secs(1));
                        continue;
                    }
                    let queues = self.watch.queues.clone();
                    let read = Box::pin(self.read_queue_figures(&queues)).await;
                    match read {
                        Err(UpstreamError::Rest { source: RestError::Unauthorized, what }) => {
                            cancel_all(&s.live);
                            return Err(UpstreamError::Rest { source: RestError::Unauthorized, what });
                        }
                        // The figures stay as they were (live events still update offered,
                        // abandoned and the service level) until the next read.
                        Err(e) => self.audit.record("resync", &format!("queue figures read failed, retried in {} s: {e}", self.settings.queue_figures.as_secs())),
                        Ok(()) => {}
                    }
                }
                _ = clock.sleep_until(s.out_of_office_at), if !s.out_of_office.is_empty() => {
                    if let Err(e) = Box::pin(self.read_pending_out_of_office(&mut s)).await {
                        cancel_all(&s.live);
                        return Err(e);
                    }
                }
                _ = clock.sleep_until(rotate_at) => {
                    let why = if clock.now_ms() >= s.token_refresh_at { "token refresh" } else { "channel expiry" };
                    if let Err(e) = self.rotate(&mut s, generation, ntx, why).await {
                        cancel_all(&s.live);
                        return Err(e);
                    }
                }
                Some(notice) = nrx.recv() => {
                    // Every notice waiting is taken now (at most a queue's worth): joiners are
                    // subscribed together, one subscription request per channel, not one per
                    // joiner (a shift change brings hundreds).
                    let mut joiners: Vec<Id> = Vec::new();
                    let mut next = Some(notice);
                    let mut taken = 0;
                    while let Some(notice) = next {
                        match notice {
                            Notice::Closing { generation: g } if s.holds(g) => {
                                if let Err(e) = self.rotate(&mut s, generation, ntx, "socket_closing").await {
                                    cancel_all(&s.live);
                                    return Err(e);
                                }
                            }
                            Notice::Joined { user, queue, .. } => {
                                s.leavers.remove(&user);
                                if s.known.contains(&user) || joiners.contains(&user) {
                                    self.membership.join(user, queue);
                                } else if s.known.len() + joiners.len() < self.settings.max_agents {
                                    self.membership.join(user, queue);
                                    joiners.push(user);
                                }
                            }
                            Notice::Left { user, queue, .. } => {
                                // No longer in any watched queue, nor watched directly:
                                // unsubscribed at the next rotation (or the re-read after a
                                // reconnect); a joiner of this batch is not subscribed at all.
                                let unwatched = self.membership.leave(user, queue);
                                if unwatched {
                                    joiners.retain(|j| *j != user);
                                    if s.known.contains(&user) {
                                        s.leavers.insert(user);
                                    }
                                }
                            }
                            Notice::Ended { generation: g, why } if s.holds(g) => {
                                cancel_all(&s.live);
                                return Err(UpstreamError::Socket(why));
                            }
                            _ => {} // a notice from a channel already rotated away
                        }
                        taken += 1;
                        next = if taken < NOTICE_DEPTH { nrx.try_recv().ok() } else { None };
                    }
                    if !joiners.is_empty() {
                        match Box::pin(self.add_agents(&mut s, generation, ntx, &joiners)).await {
                            Err(e) if resync::fatal(&e) => {
                                cancel_all(&s.live);
                                return Err(e);
                            }
                            // Not watched yet: the re-read subscribes them once it can.
                            Err(e) => {
                                let u = &self.metrics.upstream;
                                u.members_unsubscribed.set(u.members_unsubscribed.get() + joiners.len() as u64);
                                self.reread_later(&mut s, &format!("could not subscribe {} new member(s): {e}", joiners.len()));
                            }
                            Ok(()) => {}
                        }
                    }
                    // Notices a socket had no room for (64 waiting while this loop was busy: a
                    // resync, a rotation, joiners' subscriptions): the member changes among them
                    // are read again from the listings, once for any number dropped.
                    let dropped = self.metrics.upstream.notices_dropped.get();
                    if dropped != s.dropped_seen {
                        self.audit.record("subscribe", &format!("{} notice(s) dropped while busy: watch set read again", dropped - s.dropped_seen));
                        if let Err(e) = self.reread(&mut s, generation, ntx).await {
                            cancel_all(&s.live);
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// Reads the watch set again within a session ([`Upstream::rediscover`]); a failure other
    /// than a 401 keeps the session and is tried again later ([`Upstream::reread_later`]).
    async fn reread(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<(), UpstreamError> {
        match Box::pin(self.rediscover(s, generation, ntx)).await {
            Ok(()) => {
                s.reread = None;
                Ok(())
            }
            Err(e) if resync::fatal(&e) => Err(e),
            Err(e) => {
                self.reread_later(s, &format!("watch set re-read failed: {e}"));
                Ok(())
            }
        }
    }

    /// Schedules a re-read of the watch set after a pause (1 min, doubling to 15, as a resync
    /// retry), audited with `why`: members who joined and could not be subscribed are
    /// subscribed by it, not forgotten.
    fn reread_later(&self, s: &mut Session, why: &str) {
        let pause = s
            .reread
            .map_or(RESYNC_RETRY_MIN, |(_, p)| (p * 2).min(RESYNC_RETRY_MAX));
        s.reread = Some((self.clock.after(pause), pause));
        self.metrics.upstream.reread_failures.inc();
        tracing::warn!(why, "watch set read again later");
        self.audit.record(
            "subscribe",
            &format!(
                "{why}; the watch set is read again in {} s",
                pause.as_secs()
            ),
        );
    }

    /// A new token for every client; returns when to refresh (the shortest lifetime's
    /// fraction: the clients are refreshed together, and their channels rotated after).
    async fn login(&mut self) -> Result<Duration, UpstreamError> {
        let mut shortest = Duration::MAX;
        for c in &mut self.clients {
            let lifetime = c.rest.login().await.what("oauth token")?;
            self.audit.record(
                "token",
                &format!(
                    "client {}: new access token, lifetime {} s",
                    c.name,
                    lifetime.as_secs()
                ),
            );
            shortest = shortest.min(lifetime);
        }
        Ok(shortest.mul_f64(self.settings.token_refresh_fraction.clamp(0.1, 0.95)))
    }

    /// When the watched groups are next re-read: `group_refresh` from now, never without groups.
    fn next_group_refresh(&self) -> Ms {
        if self.watch.groups.is_empty() {
            Ms::MAX
        } else {
            self.clock.after(self.settings.group_refresh)
        }
    }

    /// Whether every client can send `per_client` requests now without waiting (and keep a
    /// reserve): the low-priority reads (interval figures, out-of-office) run only then.
    async fn spare_budget(&self, per_client: u32) -> bool {
        for c in &self.clients {
            if !c.rest.has_spare_budget(per_client).await {
                return false;
            }
        }
        true
    }

    /// When the watched queues' interval figures are next read: `queue_figures` from now,
    /// never without queues.
    fn next_figures_read(&self) -> Ms {
        if self.watch.queues.is_empty() {
            Ms::MAX
        } else {
            self.clock.after(self.settings.queue_figures)
        }
    }

    /// The REST client for the next read: round-robin over the clients, so a resync spends
    /// every client's budget (reads are not tied to the client that holds the channel).
    fn rest(&self) -> &Rest {
        let i = self
            .next_read
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.clients[i % self.clients.len()].rest
    }

    /// The server's time now, as the first client last read it.
    fn server_now_ms(&self) -> u64 {
        self.clients[0].rest.server_now_ms()
    }

    async fn send(&self, u: Update) {
        let _ = self.tx.send(u).await;
    }
}

fn join_ids(ids: &[Id], sep: &str) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

/// Names the request a REST error came from.
trait RestContext<T> {
    fn what(self, what: &'static str) -> Result<T, UpstreamError>;
}

impl<T> RestContext<T> for Result<T, RestError> {
    fn what(self, what: &'static str) -> Result<T, UpstreamError> {
        self.map_err(|source| UpstreamError::Rest { what, source })
    }
}

fn parse_err(what: &'static str, e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Rest {
        what,
        source: RestError::Parse {
            what,
            reason: e.to_string(),
        },
    }
}

/// The next timer of a session: the earliest channel rotation or the token refresh.
fn next_rotation(s: &Session) -> Ms {
    s.live
        .iter()
        .map(|l| l.rotate_at)
        .min()
        .unwrap_or(Ms::MAX)
        .min(s.token_refresh_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            live: Vec::new(),
            agents: Vec::new(),
            known: HashSet::new(),
            token_refresh_at: Ms::MAX,
            resync_retry: None,
            reread: None,
            leavers: HashSet::new(),
            groups_at: Ms::MAX,
            figures_at: Ms::MAX,
            out_of_office: Vec::new(),
            out_of_office_at: Ms::MAX,
            out_of_office_pause: None,
            dropped_seen: 0,
        }
    }

    fn id(n: u8) -> Id {
        Id::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).expect("a uuid")
    }

    #[test]
    fn a_complete_resync_of_joiners_keeps_the_retry_of_a_failed_whole_one() {
        let clock = Clock::external(|| 1_000);
        let mut s = session();
        let failed = ResyncReport {
            failed: ResyncStep::Conversations.bit(),
            ..ResyncReport::default()
        };
        s.after_resync(failed, &clock, true);
        assert_eq!(s.resync_retry, Some((1_000 + 60_000, RESYNC_RETRY_MIN)));
        // A few joiners resynced completely: the whole site's failed step is still owed.
        s.after_resync(ResyncReport::default(), &clock, false);
        assert!(s.resync_retry.is_some());
        // A whole resync that completes settles it.
        s.after_resync(ResyncReport::default(), &clock, true);
        assert_eq!(s.resync_retry, None);
    }

    #[test]
    fn out_of_office_left_out_joins_the_line_once_and_is_read_at_once() {
        let clock = Clock::external(|| 5_000);
        let mut s = session();
        let report = |ids: &[Id]| ResyncReport {
            out_of_office: ids.to_vec(),
            ..ResyncReport::default()
        };
        s.after_resync(report(&[id(1), id(2)]), &clock, true);
        s.after_resync(report(&[id(2), id(3)]), &clock, false);
        assert_eq!(s.out_of_office, [id(1), id(2), id(3)]);
        assert_eq!(s.out_of_office_at, 5_000);
        // While the reads are paused for a failure, a new resync does not cut the pause short.
        s.out_of_office_pause = Some(RESYNC_RETRY_MIN);
        s.out_of_office_at = 65_000;
        s.after_resync(report(&[id(4)]), &clock, true);
        assert_eq!(s.out_of_office_at, 65_000);
        assert_eq!(s.out_of_office.len(), 4);
    }
}
