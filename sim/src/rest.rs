//! The HTTP/1.1 server on the REST port: framing, body limits, dispatch to `api.rs`, and the `/sim/*` control
//! routes (no auth): `GET /sim/truth`, `GET /sim/stats`, `GET /sim/population`, `POST /sim/step?n=N`,
//! `POST /sim/advance?ms=N`, `POST /sim/fault` (Fault JSON), `POST /sim/presence?user=&definition=`,
//! `POST /sim/routing?user=&status=`.
//!
//! Owns: sockets of the REST port (plain TCP or, with `SimConfig::tls`, TLS via `tls.rs`), turning
//! [`api::Response`]s into hyper responses, and the hostile REST faults applied on the way out
//! ([`Fault::RestHang`] holds requests unanswered, [`Fault::HoldConversationReads`] conversation reads and
//! [`Fault::HoldSubscriptions`] subscription requests until lifted, [`Fault::EndlessPaging`] rewrites `nextUri`, [`Fault::HugeBodies`] pads answers). Does not own route semantics.

use std::convert::Infallible;
use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::api;
use crate::stats::Counters;
use crate::{Fault, Inner, Sim};

/// Largest request body accepted (a 1000-topic subscription body is ~80 KB).
const MAX_BODY_BYTES: usize = 4 << 20;

/// Accepts REST connections until the sim is dropped; with `tls`, each one is https.
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
                    // Out of fds or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let weak = sim.clone();
                let stop = shutdown.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => connection(stream, weak, stop).await,
                        Some(acceptor) => {
                            if let Some(stream) = crate::tls::accept(&acceptor, stream).await {
                                connection(stream, weak, stop).await;
                            }
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Serves one HTTP/1.1 connection (plain TCP or TLS) until it ends or the sim is dropped.
async fn connection<S>(stream: S, sim: Weak<Inner>, mut stop: watch::Receiver<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let weak = sim.clone();
        async move { Ok::<_, Infallible>(handle(weak, req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = stop.changed() => {}
    }
}

async fn handle(sim: Weak<Inner>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let Some(inner) = sim.upgrade() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "simulator stopped");
    };
    let sim = Sim::from_inner(inner);
    let path = parts.uri.path().to_owned();
    let query = api::parse_query(parts.uri.query().unwrap_or(""));
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let method = parts.method.as_str();
    if let Some(control) = path.strip_prefix("/sim/") {
        return sim_route(&sim, method, control, &query, &body);
    }
    if (path == "/oauth/token" || path.starts_with("/api/v2/")) && held(&sim) {
        // Fault::RestHang: accepted and read, never answered. The strong handle is given up
        // first so a held request cannot keep a dropped simulator alive; the connection task
        // ends when the client gives up or the simulator shuts down.
        drop(sim);
        return std::future::pending().await;
    }
    let hold = if method == "GET" && path.starts_with("/api/v2/conversations/") {
        Some(Hold::ConversationReads)
    } else if matches!(method, "PUT" | "POST")
        && path.starts_with("/api/v2/notifications/channels/")
        && path.ends_with("/subscriptions")
    {
        Some(Hold::Subscriptions)
    } else {
        None
    };
    let sim = match hold {
        Some(hold) => match until_released(sim, hold).await {
            Some(sim) => sim,
            None => return plain(StatusCode::SERVICE_UNAVAILABLE, "simulator stopped"),
        },
        None => sim,
    };
    let req = api::Request {
        method,
        path: &path,
        query,
        authorization,
        body: &body,
    };
    let is_head = method == "HEAD";
    let resp = if path == "/oauth/token" {
        Counters::inc(&sim.inner.counters.rest_requests);
        let (mut hub, now) = sim.inner.hub_now();
        api::oauth(&mut hub, &req, now)
    } else if path.starts_with("/api/v2/") {
        Counters::inc(&sim.inner.counters.rest_requests);
        count_endpoint(&sim.inner.counters, &path);
        let mut resp = {
            let (mut hub, now) = sim.inner.hub_now();
            api::api(&mut hub, &req, now)
        };
        hostile(&sim, &mut resp);
        resp
    } else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    render(resp, is_head, Some(sim.now_ms()))
}

/// [`Fault::RestHang`]: whether this request is to be held unanswered (counted when it is).
fn held(sim: &Sim) -> bool {
    let hang = sim.inner.hub().rest_hang;
    if hang {
        Counters::inc(&sim.inner.counters.rest_held);
    }
    hang
}

/// How often a held request looks whether its hold was lifted (real time).
const HOLD_POLL: Duration = Duration::from_millis(5);

/// The requests a test can hold and release.
#[derive(Clone, Copy)]
enum Hold {
    /// [`Fault::HoldConversationReads`].
    ConversationReads,
    /// [`Fault::HoldSubscriptions`].
    Subscriptions,
}

impl Hold {
    fn on(self, hub: &crate::hub::Hub) -> bool {
        match self {
            Hold::ConversationReads => hub.hold_conversation_reads,
            Hold::Subscriptions => hub.hold_subscriptions,
        }
    }
}

/// [`Fault::HoldConversationReads`], [`Fault::HoldSubscriptions`]: returns once requests of
/// this kind are no longer held (at once when they are not), counting a request that had to
/// wait; `None` if the simulator stopped meanwhile. Only a weak handle is kept while waiting,
/// so a held request cannot keep a dropped simulator alive.
async fn until_released(sim: Sim, hold: Hold) -> Option<Sim> {
    if !hold.on(&sim.inner.hub()) {
        return Some(sim);
    }
    Counters::inc(match hold {
        Hold::ConversationReads => &sim.inner.counters.conversation_reads_held,
        Hold::Subscriptions => &sim.inner.counters.subscriptions_held,
    });
    let weak = std::sync::Arc::downgrade(&sim.inner);
    drop(sim);
    loop {
        tokio::time::sleep(HOLD_POLL).await;
        let inner = weak.upgrade()?;
        if !hold.on(&inner.hub()) {
            return Some(Sim::from_inner(inner));
        }
    }
}

/// [`Fault::EndlessPaging`] and [`Fault::HugeBodies`] on a successful `/api/v2` answer.
fn hostile(sim: &Sim, resp: &mut api::Response) {
    let (paging, pad_to) = {
        let hub = sim.inner.hub();
        (hub.rest_paging, hub.rest_pad_to)
    };
    if !(200..300).contains(&resp.status) {
        return;
    }
    let Some(Value::Object(body)) = resp.body.as_mut() else {
        return;
    };
    if let Some(mode) = paging {
        let self_uri = body
            .get("selfUri")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let (Some(self_uri), true) = (self_uri, body.contains_key("entities")) {
            let number = body.get("pageNumber").and_then(Value::as_u64).unwrap_or(1);
            let next = crate::fault::endless_next(mode, &self_uri, number);
            body.insert("nextUri".to_owned(), Value::String(next));
            Counters::inc(&sim.inner.counters.rest_endless_pages);
        }
    }
    if let Some(bytes) = pad_to {
        let len = serde_json::to_string(&*body).map_or(0, |s| s.len());
        let pad = crate::fault::padding(bytes, len + 14); // `,"padding":""`
        body.insert("padding".to_owned(), Value::String(pad));
        Counters::inc(&sim.inner.counters.rest_huge_bodies);
    }
}

/// `now` is sim time for the API: the `Date` header says it, so a client can read a channel's
/// `expires` against the server's clock (hyper adds the wall-clock date when none is set, as
/// for the `/sim/*` control routes).
fn render(resp: api::Response, head: bool, now: Option<u64>) -> Response<Full<Bytes>> {
    let body = match (&resp.body, head) {
        (Some(v), false) => Bytes::from(v.to_string()),
        _ => Bytes::new(),
    };
    let mut builder = Response::builder().status(resp.status);
    if let Some(now) = now {
        let date = std::time::UNIX_EPOCH + Duration::from_millis(now);
        builder = builder.header(hyper::header::DATE, httpdate::fmt_http_date(date));
    }
    if resp.body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in resp.headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad response"))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r
}

fn json_ok(v: Value) -> Response<Full<Bytes>> {
    render(
        api::Response {
            status: 200,
            headers: Vec::new(),
            body: Some(v),
        },
        false,
        None,
    )
}

fn bad(message: String) -> Response<Full<Bytes>> {
    render(
        api::Response {
            status: 400,
            headers: Vec::new(),
            body: Some(json!({ "message": message })),
        },
        false,
        None,
    )
}

fn sim_route(
    sim: &Sim,
    method: &str,
    route: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Response<Full<Bytes>> {
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match (method, route) {
        ("GET", "truth") => match serde_json::to_value(sim.truth()) {
            Ok(v) => json_ok(v),
            Err(e) => bad(e.to_string()),
        },
        ("GET", "stats") => match serde_json::to_value(sim.stats()) {
            Ok(v) => json_ok(v),
            Err(e) => bad(e.to_string()),
        },
        ("GET", "population") => json_ok(json!({
            "users": sim.users(),
            "queues": sim.queues(),
            "groups": sim.groups(),
            "presenceDefinitions": sim.presence_definitions(),
            "nowMs": sim.now_ms(),
        })),
        ("POST", "step") => match q("n").unwrap_or("1").parse::<usize>() {
            Ok(n) => json_ok(json!({ "generated": sim.step(n) })),
            Err(e) => bad(format!("n: {e}")),
        },
        ("POST", "advance") => match q("ms").unwrap_or("0").parse::<u64>() {
            Ok(ms) => {
                sim.advance(Duration::from_millis(ms));
                json_ok(json!({ "nowMs": sim.now_ms() }))
            }
            Err(e) => bad(format!("ms: {e}")),
        },
        ("POST", "fault") => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                sim.fault(f);
                json_ok(json!({ "ok": true }))
            }
            Err(e) => bad(format!("fault: {e}")),
        },
        ("POST", "presence") => match (q("user"), q("definition")) {
            (Some(u), Some(d)) => {
                sim.set_presence(u, d);
                json_ok(json!({ "ok": true }))
            }
            _ => bad("user and definition are required".to_owned()),
        },
        ("POST", "routing") => match (q("user"), q("status")) {
            (Some(u), Some(s)) => {
                sim.set_routing(u, s);
                json_ok(json!({ "ok": true }))
            }
            _ => bad("user and status are required".to_owned()),
        },
        _ => plain(StatusCode::NOT_FOUND, "unknown /sim route"),
    }
}

/// Counts the resync endpoints whose request numbers tests and the bench compare.
fn count_endpoint(c: &Counters, path: &str) {
    let path = path.trim_end_matches('/');
    if path == "/api/v2/analytics/conversations/details/query" {
        Counters::inc(&c.conversation_queries);
    } else if path.starts_with("/api/v2/conversations/") {
        Counters::inc(&c.conversation_reads);
    } else if path.starts_with("/api/v2/users/presences/") && path.ends_with("/bulk") {
        Counters::inc(&c.bulk_presence_reads);
    }
}
