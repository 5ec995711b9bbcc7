//! The Genesys Cloud REST client: OAuth client credentials, channels, subscriptions and the
//! resync/discovery reads, over hyper + hyper-rustls (ring, verified TLS; plain HTTP only
//! for loopback, which config enforces).
//!
//! Owns request pacing (a token bucket that keeps the gateway under the per-token budget),
//! `Retry-After` handling, response size caps and the bearer token. Does not own what to
//! ask for or when (that is the upstream supervisor); responses are parsed by
//! `decode::rest` into fixed-capacity types.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, DATE, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::Secret;
use crate::metrics::Metrics;
use crate::pacer::Pacer;

/// Retries of one request after 429 or a transport error before giving up.
const MAX_RETRIES: u32 = 5;

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Connection, TLS or protocol failure.
    #[error("transport: {0}")]
    Transport(String),
    /// No answer within the request timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// 401: the token is missing, expired or revoked.
    #[error("unauthorized (401)")]
    Unauthorized,
    /// Still rate limited after retries.
    #[error("rate limited (429), retry after {0:?}")]
    RateLimited(Duration),
    /// Another non-success status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// Status code.
        status: u16,
        /// Start of the body (Genesys ErrorBody), for logs.
        body: String,
    },
    /// The body exceeded the board's cap.
    #[error("response larger than {max} bytes")]
    TooLarge {
        /// Cap.
        max: usize,
    },
    /// The body could not be parsed.
    #[error("unparsable response from {what}: {reason}")]
    Parse {
        /// Which call.
        what: &'static str,
        /// Decoder's reason.
        reason: String,
    },
}

/// Our clock within this of the server's `Date` is taken as right (the header's resolution
/// is a second, plus the answer's transit).
const TRUST_OWN_CLOCK_MS: i64 = 2_000;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The REST client.
pub struct Rest {
    client: Client<Https, Full<Bytes>>,
    api_base: String,
    login_base: String,
    client_id: Secret,
    client_secret: Secret,
    token: Option<Secret>,
    pacer: tokio::sync::Mutex<Pacer>,
    max_body: usize,
    /// How long one request may wait for its answer head, and again for its body, before it
    /// counts as failed (`genesys.rest_timeout_secs`): a server that never answers must not
    /// stall resync.
    timeout: Duration,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// Server time minus `clock` time (ms), from the latest answer's `Date` header; 0 until one
    /// is seen. The box's own clock may be far off (no RTC before NTP), the server's is not.
    server_offset_ms: std::sync::atomic::AtomicI64,
}

impl Rest {
    /// A client for one org. `tls` verifies every https endpoint; `max_body` caps each
    /// answer's body and `timeout` each wait for an answer.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        api_base: &str,
        login_base: &str,
        client_id: Secret,
        client_secret: Secret,
        per_min: u32,
        max_body: usize,
        timeout: Duration,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Rest {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Rest {
            client,
            api_base: api_base.trim_end_matches('/').to_string(),
            login_base: login_base.trim_end_matches('/').to_string(),
            client_id,
            client_secret,
            token: None,
            pacer: tokio::sync::Mutex::new(Pacer::new(per_min, (per_min / 4).max(1))),
            max_body,
            timeout,
            metrics,
            clock,
            server_offset_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Whether this client can send `n` requests now without waiting (and keep a reserve): a
    /// periodic, low-priority read (the queues' interval figures) runs only then, so it
    /// never holds the session waiting in the pacer nor delays a rotation's requests.
    pub async fn has_spare_budget(&self, n: u32) -> bool {
        self.pacer.lock().await.has_spare(n)
    }

    /// The server's time now: our clock when it agrees with the server's latest `Date` header
    /// to within 2 s (`TRUST_OWN_CLOCK_MS`), else that header (to the second, rounded down) plus
    /// the time elapsed on our clock since; our clock until a `Date` is seen.
    /// Absolute server times (a channel's `expires`) and stamps compared with the server's
    /// event timestamps are read against this, never against the box's clock.
    pub fn server_now_ms(&self) -> u64 {
        let offset = self
            .server_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        self.clock.now_ms().saturating_add_signed(offset)
    }

    fn note_server_date(&self, headers: &hyper::HeaderMap) {
        let Some(server) = headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        else {
            return;
        };
        let server = i64::try_from(server.as_millis()).unwrap_or(i64::MAX);
        let ours = i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX);
        let offset = server.saturating_sub(ours);
        // `Date` has whole seconds: a clock that agrees with it to within that (NTP-synced)
        // is the better reading, to the millisecond; one further off is corrected by it, to
        // the second (rounded down: a resync stamp never claims a time the server has not
        // reached yet).
        let offset = if offset.abs() < TRUST_OWN_CLOCK_MS {
            0
        } else {
            offset
        };
        self.server_offset_ms
            .store(offset, std::sync::atomic::Ordering::Relaxed);
    }

    /// The API base URL (for following `nextUri`, which is a path).
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// Fetches a new access token (client credentials); returns its lifetime.
    pub async fn login(&mut self) -> Result<Duration, RestError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id.expose(),
            self.client_secret.expose()
        ));
        let url = format!("{}/oauth/token", self.login_base);
        let body = self
            .send(
                Method::POST,
                &url,
                Some(format!("Basic {basic}")),
                Some((
                    "application/x-www-form-urlencoded",
                    "grant_type=client_credentials".into(),
                )),
            )
            .await?;
        let t = crate::decode::rest::token(&body).map_err(|e| RestError::Parse {
            what: "oauth token",
            reason: e.to_string(),
        })?;
        self.token = Some(Secret::new(t.access_token.as_str().to_string()));
        self.metrics.upstream.tokens.inc();
        Ok(Duration::from_secs(t.expires_in))
    }

    /// Forgets the token (after a 401).
    pub fn drop_token(&mut self) {
        self.token = None;
    }

    /// Whether a token is held.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// GET `path` (relative to the API base, or a `nextUri` path) with the bearer token.
    pub async fn get(&self, path: &str) -> Result<Bytes, RestError> {
        self.api(Method::GET, path, None).await
    }

    /// POST a JSON body.
    pub async fn post_json(&self, path: &str, json: String) -> Result<Bytes, RestError> {
        self.api(Method::POST, path, Some(("application/json", json)))
            .await
    }

    /// PUT a JSON body.
    pub async fn put_json(&self, path: &str, json: String) -> Result<Bytes, RestError> {
        self.api(Method::PUT, path, Some(("application/json", json)))
            .await
    }

    async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, String)>,
    ) -> Result<Bytes, RestError> {
        let token = self.token.as_ref().ok_or(RestError::Unauthorized)?;
        let url = format!("{}{}", self.api_base, path);
        self.send(
            method,
            &url,
            Some(format!("bearer {}", token.expose())),
            body,
        )
        .await
    }

    /// Sends with pacing and retries; never logs the authorization header or the body.
    async fn send(
        &self,
        method: Method,
        url: &str,
        auth: Option<String>,
        body: Option<(&'static str, String)>,
    ) -> Result<Bytes, RestError> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = self.pacer.lock().await.reserve();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            self.metrics.upstream.rest_requests.inc();
            let result = self
                .send_once(&method, url, auth.as_deref(), body.as_ref())
                .await;
            let retry_after = match &result {
                Err(RestError::RateLimited(ra)) => {
                    self.metrics.upstream.rest_429.inc();
                    Some(*ra)
                }
                Err(RestError::Transport(_) | RestError::Timeout(_)) => {
                    self.metrics.upstream.rest_errors.inc();
                    None
                }
                Err(RestError::Status { status, .. }) if *status >= 500 => {
                    self.metrics.upstream.rest_errors.inc();
                    None
                }
                Err(RestError::TooLarge { .. }) => {
                    // Not retried: the same request would bring the same body.
                    self.metrics.upstream.rest_errors.inc();
                    self.metrics.upstream.rest_too_large.inc();
                    return result;
                }
                _ => return result,
            };
            if attempt > MAX_RETRIES {
                return result;
            }
            let wait = backoff.next(retry_after);
            tracing::warn!(path = %redact_query(url), ?wait, attempt, error = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(), "REST retry");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        auth: Option<&str>,
        body: Option<&(&'static str, String)>,
    ) -> Result<Bytes, RestError> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url)
            .header("accept", "application/json");
        if let Some(a) = auth {
            let mut v =
                HeaderValue::from_str(a).map_err(|e| RestError::Transport(e.to_string()))?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        let req = match body {
            Some((ct, b)) => req
                .header(CONTENT_TYPE, *ct)
                .body(Full::new(Bytes::from(b.clone()))),
            None => req.body(Full::new(Bytes::new())),
        }
        .map_err(|e| RestError::Transport(e.to_string()))?;
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| RestError::Timeout(self.timeout))?
            .map_err(|e| RestError::Transport(e.to_string()))?;
        let status = resp.status();
        self.note_server_date(resp.headers());
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let max = self.max_body;
        let body =
            tokio::time::timeout(self.timeout, Limited::new(resp.into_body(), max).collect())
                .await
                .map_err(|_| RestError::Timeout(self.timeout))?
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        RestError::TooLarge { max }
                    } else {
                        RestError::Transport(e.to_string())
                    }
                })?
                .to_bytes();
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::UNAUTHORIZED => Err(RestError::Unauthorized),
            StatusCode::TOO_MANY_REQUESTS => Err(RestError::RateLimited(
                retry_after.unwrap_or(Duration::from_secs(60)),
            )),
            s => Err(RestError::Status {
                status: s.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
        }
    }
}

/// A URL without its query (ids and paging stay out of warnings; tokens never are in URLs).
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_never_show_query_strings() {
        assert_eq!(
            redact_query("https://api.x/api/v2/users?id=a&id=b"),
            "https://api.x/api/v2/users"
        );
        assert_eq!(redact_query("/oauth/token"), "/oauth/token");
    }
}
