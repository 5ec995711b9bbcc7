//! Conversations: a `Conversation` object (a `v2.users.{id}.conversations` notification's
//! `eventBody`, REST `GET /api/v2/conversations/{id}`) reduced to its id and the agent's own
//! participant, found while streaming `participants`, then the one rule set that makes the
//! agent's [`ConversationChange`] from it.
//!
//! Read by hand from the [`Reader`], not through serde's derive (issue 16): conversation frames
//! are two in five events and ~3 KB each, and the derived visitors cost ~280 instructions per
//! key. The reading accepts, refuses and keeps exactly what the derived shapes did (the same
//! grammar calls, the same duplicate-field and escape errors, in the same order; pinned by
//! `tests/decode_differential.rs`), with two savings: other participants' timestamps are
//! checked as strings but never parsed, and their sessions are not folded once their `userId`
//! says they are not the agent.

use super::super::json::LOOSE_LEN;
use super::super::json::{loose, need_id, read_id, read_stamp, read_text, JId, LazyStamp};
use super::super::reader::{Reader, Step};
use super::super::Rejected;
use crate::event::{ConversationChange, Id, Interaction, Media, Millis};

/// Longest session `state` compared (`disconnected` is 12).
const STATE_LEN: usize = 24;

/// A session `state`, compared loosely (case, spaces and underscores ignored).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum StateName {
    Alerting,
    Dialing,
    Connected,
    Parked,
    Disconnected,
    Other,
}

impl StateName {
    fn of(state: &str) -> StateName {
        let mut buf = [0; LOOSE_LEN];
        match loose(state, &mut buf).unwrap_or_default() {
            b"alerting" | b"offering" => StateName::Alerting,
            b"dialing" | b"contacting" => StateName::Dialing,
            b"connected" => StateName::Connected,
            b"parked" => StateName::Parked,
            b"disconnected" | b"terminated" => StateName::Disconnected,
            _ => StateName::Other,
        }
    }

    fn interaction(self, held: bool) -> Interaction {
        match self {
            StateName::Alerting => Interaction::Alerting,
            StateName::Dialing => Interaction::Dialing,
            StateName::Connected if held => Interaction::Held,
            StateName::Connected => Interaction::Connected,
            // A parked interaction is on hold, waiting to be picked up again.
            StateName::Parked => Interaction::Held,
            StateName::Disconnected => Interaction::Disconnected,
            StateName::Other => Interaction::None,
        }
    }
}

/// One media session (`calls[]`, `chats[]`, …) as received.
#[derive(Default)]
struct RawSession<'de> {
    state: Option<StateName>,
    held: Option<bool>,
    /// `startAlertingTime`, `connectedTime`, `startHoldTime`, `disconnectedTime`, `endTime`.
    stamps: [Option<LazyStamp<'de>>; 5],
}

const SESSION_STAMPS: [&str; 5] = [
    "startAlertingTime",
    "connectedTime",
    "startHoldTime",
    "disconnectedTime",
    "endTime",
];

fn session<'de>(r: &mut Reader<'de>) -> Step<RawSession<'de>> {
    let mut s = RawSession::default();
    r.object(|r, key, seen| {
        let stamp = match key {
            b"state" => {
                let state =
                    |r: &mut Reader<'de>| read_text::<STATE_LEN, _>(r, |t, _| StateName::of(t));
                s.state = r.field(seen, 1, "state", state)?;
                return Ok(Some(()));
            }
            b"held" => {
                s.held = r.field(seen, 2, "held", Reader::boolean)?;
                return Ok(Some(()));
            }
            b"startAlertingTime" => 0,
            b"connectedTime" => 1,
            b"startHoldTime" => 2,
            b"disconnectedTime" => 3,
            b"endTime" => 4,
            _ => return Ok(None),
        };
        s.stamps[stamp] = r.field(seen, 4 << stamp, SESSION_STAMPS[stamp], read_stamp)?;
        Ok(Some(()))
    })?;
    Ok(s)
}

/// A session reduced to what selection needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Session {
    interaction: Interaction,
    /// Newest of its timestamps (0 when it has none).
    newest: Millis,
}

impl Session {
    fn live(&self) -> bool {
        self.interaction != Interaction::Disconnected
    }

    /// Newest live session wins over any disconnected one; among equals the later in the
    /// stream wins (`>=`).
    fn at_least(&self, other: &Session) -> bool {
        (self.live(), self.newest) >= (other.live(), other.newest)
    }
}

/// One media array folded as it streams by: the selected session, the newest timestamp of
/// all its sessions, and whether any timestamp was invalid.
#[derive(Clone, Copy, Default, Debug)]
struct Sessions {
    best: Option<Session>,
    newest: Option<Millis>,
    bad_stamp: bool,
}

impl Sessions {
    fn add(&mut self, raw: &RawSession<'_>) {
        let mut newest = 0;
        for s in raw.stamps.iter().flatten() {
            match s.stamp().0 {
                Some(ms) => newest = newest.max(ms),
                None => self.bad_stamp = true,
            }
        }
        let state = raw.state.unwrap_or(StateName::Other);
        let session = Session {
            interaction: state.interaction(raw.held == Some(true)),
            newest,
        };
        self.newest = Some(self.newest.map_or(newest, |n| n.max(newest)));
        if self.best.is_none_or(|b| session.at_least(&b)) {
            self.best = Some(session);
        }
    }
}

/// One media array: every session read and checked; folded only when `fold` (the
/// participant may be the agent).
fn sessions(r: &mut Reader<'_>, fold: bool) -> Step<Sessions> {
    r.begin_array()?;
    let mut out = Sessions::default();
    let mut first = true;
    while r.next_element(&mut first)? {
        let raw = session(r)?;
        if fold {
            out.add(&raw);
        }
    }
    r.end_array()?;
    Ok(out)
}

/// The media arrays of a participant, in selection order, with the media each one is.
const MEDIA: [(&str, Media); 7] = [
    ("calls", Media::Call),
    ("callbacks", Media::Callback),
    ("chats", Media::Chat),
    ("emails", Media::Email),
    ("messages", Media::Message),
    ("videos", Media::Video),
    // Public social posts; social DMs arrive as `messages`.
    ("socialExpressions", Media::Other),
];

/// The participant-level stamps, all of which say when the participant last changed.
const PARTICIPANT_STAMPS: [&str; 5] = [
    "connectedTime",
    "startAlertingTime",
    "endTime",
    "startAcwTime",
    "endAcwTime",
];

/// A participant as received; only the agent's one is kept.
#[derive(Default)]
struct Participant<'de> {
    user_id: Option<JId>,
    wrapup_required: Option<bool>,
    /// `wrapup` present and not null: the agent has submitted wrap-up.
    wrapup: bool,
    stamps: [Option<LazyStamp<'de>>; 5],
    media: [Sessions; 7],
    /// Media arrays read before `userId` (byte ranges in the text): folded afterwards if the
    /// participant turns out to be the agent.
    unfolded: [Option<(usize, usize)>; 7],
}

/// Reads one participant into `p` (reset first; filled in place: a participant is ~600
/// bytes, and moving one per participant cost more than reading its keys, callgrind).
fn participant<'de>(r: &mut Reader<'de>, user: Id, p: &mut Participant<'de>) -> Step<()> {
    *p = Participant::default();
    r.object(|r, key, seen| {
        match key {
            b"userId" => p.user_id = r.field(seen, 1, "userId", read_id)?,
            b"wrapupRequired" => {
                p.wrapup_required = r.field(seen, 2, "wrapupRequired", Reader::boolean)?
            }
            b"wrapup" => p.wrapup = r.field(seen, 4, "wrapup", Reader::skip)?.is_some(),
            b"connectedTime" => stamp(r, seen, p, 0)?,
            b"startAlertingTime" => stamp(r, seen, p, 1)?,
            b"endTime" => stamp(r, seen, p, 2)?,
            b"startAcwTime" => stamp(r, seen, p, 3)?,
            b"endAcwTime" => stamp(r, seen, p, 4)?,
            b"calls" => media(r, seen, p, user, 0)?,
            b"callbacks" => media(r, seen, p, user, 1)?,
            b"chats" => media(r, seen, p, user, 2)?,
            b"emails" => media(r, seen, p, user, 3)?,
            b"messages" => media(r, seen, p, user, 4)?,
            b"videos" => media(r, seen, p, user, 5)?,
            b"socialExpressions" => media(r, seen, p, user, 6)?,
            _ => return Ok(None),
        }
        Ok(Some(()))
    })?;
    if p.user_id == Some(JId(Some(user))) {
        // The agent's `userId` came after some of its media: fold them now (they were read
        // once already, so reading them again cannot fail).
        for (sessions_i, range) in p.media.iter_mut().zip(p.unfolded) {
            if let Some((start, end)) = range {
                let mut again = Reader::new(r.text().get(start..end).unwrap_or_default(), 0);
                *sessions_i = sessions(&mut again, true)?;
            }
        }
    }
    Ok(())
}

/// Participant stamp `i` (of [`PARTICIPANT_STAMPS`]).
fn stamp<'de>(r: &mut Reader<'de>, seen: &mut u16, p: &mut Participant<'de>, i: usize) -> Step<()> {
    p.stamps[i] = r.field(seen, 8 << i, PARTICIPANT_STAMPS[i], read_stamp)?;
    Ok(())
}

/// Media array `i` (of [`MEDIA`]): folded when the participant's `userId`, read already, is
/// the agent's; before `userId` (or without it: customers, queues), read and its range kept.
fn media(
    r: &mut Reader<'_>,
    seen: &mut u16,
    p: &mut Participant<'_>,
    user: Id,
    i: usize,
) -> Step<()> {
    r.once(seen, 256 << i, MEDIA[i].0)?;
    r.colon()?;
    r.whitespace();
    let start = r.pos();
    p.media[i] = sessions(r, p.user_id == Some(JId(Some(user))))?;
    if p.user_id.is_none() {
        p.unfolded[i] = Some((start, r.pos()));
    }
    Ok(())
}

/// Streams `participants`, keeping the last one whose `userId` is `user`.
fn participants<'de>(r: &mut Reader<'de>, user: Id) -> Step<Option<Participant<'de>>> {
    r.begin_array()?;
    let mut agent = None;
    let mut p = Participant::default();
    let mut first = true;
    while r.next_element(&mut first)? {
        participant(r, user, &mut p)?;
        if p.user_id == Some(JId(Some(user))) {
            agent = Some(core::mem::take(&mut p));
        }
    }
    r.end_array()?;
    Ok(agent)
}

/// A `Conversation` reduced to its id and the agent's participant.
pub(crate) struct ConvBody<'de> {
    id: Option<JId>,
    agent: Option<Participant<'de>>,
}

/// Reads the `Conversation` object `r` is at, keeping `user`'s participant. An `id` or
/// `participants` met twice is read again (the later `id` wins; a later `participants`
/// without the agent keeps the earlier one's).
pub(crate) fn read<'de>(r: &mut Reader<'de>, user: Id) -> Step<ConvBody<'de>> {
    r.begin_object()?;
    let mut body = ConvBody {
        id: None,
        agent: None,
    };
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        r.colon()?;
        match key {
            b"id" => body.id = Some(read_id(r)?),
            b"participants" => {
                if let Some(p) = participants(r, user)? {
                    body.agent = Some(p);
                }
            }
            _ => r.skip()?,
        }
    }
    r.end_object()?;
    Ok(body)
}

/// JSON paths named in rejections, per place a `Conversation` appears.
pub(crate) struct ConvPaths {
    pub id: &'static str,
    pub participant: &'static str,
    pub session: &'static str,
}

/// Builds the agent's [`ConversationChange`] from a `Conversation` (the one rule set for
/// notifications and REST).
pub(crate) fn conversation_change(
    user: Id,
    b: ConvBody<'_>,
    paths: &ConvPaths,
) -> Result<ConversationChange, Rejected> {
    let conversation = need_id(b.id, paths.id)?;
    let p = b.agent.ok_or(Rejected::MissingField(paths.participant))?;

    let mut changed = 0;
    for s in p.stamps.iter().flatten() {
        changed = changed.max(
            s.stamp()
                .0
                .ok_or(Rejected::BadTimestamp(paths.participant))?,
        );
    }

    let mut chosen: Option<(Media, Session)> = None;
    for ((_, media), sessions) in MEDIA.iter().zip(p.media.iter()) {
        if sessions.bad_stamp {
            return Err(Rejected::BadTimestamp(paths.session));
        }
        changed = changed.max(sessions.newest.unwrap_or(0));
        if let Some(best) = sessions.best {
            if chosen.is_none_or(|(_, c)| best.at_least(&c)) {
                chosen = Some((*media, best));
            }
        }
    }

    let (media, interaction) = chosen.map_or((Media::None, Interaction::None), |(m, s)| {
        (m, s.interaction)
    });
    let disconnected = interaction == Interaction::Disconnected;
    let wrapup = disconnected && p.wrapup_required == Some(true) && !p.wrapup;
    Ok(ConversationChange {
        user,
        conversation,
        media,
        interaction,
        wrapup,
        ended: disconnected && !wrapup,
        changed,
    })
}
