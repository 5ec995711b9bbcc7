//! Conversation resync endpoints: `POST /api/v2/analytics/conversations/details/query` (which conversations
//! are still open for which users) and `GET /api/v2/conversations/{conversationId}` (one conversation now).
//!
//! Owns: the analytics conversation-detail shape (`AnalyticsConversationQueryResponse`: `conversations[]` with
//! `participants[].sessions[].segments[]`, `totalHits`), the subset of the query grammar the sim evaluates, and
//! the lookup of a conversation by id. Does not own the `Conversation` body (`payload::conversation`, the same
//! builder notifications use) nor admission (auth, rate limit: `api::api` runs it before routing here).
//!
//! What the sim knows: each agent's latest conversation (`Agent::conversation`, kept after wrap-up until the
//! agent's next one) and the one before it (`Agent::previous`). The details index lags: the query answers
//! from the state of `SimConfig::details_lag` ago ([`as_of`]), as real detail records trail the
//! conversation by an undocumented time; `GET` is exact. Conversations still waiting in a queue have no agent participant and are not returned;
//! older finished conversations are forgotten (the query never returns them, `GET` answers 404).

use serde_json::{json, Map, Value};

use crate::clock::iso;
use crate::error::ApiError;
use crate::model::{Agent, Conversation, Media, Phase, World};
use crate::payload;

/// Largest `paging.pageSize` of a conversation details query (the documented maximum is 100).
pub(crate) const DETAILS_MAX_PAGE: usize = 100;
/// `paging.pageSize` when the body has no `paging` (the analytics default is 25).
pub(crate) const DETAILS_DEFAULT_PAGE: usize = 25;

/// `GET /api/v2/conversations/{conversationId}`: exactly the body `v2.users.{id}.conversations` carries for
/// the conversation's current state (404 `ErrorBody` when the sim does not know it).
pub(crate) fn get(world: &World, id: &str) -> Result<Value, ApiError> {
    world
        .agents
        .values()
        .find_map(|a| {
            a.conversation
                .as_ref()
                .filter(|c| c.id.eq_ignore_ascii_case(id))
                .map(|c| payload::conversation(world, a, c))
        })
        .ok_or_else(|| ApiError::not_found(format!("Conversation {id} not found")))
}

/// Analytics `mediaType` of a session (`voice` for calls, as analytics names it).
fn analytics_media(m: Media) -> &'static str {
    match m {
        Media::Call => "voice",
        Media::Callback => "callback",
        Media::Chat => "chat",
        Media::Email => "email",
        Media::Message => "message",
    }
}

/// When the conversation ended, as analytics reports `conversationEnd`.
///
/// Choice: the sim sets `conversationEnd` only once the agent's wrap-up is submitted ([`Phase::Done`]), so a
/// conversation in after-call work is still "not ended" and a `conversationEnd notExists` query returns it.
/// Real Genesys may set `conversationEnd` as soon as the last participant disconnects (before wrap-up); a
/// client that must see after-call work should not rely on this filter alone.
fn conversation_end(c: &Conversation) -> Option<u64> {
    match c.phase {
        Phase::Done => c.wrapup_ms,
        Phase::Alerting | Phase::Connected | Phase::AfterCallWork => None,
    }
}

/// One analytics segment.
fn segment(kind: &str, start: u64, end: Option<u64>, extra: Value) -> Value {
    let mut s = json!({ "segmentStart": iso(start), "segmentType": kind });
    if let Some(e) = end {
        s["segmentEnd"] = json!(iso(e));
    }
    if let (Value::Object(s), Value::Object(extra)) = (&mut s, extra) {
        s.extend(extra);
    }
    s
}

/// The `AnalyticsConversationWithoutAttributes` of one agent's conversation.
fn details(world: &World, agent: &Agent, c: &Conversation) -> Value {
    let media = analytics_media(c.media);
    let queue_name = world
        .queues
        .get(&c.queue_id)
        .map_or("Queue", |q| q.name.as_str());
    let customer = json!({
        "participantId": c.customer_pid,
        "participantName": "Customer",
        "purpose": "customer",
        "sessions": [{
            "mediaType": media,
            "sessionId": c.customer_cid,
            "direction": "inbound",
            "ani": format!("tel:{}", c.customer_phone),
            "dnis": "tel:+13175550199",
            "segments": [segment("interact", c.entered_queue_ms, c.disconnected_ms,
                json!({ "queueId": c.queue_id, "conference": false }))],
        }],
    });
    let acd_end = (c.phase != Phase::Alerting).then_some(c.alerting_ms);
    let acd = json!({
        "participantId": c.acd_pid,
        "participantName": queue_name,
        "purpose": "acd",
        "sessions": [{
            "mediaType": media,
            "sessionId": c.acd_cid,
            "direction": "inbound",
            "segments": [segment("interact", c.entered_queue_ms, acd_end,
                json!({ "queueId": c.queue_id, "disconnectType": "transfer" }))],
            "metrics": [{ "name": "tAcd", "value": c.alerting_ms.saturating_sub(c.entered_queue_ms), "emitDate": iso(c.alerting_ms) }],
        }],
    });
    let mut segments = vec![segment(
        "alert",
        c.alerting_ms,
        c.connected_ms.or(c.disconnected_ms),
        json!({ "queueId": c.queue_id }),
    )];
    if let Some(t) = c.connected_ms {
        segments.push(segment(
            "interact",
            t,
            c.disconnected_ms,
            json!({ "queueId": c.queue_id }),
        ));
    }
    if let Some(t) = c.disconnected_ms {
        let mut extra = json!({ "queueId": c.queue_id, "disconnectType": "peer" });
        if let Some(code) = c.wrapup_code {
            extra["wrapUpCode"] = json!(code);
        }
        segments.push(segment("wrapup", t, c.wrapup_ms, extra));
    }
    let agent_part = json!({
        "participantId": c.agent_pid,
        "participantName": agent.name,
        "userId": agent.id,
        "purpose": "agent",
        "sessions": [{
            "mediaType": media,
            "sessionId": c.agent_cid,
            "direction": "inbound",
            "requestedRoutings": ["Standard"],
            "segments": segments,
        }],
    });
    let mut v = json!({
        "conversationId": c.id,
        "conversationStart": iso(c.entered_queue_ms),
        "originatingDirection": "inbound",
        "divisionIds": [world.division_id],
        "participants": [customer, acd, agent_part],
    });
    if let Some(end) = conversation_end(c) {
        v["conversationEnd"] = json!(iso(end));
    }
    v
}

/// A dimension the sim evaluates, with the level it lives at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dim {
    // Conversation level.
    ConversationEnd,
    ConversationStart,
    DivisionId,
    OriginatingDirection,
    // Both levels.
    ConversationId,
    // Segment level.
    UserId,
    Purpose,
    MediaType,
    QueueId,
    Direction,
}

impl Dim {
    fn parse(name: &str, segment: bool) -> Option<Dim> {
        let n = name.to_ascii_lowercase();
        let d = match n.as_str() {
            "conversationid" => return Some(Dim::ConversationId),
            "conversationend" if !segment => Dim::ConversationEnd,
            "conversationstart" if !segment => Dim::ConversationStart,
            "divisionid" if !segment => Dim::DivisionId,
            "originatingdirection" if !segment => Dim::OriginatingDirection,
            "userid" if segment => Dim::UserId,
            "purpose" if segment => Dim::Purpose,
            "mediatype" if segment => Dim::MediaType,
            "queueid" if segment => Dim::QueueId,
            "direction" if segment => Dim::Direction,
            _ => return None,
        };
        Some(d)
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Matches,
    Exists,
    NotExists,
}

/// One dimension predicate.
#[derive(Debug)]
struct Pred {
    dim: Dim,
    op: Op,
    value: String,
}

/// One filter `{type: and|or, predicates?, clauses?}`, validated.
#[derive(Debug)]
struct Filter {
    any: bool,
    preds: Vec<Pred>,
    clauses: Vec<Filter>,
}

impl Filter {
    /// Validates a filter of the conversation level (`segment == false`) or the segment level.
    fn compile(f: &Value, segment: bool) -> Result<Filter, ApiError> {
        let any = match f.get("type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("or") => true,
            Some(t) if t.eq_ignore_ascii_case("and") => false,
            _ => return Err(ApiError::bad_request("A filter's type must be and or or")),
        };
        let mut preds = Vec::new();
        for p in array(f, "predicates")? {
            preds.push(Pred::compile(p, segment)?);
        }
        let mut clauses = Vec::new();
        for c in array(f, "clauses")? {
            clauses.push(Filter::compile(c, segment)?);
        }
        if preds.is_empty() && clauses.is_empty() {
            return Err(ApiError::bad_request(
                "A filter needs predicates or clauses",
            ));
        }
        Ok(Filter {
            any,
            preds,
            clauses,
        })
    }

    fn eval(&self, facts: &Facts<'_>, at: Level) -> bool {
        let mut results = self
            .preds
            .iter()
            .map(|p| p.eval(facts, at))
            .chain(self.clauses.iter().map(|c| c.eval(facts, at)));
        if self.any {
            results.any(|r| r)
        } else {
            results.all(|r| r)
        }
    }
}

impl Pred {
    fn compile(p: &Value, segment: bool) -> Result<Pred, ApiError> {
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("dimension");
        if !kind.eq_ignore_ascii_case("dimension") {
            return Err(ApiError::bad_request(format!(
                "Unsupported predicate type {kind} (the simulator evaluates dimension predicates)"
            )));
        }
        let name = p
            .get("dimension")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("A dimension predicate needs a dimension"))?;
        let dim = Dim::parse(name, segment).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unsupported dimension {name} in a {} filter (the simulator evaluates conversationId, \
                 conversationEnd, conversationStart, divisionId, originatingDirection in conversation filters; \
                 conversationId, userId, purpose, mediaType, queueId, direction in segment filters)",
                if segment { "segment" } else { "conversation" }
            ))
        })?;
        let op = match p.get("operator").and_then(Value::as_str) {
            None => Op::Matches,
            Some(o) if o.eq_ignore_ascii_case("matches") => Op::Matches,
            Some(o) if o.eq_ignore_ascii_case("exists") => Op::Exists,
            Some(o) if o.eq_ignore_ascii_case("notExists") => Op::NotExists,
            Some(o) => return Err(ApiError::bad_request(format!("Unsupported operator {o}"))),
        };
        let value = match (op, p.get("value").and_then(Value::as_str)) {
            (Op::Matches, None) => {
                return Err(ApiError::bad_request(format!(
                    "Predicate on {name} needs a value"
                )))
            }
            (_, v) => v.unwrap_or_default().to_owned(),
        };
        Ok(Pred { dim, op, value })
    }

    fn eval(&self, facts: &Facts<'_>, at: Level) -> bool {
        let actual = facts.value(at, self.dim);
        match self.op {
            Op::Exists => actual.is_some(),
            Op::NotExists => actual.is_none(),
            Op::Matches => actual.is_some_and(|a| a.eq_ignore_ascii_case(&self.value)),
        }
    }
}

/// A query's filters, validated before any conversation is looked at.
struct Filters {
    conversation: Vec<Filter>,
    segment: Vec<Filter>,
}

impl Filters {
    fn compile(q: &Value) -> Result<Filters, ApiError> {
        let conversation = array(q, "conversationFilters")?
            .iter()
            .map(|f| Filter::compile(f, false))
            .collect::<Result<_, _>>()?;
        let segment = array(q, "segmentFilters")?
            .iter()
            .map(|f| Filter::compile(f, true))
            .collect::<Result<_, _>>()?;
        Ok(Filters {
            conversation,
            segment,
        })
    }

    /// Every conversation filter holds, and every segment filter holds for some participant session.
    fn matches(&self, facts: &Facts<'_>) -> bool {
        const SESSIONS: [Level; 3] = [
            Level::Segment("customer", false),
            Level::Segment("acd", false),
            Level::Segment("agent", true),
        ];
        self.conversation
            .iter()
            .all(|f| f.eval(facts, Level::Conversation))
            && self
                .segment
                .iter()
                .all(|f| SESSIONS.iter().any(|at| f.eval(facts, *at)))
    }
}

/// What a predicate looks at: one agent's conversation, seen whole (conversation filters) or from one
/// participant session at a time (segment filters).
struct Facts<'a> {
    agent: &'a Agent,
    c: &'a Conversation,
    world: &'a World,
}

/// Where a predicate is evaluated.
#[derive(Clone, Copy)]
enum Level {
    Conversation,
    /// The participant whose session is tested: its `purpose`, and whether it carries a `userId` (the agent).
    Segment(&'static str, bool),
}

impl Facts<'_> {
    /// The value of `dim` seen from `at` (`None` when it does not exist there).
    fn value(&self, at: Level, dim: Dim) -> Option<String> {
        match (at, dim) {
            (_, Dim::ConversationId) => Some(self.c.id.clone()),
            (Level::Conversation, Dim::ConversationEnd) => conversation_end(self.c).map(iso),
            (Level::Conversation, Dim::ConversationStart) => Some(iso(self.c.entered_queue_ms)),
            (Level::Conversation, Dim::DivisionId) => Some(self.world.division_id.clone()),
            (Level::Conversation, Dim::OriginatingDirection)
            | (Level::Segment(..), Dim::Direction) => Some("inbound".to_owned()),
            (Level::Segment(_, is_agent), Dim::UserId) => is_agent.then(|| self.agent.id.clone()),
            (Level::Segment(purpose, _), Dim::Purpose) => Some(purpose.to_owned()),
            (Level::Segment(..), Dim::MediaType) => Some(analytics_media(self.c.media).to_owned()),
            (Level::Segment(..), Dim::QueueId) => Some(self.c.queue_id.clone()),
            // Compile-time level checks keep the other pairs out.
            _ => None,
        }
    }
}

/// `c` as the details index showed it at sim time `t` (what happened after `t` not yet
/// indexed): `None` when the agent was not yet offered it.
pub(crate) fn as_of(c: &Conversation, t: u64) -> Option<Conversation> {
    if c.alerting_ms > t {
        return None;
    }
    let keep = |x: Option<u64>| x.filter(|ms| *ms <= t);
    let mut v = c.clone();
    v.connected_ms = keep(c.connected_ms);
    v.disconnected_ms = keep(c.disconnected_ms);
    v.wrapup_ms = keep(c.wrapup_ms);
    v.phase = match (c.phase, v.connected_ms, v.disconnected_ms, v.wrapup_ms) {
        (Phase::Done, _, _, Some(_)) => Phase::Done,
        // Ended without after-call work: over at the disconnect.
        (Phase::Done, _, Some(_), None) if c.wrapup_ms.is_none() => Phase::Done,
        (_, _, Some(_), _) => Phase::AfterCallWork,
        (_, Some(_), None, _) => Phase::Connected,
        _ => Phase::Alerting,
    };
    if v.phase != Phase::Done {
        v.wrapup_code = None;
    }
    Some(v)
}

/// `v[key]` as an array: absent or null → empty; anything else → 400.
fn array<'v>(v: &'v Value, key: &str) -> Result<&'v [Value], ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be an array"))),
    }
}

/// `POST /api/v2/analytics/conversations/details/query`.
///
/// Evaluates `interval` (required: conversations whose `conversationStart` lies in `[start, end)`),
/// `conversationFilters` and `segmentFilters` (dimension predicates with `matches`/`exists`/`notExists`, nested
/// `clauses`; see [`Dim::parse`] for the dimensions), `order` (`asc` default, by `conversationStart`) and
/// `paging` (`pageSize` ≤ [`DETAILS_MAX_PAGE`], default [`DETAILS_DEFAULT_PAGE`]). Like the real endpoint, an
/// empty result is just `{"totalHits":0}` (no `conversations` key).
pub(crate) fn details_query(
    world: &World,
    body: &[u8],
    now: u64,
    lag_ms: u64,
) -> Result<Value, ApiError> {
    let q: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
    if !q.is_object() {
        return Err(ApiError::bad_request("The query must be a JSON object"));
    }
    let interval = q
        .get("interval")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("interval is required"))?;
    let (start, end) = interval
        .split_once('/')
        .and_then(|(a, b)| Some((parse_iso(a)?, parse_iso(b)?)))
        .filter(|(a, b)| a < b)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid interval {interval}: expected <ISO-8601 start>/<ISO-8601 end>, start before end"
            ))
        })?;
    let desc = match q.get("order").and_then(Value::as_str) {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("asc") => false,
        Some(o) if o.eq_ignore_ascii_case("desc") => true,
        Some(o) => return Err(ApiError::bad_request(format!("Invalid order {o}"))),
    };
    if let Some(by) = q.get("orderBy").and_then(Value::as_str) {
        if !by.eq_ignore_ascii_case("conversationStart") {
            return Err(ApiError::bad_request(format!(
                "Unsupported orderBy {by} (the simulator orders by conversationStart)"
            )));
        }
    }
    let paging = q.get("paging").unwrap_or(&Value::Null);
    let size = paging
        .get("pageSize")
        .map_or(Some(DETAILS_DEFAULT_PAGE as u64), Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=DETAILS_MAX_PAGE).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "paging.pageSize must be between 1 and {DETAILS_MAX_PAGE}"
            ))
        })?;
    let number = paging
        .get("pageNumber")
        .map_or(Some(1), Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::bad_request("paging.pageNumber must be at least 1"))?;

    let filters = Filters::compile(&q)?;
    // The index as it stood `lag` ago: the agent's previous conversation may still be open in it.
    let seen_at = now.saturating_sub(lag_ms);
    let mut hits: Vec<(&Agent, Conversation)> = Vec::new();
    for agent in world.agents.values() {
        for c in [&agent.previous, &agent.conversation].into_iter().flatten() {
            // Without lag the index is exact (a stamp may run a few ms ahead of the clock when
            // many changes share one sim millisecond).
            let c = if lag_ms == 0 {
                Some(c.clone())
            } else {
                as_of(c, seen_at)
            };
            let Some(c) = c else {
                continue;
            };
            if !(start..end).contains(&c.entered_queue_ms) {
                continue;
            }
            if filters.matches(&Facts {
                agent,
                c: &c,
                world,
            }) {
                hits.push((agent, c));
            }
        }
    }
    hits.sort_by(|a, b| (a.1.entered_queue_ms, &a.1.id).cmp(&(b.1.entered_queue_ms, &b.1.id)));
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .into_iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .map(|(a, c)| details(world, a, &c))
        .collect();
    let mut out = Map::new();
    if !page.is_empty() {
        out.insert("conversations".to_owned(), Value::Array(page));
    }
    out.insert("totalHits".to_owned(), json!(total));
    Ok(Value::Object(out))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` into ms since the epoch.
pub(crate) fn parse_iso(s: &str) -> Option<u64> {
    let (date, time) = s.trim().split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (time, offset_min) = if let Some(t) = time.strip_suffix('Z') {
        (t, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (t, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off.get(1..)?.split_once(':')?;
        (
            t,
            sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?),
        )
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut ms = 0;
    for (i, c) in frac.bytes().enumerate() {
        let digit = i64::from(c.checked_sub(b'0').filter(|v| *v <= 9)?);
        if i < 3 {
            ms += digit * [100, 10, 1][i];
        }
    }
    // days_from_civil (H. Hinnant).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let total = (days * 86_400 + hh * 3600 + mm * 60 + ss - offset_min * 60) * 1000 + ms;
    u64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_parses_what_the_sim_prints_and_offsets() {
        for ms in [0, 1_612_375_147_650, 1_709_164_800_001] {
            assert_eq!(parse_iso(&iso(ms)), Some(ms));
        }
        assert_eq!(
            parse_iso("2021-02-03T18:59:07.650+01:00"),
            Some(1_612_375_147_650)
        );
        assert_eq!(parse_iso("2021-02-03T17:59:07Z"), Some(1_612_375_147_000));
        assert_eq!(
            parse_iso("2021-02-03T17:59:07.650123Z"),
            Some(1_612_375_147_650)
        );
        assert_eq!(parse_iso("2021-02-03"), None);
        assert_eq!(parse_iso("2021-13-03T00:00:00Z"), None);
        assert_eq!(parse_iso("2021-02-03T00:00:00.x1Z"), None);
    }
}
