//! Commands sent to the gateway over MQTT (`{base}/gateway/cmd`) and their answers
//! (`{base}/gateway/reply[/{token}]`): the JSON format, its bounded parsing (serde-json-core
//! into borrowed fields, no allocation before validation) and the answer document. The
//! publisher executes a parsed [`Command`]; nothing here touches the table or the broker.
//!
//! ```text
//! {"op":"republish","scope":"all"}
//! {"op":"republish","scope":"zone","zone":"floor-1"}
//! {"op":"republish","scope":"agent","id":"<userId>","reply":"t42"}
//! {"op":"republish","scope":"queue","id":"<queueId>"}
//! ```

use serde::{Deserialize, Serialize};

use crate::event::Id;

/// Largest command payload accepted; longer ones are refused unread.
pub const MAX_COMMAND_BYTES: usize = 512;

/// Longest reply token (`[A-Za-z0-9_-]`, it becomes an MQTT topic level).
pub const REPLY_TOKEN_MAX: usize = 64;

/// What to republish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every key of every zone, names, rosters and heatmaps.
    All,
    /// Every key of one zone (by name), its names, roster and heatmap.
    Zone(String),
    /// One agent, in each of its zones.
    Agent(Id),
    /// One queue, in each of its zones.
    Queue(Id),
}

impl Scope {
    /// The scope's name in answers.
    pub fn label(&self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Zone(_) => "zone",
            Scope::Agent(_) => "agent",
            Scope::Queue(_) => "queue",
        }
    }
}

/// A valid command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// What to republish.
    pub scope: Scope,
    /// Reply token, when the sender gave one.
    pub reply: Option<String>,
}

/// Why a command was refused (sent back as the answer's `error`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Longer than [`MAX_COMMAND_BYTES`].
    #[error("command is {0} bytes, the limit is 512")]
    TooLarge(usize),
    /// Not a JSON object of the documented fields.
    #[error("not a JSON command object")]
    Json,
    /// `op` missing or not `republish`.
    #[error("unknown op (the only op is \"republish\")")]
    UnknownOp,
    /// `scope` missing or unknown.
    #[error("unknown scope (all, zone, agent, queue)")]
    UnknownScope,
    /// Scope `zone` without a zone name.
    #[error("scope zone needs \"zone\"")]
    MissingZone,
    /// The zone is not configured.
    #[error("no such zone")]
    UnknownZone,
    /// Scope `agent`/`queue` without a valid id.
    #[error("\"id\" must be a Genesys id (UUID)")]
    BadId,
    /// The agent or queue is not in the table.
    #[error("no such key")]
    UnknownKey,
    /// The reply token is not `[A-Za-z0-9_-]{1,64}`.
    #[error("reply token must be 1-64 of [A-Za-z0-9_-]")]
    BadReply,
    /// A command is already being executed and the queue is full.
    #[error("busy")]
    Busy,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    op: Option<&'a str>,
    #[serde(borrow)]
    scope: Option<&'a str>,
    #[serde(borrow)]
    zone: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a str>,
    #[serde(borrow)]
    reply: Option<&'a str>,
}

fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= REPLY_TOKEN_MAX
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a command payload. On error the reply token is returned too when it could be
/// read and is valid, so the refusal can be answered where the sender listens.
pub fn parse(payload: &[u8]) -> Result<Command, (CommandError, Option<String>)> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err((CommandError::TooLarge(payload.len()), None));
    }
    let text = std::str::from_utf8(payload).map_err(|_| (CommandError::Json, None))?;
    let (raw, _) =
        serde_json_core::from_str::<Raw<'_>>(text).map_err(|_| (CommandError::Json, None))?;
    let reply = match raw.reply {
        Some(t) if valid_token(t) => Some(t.to_string()),
        Some(_) => return Err((CommandError::BadReply, None)),
        None => None,
    };
    let fail = |e| Err((e, reply.clone()));
    if raw.op != Some("republish") {
        return fail(CommandError::UnknownOp);
    }
    let id = || raw.id.and_then(Id::parse);
    let scope = match raw.scope {
        Some("all") => Scope::All,
        Some("zone") => match raw.zone {
            Some(z) if !z.is_empty() => Scope::Zone(z.to_string()),
            _ => return fail(CommandError::MissingZone),
        },
        Some("agent") => match id() {
            Some(id) => Scope::Agent(id),
            None => return fail(CommandError::BadId),
        },
        Some("queue") => match id() {
            Some(id) => Scope::Queue(id),
            None => return fail(CommandError::BadId),
        },
        _ => return fail(CommandError::UnknownScope),
    };
    Ok(Command { scope, reply })
}

/// The answer document.
#[derive(Serialize, Debug)]
pub struct Answer<'a> {
    /// The sender's token.
    pub reply: Option<&'a str>,
    /// Executed.
    pub ok: bool,
    /// Always `republish` when ok.
    pub op: &'a str,
    /// The scope's label.
    pub scope: Option<&'a str>,
    /// Keys republished.
    pub keys: u32,
    /// Frames handed to the broker connection for this command.
    pub frames: u32,
    /// Time from receipt to the answer, µs.
    pub took_us: u32,
    /// Why it was refused.
    pub error: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";

    #[test]
    fn every_scope_parses() {
        let c = parse(br#"{"op":"republish","scope":"all"}"#).unwrap();
        assert_eq!(c.scope, Scope::All);
        assert_eq!(c.reply, None);
        let c =
            parse(br#"{"op":"republish","scope":"zone","zone":"floor-1","reply":"t_1"}"#).unwrap();
        assert_eq!(c.scope, Scope::Zone("floor-1".into()));
        assert_eq!(c.reply.as_deref(), Some("t_1"));
        let agent = format!(r#"{{"op":"republish","scope":"agent","id":"{ID}"}}"#);
        assert_eq!(
            parse(agent.as_bytes()).unwrap().scope,
            Scope::Agent(Id::parse(ID).unwrap())
        );
        let queue = format!(r#"{{"scope":"queue","id":"{ID}","op":"republish","extra":[1,{{}}]}}"#);
        assert_eq!(
            parse(queue.as_bytes()).unwrap().scope,
            Scope::Queue(Id::parse(ID).unwrap())
        );
    }

    #[test]
    fn refusals_name_the_problem_and_keep_the_token() {
        let err = |p: &[u8]| parse(p).unwrap_err();
        assert_eq!(err(b"").0, CommandError::Json);
        assert_eq!(err(b"\xff\xfe").0, CommandError::Json);
        assert_eq!(err(b"[1,2]").0, CommandError::Json);
        assert_eq!(
            err(&[b' '; MAX_COMMAND_BYTES + 1]).0,
            CommandError::TooLarge(MAX_COMMAND_BYTES + 1)
        );
        assert_eq!(
            err(br#"{"op":"reboot","reply":"x"}"#),
            (CommandError::UnknownOp, Some("x".into()))
        );
        assert_eq!(
            err(br#"{"op":"republish","scope":"planet"}"#).0,
            CommandError::UnknownScope
        );
        assert_eq!(
            err(br#"{"op":"republish","scope":"zone"}"#).0,
            CommandError::MissingZone
        );
        assert_eq!(
            err(br#"{"op":"republish","scope":"agent","id":"nope"}"#).0,
            CommandError::BadId
        );
        assert_eq!(
            err(br#"{"op":"republish","scope":"all","reply":"a/b"}"#).0,
            CommandError::BadReply
        );
        let long = format!(
            r#"{{"op":"republish","scope":"all","reply":"{}"}}"#,
            "a".repeat(65)
        );
        assert_eq!(err(long.as_bytes()).0, CommandError::BadReply);
        // Deep nesting in an ignored field is refused or skipped, never a panic.
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        let _ = parse(deep.as_bytes());
    }
}
