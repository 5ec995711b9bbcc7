//! The user topics' bodies (`presence`, `routingStatus`, `activity`), read by hand from the
//! [`Reader`] into the shapes `ws` declares (issue 16: activity frames are half the events, and
//! serde's derived visitors cost more than the bytes). Each reader accepts, refuses and keeps
//! exactly what the derived `Deserialize` of the same shape does (the same grammar calls, the
//! same duplicate-field and escape errors, in the same order; pinned by
//! `tests/decode_differential.rs`); REST's user expands keep the derive.

use super::super::json::{read_id, read_presence, read_routing, read_stamp};
use super::super::reader::{Reader, Step};
use super::{ActivityBody, OutOfOfficeBody, PresenceBody, PresenceDef, RoutingObj};

/// `{presenceDefinition{id, systemPresence}, modifiedDate}`.
pub(super) fn presence(r: &mut Reader<'_>) -> Step<PresenceBody> {
    let mut b = PresenceBody {
        presence_definition: None,
        modified_date: None,
    };
    r.object(|r, key, seen| {
        match key {
            b"presenceDefinition" => {
                b.presence_definition = r.field(seen, 1, "presenceDefinition", definition)?
            }
            b"modifiedDate" => {
                b.modified_date =
                    r.field(seen, 2, "modifiedDate", |r| Ok(read_stamp(r)?.stamp()))?
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    Ok(b)
}

fn definition(r: &mut Reader<'_>) -> Step<PresenceDef> {
    let mut d = PresenceDef {
        id: None,
        system_presence: None,
    };
    r.object(|r, key, seen| {
        match key {
            b"id" => d.id = r.field(seen, 1, "id", read_id)?,
            b"systemPresence" => {
                d.system_presence = r.field(seen, 2, "systemPresence", read_presence)?
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    Ok(d)
}

/// `{status, startTime}`.
pub(super) fn routing(r: &mut Reader<'_>) -> Step<RoutingObj> {
    let mut o = RoutingObj {
        status: None,
        start_time: None,
    };
    r.object(|r, key, seen| {
        match key {
            b"status" => o.status = r.field(seen, 1, "status", read_routing)?,
            b"startTime" => {
                o.start_time = r.field(seen, 2, "startTime", |r| Ok(read_stamp(r)?.stamp()))?
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    Ok(o)
}

/// The routing topic's body: `{routingStatus}`.
pub(super) fn routing_body(r: &mut Reader<'_>) -> Step<Option<RoutingObj>> {
    let mut status = None;
    r.object(|r, key, seen| {
        if key != b"routingStatus" {
            return Ok(None);
        }
        status = r.field(seen, 1, "routingStatus", routing)?;
        Ok(Some(()))
    })?;
    Ok(status)
}

/// `{active, modifiedDate}`.
fn out_of_office(r: &mut Reader<'_>) -> Step<OutOfOfficeBody> {
    let mut o = OutOfOfficeBody {
        active: None,
        modified_date: None,
    };
    r.object(|r, key, seen| {
        match key {
            b"active" => o.active = r.field(seen, 1, "active", Reader::boolean)?,
            b"modifiedDate" => {
                o.modified_date =
                    r.field(seen, 2, "modifiedDate", |r| Ok(read_stamp(r)?.stamp()))?
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    Ok(o)
}

/// The activity topic's body: `{routingStatus, presence, outOfOffice}`.
pub(super) fn activity(r: &mut Reader<'_>) -> Step<ActivityBody> {
    let mut b = ActivityBody {
        routing_status: None,
        presence: None,
        out_of_office: None,
    };
    r.object(|r, key, seen| {
        match key {
            b"routingStatus" => b.routing_status = r.field(seen, 1, "routingStatus", routing)?,
            b"presence" => b.presence = r.field(seen, 2, "presence", presence)?,
            b"outOfOffice" => b.out_of_office = r.field(seen, 4, "outOfOffice", out_of_office)?,
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    Ok(b)
}
