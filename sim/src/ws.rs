//! The streaming host: WebSocket handshakes at `/channels/{id}` (no auth header, like the real service) and one
//! task per socket that writes the hub's queued frames and answers client messages.
//!
//! Owns: WebSocket I/O only (over plain TCP, or TLS from `tls.rs` when `SimConfig::tls` is set). Choices
//! where PROTOCOL.md says unknown:
//! - an unknown, expired or token-dead channel is refused at the handshake with HTTP 404 and an `ErrorBody`
//!   JSON (a channel that dies while connected gets `{"result":"404",...}` then close, see `hub.rs`);
//! - close codes that cannot appear in a close frame (1005, 1006, 1015) are sent as an abrupt TCP close;
//! - while silenced the task neither writes nor reads, so RFC 6455 pings go unanswered as on a dead path.

use std::sync::Weak;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::hub::Outbound;
use crate::stats::Counters;
use crate::Inner;

/// Largest client message accepted (clients only send pings and subscribe requests; 1000 topics ≈ 80 KB).
const MAX_CLIENT_MESSAGE: usize = 1 << 20;
/// Most queued frames written before one flush (bounds how long a burst keeps the task from its other
/// duties: kill signal, client messages).
const WRITE_BATCH: u64 = 256;
/// How long the server waits for the client's close reply before dropping TCP.
const CLOSE_LINGER: Duration = Duration::from_millis(500);

/// Accepts WebSocket connections until the sim is dropped; with `tls`, each one is wss.
pub(crate) async fn serve(
    listener: TcpListener,
    sim: Weak<Inner>,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<()>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                // Small frames are the norm here: don't let Nagle hold them back.
                let _ = stream.set_nodelay(true);
                match &tls {
                    None => {
                        tokio::spawn(connection(stream, sim.clone()));
                    }
                    Some(acceptor) => {
                        let (acceptor, sim) = (acceptor.clone(), sim.clone());
                        tokio::spawn(async move {
                            if let Some(stream) = crate::tls::accept(&acceptor, stream).await {
                                connection(stream, sim).await;
                            }
                        });
                    }
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Channel id of a `/channels/{id}` path.
fn channel_of(path: &str) -> Option<&str> {
    path.strip_prefix("/channels/")
        .map(|s| s.trim_end_matches('/'))
        .filter(|s| !s.is_empty() && !s.contains('/'))
}

// The error type is fixed by tungstenite's `Callback` signature; it is built once per refused handshake.
#[allow(clippy::result_large_err)]
async fn connection<S>(stream: S, sim: Weak<Inner>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The socket is attached to its channel inside the handshake callback, before the 101 goes out, so a
    // client that has seen its handshake complete is already the channel's socket (no race with REST/faults).
    let mut attached: Option<(String, crate::hub::Attached)> = None;
    let check_sim = sim.clone();
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let id = channel_of(req.uri().path());
        if let (Some(id), Some(inner)) = (id, check_sim.upgrade()) {
            let attach = {
                let (mut hub, now) = inner.hub_now();
                hub.attach(id, now)
            };
            if let Some(a) = attach {
                attached = Some((id.to_owned(), a));
                return Ok(resp);
            }
            Counters::inc(&inner.counters.ws_refused);
        }
        let body = serde_json::json!({
            "message": format!("Channel {} not found", id.unwrap_or("")),
            "code": "not.found",
            "status": 404,
        })
        .to_string();
        let mut refusal = ErrorResponse::new(Some(body));
        *refusal.status_mut() = StatusCode::NOT_FOUND;
        Err(refusal)
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE));
    let accepted =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)).await;
    let Some((channel, att)) = attached else {
        return;
    };
    let Ok(mut ws) = accepted else {
        if let Some(inner) = sim.upgrade() {
            inner.hub().detach(&channel, att.conn);
        }
        return;
    };
    let Some(mut silence) = sim.upgrade().map(|inner| inner.silence_rx.clone()) else {
        return;
    };
    run(&mut ws, &sim, &channel, att, &mut silence).await;
}

async fn run<S>(
    ws: &mut WebSocketStream<S>,
    sim: &Weak<Inner>,
    channel: &str,
    attached: crate::hub::Attached,
    silence: &mut watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let crate::hub::Attached {
        conn,
        mut rx,
        mut kill,
    } = attached;
    let mut silenced = *silence.borrow();
    let mut kill_armed = true;
    loop {
        tokio::select! {
            biased;
            fired = &mut kill, if kill_armed => {
                if fired.is_ok() {
                    break; // slow consumer: abort without draining the queue
                }
                kill_armed = false;
            }
            out = rx.recv() => {
                // Write every frame already queued (up to WRITE_BATCH) and flush once: one syscall for a burst
                // instead of one per frame. Frame boundaries and order are unchanged.
                let mut next = out;
                let mut fed: u64 = 0;
                let stop = loop {
                    let message = match next {
                        Some(Outbound::Text(t)) => Message::text(t),
                        Some(Outbound::Binary(b)) => Message::binary(b),
                        Some(Outbound::Close { code, reason }) => break Some(Some((code, reason))),
                        Some(Outbound::Abort) | None => break Some(None),
                    };
                    if ws.feed(message).await.is_err() {
                        break Some(None);
                    }
                    fed += 1;
                    if fed >= WRITE_BATCH {
                        break None;
                    }
                    match rx.try_recv() {
                        Ok(o) => next = Some(o),
                        Err(_) => break None,
                    }
                };
                if fed > 0 {
                    if ws.flush().await.is_err() {
                        break;
                    }
                    count_frames(sim, fed);
                }
                match stop {
                    None => {}
                    Some(Some((code, reason))) => {
                        if !matches!(code, 1005 | 1006 | 1015) {
                            close(ws, code, &reason).await;
                        }
                        break;
                    }
                    Some(None) => break,
                }
            },
            changed = silence.changed() => match changed {
                Ok(()) => silenced = *silence.borrow(),
                Err(_) => break,
            },
            msg = ws.next(), if !silenced => match msg {
                Some(Ok(Message::Text(t))) => {
                    let reply = match sim.upgrade() {
                        Some(inner) => {
                            let (mut hub, now) = inner.hub_now();
                            hub.client_message(channel, t.as_str(), now)
                        }
                        None => break,
                    };
                    if let Some(r) = reply {
                        if ws.send(Message::text(r)).await.is_err() {
                            break;
                        }
                        count_frames(sim, 1);
                    }
                }
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite queued the pong; push it out now.
                    if ws.flush().await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    let _ = ws.flush().await;
                    break;
                }
                Some(Ok(_)) => {} // binary and pongs from the client are ignored
                Some(Err(_)) | None => break,
            },
        }
    }
    if let Some(inner) = sim.upgrade() {
        inner.hub().detach(channel, conn);
    }
}

fn count_frames(sim: &Weak<Inner>, n: u64) {
    if let Some(inner) = sim.upgrade() {
        inner
            .counters
            .frames_sent
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Sends a close frame and waits briefly for the client's reply, then drops TCP.
async fn close<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_paths() {
        assert_eq!(
            channel_of("/channels/streaming-1-abc"),
            Some("streaming-1-abc")
        );
        assert_eq!(channel_of("/channels/"), None);
        assert_eq!(channel_of("/channels/a/b"), None);
        assert_eq!(channel_of("/other"), None);
    }
}
