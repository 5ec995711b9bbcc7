//! The hub: everything behind the simulator's one lock — tokens, channels, sockets, fault state, timers,
//! and delivery of notifications to subscribed sockets.
//!
//! Owns: protocol state and the rules that act on it (auth and rate limits, channel limits and eviction,
//! subscriptions, heartbeats, expiry, socket_closing grace, fault application, duplicate/reorder, observation
//! pacing, the background generator, a [`Recording`] of notifications made ahead of delivery for the bench
//! to replay). It does no I/O: sockets are reached through bounded queues of
//! [`Outbound`] items drained by `ws.rs`, and REST glue lives in `rest.rs`/`api.rs`.
//! Every method takes sim time `now` (ms since epoch) from the caller, read while the caller holds the hub
//! (`Inner::hub_now`), so nothing is stamped earlier than an answer the hub already gave.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{ms, SimConfig};
use crate::error::ApiError;
use crate::fault::{self, Fault};
use crate::generate::{self, Notification};
use crate::ids;
use crate::model::{World, OBSERVATION_MIN_GAP_MS};
use crate::payload;
use crate::stats::Counters;
use crate::topics::{self, Subscription, TopicError};

/// Frames a socket may have queued before the hub treats it as a slow consumer and drops it (the real
/// service cannot buffer without bound either). Large, so that `step(10_000)` into a busy test socket fits.
pub(crate) const SOCKET_QUEUE_FRAMES: usize = 65_536;
/// Heartbeats sent at most for one timer check, however far `advance` jumped (the rest are coalesced; a
/// client watching for silence still sees one heartbeat per period for the first 16 periods).
const HEARTBEAT_CATCHUP_MAX: u64 = 16;
/// Longest sim time a [`Fault::Reorder`] hold waits for a newer notification before it is released alone.
const REORDER_MAX_HOLD_MS: u64 = 5_000;
/// Most background events one timer check generates; beyond it they are skipped and counted (after a long
/// `advance` the generator does not replay hours of traffic).
const GENERATOR_BURST_MAX: usize = 10_000;
/// Close code used when the server ends a socket whose channel is gone (expired, evicted, revoked, replaced).
/// Real value unknown; 1000 (normal closure) after an explicit message is the least surprising.
pub(crate) const CLOSE_CHANNEL_GONE: u16 = 1000;
/// Close code after the socket_closing grace (RFC 6455 "going away": server maintenance).
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;

/// Notification frames made ahead of their delivery (issue 16): while a hub records, every
/// notification it would send is kept here, serialized, instead of being queued for its
/// socket; [`crate::Sim::replay`] sends them later in the same order. The truth moved when they were
/// made, so once all are delivered a client's view equals it again. Heartbeats, replies and
/// closes are never recorded (they go out as usual).
#[derive(Debug, Default)]
pub struct Recording {
    /// (channel id, frame text, events complete once this frame is delivered).
    frames: VecDeque<(String, String, u64)>,
    /// Events generated while recording.
    events: u64,
    /// Events complete by the frames replayed so far.
    replayed_events: u64,
}

impl Recording {
    /// Events this recording was made of.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Frames not replayed yet.
    pub fn frames_left(&self) -> usize {
        self.frames.len()
    }

    /// Events whose every frame has been replayed (all of them once no frame is left).
    pub fn replayed_events(&self) -> u64 {
        if self.frames.is_empty() {
            self.events
        } else {
            self.replayed_events
        }
    }

    /// Bytes of frame text held.
    pub fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.1.len()).sum()
    }
}

/// One item queued for a socket task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame with this code and reason, then TCP close.
    Close { code: u16, reason: String },
    /// TCP close without a close frame.
    Abort,
}

/// The hub's handle on a connected socket.
#[derive(Debug)]
pub(crate) struct Socket {
    /// Connection number (a newer socket on the same channel has a higher one).
    pub conn: u64,
    tx: mpsc::Sender<Outbound>,
    /// Fired (not dropped) to abort the socket at once, skipping its queue.
    kill: Option<oneshot::Sender<()>>,
    next_heartbeat_ms: u64,
}

/// What a socket task gets when it attaches to a channel.
#[derive(Debug)]
pub(crate) struct Attached {
    pub conn: u64,
    pub rx: mpsc::Receiver<Outbound>,
    pub kill: oneshot::Receiver<()>,
}

/// An issued access token.
#[derive(Debug)]
struct Token {
    client_id: String,
    expires_ms: u64,
    revoked: bool,
    window_start_ms: u64,
    window_count: u32,
}

/// A notification channel.
#[derive(Debug)]
pub(crate) struct Channel {
    pub id: String,
    pub connect_uri: String,
    /// The token that created it; the channel ends with it.
    token: String,
    client_id: String,
    created_ms: u64,
    /// Creation order: breaks ties between channels created in the same millisecond.
    created_seq: u64,
    pub expires_ms: u64,
    /// Creation, socket connect, or subscription change: the "last used date" of the eviction rule.
    last_used_ms: u64,
    subs: Vec<Subscription>,
    /// Lowercase expanded topics of `subs`, for delivery lookups.
    index: HashSet<String>,
    pub socket: Option<Socket>,
}

impl Channel {
    fn reindex(&mut self) {
        self.index = self
            .subs
            .iter()
            .flat_map(|s| s.expanded.iter().cloned())
            .collect();
    }

    fn entity(&self) -> Value {
        json!({ "connectUri": self.connect_uri, "id": self.id, "expires": crate::clock::iso(self.expires_ms) })
    }
}

/// How a subscription request changes the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubOp {
    Get,
    Add,
    Replace,
    Delete,
}

/// Why a channel ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Channel or token expired: `{"result":"404",...}` then close (GN-LIB observation).
    Expired,
    /// Evicted by the channel limit: `v2.system.no_longer_subscribed.{id}` then close.
    Evicted,
    /// Token revoked: `v2.system.token_revoked.{id}` then close.
    Revoked,
}

/// A notification held back by [`Fault::Reorder`].
#[derive(Debug)]
struct Held {
    topic: String,
    text: String,
    since_ms: u64,
}

/// The protocol state.
#[derive(Debug)]
pub(crate) struct Hub {
    pub cfg: SimConfig,
    pub world: World,
    tokens: HashMap<String, Token>,
    pub channels: BTreeMap<String, Channel>,
    /// Entropy RNG for tokens, channel ids, correlation ids (the world RNG stays deterministic).
    rng: fastrand::Rng,
    next_conn: u64,
    silence: bool,
    stop_heartbeats: bool,
    storm_until_ms: u64,
    /// Channels created so far (orders channels created within one millisecond).
    channels_seq: u64,
    duplicate: u32,
    reorder: u32,
    held: Vec<Held>,
    /// socket_closing closes due: (due ms, channel id, connection).
    closing: Vec<(u64, String, u64)>,
    gen_last_ms: u64,
    gen_carry: f64,
    /// `ws://ip:port` of the streaming host.
    ws_base: String,
    counters: Arc<Counters>,
    silence_tx: watch::Sender<bool>,
    /// [`Fault::EndlessPaging`]: read by `rest.rs` when it renders a listing.
    pub rest_paging: Option<fault::PagingLoop>,
    /// [`Fault::HugeBodies`]: the size `rest.rs` pads `/api/v2` answers to.
    pub rest_pad_to: Option<usize>,
    /// [`Fault::RestHang`]: `rest.rs` holds new REST requests unanswered.
    pub rest_hang: bool,
    /// [`Fault::HoldConversationReads`]: `rest.rs` holds `GET /api/v2/conversations/{id}` until it is lifted.
    pub hold_conversation_reads: bool,
    /// [`Fault::HoldSubscriptions`]: `rest.rs` holds subscription requests until it is lifted.
    pub hold_subscriptions: bool,
    /// [`Fault::DenyEndpoint`]: requests `api.rs` refuses after admission.
    pub deny: Option<crate::fault::Denial>,
    /// Notifications kept instead of sent ([`Recording`]).
    recording: Option<Recording>,
}

impl Hub {
    /// A hub with a fresh world.
    pub(crate) fn new(
        cfg: SimConfig,
        now: u64,
        ws_base: String,
        counters: Arc<Counters>,
        silence_tx: watch::Sender<bool>,
    ) -> Hub {
        let world = World::new(cfg.seed, cfg.agents, cfg.queues, cfg.groups, now);
        Hub {
            cfg,
            world,
            tokens: HashMap::new(),
            channels: BTreeMap::new(),
            rng: fastrand::Rng::new(),
            next_conn: 1,
            silence: false,
            stop_heartbeats: false,
            storm_until_ms: 0,
            channels_seq: 0,
            duplicate: 0,
            reorder: 0,
            held: Vec::new(),
            closing: Vec::new(),
            gen_last_ms: now,
            gen_carry: 0.0,
            ws_base,
            counters,
            silence_tx,
            rest_paging: None,
            rest_pad_to: None,
            rest_hang: false,
            hold_conversation_reads: false,
            hold_subscriptions: false,
            deny: None,
            recording: None,
        }
    }

    // ---- OAuth and REST admission -------------------------------------------------------------------

    /// Issues a token for `client_id`; returns (token, expires_in seconds).
    pub(crate) fn issue_token(&mut self, client_id: &str, now: u64) -> (String, u64) {
        let token = ids::token(&mut self.rng);
        let life = ms(self.cfg.token_lifetime);
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: client_id.to_owned(),
                expires_ms: now + life,
                revoked: false,
                window_start_ms: now,
                window_count: 0,
            },
        );
        Counters::inc(&self.counters.tokens_issued);
        (token, life / 1000)
    }

    fn token_valid(&self, token: &str, now: u64) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|t| !t.revoked && now < t.expires_ms)
    }

    /// Admits a REST request: storm, bearer token, per-token rate limit. Returns the token.
    pub(crate) fn admit(
        &mut self,
        authorization: Option<&str>,
        now: u64,
    ) -> Result<String, ApiError> {
        if now < self.storm_until_ms {
            Counters::inc(&self.counters.rate_limited);
            return Err(ApiError::rate_limited(ceil_secs(self.storm_until_ms - now)));
        }
        let token = bearer(authorization).ok_or_else(|| {
            Counters::inc(&self.counters.unauthorized);
            ApiError::no_token()
        })?;
        if !self.token_valid(token, now) {
            Counters::inc(&self.counters.unauthorized);
            return Err(ApiError::bad_token());
        }
        let limit = self.cfg.rate_limit_per_min;
        if let Some(t) = self.tokens.get_mut(token) {
            if limit > 0 {
                if now.saturating_sub(t.window_start_ms) >= 60_000 {
                    t.window_start_ms = now;
                    t.window_count = 0;
                }
                if t.window_count >= limit {
                    Counters::inc(&self.counters.rate_limited);
                    return Err(ApiError::rate_limited(ceil_secs(
                        t.window_start_ms + 60_000 - now,
                    )));
                }
                t.window_count += 1;
            }
        }
        Ok(token.to_owned())
    }

    fn client_of(&self, token: &str) -> String {
        self.tokens
            .get(token)
            .map(|t| t.client_id.clone())
            .unwrap_or_default()
    }

    /// The shared counters.
    pub(crate) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// A fresh id for an error body's `contextId`.
    pub(crate) fn context_id(&mut self) -> String {
        ids::uuid(&mut self.rng)
    }

    // ---- Channels -----------------------------------------------------------------------------------

    /// `POST /api/v2/notifications/channels`: creates a channel, evicting per the limit first.
    pub(crate) fn create_channel(&mut self, token: &str, now: u64) -> Value {
        let client = self.client_of(token);
        if self.cfg.max_channels > 0 {
            while self
                .channels
                .values()
                .filter(|c| c.client_id == client)
                .count()
                >= self.cfg.max_channels
            {
                let Some(victim) = self.eviction_victim(Some(&client)) else {
                    break;
                };
                self.end_channel(&victim, End::Evicted);
            }
        }
        self.channels_seq += 1;
        let id = loop {
            let id = ids::channel_id(&mut self.rng);
            if !self.channels.contains_key(&id) {
                break id;
            }
        };
        let ch = Channel {
            connect_uri: format!("{}/channels/{id}", self.ws_base),
            id: id.clone(),
            token: token.to_owned(),
            client_id: client,
            created_ms: now,
            created_seq: self.channels_seq,
            expires_ms: now + ms(self.cfg.channel_lifetime),
            last_used_ms: now,
            subs: Vec::new(),
            index: HashSet::new(),
            socket: None,
        };
        let body = ch.entity();
        self.channels.insert(id, ch);
        Counters::inc(&self.counters.channels_created);
        body
    }

    /// Eviction rule (SDK wording): channels without an active connection first (oldest created), else the
    /// one with the oldest last-used date.
    fn eviction_victim(&self, client: Option<&str>) -> Option<String> {
        let mine = || {
            self.channels
                .values()
                .filter(|c| client.is_none_or(|cl| c.client_id == cl))
        };
        mine()
            .filter(|c| c.socket.is_none())
            .min_by_key(|c| (c.created_ms, c.created_seq))
            .or_else(|| mine().min_by_key(|c| (c.last_used_ms, c.created_ms, c.created_seq)))
            .map(|c| c.id.clone())
    }

    /// `GET /api/v2/notifications/channels`: this token's channels; with `oauthclient`, the client's other
    /// channels are listed too but only by `expires` (their ids and URIs are not shown, per SDKDOC).
    pub(crate) fn list_channels(&self, token: &str, include_client: bool) -> Value {
        let client = self.client_of(token);
        let mut entities = Vec::new();
        for c in self.channels.values() {
            if c.token == token {
                entities.push(c.entity());
            } else if include_client && c.client_id == client {
                entities.push(json!({ "expires": crate::clock::iso(c.expires_ms) }));
            }
        }
        json!({ "entities": entities })
    }

    /// `HEAD /api/v2/notifications/channels/{id}`: exists for any token of the same client.
    pub(crate) fn channel_exists(&self, token: &str, id: &str) -> bool {
        let client = self.client_of(token);
        self.channels.get(id).is_some_and(|c| c.client_id == client)
    }

    /// Subscription REST on a channel owned by `token`.
    pub(crate) fn subscriptions(
        &mut self,
        token: &str,
        channel_id: &str,
        op: SubOp,
        requested: &[String],
        ignore_errors: bool,
        now: u64,
    ) -> Result<Option<Value>, ApiError> {
        let owner = match self.channels.get(channel_id) {
            None => {
                return Err(ApiError::not_found(format!(
                    "Channel {channel_id} not found"
                )))
            }
            Some(c) => c.token.clone(),
        };
        if owner != token {
            return Err(ApiError::forbidden(format!(
                "Channel {channel_id} belongs to a different access token"
            )));
        }
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        if matches!(op, SubOp::Add | SubOp::Replace) {
            for t in requested {
                match topics::parse(t, &self.world) {
                    Ok(s) => accepted.push(s),
                    Err(e) if ignore_errors => rejected.push((t.clone(), e)),
                    Err(e) => return Err(ApiError::bad_request(e.to_string())),
                }
            }
        }
        let max = self.cfg.max_topics;
        let one = self.cfg.combined_counts_as_one;
        let extend = self.cfg.resubscribe_extends;
        let life = ms(self.cfg.channel_lifetime);
        let Some(ch) = self.channels.get_mut(channel_id) else {
            return Err(ApiError::not_found(format!(
                "Channel {channel_id} not found"
            )));
        };
        let mut subs = match op {
            SubOp::Get | SubOp::Add => ch.subs.clone(),
            SubOp::Replace | SubOp::Delete => Vec::new(),
        };
        merge(&mut subs, accepted);
        let n = topic_count(&subs, one);
        if n > max {
            return Err(ApiError::bad_request(format!(
                "Channel {channel_id} would have {n} topics; the limit is {max}"
            )));
        }
        if op != SubOp::Get {
            ch.subs = subs;
            ch.reindex();
            ch.last_used_ms = now;
            if extend && matches!(op, SubOp::Add | SubOp::Replace) {
                ch.expires_ms = now + life;
            }
        }
        if op == SubOp::Delete {
            return Ok(None);
        }
        let mut entities: Vec<Value> = ch
            .subs
            .iter()
            .map(|s| {
                let mut v = json!({ "id": s.id, "selfUri": format!("/api/v2/notifications/channels/{channel_id}/subscriptions") });
                if ignore_errors {
                    v["state"] = json!("Permitted");
                }
                v
            })
            .collect();
        for (t, e) in rejected {
            entities.push(json!({
                "id": t,
                "state": "Rejected",
                "rejectionReason": e.to_string(),
                "missingPermissions": [],
            }));
        }
        Ok(Some(json!({ "entities": entities })))
    }

    // ---- Sockets ------------------------------------------------------------------------------------

    /// Whether a WebSocket may be opened on `channel_id` now.
    pub(crate) fn channel_open(&self, channel_id: &str, now: u64) -> bool {
        self.channels
            .get(channel_id)
            .is_some_and(|c| now < c.expires_ms && self.token_valid(&c.token, now))
    }

    /// Attaches a new socket to a channel; an existing socket on it is closed ("the first WebSocket
    /// disconnects"). `None` if the channel is gone.
    pub(crate) fn attach(&mut self, channel_id: &str, now: u64) -> Option<Attached> {
        if !self.channel_open(channel_id, now) {
            return None;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE_FRAMES);
        let (kill_tx, kill_rx) = oneshot::channel();
        let interval = ms(self.cfg.heartbeat_interval);
        let ch = self.channels.get_mut(channel_id)?;
        if let Some(old) = ch.socket.take() {
            let _ = old.tx.try_send(Outbound::Close {
                code: CLOSE_CHANNEL_GONE,
                reason: "Another WebSocket connected to this channel".to_owned(),
            });
        }
        ch.socket = Some(Socket {
            conn,
            tx,
            kill: Some(kill_tx),
            next_heartbeat_ms: now + interval,
        });
        ch.last_used_ms = now;
        Counters::inc(&self.counters.ws_connections);
        Some(Attached {
            conn,
            rx,
            kill: kill_rx,
        })
    }

    /// Forgets a socket that ended (if it is still the channel's current one).
    pub(crate) fn detach(&mut self, channel_id: &str, conn: u64) {
        if let Some(ch) = self.channels.get_mut(channel_id) {
            if ch.socket.as_ref().is_some_and(|s| s.conn == conn) {
                ch.socket = None;
            }
        }
    }

    /// Handles a client text frame; returns the reply to write, if any.
    pub(crate) fn client_message(
        &mut self,
        channel_id: &str,
        text: &str,
        now: u64,
    ) -> Option<String> {
        Counters::inc(&self.counters.client_messages);
        let error = |status: &str, message: String| {
            Some(json!({ "result": "400", "status": status, "message": message }).to_string())
        };
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            return error("error", "Unable to parse message".to_owned());
        };
        let correlation = msg.get("correlationId").cloned();
        let with_correlation = |mut v: Value| {
            if let Some(c) = &correlation {
                v["correlationId"] = c.clone();
            }
            Some(v.to_string())
        };
        match msg.get("message").and_then(Value::as_str) {
            Some("ping") => Some(
                json!({ "topicName": "channel.metadata", "eventBody": { "message": "pong" } })
                    .to_string(),
            ),
            Some(kind @ ("subscribe" | "unsubscribe")) => {
                let topics: Vec<String> = msg
                    .get("topics")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                match self.ws_subscribe(channel_id, kind == "subscribe", &topics, now) {
                    Ok(()) => with_correlation(json!({
                        "result": "200",
                        "status": if kind == "subscribe" { "subscribed" } else { "unsubscribed" },
                    })),
                    Err(message) => with_correlation(
                        json!({ "result": "400", "status": "failure", "message": message }),
                    ),
                }
            }
            _ => error("error", "Unsupported message".to_owned()),
        }
    }

    /// WebSocket-level subscribe (adds, like GN-LIB assumes) or unsubscribe.
    fn ws_subscribe(
        &mut self,
        channel_id: &str,
        add: bool,
        requested: &[String],
        now: u64,
    ) -> Result<(), String> {
        if requested.is_empty() {
            return Err("No topics given".to_owned());
        }
        let parsed: Vec<Subscription> = if add {
            requested
                .iter()
                .map(|t| topics::parse(t, &self.world))
                .collect::<Result<_, TopicError>>()
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        let (max, one) = (self.cfg.max_topics, self.cfg.combined_counts_as_one);
        let extend = self.cfg.resubscribe_extends;
        let life = ms(self.cfg.channel_lifetime);
        let ch = self
            .channels
            .get_mut(channel_id)
            .ok_or_else(|| "Channel not found".to_owned())?;
        let mut subs = ch.subs.clone();
        if add {
            merge(&mut subs, parsed);
            let n = topic_count(&subs, one);
            if n > max {
                return Err(format!("Channel would have {n} topics; the limit is {max}"));
            }
        } else {
            subs.retain(|s| !requested.iter().any(|r| r.eq_ignore_ascii_case(&s.id)));
        }
        ch.subs = subs;
        ch.reindex();
        ch.last_used_ms = now;
        if add && extend {
            ch.expires_ms = now + life;
        }
        Ok(())
    }

    fn push(&mut self, channel_id: &str, out: Outbound) {
        let Some(ch) = self.channels.get_mut(channel_id) else {
            return;
        };
        let Some(sock) = &mut ch.socket else { return };
        match sock.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Some(kill) = sock.kill.take() {
                    let _ = kill.send(());
                }
                ch.socket = None;
                Counters::inc(&self.counters.slow_consumer_drops);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => ch.socket = None,
        }
    }

    /// Sends a close frame to a channel's socket and forgets the socket (the channel stays).
    fn close_socket(&mut self, channel_id: &str, code: u16, reason: &str) {
        self.push(
            channel_id,
            Outbound::Close {
                code,
                reason: reason.to_owned(),
            },
        );
        if let Some(ch) = self.channels.get_mut(channel_id) {
            ch.socket = None;
        }
    }

    fn connected(&self) -> Vec<String> {
        self.channels
            .values()
            .filter(|c| c.socket.is_some())
            .map(|c| c.id.clone())
            .collect()
    }

    // ---- Delivery -----------------------------------------------------------------------------------

    fn envelope(&mut self, topic: &str, body: &Value) -> String {
        /// `{topicName, version, eventBody, metadata:{CorrelationId}}`, serialized in this field order without
        /// building an intermediate `Value`.
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            #[serde(rename = "topicName")]
            topic_name: &'a str,
            version: &'static str,
            #[serde(rename = "eventBody")]
            event_body: &'a Value,
            metadata: Metadata,
        }
        #[derive(serde::Serialize)]
        struct Metadata {
            #[serde(rename = "CorrelationId")]
            correlation_id: String,
        }
        let envelope = Envelope {
            topic_name: topic,
            version: "2",
            event_body: body,
            metadata: Metadata {
                correlation_id: ids::uuid(&mut self.rng),
            },
        };
        serde_json::to_string(&envelope).unwrap_or_default()
    }

    fn recipients(&self, lower: &str) -> Vec<String> {
        self.channels
            .values()
            .filter(|c| c.socket.is_some() && c.index.contains(lower))
            .map(|c| c.id.clone())
            .collect()
    }

    fn send_to_subscribers(&mut self, lower: &str, text: &str) {
        for id in self.recipients(lower) {
            self.deliver(&id, text.to_owned());
        }
    }

    /// Queues a notification frame for a channel's socket, or keeps it in the recording.
    fn deliver(&mut self, channel_id: &str, text: String) {
        match &mut self.recording {
            Some(r) => r
                .frames
                .push_back((channel_id.to_owned(), text, r.events + 1)),
            None => self.push(channel_id, Outbound::Text(text)),
        }
    }

    /// Starts keeping notification frames instead of sending them (see [`Recording`]).
    pub(crate) fn start_recording(&mut self) {
        self.recording.get_or_insert_with(Recording::default);
    }

    /// Stops recording; returns what was kept.
    pub(crate) fn take_recording(&mut self) -> Recording {
        self.recording.take().unwrap_or_default()
    }

    /// Sends up to `max` frames of `rec` to their channels' sockets, in order; returns how
    /// many. A frame for a channel without a socket is dropped, as a live one would be.
    pub(crate) fn replay(&mut self, rec: &mut Recording, max: usize) -> usize {
        let mut sent = 0;
        while sent < max {
            let Some((channel, text, events)) = rec.frames.pop_front() else {
                break;
            };
            self.push(&channel, Outbound::Text(text));
            rec.replayed_events = events;
            sent += 1;
        }
        sent
    }

    /// Delivers one notification to every socket subscribed to its topic, applying Silence/Reorder/Duplicate.
    pub(crate) fn publish(&mut self, n: Notification, now: u64) {
        Counters::inc(&self.counters.notifications);
        let lower = n.topic.to_ascii_lowercase();
        let recipients = self.recipients(&lower);
        if recipients.is_empty() {
            Counters::inc(&self.counters.notifications_unrouted);
            return;
        }
        if self.silence {
            Counters::inc(&self.counters.notifications_silenced);
            return;
        }
        let text = self.envelope(&n.topic, &n.body);
        if self.held.is_empty() && self.reorder == 0 && self.duplicate == 0 {
            // The common case: one copy to each recipient, the last one gets the string itself.
            let last = recipients.len() - 1;
            let mut text = Some(text);
            for (i, id) in recipients.iter().enumerate() {
                let t = if i == last {
                    text.take().unwrap_or_default()
                } else {
                    text.clone().unwrap_or_default()
                };
                self.deliver(id, t);
            }
            return;
        }
        if let Some(pos) = self.held.iter().position(|h| h.topic == lower) {
            let older = self.held.remove(pos);
            self.send_to_subscribers(&lower, &text);
            self.send_to_subscribers(&lower, &older.text);
            return;
        }
        if self.reorder > 0 {
            self.reorder -= 1;
            self.held.push(Held {
                topic: lower,
                text,
                since_ms: now,
            });
            return;
        }
        let copies = if self.duplicate > 0 {
            self.duplicate -= 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            self.send_to_subscribers(&lower, &text);
        }
    }

    fn publish_all(&mut self, ns: Vec<Notification>, now: u64) {
        for n in ns {
            self.publish(n, now);
        }
    }

    /// Generates `n` events now; returns how many were generated. Bodies of notifications no connected
    /// socket subscribes to are never built (they are counted as unrouted all the same).
    pub(crate) fn step(&mut self, n: usize, now: u64) -> usize {
        let mut done = 0;
        for _ in 0..n {
            let channels = &self.channels;
            let wanted = |topic: &str| has_subscriber(channels, topic);
            let Some(ns) = generate::next_for(&mut self.world, now, &wanted) else {
                break;
            };
            Counters::inc(&self.counters.events_generated);
            self.publish_all(ns, now);
            if let Some(r) = &mut self.recording {
                r.events += 1;
            }
            done += 1;
        }
        self.observations(now);
        done
    }

    /// Scripted presence change. Unknown user or definition id: ignored (returns false).
    pub(crate) fn set_presence(&mut self, user: &str, definition_id: &str, now: u64) -> bool {
        let Some(def) = crate::model::presence_index(definition_id) else {
            return false;
        };
        let Some(ns) = generate::set_presence(&mut self.world, user, def, now) else {
            return false;
        };
        Counters::inc(&self.counters.events_generated);
        self.publish_all(ns, now);
        self.observations(now);
        true
    }

    /// Scripted queue membership change. Unknown user or queue, or no change: false.
    pub(crate) fn set_queue_member(
        &mut self,
        queue: &str,
        user: &str,
        member: bool,
        now: u64,
    ) -> bool {
        let Some(ns) =
            generate::set_membership(&mut self.world, user, queue, member, now, &|_| true)
        else {
            return false;
        };
        Counters::inc(&self.counters.events_generated);
        self.publish_all(ns, now);
        self.observations(now);
        true
    }

    /// Scripted routing-status change. Unknown user or status: ignored (returns false).
    pub(crate) fn set_routing(&mut self, user: &str, status: &str, now: u64) -> bool {
        let Some(status) = generate::ROUTING_STATUSES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(status))
        else {
            return false;
        };
        let Some(ns) = generate::set_routing(&mut self.world, user, status, now) else {
            return false;
        };
        Counters::inc(&self.counters.events_generated);
        self.publish_all(ns, now);
        true
    }

    /// Scripted out-of-office change. Unknown user: ignored (returns false).
    pub(crate) fn set_out_of_office(&mut self, user: &str, active: bool, now: u64) -> bool {
        let Some(ns) = generate::set_out_of_office(&mut self.world, user, active, now) else {
            return false;
        };
        Counters::inc(&self.counters.events_generated);
        self.publish_all(ns, now);
        true
    }

    /// Emits observation notifications for changed queues, at most one per queue per
    /// [`OBSERVATION_MIN_GAP_MS`]; a snapshot change goes first, a pending aggregate change takes the next slot.
    fn observations(&mut self, now: u64) {
        self.world.roll_aggregates(now);
        let mut out = Vec::new();
        for q in self.world.queues.values_mut() {
            if !(q.snapshot_dirty || q.aggregate_dirty) {
                continue;
            }
            if q.last_notified_ms
                .is_some_and(|t| now < t + OBSERVATION_MIN_GAP_MS)
            {
                continue;
            }
            q.last_notified_ms = Some(now);
            let topic = format!("v2.analytics.queues.{}.observations", q.id);
            if q.snapshot_dirty {
                q.snapshot_dirty = false;
                out.push((topic, true, q.id.clone()));
            } else {
                q.aggregate_dirty = false;
                out.push((topic, false, q.id.clone()));
            }
        }
        for (topic, snapshot, id) in out {
            let Some(q) = self.world.queues.get(&id) else {
                continue;
            };
            let body = if snapshot {
                payload::observation(&self.world, q)
            } else {
                crate::aggregates::notification(q)
            };
            self.publish(Notification { topic, body }, now);
        }
    }

    // ---- Timers -------------------------------------------------------------------------------------

    /// Fires every timer due at `now`: expiries, socket_closing closes, heartbeats, reorder holds, the
    /// background generator and observation pacing.
    pub(crate) fn tick(&mut self, now: u64) {
        self.expire(now);
        self.socket_closing_due(now);
        self.heartbeats(now);
        self.release_stale_holds(now);
        self.background(now);
    }

    /// Ends channels whose own `expires` or whose token's expiry has passed (or whose token was revoked).
    fn expire(&mut self, now: u64) {
        let ended: Vec<String> = self
            .channels
            .values()
            .filter(|c| now >= c.expires_ms || !self.token_valid(&c.token, now))
            .map(|c| c.id.clone())
            .collect();
        for id in ended {
            self.end_channel(&id, End::Expired);
        }
    }

    /// Closes sockets whose socket_closing grace ran out (unless the client already replaced them).
    fn socket_closing_due(&mut self, now: u64) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.closing)
            .into_iter()
            .partition(|(t, _, _)| *t <= now);
        self.closing = later;
        for (_, channel, conn) in due {
            let current = self
                .channels
                .get(&channel)
                .and_then(|c| c.socket.as_ref())
                .is_some_and(|s| s.conn == conn);
            if current {
                self.close_socket(&channel, CLOSE_GOING_AWAY, "Server maintenance");
            }
        }
    }

    /// Reorder holds that waited too long go out alone.
    fn release_stale_holds(&mut self, now: u64) {
        let (stale, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| now >= h.since_ms + REORDER_MAX_HOLD_MS);
        self.held = keep;
        for h in stale {
            if !self.silence {
                self.send_to_subscribers(&h.topic, &h.text);
            }
        }
    }

    /// Background generator (if `event_rate` > 0) and observation pacing.
    fn background(&mut self, now: u64) {
        if self.cfg.event_rate > 0.0 && now > self.gen_last_ms {
            let elapsed_s = (now - self.gen_last_ms) as f64 / 1000.0;
            self.gen_carry += elapsed_s * self.cfg.event_rate;
            self.gen_last_ms = now;
            let due = self.gen_carry.floor();
            self.gen_carry -= due;
            // Float-to-int `as` saturates; `due` is finite and non-negative here.
            let due = due as usize;
            let n = due.min(GENERATOR_BURST_MAX);
            if due > n {
                self.counters.generator_skipped.fetch_add(
                    u64::try_from(due - n).unwrap_or(u64::MAX),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            self.step(n, now);
        } else {
            self.gen_last_ms = self.gen_last_ms.max(now);
            self.observations(now);
        }
    }

    fn heartbeats(&mut self, now: u64) {
        let interval = ms(self.cfg.heartbeat_interval);
        if interval == 0 {
            return;
        }
        let quiet = self.silence || self.stop_heartbeats;
        let mut due_list = Vec::new();
        for ch in self.channels.values_mut() {
            let Some(s) = &mut ch.socket else { continue };
            if now >= s.next_heartbeat_ms {
                let due = (now - s.next_heartbeat_ms) / interval + 1;
                s.next_heartbeat_ms += due * interval;
                if !quiet {
                    due_list.push((ch.id.clone(), due.min(HEARTBEAT_CATCHUP_MAX)));
                }
            }
        }
        let text = json!({ "topicName": "channel.metadata", "eventBody": { "message": "WebSocket Heartbeat" } }).to_string();
        for (id, n) in due_list {
            for _ in 0..n {
                self.push(&id, Outbound::Text(text.clone()));
                Counters::inc(&self.counters.heartbeats_sent);
            }
        }
    }

    /// Ends a channel: tells its socket why (unless silenced), closes it, forgets the channel.
    fn end_channel(&mut self, id: &str, why: End) {
        let Some(ch) = self.channels.get(id) else {
            return;
        };
        let client = ch.client_id.clone();
        if ch.socket.is_some() && !self.silence {
            let correlation = ids::uuid(&mut self.rng);
            let text = match why {
                End::Expired => json!({ "result": "404", "message": format!("Channel {id} has expired or its access token is no longer valid") }).to_string(),
                End::Evicted => {
                    let body = payload::system_message(&self.world, id, Some("no_longer_subscribed"), Some("another_channel_subscribed"),
                        "This channel was replaced by a newer channel", &client, &correlation);
                    self.envelope(&format!("v2.system.no_longer_subscribed.{id}"), &body)
                }
                End::Revoked => {
                    let body = payload::system_message(&self.world, id, Some("token_revoked"), Some("user_tokens_revoked"),
                        "The access token for this channel was revoked", &client, &correlation);
                    self.envelope(&format!("v2.system.token_revoked.{id}"), &body)
                }
            };
            self.push(id, Outbound::Text(text));
        }
        let reason = match why {
            End::Expired => "Channel expired",
            End::Evicted => "Channel replaced",
            End::Revoked => "Token revoked",
        };
        self.close_socket(id, CLOSE_CHANNEL_GONE, reason);
        self.channels.remove(id);
        match why {
            End::Evicted => Counters::inc(&self.counters.channels_evicted),
            End::Expired => Counters::inc(&self.counters.channels_expired),
            End::Revoked => {}
        }
    }

    // ---- Faults -------------------------------------------------------------------------------------

    /// Applies a fault now.
    pub(crate) fn fault(&mut self, f: Fault, now: u64) {
        tracing::info!(fault = ?f, "fault injected");
        match f {
            Fault::DropSockets => {
                for id in self.connected() {
                    self.push(&id, Outbound::Abort);
                    if let Some(ch) = self.channels.get_mut(&id) {
                        ch.socket = None;
                    }
                }
            }
            Fault::CloseSockets { code } => {
                for id in self.connected() {
                    self.close_socket(&id, code, "Closed by simulator fault");
                }
            }
            Fault::Silence(on) => {
                self.silence = on;
                let _ = self.silence_tx.send(on);
            }
            Fault::StopHeartbeats(on) => self.stop_heartbeats = on,
            Fault::SocketClosing => {
                let grace = ms(self.cfg.socket_closing_grace);
                for id in self.connected() {
                    let Some(conn) = self
                        .channels
                        .get(&id)
                        .and_then(|c| c.socket.as_ref())
                        .map(|s| s.conn)
                    else {
                        continue;
                    };
                    if !self.silence {
                        let client = self
                            .channels
                            .get(&id)
                            .map(|c| c.client_id.clone())
                            .unwrap_or_default();
                        let correlation = ids::uuid(&mut self.rng);
                        let body = payload::system_message(
                            &self.world,
                            &id,
                            None,
                            None,
                            "The WebSocket is closing in one minute for maintenance; reconnect",
                            &client,
                            &correlation,
                        );
                        let text = self.envelope("v2.system.socket_closing", &body);
                        self.push(&id, Outbound::Text(text));
                    }
                    self.closing.push((now + grace, id, conn));
                }
            }
            Fault::ExpireChannels => {
                let all: Vec<String> = self.channels.keys().cloned().collect();
                for id in all {
                    self.end_channel(&id, End::Expired);
                }
            }
            Fault::ExpireTokens => {
                for t in self.tokens.values_mut() {
                    t.expires_ms = t.expires_ms.min(now);
                }
                self.expire(now);
            }
            Fault::RevokeTokens => {
                for t in self.tokens.values_mut() {
                    t.revoked = true;
                }
                let all: Vec<String> = self.channels.keys().cloned().collect();
                for id in all {
                    self.end_channel(&id, End::Revoked);
                }
            }
            Fault::RateLimitStorm { secs } => self.storm_until_ms = now + secs.saturating_mul(1000),
            Fault::EvictOldestChannel => {
                if let Some(victim) = self.eviction_victim(None) {
                    self.end_channel(&victim, End::Evicted);
                }
            }
            Fault::Duplicate(n) => self.duplicate = self.duplicate.saturating_add(n),
            Fault::Reorder(n) => self.reorder = self.reorder.saturating_add(n),
            Fault::Malformed(n) => self.hostile(|i, u| Outbound::Text(fault::malformed(i, u)), n),
            Fault::Oversize { count, bytes } => {
                self.hostile(|_, u| Outbound::Text(fault::oversize(bytes, u)), count)
            }
            Fault::Binary(n) => self.hostile(|i, _| Outbound::Binary(fault::binary(i)), n),
            Fault::DeepNesting { depth } => {
                self.hostile(|_, u| Outbound::Text(fault::deep(depth, u)), 1)
            }
            Fault::EndlessPaging(mode) => self.rest_paging = mode,
            Fault::HugeBodies(bytes) => self.rest_pad_to = bytes,
            Fault::RestHang(on) => self.rest_hang = on,
            Fault::HoldConversationReads(on) => self.hold_conversation_reads = on,
            Fault::HoldSubscriptions(on) => self.hold_subscriptions = on,
            Fault::DenyEndpoint(d) => self.deny = d,
            Fault::UnknownTopics(n) => {
                let user = self.world.agent_order.first().cloned().unwrap_or_default();
                for id in self.connected() {
                    for i in 0..n {
                        let body = json!({ "id": user, "unknownField": { "nested": [1, { "deeper": true }] } });
                        let text = self.envelope(&fault::unknown_topic(i, &user), &body);
                        if !self.silence {
                            self.push(&id, Outbound::Text(text));
                            Counters::inc(&self.counters.hostile_frames_sent);
                        }
                    }
                }
            }
        }
    }

    fn hostile(&mut self, make: impl Fn(u32, &str) -> Outbound, n: u32) {
        if self.silence {
            return;
        }
        let user = self.world.agent_order.first().cloned().unwrap_or_default();
        for id in self.connected() {
            for i in 0..n {
                self.push(&id, make(i, &user));
                Counters::inc(&self.counters.hostile_frames_sent);
            }
        }
    }
}

/// Whether any connected socket subscribes to `topic` (any casing).
fn has_subscriber(channels: &BTreeMap<String, Channel>, topic: &str) -> bool {
    let mut live = channels
        .values()
        .filter(|c| c.socket.is_some() && !c.index.is_empty())
        .peekable();
    if live.peek().is_none() {
        return false;
    }
    let lower = topic.to_ascii_lowercase();
    live.any(|c| c.index.contains(&lower))
}

/// Adds subscriptions not already present (case-insensitive on the id): POST is idempotent.
fn merge(subs: &mut Vec<Subscription>, new: Vec<Subscription>) {
    for s in new {
        if !subs.iter().any(|x| x.id.eq_ignore_ascii_case(&s.id)) {
            subs.push(s);
        }
    }
}

/// Topics counted toward the per-channel limit.
fn topic_count(subs: &[Subscription], combined_as_one: bool) -> usize {
    if combined_as_one {
        subs.len()
    } else {
        subs.iter().map(|s| s.expanded.len()).sum()
    }
}

/// ms → whole seconds, rounded up, at least 1 (a `Retry-After` of 0 would invite a hot loop).
fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// The token of an `Authorization: bearer <token>` header (scheme case-insensitive).
fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("bearer")), None);
        assert_eq!(bearer(None), None);
        assert_eq!(ceil_secs(59_001), 60);
        assert_eq!(ceil_secs(0), 1);
    }
}
