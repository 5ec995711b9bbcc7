//! REST routes as pure functions over the [`Hub`]: OAuth, notifications channels/subscriptions, and the resync
//! endpoints (users, presences, routing status, queues, groups, presence definitions, observations query).
//!
//! Owns: path matching, query parsing, paging and listing envelopes, request validation. Does not own HTTP
//! framing (`rest.rs`) or the `/sim/*` control routes (`rest.rs`, which needs the clock).

use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::hub::{Hub, SubOp};
use crate::model::{Agent, World, PRESENCE_DEFS};
use crate::payload::{self, Expand};

/// Most user ids `GET /api/v2/users/presences/purecloud/bulk` accepts ("Limit 50").
pub(crate) const BULK_PRESENCE_MAX_IDS: usize = 50;
/// Largest `pageSize` of queue member listings ("Max value is 100").
pub(crate) const QUEUE_MEMBERS_MAX_PAGE: usize = 100;
/// Largest `pageSize` of other listings (not verified upstream; Genesys commonly caps at 500).
pub(crate) const LISTING_MAX_PAGE: usize = 500;
/// Default `pageSize` (SDKDOC: 25).
pub(crate) const DEFAULT_PAGE: usize = 25;

/// A parsed REST request.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

impl Request<'_> {
    /// Every value of a query parameter (case-insensitive name).
    fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.query
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// First value of a query parameter.
    fn first(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every comma-separated value of every occurrence of a parameter (`id=a&id=b,c`).
    fn list(&self, name: &str) -> Vec<String> {
        self.all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A REST response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Response {
    fn ok(body: Value) -> Self {
        Response {
            status: 200,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    fn error(hub: &mut Hub, e: &ApiError) -> Self {
        let mut headers = Vec::new();
        if let Some(s) = e.retry_after {
            headers.push(("Retry-After", s.to_string()));
        }
        let context = hub.context_id();
        Response {
            status: e.status,
            headers,
            body: Some(e.body(&context)),
        }
    }
}

/// `POST /oauth/token` (client-credentials grant).
pub(crate) fn oauth(hub: &mut Hub, req: &Request<'_>, now: u64) -> Response {
    let invalid = |hub: &mut Hub| {
        crate::stats::Counters::inc(&hub.counters().token_failures);
        Response {
            status: 401,
            headers: Vec::new(),
            body: Some(
                json!({ "error": "invalid_client", "description": "Invalid client credentials", "error_description": "Invalid client credentials" }),
            ),
        }
    };
    if req.method != "POST" {
        return Response::error(hub, &ApiError::not_found("Only POST is supported"));
    }
    let Some(client) = basic_client(req.authorization) else {
        return invalid(hub);
    };
    let known = (client.0 == hub.cfg.client_id && client.1 == hub.cfg.client_secret)
        || hub
            .cfg
            .more_clients
            .iter()
            .any(|(id, secret)| client.0 == *id && client.1 == *secret);
    if !known {
        return invalid(hub);
    }
    let form = parse_query(std::str::from_utf8(req.body).unwrap_or(""));
    let grant = form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str());
    if grant != Some("client_credentials") {
        crate::stats::Counters::inc(&hub.counters().token_failures);
        return Response {
            status: 400,
            headers: Vec::new(),
            body: Some(
                json!({ "error": "unsupported_grant_type", "description": "grant_type must be client_credentials", "error_description": "grant_type must be client_credentials" }),
            ),
        };
    }
    let (token, expires_in) = hub.issue_token(&client.0, now);
    Response::ok(json!({ "access_token": token, "token_type": "bearer", "expires_in": expires_in }))
}

/// (client_id, client_secret) from `Authorization: Basic …`.
fn basic_client(header: Option<&str>) -> Option<(String, String)> {
    let (scheme, b64) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Every `/api/v2/...` route: admission (storm, token, rate limit) then routing.
pub(crate) fn api(hub: &mut Hub, req: &Request<'_>, now: u64) -> Response {
    let token = match hub.admit(req.authorization, now) {
        Ok(t) => t,
        Err(e) => return Response::error(hub, &e),
    };
    if let Some(d) = &hub.deny {
        if (d.method == "*" || d.method.eq_ignore_ascii_case(req.method))
            && req.path.starts_with(&d.path_prefix)
            && req.path.ends_with(&d.path_suffix)
        {
            crate::stats::Counters::inc(&hub.counters().rest_denied);
            let e = if d.status == 404 {
                ApiError::not_found(format!("Resource not found: {}", req.path))
            } else {
                ApiError::forbidden("You are not authorized to perform the requested action.")
            };
            return Response::error(hub, &e);
        }
    }
    match route(hub, &token, req, now) {
        Ok(r) => r,
        Err(e) => Response::error(hub, &e),
    }
}

fn route(hub: &mut Hub, token: &str, req: &Request<'_>, now: u64) -> Result<Response, ApiError> {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').skip(3).collect(); // "", "api", "v2"
    let m = req.method;
    match (m, segs.as_slice()) {
        ("POST", ["notifications", "channels"]) => Ok(Response::ok(hub.create_channel(token, now))),
        ("GET", ["notifications", "channels"]) => {
            let client = req
                .first("includechannels")
                .is_some_and(|v| v.eq_ignore_ascii_case("oauthclient"));
            Ok(Response::ok(hub.list_channels(token, client)))
        }
        ("HEAD", ["notifications", "channels", id]) => {
            Ok(Response::empty(if hub.channel_exists(token, id) {
                200
            } else {
                404
            }))
        }
        (_, ["notifications", "channels", id, "subscriptions"]) => {
            let op = match m {
                "GET" => SubOp::Get,
                "POST" => SubOp::Add,
                "PUT" => SubOp::Replace,
                "DELETE" => SubOp::Delete,
                _ => return Err(ApiError::not_found(format!("No route for {m} {path}"))),
            };
            let topics = if matches!(op, SubOp::Add | SubOp::Replace) {
                topic_body(req.body)?
            } else {
                Vec::new()
            };
            let ignore = req
                .first("ignoreErrors")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            Ok(
                match hub.subscriptions(token, id, op, &topics, ignore, now)? {
                    Some(v) => Response::ok(v),
                    None => Response::empty(200),
                },
            )
        }
        ("GET", ["users", "presences", "purecloud", "bulk"]) => {
            bulk_presences(&hub.world, req).map(Response::ok)
        }
        ("GET", ["users"]) => users(hub, req).map(Response::ok),
        ("GET", ["users", id]) => {
            let a = agent(&hub.world, id)?;
            Ok(Response::ok(payload::user(&hub.world, a, expand(hub, req))))
        }
        ("GET", ["users", id, "routingstatus"]) => {
            Ok(Response::ok(match hub.world.agents.get(*id) {
                Some(a) => payload::rest_routing_status(a),
                // "A value of OFF_QUEUE will be returned if the specified user does not exist."
                None => json!({ "userId": id, "status": "OFF_QUEUE" }),
            }))
        }
        ("GET", ["users", id, "outofoffice"]) => {
            Ok(Response::ok(payload::out_of_office(agent(&hub.world, id)?)))
        }
        ("GET", ["users", id, "presences", source]) if source.eq_ignore_ascii_case("purecloud") => {
            Ok(Response::ok(payload::user_presence(agent(&hub.world, id)?)))
        }
        ("GET", ["routing", "queues"]) => {
            let w = &hub.world;
            // `id` (repeatable) selects queues by id, as Genesys documents; unknown ids are
            // left out.
            let ids = req.list("id");
            let all: Vec<Value> = w
                .queue_order
                .iter()
                .filter(|q| ids.is_empty() || ids.contains(q))
                .filter_map(|q| w.queues.get(q))
                .map(|q| payload::queue(w, q))
                .collect();
            listing(req, all, LISTING_MAX_PAGE, "/api/v2/routing/queues", true).map(Response::ok)
        }
        ("GET", ["routing", "queues", id]) => {
            let q = hub
                .world
                .queues
                .get(*id)
                .ok_or_else(|| ApiError::not_found(format!("Queue {id} not found")))?;
            Ok(Response::ok(payload::queue(&hub.world, q)))
        }
        ("GET", ["routing", "queues", id, "members"]) => {
            let w = &hub.world;
            let q = w
                .queues
                .get(*id)
                .ok_or_else(|| ApiError::not_found(format!("Queue {id} not found")))?;
            let all: Vec<Value> = q
                .members
                .iter()
                .filter_map(|m| w.agents.get(m))
                .map(|a| payload::queue_member(q, a))
                .collect();
            listing(
                req,
                all,
                QUEUE_MEMBERS_MAX_PAGE,
                &format!("/api/v2/routing/queues/{id}/members"),
                false,
            )
            .map(Response::ok)
        }
        ("GET", ["groups"]) => {
            let all: Vec<Value> = hub.world.groups.iter().map(group_entity).collect();
            listing(req, all, LISTING_MAX_PAGE, "/api/v2/groups", true).map(Response::ok)
        }
        ("GET", ["groups", id]) => {
            let g = hub
                .world
                .groups
                .iter()
                .find(|g| g.id == *id)
                .ok_or_else(|| ApiError::not_found(format!("Group {id} not found")))?;
            Ok(Response::ok(group_entity(g)))
        }
        ("GET", ["groups", id, kind @ ("members" | "individuals")]) => {
            let ex = expand(hub, req);
            let w = &hub.world;
            let g = w
                .groups
                .iter()
                .find(|g| g.id == *id)
                .ok_or_else(|| ApiError::not_found(format!("Group {id} not found")))?;
            let all: Vec<Value> = g
                .members
                .iter()
                .filter_map(|m| w.agents.get(m))
                .map(|a| payload::user(w, a, ex))
                .collect();
            listing(
                req,
                all,
                LISTING_MAX_PAGE,
                &format!("/api/v2/groups/{id}/{kind}"),
                true,
            )
            .map(Response::ok)
        }
        ("GET", ["presence", "definitions"]) => {
            let entities: Vec<Value> = PRESENCE_DEFS
                .iter()
                .map(|d| payload::org_definition(&hub.world, d))
                .collect();
            Ok(Response::ok(
                json!({ "total": entities.len(), "entities": entities }),
            ))
        }
        ("GET", ["presencedefinitions"]) => {
            let all: Vec<Value> = PRESENCE_DEFS
                .iter()
                .map(payload::legacy_definition)
                .collect();
            listing(
                req,
                all,
                LISTING_MAX_PAGE,
                "/api/v2/presencedefinitions",
                true,
            )
            .map(Response::ok)
        }
        ("GET", ["systempresences"]) => Ok(Response::ok(payload::system_presences())),
        ("POST", ["analytics", "queues", "observations", "query"]) => {
            crate::stats::Counters::inc(&hub.counters().queue_observation_queries);
            observations_query(&hub.world, req.body).map(Response::ok)
        }
        ("POST", ["analytics", "conversations", "aggregates", "query"]) => {
            crate::stats::Counters::inc(&hub.counters().queue_aggregate_queries);
            crate::aggregates::query(&hub.world, req.body).map(Response::ok)
        }
        ("POST", ["analytics", "conversations", "details", "query"]) => {
            let lag = u64::try_from(hub.cfg.details_lag.as_millis()).unwrap_or(u64::MAX);
            crate::conversations::details_query(&hub.world, req.body, now, lag).map(Response::ok)
        }
        ("GET", ["conversations", id]) => {
            crate::conversations::get(&hub.world, id).map(Response::ok)
        }
        _ => Err(ApiError::not_found(format!("No route for {m} {path}"))),
    }
}

fn agent<'w>(world: &'w World, id: &str) -> Result<&'w Agent, ApiError> {
    world
        .agents
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("User {id} not found")))
}

/// `[{"id": topic}, …]` (objects without a string `id` are refused).
fn topic_body(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
    let arr = v
        .as_array()
        .ok_or_else(|| ApiError::bad_request("Request body must be an array of topics"))?;
    arr.iter()
        .map(|t| {
            t.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::bad_request("Each topic needs a string id"))
        })
        .collect()
}

fn expand(hub: &Hub, req: &Request<'_>) -> Expand {
    if hub.cfg.drop_expand {
        return Expand::default();
    }
    let mut e = Expand::default();
    for v in req.list("expand") {
        match v.to_ascii_lowercase().as_str() {
            "presence" => e.presence = true,
            "routingstatus" => e.routing_status = true,
            "conversationsummary" => e.conversation_summary = true,
            "outofoffice" => e.out_of_office = true,
            _ => {}
        }
    }
    e
}

fn bulk_presences(world: &World, req: &Request<'_>) -> Result<Value, ApiError> {
    let ids = req.list("id");
    if ids.len() > BULK_PRESENCE_MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "Too many ids: {} given, the limit is {BULK_PRESENCE_MAX_IDS}",
            ids.len()
        )));
    }
    Ok(Value::Array(
        ids.iter()
            .filter_map(|id| world.agents.get(id))
            .map(payload::uc_user_presence)
            .collect(),
    ))
}

fn users(hub: &Hub, req: &Request<'_>) -> Result<Value, ApiError> {
    let ex = expand(hub, req);
    let w = &hub.world;
    let ids = req.list("id");
    let all: Vec<Value> = if ids.is_empty() {
        w.agents.values().map(|a| payload::user(w, a, ex)).collect()
    } else {
        ids.iter()
            .filter_map(|id| w.agents.get(id))
            .map(|a| payload::user(w, a, ex))
            .collect()
    };
    listing(req, all, LISTING_MAX_PAGE, "/api/v2/users", true)
}

fn group_entity(g: &crate::model::Group) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "type": "official",
        "state": "active",
        "memberCount": g.members.len(),
        "visibility": "public",
        "rulesVisible": true,
        "selfUri": format!("/api/v2/groups/{}", g.id),
    })
}

/// Pages `all` per `pageSize`/`pageNumber`. `totals` adds `total`/`pageCount`/`lastUri` (UserEntityListing);
/// without it only `nextUri`/`previousUri` tell the client where it is (QueueMemberEntityListing).
fn listing(
    req: &Request<'_>,
    all: Vec<Value>,
    max_page: usize,
    base: &str,
    totals: bool,
) -> Result<Value, ApiError> {
    let size = match req.first("pageSize") {
        None => DEFAULT_PAGE,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("Invalid pageSize {s}")))?,
    };
    if size == 0 || size > max_page {
        return Err(ApiError::bad_request(format!(
            "pageSize must be between 1 and {max_page}"
        )));
    }
    let number = match req.first("pageNumber") {
        None => 1,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("Invalid pageNumber {s}")))?,
    };
    if number == 0 {
        return Err(ApiError::bad_request("pageNumber must be at least 1"));
    }
    let total = all.len();
    let pages = total.div_ceil(size).max(1);
    let entities: Vec<Value> = all
        .into_iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .collect();
    // Keep the caller's other parameters (id, expand, …) in the page links, as Genesys does.
    let keep: String = req
        .query
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("pageSize") && !k.eq_ignore_ascii_case("pageNumber")
        })
        .map(|(k, v)| format!("&{}={}", encode(k), encode(v)))
        .collect();
    let uri = |n: usize| format!("{base}?pageSize={size}&pageNumber={n}{keep}");
    let mut v = json!({
        "entities": entities,
        "pageSize": size,
        "pageNumber": number,
        "firstUri": uri(1),
        "selfUri": uri(number),
    });
    if totals {
        v["total"] = json!(total);
        v["pageCount"] = json!(pages);
        v["lastUri"] = json!(uri(pages));
    }
    if number < pages {
        v["nextUri"] = json!(uri(number + 1));
    }
    if number > 1 {
        v["previousUri"] = json!(uri(number - 1));
    }
    Ok(v)
}

/// Metrics the observations query answers.
const QUERY_METRICS: [&str; 11] = [
    "oWaiting",
    "oInteracting",
    "oAlerting",
    "oOnQueueUsers",
    "oOffQueueUsers",
    "oMemberUsers",
    "oActiveUsers",
    "oLongestWaiting",
    "oUserRoutingStatuses",
    "oUserPresences",
    "oServiceLevel",
];

/// `POST /api/v2/analytics/queues/observations/query`: `queueId` predicates anywhere in `filter` select the
/// queues; `metrics` (default: all of [`QUERY_METRICS`]) selects the data. Values are the truth's snapshot.
fn observations_query(world: &World, body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
    let mut queue_ids = Vec::new();
    collect_queue_ids(v.get("filter").unwrap_or(&Value::Null), &mut queue_ids);
    if queue_ids.is_empty() {
        return Err(ApiError::bad_request(
            "filter must contain at least one queueId predicate",
        ));
    }
    let metrics: Vec<String> = match v.get("metrics").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => QUERY_METRICS.iter().map(|m| (*m).to_owned()).collect(),
    };
    if let Some(bad) = metrics
        .iter()
        .find(|m| !QUERY_METRICS.contains(&m.as_str()))
    {
        return Err(ApiError::bad_request(format!("Unsupported metric {bad}")));
    }
    let mut results = Vec::new();
    for id in queue_ids {
        let Some(q) = world.queues.get(&id) else {
            continue;
        };
        let s = q.snapshot;
        let members: Vec<&Agent> = q
            .members
            .iter()
            .filter_map(|m| world.agents.get(m))
            .collect();
        let mut data = Vec::new();
        let count = |metric: &str, n: u32| json!({ "metric": metric, "stats": { "count": n } });
        for m in &metrics {
            match m.as_str() {
                "oWaiting" => data.push(count(m, s.waiting)),
                "oInteracting" => data.push(count(m, s.interacting)),
                "oAlerting" => data.push(count(m, s.alerting)),
                "oOnQueueUsers" => data.push(count(m, s.on_queue)),
                "oOffQueueUsers" => data.push(count(m, s.off_queue)),
                "oMemberUsers" => {
                    data.push(count(m, u32::try_from(members.len()).unwrap_or(u32::MAX)))
                }
                "oActiveUsers" => data.push(count(m, s.on_queue + s.off_queue)),
                "oLongestWaiting" => {
                    if let Some(since) = s.oldest_waiting_since {
                        data.push(json!({ "metric": m, "stats": { "count": 1, "calculatedMetricValue": q.observed_ms.saturating_sub(since) } }));
                    }
                }
                "oUserRoutingStatuses" => {
                    for status in crate::generate::ROUTING_STATUSES {
                        let n = members.iter().filter(|a| a.routing == status).count();
                        if n > 0 {
                            data.push(json!({ "metric": m, "qualifier": status, "stats": { "count": n } }));
                        }
                    }
                }
                "oUserPresences" => {
                    for def in PRESENCE_DEFS.iter().filter(|d| d.primary) {
                        let n = members
                            .iter()
                            .filter(|a| a.def().legacy == def.legacy)
                            .count();
                        if n > 0 {
                            data.push(json!({ "metric": m, "qualifier": def.id, "stats": { "count": n } }));
                        }
                    }
                }
                _ => {
                    let a = q.aggregate;
                    let den = a.sl_denominator();
                    if den > 0 {
                        data.push(json!({ "metric": m, "stats": { "ratio": f64::from(a.sl_numerator) / f64::from(den), "numerator": a.sl_numerator, "denominator": den, "target": crate::model::SERVICE_LEVEL_TARGET_RATIO } }));
                    }
                }
            }
        }
        results.push(json!({ "group": { "queueId": id }, "data": data }));
    }
    Ok(json!({ "results": results }))
}

pub(crate) fn collect_queue_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            let is_queue = map
                .get("dimension")
                .and_then(Value::as_str)
                .is_some_and(|d| d.eq_ignore_ascii_case("queueId"));
            if is_queue {
                if let Some(id) = map.get("value").and_then(Value::as_str) {
                    if !out.iter().any(|x| x == id) {
                        out.push(id.to_owned());
                    }
                }
            }
            for child in map.values() {
                collect_queue_ids(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_queue_ids(c, out)),
        _ => {}
    }
}

/// Parses `a=b&c=d` with percent-decoding and `+` as space.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a query component (unreserved characters kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("id=a%2Cb&id=c&expand=presence,routingStatus&x=%zz&y=1+2"),
            vec![
                ("id".to_owned(), "a,b".to_owned()),
                ("id".to_owned(), "c".to_owned()),
                ("expand".to_owned(), "presence,routingStatus".to_owned()),
                ("x".to_owned(), "%zz".to_owned()),
                ("y".to_owned(), "1 2".to_owned()),
            ]
        );
        assert_eq!(decode("%4"), "%4");
    }
}
