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
//! - `rest`: HTTP client, pacing, retries.
//! - `socket`: one WebSocket's read loop and watchdog.
//! - this file: the supervisor.

pub mod rest;
pub mod socket;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::clock::{Clock, Ms};
use crate::decode;
use crate::event::{ConversationChange, Event, Id, Interaction, Media, MemberChange};
use crate::metrics::Metrics;
use crate::monitor::Audit;
use crate::state::{Durable, ListingPhase, Update};
use rest::{Rest, RestError};
use socket::{End, Notice, SocketSettings};

/// Per-user topic suffixes, subscribed as one combined topic per agent.
const USER_TOPICS: &str = "?presence&routingStatus&conversations";

/// What one combined user topic counts toward a channel's topic limit. Whether Genesys
/// counts a combined topic as one or as its expansion is undocumented: count the expansion
/// (3), which is safe either way.
const USER_TOPIC_WEIGHT: usize = 3;

/// Per-queue topics.
const QUEUE_TOPICS: [&str; 2] = ["users", "observations"];

/// Users per bulk presence request (Genesys' limit).
const BULK_PRESENCE_IDS: usize = 50;

/// Users per `GET /api/v2/users?id=…` page.
const USERS_PER_PAGE: usize = 100;

/// How far back the conversation resync looks for conversations still open (a long
/// email or a forgotten wrap-up can be hours old).
const CONVERSATION_LOOKBACK_MS: u64 = 24 * 3_600_000;

/// Pages of one conversation details query read at most (100 conversations each).
const MAX_CONVERSATION_PAGES: u32 = 10;

/// Queues per observations query.
const QUEUES_PER_QUERY: usize = 100;

/// Pages of presence definitions read at most: an org has a few dozen definitions (one or
/// two pages of 100), so 20 is generous and still ends a hostile `nextUri` chain quickly.
const MAX_DEFINITION_PAGES: usize = 20;

/// A channel is kept at least this long, whatever `expires` it was given.
const MIN_CHANNEL_LIFE_MS: u64 = 10_000;

/// …and replaced after this long at most (Genesys channels live 24 h).
const MAX_CHANNEL_LIFE_MS: u64 = 86_400_000;

/// How long a resync waits for the state stage to flush what it read (a hung disk must not
/// hold the upstream stage: past this, the resync is reported with its durability unknown).
const CHECKPOINT_WAIT: Duration = Duration::from_secs(10);

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
    /// Agents the table holds (discovery stops there).
    pub max_agents: usize,
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

/// A page's `nextUri`, as decoded.
#[derive(Clone, Copy, Debug)]
enum Link<'a> {
    /// None (or empty): the last page.
    End,
    /// Present but longer than the decoder keeps: cannot be followed.
    TooLong,
    /// The next page's path.
    Next(&'a str),
}

impl<'a> Link<'a> {
    fn of(next: Option<&'a str>, too_long: bool) -> Link<'a> {
        match next.filter(|n| !n.is_empty()) {
            Some(n) => Link::Next(n),
            None if too_long => Link::TooLong,
            None => Link::End,
        }
    }
}

/// Follows one paged listing's `nextUri` links, bounded against a broken or hostile server:
/// at most `max_pages` pages, never a URI twice (a page that links to itself or back to an
/// earlier page), and nothing past an empty page (a chain of empty pages that never ends).
/// Each visited path is kept, so its memory is at most `max_pages` short strings.
struct Pager {
    next: Option<String>,
    visited: Vec<String>,
    max_pages: usize,
}

impl Pager {
    fn new(first: String, max_pages: usize) -> Pager {
        Pager {
            next: Some(first),
            visited: Vec::new(),
            max_pages: max_pages.max(1),
        }
    }

    /// The next path to read, if any.
    fn next_path(&mut self) -> Option<String> {
        let p = self.next.take()?;
        self.visited.push(p.clone());
        Some(p)
    }

    /// Pages read so far.
    fn pages(&self) -> usize {
        self.visited.len()
    }

    /// Takes the `nextUri` of the page just read (which held `entries` items). `Some(why)`
    /// when the link is not followed although the server gave one: the listing is cut short.
    fn follow(&mut self, next: Link<'_>, entries: usize) -> Option<&'static str> {
        let next = match next {
            Link::End => return None,
            Link::TooLong => return Some("nextUri longer than NEXT_URI_LEN"),
            Link::Next(n) => n,
        };
        let why = if entries == 0 {
            "nextUri after an empty page"
        } else if self.visited.iter().any(|v| v == next) {
            "nextUri loops back to a page already read"
        } else if self.visited.len() >= self.max_pages {
            "page limit reached"
        } else {
            self.next = Some(next.to_string());
            return None;
        };
        Some(why)
    }
}

/// One open channel with its socket reader.
struct Live {
    id: String,
    /// When to replace it (on the [`Clock`]), from its `expires` read against the server's time.
    rotate_at: Ms,
    cancel: CancellationToken,
}

/// The upstream stage.
pub struct Upstream {
    /// Tunables.
    pub settings: Settings,
    /// REST client (holds the token).
    pub rest: Rest,
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
}

/// Durability points as upstream asks for them: the sequence of the last one sent and the
/// state stage's acknowledgements.
pub struct Checkpoints {
    sent: u64,
    acks: watch::Receiver<Durable>,
}

impl Checkpoints {
    /// Follows the state stage's acknowledgements.
    pub fn new(acks: watch::Receiver<Durable>) -> Checkpoints {
        Checkpoints { sent: 0, acks }
    }
}

struct Session {
    generation: u64,
    live: Vec<Live>,
    agents: Vec<Id>,
    known: HashSet<Id>,
    token_refresh_at: Ms,
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
                        self.rest.drop_token();
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
            Some(at) if self.rest.has_token() && self.clock.now_ms() < at => at,
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
        let (agents, rediscover) = match self.agents.clone() {
            Some(a) => (a, true),
            None => {
                let a = self.discover().await?;
                self.agents = Some(a.clone());
                (a, false)
            }
        };
        *generation += 1;
        let live = self.open_channels(*generation, &agents, ntx).await?;
        let mut s = Session {
            generation: *generation,
            live,
            known: agents.iter().copied().collect(),
            agents,
            token_refresh_at,
        };
        // Subscribed and connected: now read the truth that may have changed while we were
        // away. Events arriving meanwhile are ordered against it by source timestamps.
        if let Err(e) = self.resync(&s.agents).await {
            cancel_all(&s.live);
            return Err(e);
        }
        if rediscover {
            if let Err(e) = self.rediscover(&mut s, generation, ntx).await {
                cancel_all(&s.live);
                return Err(e);
            }
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
                _ = clock.sleep_until(rotate_at) => {
                    let why = if clock.now_ms() >= s.token_refresh_at { "token refresh" } else { "channel expiry" };
                    if let Err(e) = self.rotate(&mut s, generation, ntx, why).await {
                        cancel_all(&s.live);
                        return Err(e);
                    }
                }
                Some(notice) = nrx.recv() => match notice {
                    Notice::Closing { generation: g } if g == s.generation => {
                        if let Err(e) = self.rotate(&mut s, generation, ntx, "socket_closing").await {
                            cancel_all(&s.live);
                            return Err(e);
                        }
                    }
                    Notice::Joined { user, .. }
                        if !s.known.contains(&user) && s.known.len() < self.settings.max_agents =>
                    {
                        if let Err(e) = self.add_agent(&mut s, user).await {
                            tracing::warn!(error = %e, %user, "could not subscribe to a new queue member");
                        }
                    }
                    Notice::Ended { generation: g, why } if g == s.generation => {
                        cancel_all(&s.live);
                        return Err(UpstreamError::Socket(why));
                    }
                    _ => {} // a notice from a channel set already rotated away
                }
            }
        }
    }

    /// Re-reads membership after a reconnect; agents who joined while we were away are
    /// subscribed (a make-before-break rotation onto a channel set sized for them) and
    /// resynced.
    async fn rediscover(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<(), UpstreamError> {
        let fresh = self.discover().await?;
        let new: Vec<Id> = fresh
            .iter()
            .filter(|a| !s.known.contains(a))
            .copied()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        for a in &new {
            s.known.insert(*a);
            s.agents.push(*a);
        }
        self.agents = Some(s.agents.clone());
        self.rotate(s, generation, ntx, "membership changed")
            .await?;
        self.resync(&new).await
    }

    /// When to replace a channel the server says `expires` at (server time): its remaining
    /// life is read against the server's `Date`, never against this box's clock, which may be
    /// days off. `rotate_before` that life ends; a channel given less life than that margin is
    /// replaced halfway through it, and never sooner than `MIN_CHANNEL_LIFE_MS` (no storm when
    /// a server hands out channels that are already expired).
    fn rotation_due(&self, expires: u64) -> Ms {
        let life = expires.saturating_sub(self.rest.server_now_ms());
        let before = u64::try_from(self.settings.rotate_before.as_millis()).unwrap_or(0);
        let wait = if life > before.saturating_mul(2) {
            life - before
        } else {
            life / 2
        };
        self.clock
            .now_ms()
            .saturating_add(wait.clamp(MIN_CHANNEL_LIFE_MS, MAX_CHANNEL_LIFE_MS))
    }

    /// Logs in when no token is held; returns when to refresh.
    async fn login(&mut self) -> Result<Duration, UpstreamError> {
        let lifetime = self.rest.login().await.what("oauth token")?;
        self.audit.record(
            "token",
            &format!("new access token, lifetime {} s", lifetime.as_secs()),
        );
        Ok(lifetime.mul_f64(self.settings.token_refresh_fraction.clamp(0.1, 0.95)))
    }

    /// Make-before-break: a new token if due, a new channel set live, then the old closed.
    async fn rotate(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
        why: &str,
    ) -> Result<(), UpstreamError> {
        if self.clock.now_ms() >= s.token_refresh_at {
            let refresh_in = self.login().await?;
            s.token_refresh_at = self.clock.after(refresh_in);
            self.token_refresh_at = Some(s.token_refresh_at);
        }
        *generation += 1;
        let fresh = self.open_channels(*generation, &s.agents, ntx).await?;
        let old = std::mem::replace(&mut s.live, fresh);
        s.generation = *generation;
        cancel_all(&old);
        self.metrics.upstream.rotations.inc();
        self.audit.record(
            "rotate",
            &format!("{why}: {} channel(s) replaced make-before-break", old.len()),
        );
        Ok(())
    }

    async fn load_definitions(&mut self) -> Result<(), UpstreamError> {
        let mut pager = Pager::new(
            "/api/v2/presence/definitions?pageSize=100".to_string(),
            MAX_DEFINITION_PAGES,
        );
        while let Some(p) = pager.next_path() {
            let body = self.rest.get(&p).await.what("presence definitions")?;
            let page =
                decode::rest::presence_definitions(&body).map_err(|e| UpstreamError::Rest {
                    what: "presence definitions",
                    source: RestError::Parse {
                        what: "presence definitions",
                        reason: e.to_string(),
                    },
                })?;
            for (id, presence) in page.definitions.iter() {
                self.send(Update::Definition {
                    id: *id,
                    presence: *presence,
                })
                .await;
            }
            let next = Link::of(page.next_uri.as_deref(), page.next_uri_too_long);
            self.follow(
                &mut pager,
                next,
                page.definitions.len(),
                "presence definitions",
            );
        }
        Ok(())
    }

    /// [`Pager::follow`], counting and logging a listing cut short.
    /// Moves `pager` on; true when paging was stopped before the listing's end (counted).
    fn follow(&self, pager: &mut Pager, next: Link<'_>, entries: usize, listing: &str) -> bool {
        if let Some(why) = pager.follow(next, entries) {
            self.metrics.upstream.rest_paging_stopped.inc();
            tracing::warn!(listing, pages = pager.pages(), why, "paging stopped");
            return true;
        }
        false
    }

    async fn send(&self, u: Update) {
        let _ = self.tx.send(u).await;
    }

    /// Sends a durability point after everything sent so far and waits (at most
    /// [`CHECKPOINT_WAIT`]) until the state stage has applied it all and flushed sled. None: no
    /// answer in time (or the state stage is gone).
    async fn checkpoint(&mut self) -> Option<Durable> {
        self.checkpoints.sent += 1;
        let seq = self.checkpoints.sent;
        self.send(Update::Checkpoint(seq)).await;
        let acks = &mut self.checkpoints.acks;
        match tokio::time::timeout(CHECKPOINT_WAIT, acks.wait_for(|d| d.seq >= seq)).await {
            Ok(Ok(ack)) => Some(*ack),
            _ => None,
        }
    }

    /// Agents to watch: config users, members of watched queues and groups (bounded).
    async fn discover(&mut self) -> Result<Vec<Id>, UpstreamError> {
        let max = self.settings.max_agents;
        let mut seen: HashSet<Id> = HashSet::with_capacity(max.min(1 << 16));
        let mut agents = Vec::new();
        let mut add = |id: Id, agents: &mut Vec<Id>| {
            if agents.len() < max && seen.insert(id) {
                agents.push(id);
            }
        };
        for u in self.watch.users.clone() {
            add(u, &mut agents);
        }
        let max_pages = max / 100 + 2;
        for q in self.watch.queues.clone() {
            let mut pager = Pager::new(
                format!("/api/v2/routing/queues/{q}/members?pageSize=100"),
                max_pages,
            );
            // A complete listing also tells who left (during a gap, or while we were off).
            self.send(Update::MemberListing {
                queue: q,
                phase: ListingPhase::Begin,
            })
            .await;
            let mut complete = true;
            while let Some(p) = pager.next_path() {
                let body = self.rest.get(&p).await.what("queue members")?;
                let page =
                    decode::rest::members_page(&body).map_err(|e| parse_err("queue members", e))?;
                for m in page.members.iter() {
                    add(m.id, &mut agents);
                    self.send(Update::Event(Event::Member(MemberChange {
                        queue: q,
                        user: m.id,
                        joined: m.joined,
                    })))
                    .await;
                    if !m.name.is_empty() {
                        self.send(Update::Name {
                            user: m.id,
                            name: m.name.clone(),
                        })
                        .await;
                    }
                }
                let next = Link::of(page.next_uri.as_deref(), page.next_uri_too_long);
                complete &= !self.follow(&mut pager, next, page.members.len(), "queue members");
            }
            if complete {
                self.send(Update::MemberListing {
                    queue: q,
                    phase: ListingPhase::Complete,
                })
                .await;
            }
        }
        for g in self.watch.groups.clone() {
            let mut pager = Pager::new(
                format!("/api/v2/groups/{g}/members?pageSize=100"),
                max_pages,
            );
            while let Some(p) = pager.next_path() {
                let body = self.rest.get(&p).await.what("group members")?;
                let page =
                    decode::rest::users_page(&body).map_err(|e| parse_err("group members", e))?;
                for u in page.users.iter() {
                    add(u.id, &mut agents);
                }
                let next = Link::of(page.next_uri.as_deref(), page.next_uri_too_long);
                self.follow(&mut pager, next, page.users.len(), "group members");
            }
        }
        for a in &agents {
            self.send(Update::Watch(*a)).await;
        }
        self.metrics
            .upstream
            .watched_agents
            .set(agents.len() as u64);
        Ok(agents)
    }

    /// Topic list for the watched set: one combined topic per agent, two per queue.
    fn topics(&self, agents: &[Id]) -> Vec<String> {
        let mut t: Vec<String> = agents
            .iter()
            .map(|a| format!("v2.users.{a}{USER_TOPICS}"))
            .collect();
        for q in &self.watch.queues {
            t.push(format!("v2.routing.queues.{q}.{}", QUEUE_TOPICS[0]));
            t.push(format!("v2.analytics.queues.{q}.{}", QUEUE_TOPICS[1]));
        }
        t
    }

    /// Opens the channel set: per chunk of topics, create → connect → PUT → verify.
    async fn open_channels(
        &mut self,
        generation: u64,
        agents: &[Id],
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<Vec<Live>, UpstreamError> {
        let topics = self.topics(agents);
        let mut live = Vec::new();
        for chunk in chunk_by_weight(&topics, self.settings.max_topics.max(USER_TOPIC_WEIGHT)) {
            match self.open_channel(generation, chunk, ntx).await {
                Ok(l) => live.push(l),
                Err(e) => {
                    cancel_all(&live);
                    return Err(e);
                }
            }
        }
        self.metrics.upstream.channels.set(live.len() as u64);
        self.metrics.upstream.topics.set(topics.len() as u64);
        Ok(live)
    }

    async fn open_channel(
        &mut self,
        generation: u64,
        topics: &[String],
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<Live, UpstreamError> {
        let body = self
            .rest
            .post_json("/api/v2/notifications/channels", String::new())
            .await
            .what("create channel")?;
        let ch = decode::rest::channel(&body).map_err(|e| parse_err("create channel", e))?;
        self.metrics.upstream.channels_created.inc();
        let ws = socket::connect(
            ch.connect_uri.as_str(),
            &self.settings.socket,
            self.tls.clone(),
        )
        .await
        .map_err(|reason| UpstreamError::Connect {
            channel: ch.id.as_str().to_string(),
            reason,
        })?;
        self.metrics.upstream.connects.inc();
        let cancel = CancellationToken::new();
        tokio::spawn(socket::read(
            ws,
            generation,
            self.settings.socket.clone(),
            self.tx.clone(),
            ntx.clone(),
            self.metrics.clone(),
            self.audit.clone(),
            cancel.clone(),
        ));
        let live = Live {
            id: ch.id.as_str().to_string(),
            rotate_at: self.rotation_due(ch.expires),
            cancel,
        };
        if let Err(e) = self.subscribe(&live.id, topics, false).await {
            live.cancel.cancel();
            return Err(e);
        }
        self.audit.record(
            "subscribe",
            &format!("channel {} live with {} topics", live.id, topics.len()),
        );
        Ok(live)
    }

    /// One bulk PUT (replace) or POST (add) of `topics`, verified by the tally of the answer.
    async fn subscribe(
        &self,
        channel: &str,
        topics: &[String],
        add: bool,
    ) -> Result<(), UpstreamError> {
        let mut json = String::with_capacity(topics.len() * 80 + 2);
        json.push('[');
        for (i, t) in topics.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"id\":\"");
            json.push_str(t);
            json.push_str("\"}");
        }
        json.push(']');
        let path =
            format!("/api/v2/notifications/channels/{channel}/subscriptions?ignoreErrors=true");
        let res = if add {
            self.rest.post_json(&path, json).await
        } else {
            self.rest.put_json(&path, json).await
        };
        let body = res.what("subscribe")?;
        let tally = decode::rest::subscriptions(&body).map_err(|e| parse_err("subscribe", e))?;
        if tally.rejected > 0 {
            // Permission problems on some topics must not take the whole site down: report
            // them loudly and keep the permitted ones.
            self.audit.record(
                "subscribe",
                &format!(
                    "channel {channel}: {} of {} topics rejected (first: {:?})",
                    tally.rejected,
                    tally.total,
                    tally.rejected_ids.first().map(|s| s.as_str())
                ),
            );
        }
        if tally.total == 0 && !topics.is_empty() {
            return Err(UpstreamError::Subscribe {
                channel: channel.to_string(),
                rejected: tally.rejected,
                total: u32::try_from(topics.len()).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// A new queue member joined while live: subscribe to it on the last channel (adding),
    /// and read its current state.
    async fn add_agent(&mut self, s: &mut Session, user: Id) -> Result<(), UpstreamError> {
        let Some(last) = s.live.last() else {
            return Ok(());
        };
        let topic = vec![format!("v2.users.{user}{USER_TOPICS}")];
        let channel = last.id.clone();
        self.subscribe(&channel, &topic, true).await?;
        s.known.insert(user);
        s.agents.push(user);
        self.agents = Some(s.agents.clone());
        self.send(Update::Watch(user)).await;
        self.resync(&[user]).await
    }

    /// Reads the open conversations of `users` (analytics details query, then each
    /// conversation's current body) and clears those who have none.
    ///
    /// The clear is stamped `began - 1`: one millisecond before the resync began (server
    /// time), which is after this session's topics were subscribed and its socket connected.
    /// Every conversation change from `began` on reaches the state stage as a live event
    /// stamped `began` or later, so the clear — a statement about the past, not a change — can
    /// never win against one, whatever the arrival order: not against a conversation that starts
    /// in the very millisecond the query is answered (same stamp as the query's send time, event
    /// arriving before the clear, which comes only after the conversation reads: a tie the later
    /// arrival would win), nor against one the query did not see yet. What it must beat, a
    /// conversation whose end was missed while the gateway was away, was last seen on the old
    /// socket, before `began`. As exact as [`Rest::server_now_ms`]: a box clock trusted while
    /// ahead of the server (by less than its 2 s tolerance) moves `began` ahead by as much.
    /// (Found as a flake of `hostile_frames_are_counted_and_survived`; regression test
    /// `resync_clear_never_beats_a_live_conversation` in `tests/faults.rs`.)
    async fn resync_conversations(&mut self, users: &[Id], began: Ms) -> Result<(), UpstreamError> {
        // Server time: the query's interval is read against the server's clock.
        let sent = self.rest.server_now_ms();
        let mut busy: HashSet<Id> = HashSet::new();
        let mut hits: Vec<(Id, Id)> = Vec::new();
        for page in 1..=MAX_CONVERSATION_PAGES {
            let body = self
                .rest
                .post_json(
                    "/api/v2/analytics/conversations/details/query",
                    conversations_query(users, sent, page),
                )
                .await
                .what("conversation details")?;
            let res = decode::conversation_rest::conversation_details(&body)
                .map_err(|e| parse_err("conversation details", e))?;
            let got = res.hits.len() + res.dropped;
            hits.extend(res.hits.iter().copied());
            let seen = usize::try_from(page).unwrap_or(usize::MAX) * USERS_PER_PAGE;
            if got == 0 || seen >= usize::try_from(res.total).unwrap_or(0) {
                break;
            }
        }
        for (user, conversation) in hits {
            if !users.contains(&user) {
                continue; // another participant of the same conversation
            }
            let body = match self
                .rest
                .get(&format!("/api/v2/conversations/{conversation}"))
                .await
            {
                Ok(b) => b,
                // Gone between the query and the read: it ended; the clear below covers it.
                Err(RestError::Status { status: 404, .. }) => continue,
                Err(source) => {
                    return Err(UpstreamError::Rest {
                        what: "conversation",
                        source,
                    })
                }
            };
            match decode::conversation_rest::conversation(&body, user) {
                Ok(c) => {
                    if !c.ended {
                        busy.insert(user);
                    }
                    self.send(Update::Event(Event::Conversation(c))).await;
                }
                Err(e) => tracing::warn!(%conversation, error = %e, "unreadable conversation"),
            }
        }
        let idle: Vec<Id> = users
            .iter()
            .copied()
            .filter(|u| !busy.contains(u))
            .collect();
        self.clear_conversations(&idle, began).await;
        Ok(())
    }

    /// Tells the state stage that `users` have no open conversation, stamped `began - 1` (see
    /// [`Self::resync_conversations`] for why that stamp can never hide a live conversation).
    async fn clear_conversations(&mut self, users: &[Id], began: Ms) {
        for &user in users {
            self.send(Update::Event(Event::Conversation(ConversationChange {
                user,
                conversation: Id::default(),
                media: Media::None,
                interaction: Interaction::None,
                wrapup: false,
                ended: true,
                changed: began.saturating_sub(1),
            })))
            .await;
        }
    }

    /// Reads current presence, routing status, conversations and queue numbers over REST.
    /// Callers subscribe (and connect) first: changes from the start of the resync on arrive as
    /// live events too, ordered against these answers by source timestamps.
    ///
    /// One users page per 100 agents carries presence, routing status and the conversation
    /// summary (`expand=presence,routingStatus,conversationSummary`). Expands are best effort
    /// upstream, so what a page left out is read the long way: presence in bulk (50 ids a
    /// request), routing status one by one, and an agent without a summary is treated as busy.
    /// Only busy agents (a summary with an active or after-call-work conversation) get the
    /// conversation details query and the conversation reads; idle ones are cleared without
    /// a request. An idle 10,000-agent site resyncs in ~105 requests instead of ~470.
    async fn resync(&mut self, agents: &[Id]) -> Result<(), UpstreamError> {
        // Server time, before the first request: see `resync_conversations`.
        let began = self.rest.server_now_ms();
        let user_reqs = agents.len().div_ceil(USERS_PER_PAGE);
        let queue_reqs = self.watch.queues.len().div_ceil(QUEUES_PER_QUERY);
        let m = self.metrics.clone();
        // Planned requests; fallbacks and conversation queries are added once known.
        m.upstream.resync_total.set((user_reqs + queue_reqs) as u64);
        m.upstream.resync_done.set(0);
        let started = std::time::Instant::now();
        let progress = |m: &Metrics| {
            m.upstream.resync_done.inc();
            let done = m.upstream.resync_done.get();
            let total = m.upstream.resync_total.get();
            if done.is_multiple_of(20) || done == total {
                tracing::info!(done, total, "resync progress");
            }
        };
        let mut no_presence: Vec<Id> = Vec::new();
        let mut busy: Vec<Id> = Vec::new();
        let mut idle: Vec<Id> = Vec::new();
        for chunk in agents.chunks(USERS_PER_PAGE) {
            let ids = join_ids(chunk, "&id=");
            let body = self
                .rest
                .get(&format!(
                    "/api/v2/users?pageSize={USERS_PER_PAGE}&id={ids}&expand=presence,routingStatus,conversationSummary"
                ))
                .await
                .what("users")?;
            let page = decode::rest::users_page(&body).map_err(|e| parse_err("users", e))?;
            let mut missing_routing: Vec<Id> = chunk.to_vec();
            let mut missing_presence: Vec<Id> = chunk.to_vec();
            let mut summarized: Vec<Id> = Vec::new();
            for u in page.users.iter().filter(|u| chunk.contains(&u.id)) {
                if !u.name.is_empty() {
                    self.send(Update::Name {
                        user: u.id,
                        name: u.name.clone(),
                    })
                    .await;
                }
                if let Some(p) = u.presence {
                    self.send(Update::Event(Event::Presence(p))).await;
                    missing_presence.retain(|id| *id != u.id);
                }
                if let Some(r) = u.routing {
                    self.send(Update::Event(Event::Routing(r))).await;
                    missing_routing.retain(|id| *id != u.id);
                }
                if let Some(c) = u.conversations {
                    summarized.push(u.id);
                    if c.active == 0 && c.acw == 0 {
                        idle.push(u.id);
                    } else {
                        busy.push(u.id);
                    }
                }
            }
            // No summary (left out, or the user was not in the page): ask analytics.
            busy.extend(chunk.iter().filter(|id| !summarized.contains(id)));
            m.upstream
                .resync_total
                .set(m.upstream.resync_total.get() + missing_routing.len() as u64);
            // `expand` is best effort upstream: read what it left out one by one.
            for id in missing_routing {
                let body = self
                    .rest
                    .get(&format!("/api/v2/users/{id}/routingstatus"))
                    .await
                    .what("routing status")?;
                let r = decode::rest::routing_status(&body)
                    .map_err(|e| parse_err("routing status", e))?;
                self.send(Update::Event(Event::Routing(r))).await;
                progress(&m);
            }
            no_presence.extend(missing_presence);
            progress(&m);
        }
        m.upstream.resync_total.set(
            m.upstream.resync_total.get()
                + (no_presence.len().div_ceil(BULK_PRESENCE_IDS)
                    + busy.len().div_ceil(USERS_PER_PAGE)) as u64,
        );
        for chunk in no_presence.chunks(BULK_PRESENCE_IDS) {
            let ids = join_ids(chunk, ",");
            let body = self
                .rest
                .get(&format!("/api/v2/users/presences/purecloud/bulk?id={ids}"))
                .await
                .what("bulk presence")?;
            let list =
                decode::rest::bulk_presence(&body).map_err(|e| parse_err("bulk presence", e))?;
            for p in list.iter() {
                self.send(Update::Event(Event::Presence(*p))).await;
            }
            progress(&m);
        }
        self.clear_conversations(&idle, began).await;
        for chunk in busy.chunks(USERS_PER_PAGE) {
            self.resync_conversations(chunk, began).await?;
            progress(&m);
        }
        for chunk in self.watch.queues.clone().chunks(QUEUES_PER_QUERY) {
            let preds: Vec<String> = chunk
                .iter()
                .map(|q| format!("{{\"type\":\"dimension\",\"dimension\":\"queueId\",\"operator\":\"matches\",\"value\":\"{q}\"}}"))
                .collect();
            let query = format!(
                "{{\"filter\":{{\"type\":\"or\",\"predicates\":[{}]}},\"metrics\":[\"oWaiting\",\"oInteracting\",\"oAlerting\",\"oOnQueueUsers\",\"oOffQueueUsers\",\"oLongestWaiting\"]}}",
                preds.join(",")
            );
            let body = self
                .rest
                .post_json("/api/v2/analytics/queues/observations/query", query)
                .await
                .what("queue observations")?;
            let list = decode::rest::observations_query(&body)
                .map_err(|e| parse_err("queue observations", e))?;
            let now = self.rest.server_now_ms();
            for o in list.iter() {
                let mut o = *o;
                if o.observed == 0 {
                    o.observed = now;
                }
                self.send(Update::Event(Event::Observation(o))).await;
            }
            progress(&m);
        }
        // What the resync read is on disk before it is reported done: a power cut from here
        // on boots to this state, not to an older one.
        let read_ms = started.elapsed().as_millis();
        let durable = match self.checkpoint().await {
            Some(Durable {
                on_disk: true,
                flush_us,
                ..
            }) => format!("on disk (flush {} ms)", flush_us / 1000),
            Some(_) => "not on disk (store degraded or memory-only)".to_string(),
            None => format!(
                "on disk: unknown (no flush within {} s)",
                CHECKPOINT_WAIT.as_secs()
            ),
        };
        m.upstream.resyncs.inc();
        self.audit.record(
            "resync",
            &format!(
                "{} agents ({} busy), {} queues, {} requests in {read_ms} ms; {durable}",
                agents.len(),
                busy.len(),
                self.watch.queues.len(),
                m.upstream.resync_total.get(),
            ),
        );
        Ok(())
    }
}

/// Weight of a topic toward the per-channel limit.
fn weight(topic: &str) -> usize {
    if topic.contains('?') {
        USER_TOPIC_WEIGHT
    } else {
        1
    }
}

/// Splits `topics` into consecutive chunks whose weights each sum to at most `max`.
fn chunk_by_weight(topics: &[String], max: usize) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut sum) = (0, 0);
    for (i, t) in topics.iter().enumerate() {
        let w = weight(t);
        if sum + w > max && i > start {
            out.push(&topics[start..i]);
            start = i;
            sum = 0;
        }
        sum += w;
    }
    if start < topics.len() {
        out.push(&topics[start..]);
    }
    out
}

/// The analytics details query for the open conversations of `users`.
fn conversations_query(users: &[Id], now_ms: u64, page: u32) -> String {
    let from = iso8601(now_ms.saturating_sub(CONVERSATION_LOOKBACK_MS));
    let to = iso8601(now_ms + 3_600_000);
    let preds: Vec<String> = users
        .iter()
        .map(|u| format!("{{\"type\":\"dimension\",\"dimension\":\"userId\",\"operator\":\"matches\",\"value\":\"{u}\"}}"))
        .collect();
    format!(
        "{{\"interval\":\"{from}/{to}\",\"order\":\"asc\",\"paging\":{{\"pageSize\":{USERS_PER_PAGE},\"pageNumber\":{page}}},\"conversationFilters\":[{{\"type\":\"and\",\"predicates\":[{{\"type\":\"dimension\",\"dimension\":\"conversationEnd\",\"operator\":\"notExists\"}}]}}],\"segmentFilters\":[{{\"type\":\"or\",\"predicates\":[{}]}}]}}",
        preds.join(",")
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in ms (civil-from-days, no time crate).
fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
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

fn cancel_all(live: &[Live]) {
    for l in live {
        l.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_follows_honest_links_and_stops_hostile_ones() {
        // Honest: three pages, the last without nextUri.
        let mut p = Pager::new("/l?pageNumber=1".into(), 10);
        assert_eq!(p.next_path().as_deref(), Some("/l?pageNumber=1"));
        assert_eq!(p.follow(Link::Next("/l?pageNumber=2"), 100), None);
        assert_eq!(p.next_path().as_deref(), Some("/l?pageNumber=2"));
        assert_eq!(p.follow(Link::End, 3), None);
        assert_eq!(p.next_path(), None);
        // A page that links to itself, or back to the first.
        let mut p = Pager::new("/l?pageNumber=1".into(), 10);
        p.next_path();
        assert!(p.follow(Link::Next("/l?pageNumber=1"), 5).is_some());
        assert_eq!(p.next_path(), None);
        let mut p = Pager::new("/a".into(), 10);
        p.next_path();
        assert_eq!(p.follow(Link::Next("/b"), 5), None);
        p.next_path();
        assert!(p.follow(Link::Next("/a"), 5).is_some());
        // An endless chain of empty pages stops at the first empty one.
        let mut p = Pager::new("/l?pageNumber=1".into(), 10);
        p.next_path();
        assert!(p.follow(Link::Next("/l?pageNumber=2"), 0).is_some());
        assert_eq!(p.next_path(), None);
        // A chain of distinct full pages stops at the page limit.
        let mut p = Pager::new("/p0".into(), 3);
        let mut read = 0;
        while p.next_path().is_some() {
            read += 1;
            if p.follow(Link::Next(&format!("/p{read}")), 1).is_some() {
                break;
            }
        }
        assert_eq!(read, 3);
        // A link too long to keep ends the listing, counted; no link at all does not.
        let mut p = Pager::new("/l".into(), 10);
        p.next_path();
        assert!(p.follow(Link::of(None, true), 5).is_some());
        assert!(matches!(Link::of(Some(""), false), Link::End));
    }

    #[test]
    fn chunks_respect_the_weighted_topic_limit() {
        let mut topics: Vec<String> = (0..500)
            .map(|i| format!("v2.users.{i}?presence&routingStatus&conversations"))
            .collect();
        topics.extend((0..40).map(|i| format!("v2.routing.queues.{i}.users")));
        let chunks = chunk_by_weight(&topics, 1000);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 540);
        for c in &chunks {
            assert!(c.iter().map(|t| weight(t)).sum::<usize>() <= 1000);
        }
        assert_eq!(chunk_by_weight(&[], 1000).len(), 0);
    }

    #[test]
    fn iso8601_formats_utc_millis() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_735_551_598_512), "2024-12-30T09:39:58.512Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
