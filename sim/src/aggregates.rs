//! Queue interval figures: `POST /api/v2/analytics/conversations/aggregates/query` grouped by
//! `queueId`, and the 30-minute aggregate payload of the `v2.analytics.queues.{id}.observations`
//! topic.
//!
//! Owns: which metrics each carries and their `stats` shapes. The topic's aggregate follows a
//! live-org capture: `tAlert`, `tAbandon`, `nOffered`, `tConnected`, `tAcd`, `tNotResponding`,
//! `oServiceLevel`, `tWait` — no `tAnswered`, so a consumer learns "answered" only from the
//! query. Like real analytics, a metric with nothing counted in the interval is left out, and
//! the query leaves out a queue with nothing in the interval altogether. The sim keeps only the
//! current interval: an older interval answers no results. Does not own the counting
//! (`model::Aggregate`) nor admission (`api::api`).

use serde_json::{json, Value};

use crate::clock::iso_interval;
use crate::error::ApiError;
use crate::model::{
    Aggregate, DurationStats, Queue, World, AGGREGATE_INTERVAL_MS, SERVICE_LEVEL_TARGET_MS,
    SERVICE_LEVEL_TARGET_RATIO,
};

/// Metrics the aggregates query answers.
const QUERY_METRICS: [&str; 9] = [
    "nOffered",
    "tAnswered",
    "tAbandon",
    "oServiceLevel",
    "tAlert",
    "tConnected",
    "tAcd",
    "tWait",
    "tHandle",
];

fn duration(name: &str, st: DurationStats) -> Option<Value> {
    (st.count > 0).then(|| {
        json!({ "metric": name, "stats": { "max": st.max, "min": st.min, "count": st.count, "sum": st.sum } })
    })
}

/// `ACD` time (waiting in queue until answered or abandoned): what `tAcd` and `tWait` count.
fn acd(a: &Aggregate) -> DurationStats {
    let mut st = a.answered;
    if a.abandoned.count > 0 {
        st.count += a.abandoned.count;
        st.sum += a.abandoned.sum;
        st.max = st.max.max(a.abandoned.max);
        st.min = if a.answered.count > 0 {
            st.min.min(a.abandoned.min)
        } else {
            a.abandoned.min
        };
    }
    st
}

/// One metric of an aggregate, if anything was counted for it.
fn metric(name: &str, a: &Aggregate) -> Option<Value> {
    match name {
        "nOffered" => {
            (a.offered > 0).then(|| json!({ "metric": name, "stats": { "count": a.offered } }))
        }
        // The sim's answered conversations were alerting and connected once each.
        "tAnswered" | "tAlert" | "tConnected" | "tHandle" => duration(name, a.answered),
        "tAbandon" => duration(name, a.abandoned),
        "tAcd" | "tWait" => duration(name, acd(a)),
        "oServiceLevel" => {
            let den = a.sl_denominator();
            (den > 0).then(|| {
                json!({ "metric": name, "stats": {
                    "ratio": f64::from(a.sl_numerator) / f64::from(den),
                    "numerator": a.sl_numerator,
                    "denominator": den,
                    "target": SERVICE_LEVEL_TARGET_RATIO,
                }})
            })
        }
        _ => None,
    }
}

/// The topic's 30-minute aggregate payload (the capture's metrics; never `tAnswered`).
pub(crate) fn notification(q: &Queue) -> Value {
    let a = q.aggregate;
    let metrics: Vec<Value> = [
        "tAlert",
        "tAbandon",
        "nOffered",
        "tConnected",
        "tAcd",
        "tNotResponding",
        "oServiceLevel",
        "tWait",
    ]
    .iter()
    .filter_map(|m| metric(m, &a))
    .collect();
    json!({
        "group": { "queueId": q.id },
        "data": [{
            "interval": iso_interval(a.interval_start, a.interval_start + AGGREGATE_INTERVAL_MS),
            "metrics": metrics,
            "serviceLevelTargetMs": SERVICE_LEVEL_TARGET_MS,
        }],
    })
}

/// `POST /api/v2/analytics/conversations/aggregates/query`: `interval` (required), `groupBy`
/// must be `["queueId"]`, `queueId` predicates in `filter` select the queues (required: the sim
/// serves queue figures only), `metrics` from [`QUERY_METRICS`]; `granularity` is accepted and
/// the answer holds the one 30-minute interval the sim keeps when it overlaps `interval`.
pub(crate) fn query(world: &World, body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
    let interval = v
        .get("interval")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("interval is required"))?;
    let (start, end) = interval
        .split_once('/')
        .and_then(|(a, b)| {
            Some((
                crate::conversations::parse_iso(a)?,
                crate::conversations::parse_iso(b)?,
            ))
        })
        .filter(|(a, b)| a < b)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid interval {interval}")))?;
    let by: Vec<&str> = v
        .get("groupBy")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if by != ["queueId"] {
        return Err(ApiError::bad_request(
            "the simulator answers groupBy [\"queueId\"] only",
        ));
    }
    let mut queue_ids = Vec::new();
    crate::api::collect_queue_ids(v.get("filter").unwrap_or(&Value::Null), &mut queue_ids);
    if queue_ids.is_empty() {
        return Err(ApiError::bad_request(
            "filter must contain at least one queueId predicate",
        ));
    }
    let metrics: Vec<&str> = v
        .get("metrics")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("metrics is required"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if let Some(bad) = metrics.iter().find(|m| !QUERY_METRICS.contains(m)) {
        return Err(ApiError::bad_request(format!("Unsupported metric {bad}")));
    }
    let mut results = Vec::new();
    for id in queue_ids {
        let Some(q) = world.queues.get(&id) else {
            continue;
        };
        let a = q.aggregate;
        let (from, to) = (a.interval_start, a.interval_start + AGGREGATE_INTERVAL_MS);
        if to <= start || from >= end {
            continue;
        }
        let data: Vec<Value> = metrics.iter().filter_map(|m| metric(m, &a)).collect();
        if data.is_empty() {
            continue; // nothing counted: analytics returns no group
        }
        results.push(json!({
            "group": { "queueId": id },
            "data": [{ "interval": iso_interval(from, to), "metrics": data }],
        }));
    }
    let mut out = json!({});
    if !results.is_empty() {
        out["results"] = json!(results);
    }
    Ok(out)
}
