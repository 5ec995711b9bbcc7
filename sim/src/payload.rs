//! JSON shapes: notification event bodies and REST entities, built from the world state.
//!
//! Owns: every field name and casing the client sees (samples/*.json plus the SDK models named in
//! PROTOCOL.md), including deliberate unknown fields and nested objects a decoder must skip. Does not own
//! routing, paging or auth (`rest.rs`) or delivery (`hub.rs`).
//!
//! Casing rules: notifications carry `systemPresence` in UPPER_SNAKE (`ON_QUEUE`); REST presence
//! entities (`/users/.../presences`, bulk, `expand=presence`, legacy definitions) carry the legacy REST casing
//! (`On Queue`); `/api/v2/presence/definitions` carries the new enum casing (`OnQueue`).

use serde_json::{json, Value};

use crate::clock::{iso, iso_interval};
use crate::model::{
    Agent, Conversation, Phase, PresenceDef, Queue, World, PRESENCE_DEFS, SERVICE_LEVEL_TARGET_MS,
    SERVICE_LEVEL_TARGET_RATIO,
};

/// `v2.users.{id}.presence` body (samples/presence.full.json) plus unknown fields.
pub(crate) fn presence(agent: &Agent) -> Value {
    let def = agent.def();
    json!({
        "source": "PURECLOUD",
        "presenceDefinition": {
            "id": def.id,
            "systemPresence": def.upper_snake(),
            "languageLabels": { "en_US": def.label },
        },
        "primary": true,
        "message": agent.presence_message,
        "modifiedDate": iso(agent.presence_ms),
        "sourceId": "PURECLOUD",
    })
}

/// `v2.users.{id}.routingStatus` body (samples/routingStatus.json) plus an unknown field.
pub(crate) fn routing_status(agent: &Agent) -> Value {
    json!({
        "id": agent.id,
        "routingStatus": { "status": agent.routing, "startTime": iso(agent.routing_ms) },
        "additionalProperties": {},
    })
}

/// `v2.users.{id}.activity` body (AgentActivityChangedTopicAgentActivity).
pub(crate) fn activity(agent: &Agent) -> Value {
    let def = agent.def();
    json!({
        "id": agent.id,
        "routingStatus": { "status": agent.routing, "startTime": iso(agent.routing_ms) },
        "presence": {
            "presenceDefinition": { "id": def.id, "systemPresence": def.upper_snake() },
            "presenceMessage": agent.presence_message,
            "modifiedDate": iso(agent.presence_ms),
        },
        "outOfOffice": {
            "active": agent.out_of_office,
            "modifiedDate": iso(if agent.out_of_office_ms == 0 {
                agent.queues_ms.min(agent.presence_ms)
            } else {
                agent.out_of_office_ms
            }),
        },
        "activeQueueIds": agent.queues,
        "dateActiveQueuesChanged": iso(agent.queues_ms),
    })
}

/// `v2.users.{id}.conversations` body (samples/userConversations.json): customer, acd and agent participants.
pub(crate) fn conversation(world: &World, agent: &Agent, c: &Conversation) -> Value {
    let media = c.media.plural();
    let queue_name = world
        .queues
        .get(&c.queue_id)
        .map_or("Queue", |q| q.name.as_str());
    let customer_end = c.disconnected_ms;
    let mut customer_comm = json!({
        "id": c.customer_cid,
        "state": if customer_end.is_some() { "disconnected" } else { "connected" },
        "initialState": "offering",
        "recording": false,
        "recordingState": "none",
        "muted": false,
        "confined": false,
        "held": false,
        "securePause": false,
        "direction": "inbound",
        "self": { "nameRaw": "", "addressNormalized": format!("tel:{}", c.customer_phone), "addressRaw": c.customer_phone },
        "other": { "name": queue_name, "nameRaw": "", "addressNormalized": "tel:+13175550199", "addressRaw": "+13175550199" },
        "provider": "Edge",
        "connectedTime": iso(c.entered_queue_ms),
    });
    if let Some(t) = customer_end {
        customer_comm["disconnectedTime"] = json!(iso(t));
        customer_comm["disconnectType"] = json!("peer");
    }
    let acd_end = c.alerting_ms;
    let acd_comm = json!({
        "id": c.acd_cid,
        "state": if c.phase == Phase::Alerting { "connected" } else { "disconnected" },
        "initialState": "offering",
        "direction": "inbound",
        "disconnectType": "transfer",
        "provider": "Edge",
        "connectedTime": iso(c.entered_queue_ms),
        "disconnectedTime": iso(acd_end),
    });
    let mut agent_comm = json!({
        "id": c.agent_cid,
        "state": c.state(),
        "initialState": "alerting",
        "recording": false,
        "recordingState": "none",
        "muted": false,
        "confined": false,
        "held": false,
        "securePause": false,
        "direction": "inbound",
        "self": { "nameRaw": "", "addressNormalized": format!("sip:{}", agent.email), "addressRaw": format!("sip:{}", agent.email) },
        "other": { "name": "Customer", "nameRaw": "", "addressNormalized": format!("tel:{}", c.customer_phone) },
        "provider": "Edge",
        "peerId": c.customer_cid,
        "afterCallWorkRequired": true,
    });
    if let Some(t) = c.connected_ms {
        agent_comm["connectedTime"] = json!(iso(t));
    }
    if let Some(t) = c.disconnected_ms {
        agent_comm["disconnectedTime"] = json!(iso(t));
        agent_comm["disconnectType"] = json!("peer");
        agent_comm["afterCallWork"] = json!({
            "state": if c.phase == Phase::Done { "complete" } else { "pending" },
            "startTime": iso(t),
        });
    }
    let mut agent_part = json!({
        "id": c.agent_pid,
        "startAlertingTime": iso(c.alerting_ms),
        "userId": agent.id,
        "name": agent.name,
        "queueId": c.queue_id,
        "purpose": "agent",
        "wrapupRequired": true,
        "wrapupPrompt": "mandatory",
        "wrapupTimeoutMs": 60_000,
        "alertingTimeoutMs": 8_000,
        "mediaRoles": [],
        "attributes": {},
        "conversationRoutingData": {
            "queue": { "id": c.queue_id },
            "priority": 0,
            "skills": [],
            "scoredAgents": [{ "agent": { "id": agent.id }, "score": 100 }],
        },
    });
    if let Some(t) = c.connected_ms {
        agent_part["connectedTime"] = json!(iso(t));
    }
    if let (Some(t), Some(code)) = (c.wrapup_ms, c.wrapup_code) {
        agent_part["endTime"] = json!(iso(t));
        agent_part["wrapup"] = json!({
            "code": code,
            "name": "Resolved",
            "notes": "",
            "tags": [],
            "durationSeconds": c.disconnected_ms.map_or(0, |d| t.saturating_sub(d) / 1000),
            "endTime": iso(t),
            "additionalProperties": {},
        });
    }
    agent_part[media] = json!([agent_comm]);
    let mut customer_part = json!({
        "id": c.customer_pid,
        "connectedTime": iso(c.entered_queue_ms),
        "name": "Customer",
        "purpose": "customer",
        "address": format!("tel:{}", c.customer_phone),
        "wrapupRequired": false,
        "mediaRoles": [],
        "attributes": { "crmId": "sim-crm", "nested": { "a": [1, 2, { "b": null }] } },
    });
    customer_part[media] = json!([customer_comm]);
    if let Some(t) = customer_end {
        customer_part["endTime"] = json!(iso(t));
    }
    let mut acd_part = json!({
        "id": c.acd_pid,
        "connectedTime": iso(c.entered_queue_ms),
        "endTime": iso(acd_end),
        "name": queue_name,
        "queueId": c.queue_id,
        "purpose": "acd",
        "wrapupRequired": false,
        "attributes": {},
    });
    acd_part[media] = json!([acd_comm]);
    json!({
        "id": c.id,
        "maxParticipants": 3,
        "participants": [customer_part, acd_part, agent_part],
        "recentTransfers": [],
        "recordingState": "none",
        "divisions": [{
            "division": { "id": world.division_id, "selfUri": format!("/api/v2/authorization/divisions/{}", world.division_id) },
            "entities": [],
        }],
    })
}

/// `v2.routing.queues.{id}.users` body (samples/queueUsers.json, current schema).
pub(crate) fn queue_user(queue_id: &str, user_id: &str, joined: bool) -> Value {
    json!({
        "id": user_id,
        "user": { "id": user_id },
        "queueId": queue_id,
        "joined": joined,
        "additionalProperties": {},
    })
}

fn count(metric: &str, n: u32) -> Value {
    json!({ "metric": metric, "stats": { "count": n } })
}

/// `v2.analytics.queues.{id}.observations`, snapshot shape (interval start == end == `observed_ms`).
/// `oLongestWaiting` is present only while someone waits. An extra `oUserRoutingStatuses` metric with
/// qualifiers is included for decoders to skip.
pub(crate) fn observation(world: &World, q: &Queue) -> Value {
    let s = q.snapshot;
    let mut metrics = vec![
        count("oAlerting", s.alerting),
        count("oWaiting", s.waiting),
        count("oInteracting", s.interacting),
        count("oOnQueueUsers", s.on_queue),
        count("oOffQueueUsers", s.off_queue),
    ];
    if let Some(since) = s.oldest_waiting_since {
        metrics.push(json!({ "metric": "oLongestWaiting", "stats": { "max": q.observed_ms.saturating_sub(since) } }));
    }
    let mut by_status: Vec<(&str, u32)> = Vec::new();
    for m in &q.members {
        if let Some(a) = world.agents.get(m) {
            match by_status.iter_mut().find(|(s, _)| *s == a.routing) {
                Some((_, n)) => *n += 1,
                None => by_status.push((a.routing, 1)),
            }
        }
    }
    for (status, n) in by_status {
        metrics.push(json!({ "metric": "oUserRoutingStatuses", "qualifier": status, "stats": { "count": n } }));
    }
    json!({
        "group": { "queueId": q.id },
        "data": [{ "interval": iso_interval(q.observed_ms, q.observed_ms), "metrics": metrics }],
    })
}

/// A `SystemMessageSystemMessage` body (token_revoked, no_longer_subscribed, socket_closing).
pub(crate) fn system_message(
    world: &World,
    channel_id: &str,
    kind: Option<&str>,
    reason: Option<&str>,
    message: &str,
    client_id: &str,
    correlation_id: &str,
) -> Value {
    let mut v = json!({
        "channelId": channel_id,
        "correlationId": correlation_id,
        "organizationId": world.org_id,
        "oauthClientId": client_id,
        "message": message,
        "data": {},
    });
    if let Some(k) = kind {
        v["systemTopicType"] = json!(k);
    }
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    v
}

/// REST presence definition reference (legacy casing).
fn rest_definition(def: &PresenceDef) -> Value {
    json!({ "id": def.id, "systemPresence": def.legacy, "selfUri": format!("/api/v2/presencedefinitions/{}", def.id) })
}

/// `UserPresence` (`GET /users/{id}/presences/purecloud`, `expand=presence`).
pub(crate) fn user_presence(agent: &Agent) -> Value {
    json!({
        "source": "PURECLOUD",
        "presenceDefinition": rest_definition(agent.def()),
        "message": agent.presence_message,
        "modifiedDate": iso(agent.presence_ms),
        "primary": true,
        "selfUri": format!("/api/v2/users/{}/presences/purecloud", agent.id),
    })
}

/// `UcUserPresence` element of the bulk presence array (samples/presences.bulk.response.json).
pub(crate) fn uc_user_presence(agent: &Agent) -> Value {
    json!({
        "userId": agent.id,
        "source": "PURECLOUD",
        "sourceId": "PURECLOUD",
        "presenceDefinition": rest_definition(agent.def()),
        "message": agent.presence_message,
        "modifiedDate": iso(agent.presence_ms),
        "selfUri": format!("/api/v2/users/{}/presences", agent.id),
    })
}

/// `RoutingStatus` REST entity.
pub(crate) fn rest_routing_status(agent: &Agent) -> Value {
    json!({ "userId": agent.id, "status": agent.routing, "startTime": iso(agent.routing_ms) })
}

/// `UserConversationSummary` (`expand=conversationSummary`).
pub(crate) fn conversation_summary(agent: &Agent) -> Value {
    let mut v = json!({ "userId": agent.id });
    for m in crate::model::Media::ALL {
        let (active, acw) = match &agent.conversation {
            Some(c) if c.media == m => match c.phase {
                Phase::Alerting | Phase::Connected => (1, 0),
                Phase::AfterCallWork => (0, 1),
                Phase::Done => (0, 0),
            },
            _ => (0, 0),
        };
        v[m.name()] = json!({
            "contactCenter": { "active": active, "acw": acw },
            "enterprise": { "active": 0, "acw": 0 },
        });
    }
    v
}

/// Which expansions a `GET /users` style request asked for (already cleared when `drop_expand`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Expand {
    pub presence: bool,
    pub routing_status: bool,
    pub conversation_summary: bool,
    pub out_of_office: bool,
}

/// `User` entity with the requested expansions.
pub(crate) fn user(world: &World, agent: &Agent, expand: Expand) -> Value {
    let mut v = json!({
        "id": agent.id,
        "name": agent.name,
        "division": { "id": world.division_id, "name": "Home", "selfUri": format!("/api/v2/authorization/divisions/{}", world.division_id) },
        "chat": { "jabberId": format!("{}@sim.orgspan.com", agent.id) },
        "email": agent.email,
        "primaryContactInfo": [{ "address": agent.email, "mediaType": "EMAIL", "type": "PRIMARY" }],
        "addresses": [],
        "state": "active",
        "username": agent.email,
        "version": 3,
        "acdAutoAnswer": false,
        "selfUri": format!("/api/v2/users/{}", agent.id),
    });
    if expand.presence {
        v["presence"] = user_presence(agent);
    }
    if expand.routing_status {
        v["routingStatus"] = rest_routing_status(agent);
    }
    if expand.conversation_summary {
        v["conversationSummary"] = conversation_summary(agent);
    }
    if expand.out_of_office {
        v["outOfOffice"] = out_of_office(agent);
    }
    v
}

/// `OutOfOffice` (`GET /api/v2/users/{id}/outofoffice`, and the users page's `outOfOffice`
/// expand): the REST model carries no modifiedDate.
pub(crate) fn out_of_office(agent: &Agent) -> Value {
    json!({
        "id": format!("{}-ooo", agent.id),
        "user": { "id": agent.id, "selfUri": format!("/api/v2/users/{}", agent.id) },
        "active": agent.out_of_office,
        "indefinite": false,
        "selfUri": format!("/api/v2/users/{}/outofoffice", agent.id),
    })
}

/// `QueueMember` (samples/queue.members.page.json).
pub(crate) fn queue_member(q: &Queue, agent: &Agent) -> Value {
    json!({
        "id": agent.id,
        "name": agent.name,
        "user": { "id": agent.id, "name": agent.name, "selfUri": format!("/api/v2/users/{}", agent.id) },
        "ringNumber": 1,
        "joined": true,
        "memberBy": "user",
        "routingStatus": { "userId": agent.id, "status": agent.routing, "startTime": iso(agent.routing_ms) },
        "selfUri": format!("/api/v2/routing/queues/{}/members/{}", q.id, agent.id),
    })
}

/// `Queue` entity.
pub(crate) fn queue(world: &World, q: &Queue) -> Value {
    let n = q.members.len();
    json!({
        "id": q.id,
        "name": q.name,
        "division": { "id": world.division_id, "name": "Home" },
        "memberCount": n,
        "userMemberCount": n,
        "joinedMemberCount": n,
        "mediaSettings": { "call": { "alertingTimeoutSeconds": 8, "serviceLevel": { "percentage": SERVICE_LEVEL_TARGET_RATIO, "durationMs": SERVICE_LEVEL_TARGET_MS } } },
        "acwSettings": { "wrapupPrompt": "MANDATORY_TIMEOUT", "timeoutMs": 60_000 },
        "skillEvaluationMethod": "BEST",
        "selfUri": format!("/api/v2/routing/queues/{}", q.id),
    })
}

/// Legacy `/api/v2/presencedefinitions` entity (TF-PD capture shape).
pub(crate) fn legacy_definition(def: &PresenceDef) -> Value {
    json!({
        "id": def.id,
        "languageLabels": { "en_US": def.label },
        "systemPresence": def.legacy,
        "deactivated": false,
        "primary": def.primary,
        "selfUri": format!("/api/v2/presencedefinitions/{}", def.id),
    })
}

/// New `/api/v2/presence/definitions` entity (`OrganizationPresenceDefinition`).
pub(crate) fn org_definition(world: &World, def: &PresenceDef) -> Value {
    json!({
        "id": def.id,
        "languageLabels": { "en_US": def.label },
        "systemPresence": def.camel(),
        "divisionId": world.division_id,
        "deactivated": false,
        "type": if def.primary { "System" } else { "User" },
        "selfUri": format!("/api/v2/presence/definitions/{}", def.id),
    })
}

/// `/api/v2/systempresences` array: one per distinct system presence.
pub(crate) fn system_presences() -> Value {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for def in PRESENCE_DEFS.iter().filter(|d| d.primary) {
        if !seen.contains(&def.legacy) {
            seen.push(def.legacy);
            let id = def.upper_snake();
            out.push(json!({ "id": id, "name": def.legacy, "selfUri": format!("/api/v2/systempresences/{id}") }));
        }
    }
    Value::Array(out)
}
