//! One notification WebSocket: connect to a channel's `connectUri` (tokio-tungstenite over
//! rustls, size limits from the board), then read frames until the socket ends, decoding
//! each with `decode::parse` and forwarding events to the state stage.
//!
//! Owns the liveness rules of a socket: any frame resets the watchdog; no frame for
//! `heartbeat_timeout` (Genesys sends a heartbeat every 30 s) means the socket is dead even if
//! TCP looks open; a `{"message":"ping"}` every `ping_interval` asks the server to prove
//! itself, and no frame within `pong_timeout` after it means dead too. Does not decide what happens next: it reports to the supervisor through
//! [`Notice`]s tagged with the channel's generation.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::decode;
use crate::event::Event;
use crate::message::{Control, Message, Update};
use crate::metrics::Metrics;
use crate::monitor::Audit;

/// A connected notification socket.
pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// What the supervisor hears from a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// `v2.system.socket_closing`: the server closes this socket in about a minute.
    Closing {
        /// Generation of the channel set.
        generation: u64,
    },
    /// A queue gained a member (the supervisor may need to subscribe to the new agent).
    Joined {
        /// Generation.
        generation: u64,
        /// The new member.
        user: crate::event::Id,
        /// The queue.
        queue: crate::event::Id,
    },
    /// A queue lost a member (the supervisor may stop watching the agent).
    Left {
        /// Generation.
        generation: u64,
        /// The member who left.
        user: crate::event::Id,
        /// The queue.
        queue: crate::event::Id,
    },
    /// The socket ended.
    Ended {
        /// Generation.
        generation: u64,
        /// Why.
        why: End,
    },
}

/// Why a socket ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed it (close code if one was sent; none = abrupt, 1006).
    Closed(Option<u16>),
    /// No frame within the heartbeat timeout.
    Silent(Duration),
    /// No frame within the pong timeout after a ping.
    NoPong(Duration),
    /// Transport or protocol error.
    Error(String),
    /// The server says the channel is gone (evicted, expired, token revoked).
    Gone(Control),
    /// The state stage stopped accepting events (shutdown).
    Downstream,
}

/// Socket limits and timers.
#[derive(Clone, Debug)]
pub struct SocketSettings {
    /// Largest message accepted (tungstenite `max_message_size`).
    pub max_message: usize,
    /// Largest frame accepted (tungstenite `max_frame_size`).
    pub max_frame: usize,
    /// No frame for this long = dead.
    pub heartbeat_timeout: Duration,
    /// Interval of `{"message":"ping"}`.
    pub ping_interval: Duration,
    /// No frame within this long after a ping = dead. Real time, not the protocol clock: it
    /// bounds a round trip, which a jump of simulated time says nothing about.
    pub pong_timeout: Duration,
    /// The clock `heartbeat_timeout` is measured on.
    pub clock: Clock,
}

/// Bytes tungstenite reads from a socket at once (its default is 128 KiB per socket, which a
/// burst fills and keeps resident: 4 MiB over the 31 channels of a 10,000-agent site). A
/// frame larger than this is still read whole; notifications are 0.3–3 KB.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Outgoing bytes buffered before a write reaches the socket. The gateway only sends pings
/// and subscription messages, each flushed at once.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// Connects to `uri` (wss verified with `tls`; ws only where config allowed loopback).
pub async fn connect(
    uri: &str,
    s: &SocketSettings,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Ws, String> {
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(s.max_message);
    config.max_frame_size = Some(s.max_frame);
    config.read_buffer_size = READ_BUFFER_BYTES;
    config.write_buffer_size = WRITE_BUFFER_BYTES;
    // Bounded like every other queue: a stalled socket errors instead of buffering pings
    // forever (the heartbeat watchdog ends it long before).
    config.max_write_buffer_size = 16 * WRITE_BUFFER_BYTES;
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        uri,
        Some(config),
        false,
        Some(tokio_tungstenite::Connector::Rustls(tls)),
    );
    match tokio::time::timeout(s.heartbeat_timeout, connect).await {
        Ok(Ok((ws, _resp))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("connect timed out after {:?}", s.heartbeat_timeout)),
    }
}

/// Reads `ws` until it ends or `cancel` fires; then reports [`Notice::Ended`] (not on cancel).
#[allow(clippy::too_many_arguments)]
pub async fn read(
    ws: Ws,
    generation: u64,
    s: SocketSettings,
    events: mpsc::Sender<Update>,
    notices: mpsc::Sender<Notice>,
    metrics: Arc<Metrics>,
    audit: Audit,
    cancel: CancellationToken,
) {
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval_at(Instant::now() + s.ping_interval, s.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_frame = Instant::now();
    let timeout_ms = u64::try_from(s.heartbeat_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut silent_at = s.clock.now_ms().saturating_add(timeout_ms);
    // Set when the supervisor retires this socket: keep reading what is already on the way
    // (events sent before the replacement channel was subscribed exist only here), then close.
    let mut draining: Option<Instant> = None;
    // Set by a ping, cleared by any frame after it: the server answers pings in order, so any
    // frame proves the socket alive.
    let mut pong_due: Option<Instant> = None;
    metrics.upstream.connected.set(1);
    let why = loop {
        let drain_end = draining.map(|since| (last_frame + DRAIN_IDLE).min(since + DRAIN_MAX));
        // Not `biased`: polling the stream first starves the other branches under a flood, and
        // the burst test saw the resident set grow ~2.5 MiB per 12k-event burst with it.
        tokio::select! {
            _ = cancel.cancelled(), if draining.is_none() => {
                draining = Some(Instant::now());
                last_frame = Instant::now();
            }
            _ = sleep_until_opt(drain_end) => {
                let _ = sink.send(WsMessage::Close(None)).await;
                return;
            }
            msg = stream.next() => {
                last_frame = Instant::now();
                pong_due = None;
                silent_at = s.clock.now_ms().saturating_add(timeout_ms);
                let msg = match msg {
                    None => break End::Closed(None),
                    Some(Err(e)) => break End::Error(e.to_string()),
                    Some(Ok(m)) => m,
                };
                match msg {
                    WsMessage::Text(text) => {
                        metrics.upstream.frames.inc();
                        // A retired socket's eviction is expected (its replacement took its
                        // place among the client's channels): not audited.
                        let audit = draining.is_none().then_some(&audit);
                        match handle(text.as_bytes(), generation, &s, &metrics, &notices, audit) {
                            Step::Forward(ev) => {
                                if events.send(Update::Event(ev)).await.is_err() {
                                    break End::Downstream;
                                }
                            }
                            Step::End(why) => break why,
                            Step::Continue => {}
                        }
                    }
                    WsMessage::Binary(_) => {
                        metrics.upstream.binary_frames.inc();
                        log_sparsely(metrics.upstream.binary_frames.get(), "binary frame dropped (Genesys sends text only)");
                    }
                    WsMessage::Close(frame) => break End::Closed(frame.map(|f| u16::from(f.code))),
                    WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
                }
            }
            _ = s.clock.sleep_until(silent_at), if draining.is_none() => {
                break End::Silent(s.heartbeat_timeout);
            }
            _ = sleep_until_opt(pong_due), if draining.is_none() => {
                metrics.upstream.pong_timeouts.inc();
                break End::NoPong(s.pong_timeout);
            }
            _ = ping.tick() => {
                if let Err(e) = sink.send(WsMessage::text(r#"{"message":"ping"}"#)).await {
                    break End::Error(e.to_string());
                }
                pong_due.get_or_insert(Instant::now() + s.pong_timeout);
            }
        }
    };
    if draining.is_some() {
        return; // retired: its end is expected, nobody waits for it
    }
    metrics.upstream.connected.set(0);
    metrics.upstream.disconnects.inc();
    let _ = notices.send(Notice::Ended { generation, why }).await;
}

/// A retired socket is read until it has been quiet this long…
const DRAIN_IDLE: Duration = Duration::from_millis(500);

/// …or for this long at most, then closed.
const DRAIN_MAX: Duration = Duration::from_secs(5);

/// Sleeps until `at`, or forever when unset.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

enum Step {
    Forward(Event),
    End(End),
    Continue,
}

fn handle(
    frame: &[u8],
    generation: u64,
    s: &SocketSettings,
    metrics: &Metrics,
    notices: &mpsc::Sender<Notice>,
    audit: Option<&Audit>,
) -> Step {
    match decode::parse(frame, s.max_message) {
        Ok(Message::Control(c)) => match c {
            Control::Heartbeat => {
                metrics.upstream.heartbeats.inc();
                Step::Continue
            }
            Control::SocketClosing => {
                if notices.try_send(Notice::Closing { generation }).is_err() {
                    // The socket ends within a minute: a reconnect and its resync follow.
                    metrics.upstream.notices_dropped.inc();
                }
                Step::Continue
            }
            Control::NoLongerSubscribed | Control::TokenRevoked | Control::ChannelGone => {
                let why = match c {
                    Control::NoLongerSubscribed => {
                        "channel evicted: another channel subscribed (no_longer_subscribed)"
                    }
                    Control::TokenRevoked => "channel closed: its token was revoked",
                    _ => "channel gone: expired, replaced, or its token expired (404)",
                };
                if let Some(audit) = audit {
                    audit.record("eviction", &format!("generation {generation}: {why}"));
                }
                Step::End(End::Gone(c))
            }
            Control::Pong | Control::SubscribeAck | Control::SubscribeFailed => Step::Continue,
        },
        Ok(Message::Event(ev)) => {
            metrics.upstream.events.inc();
            if let Event::Member(m) = ev {
                let sent = notices.try_send(if m.joined {
                    Notice::Joined {
                        generation,
                        user: m.user,
                        queue: m.queue,
                    }
                } else {
                    Notice::Left {
                        generation,
                        user: m.user,
                        queue: m.queue,
                    }
                });
                if sent.is_err() {
                    // The supervisor is busy with 64 waiting: it reads the watch set again.
                    metrics.upstream.notices_dropped.inc();
                }
            }
            Step::Forward(ev)
        }
        Err(rejected) => {
            let reason = rejected.reason();
            let counter =
                &metrics.upstream.rejects[reason.index() % metrics.upstream.rejects.len()];
            counter.inc();
            let n = counter.get();
            if n.is_power_of_two() {
                tracing::warn!(reason = reason.as_str(), count = n, detail = %rejected, "frame rejected");
                if let (true, Some(audit)) = (n >= REJECT_BURST, audit) {
                    audit.record(
                        "reject_burst",
                        &format!(
                            "{n} frames rejected as {} so far; last: {rejected}",
                            reason.as_str()
                        ),
                    );
                }
            }
            Step::Continue
        }
    }
}

/// Rejections of one reason from which the audit trail hears about them (then at every
/// doubling): a handful is noise, 64 is a pattern an engineer should see.
const REJECT_BURST: u64 = 64;

/// Logs the 1st, 2nd, 4th, 8th… occurrence: hostile floods stay visible without flooding.
fn log_sparsely(count: u64, what: &str) {
    if count.is_power_of_two() {
        tracing::warn!(count, "{what}");
    }
}
