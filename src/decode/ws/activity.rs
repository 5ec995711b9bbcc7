//! The user topics' bodies (`presence`, `routingStatus`, `activity`), read by hand from the
//! [`Reader`] into the shapes `ws` declares (issue 16: activity frames are half the events, and
//! serde's derived visitors cost more than the bytes). Each reader accepts, refuses and keeps
//! exactly what the derived `Deserialize` of the same shape does (the same grammar calls, the
//! same duplicate-field and escape errors, in the same order; pinned by
//! `tests/decode_differential.rs`); REST's user expands keep the derive.

use super::super::json::{read_id, read_presence, read_routing, read_stamp};
use super::super::reader::{Reader, Step};
use super::{ActivityBody, OutOfOfficeBody, PresenceBody, PresenceDef, RoutingObj};

/// Reads the object `r` is at: `field` is called with each key (raw bytes) and the bit set of
/// fields seen so far, and says how it read the value, or `None` for a key it does not keep
/// (skipped).
fn object<'de>(
    r: &mut Reader<'de>,
    mut field: impl FnMut(&mut Reader<'de>, &[u8], &mut u16) -> Step<Option<()>>,
) -> Step<()> {
    r.begin_object()?;
    let (mut seen, mut first) = (0u16, true);
    while let Some(key) = r.next_key(&mut first)? {
        if field(r, key, &mut seen)?.is_none() {
            r.colon()?;
            r.skip()?;
        }
    }
    r.end_object()
}

/// `{presenceDefinition{id, systemPresence}, modifiedDate}`.
pub(super) fn presence(r: &mut Reader<'_>) -> Step<PresenceBody> {
    let mut b = PresenceBody {
        presence_definition: None,
        modified_date: None,
    };
    object(r, |r, key, seen| {
        match key {
            b"presenceDefinition" => {
                r.once(seen, 1, "presenceDefinition")?;
                r.colon()?;
                b.presence_definition = r.opt(definition)?;
            }
            b"modifiedDate" => {
                r.once(seen, 2, "modifiedDate")?;
                r.colon()?;
                b.modified_date = r.opt(|r| Ok(read_stamp(r)?.stamp()))?;
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
    object(r, |r, key, seen| {
        match key {
            b"id" => {
                r.once(seen, 1, "id")?;
                r.colon()?;
                d.id = r.opt(read_id)?;
            }
            b"systemPresence" => {
                r.once(seen, 2, "systemPresence")?;
                r.colon()?;
                d.system_presence = r.opt(read_presence)?;
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
    object(r, |r, key, seen| {
        match key {
            b"status" => {
                r.once(seen, 1, "status")?;
                r.colon()?;
                o.status = r.opt(read_routing)?;
            }
            b"startTime" => {
                r.once(seen, 2, "startTime")?;
                r.colon()?;
                o.start_time = r.opt(|r| Ok(read_stamp(r)?.stamp()))?;
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
    object(r, |r, key, seen| {
        if key != b"routingStatus" {
            return Ok(None);
        }
        r.once(seen, 1, "routingStatus")?;
        r.colon()?;
        status = r.opt(routing)?;
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
    object(r, |r, key, seen| {
        match key {
            b"active" => {
                r.once(seen, 1, "active")?;
                r.colon()?;
                o.active = r.opt(Reader::boolean)?;
            }
            b"modifiedDate" => {
                r.once(seen, 2, "modifiedDate")?;
                r.colon()?;
                o.modified_date = r.opt(|r| Ok(read_stamp(r)?.stamp()))?;
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
    object(r, |r, key, seen| {
        match key {
            b"routingStatus" => {
                r.once(seen, 1, "routingStatus")?;
                r.colon()?;
                b.routing_status = r.opt(routing)?;
            }
            b"presence" => {
                r.once(seen, 2, "presence")?;
                r.colon()?;
                b.presence = r.opt(presence)?;
            }
            b"outOfOffice" => {
                r.once(seen, 4, "outOfOffice")?;
                r.colon()?;
                b.out_of_office = r.opt(out_of_office)?;
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    Ok(b)
}
