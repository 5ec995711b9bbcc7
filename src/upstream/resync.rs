//! The REST resync after every (re)connect: presence, routing status and conversation summary
//! per users page (what a best-effort expand left out, the long way), open conversations of
//! busy agents, queue observations; then a durability point ([`Checkpoints`]) so a completed
//! resync is on disk before it is reported done.

use super::*;
use crate::decode::rest::ConversationSummary;
use crate::event::QueueAggregate;

/// Users per bulk presence request: as many as one bulk answer can carry (Genesys' limit).
pub(super) const BULK_PRESENCE_IDS: usize = crate::limits::MAX_BULK;

/// Users per `GET /api/v2/users?id=…` page (and conversations per details-query page): as
/// many as the decoder's fixed page holds.
pub(super) const USERS_PER_PAGE: usize = crate::limits::MAX_PAGE;

/// How far back the conversation resync looks for conversations still open (a long
/// email or a forgotten wrap-up can be hours old).
pub(super) const CONVERSATION_LOOKBACK_MS: u64 = 24 * 3_600_000;

/// Pages of one conversation details query read at most (100 conversations each).
pub(super) const MAX_CONVERSATION_PAGES: u32 = 10;

/// Rounds of (summary, details query) for an agent whose summary counts a conversation the
/// index has not shown yet, 1, 2, 4 s apart.
pub(super) const UNINDEXED_TRIES: u32 = 4;

/// A busy agent as the users page showed it: live state the details index is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Busy {
    /// The agent.
    pub id: Id,
    /// Its conversation summary (`expand=conversationSummary`), when the expand came back.
    pub summary: Option<ConversationSummary>,
    /// `startTime` of its routing status (`expand=routingStatus`), 0 when not returned. Routing
    /// status moves when a conversation is offered or wrapped up, so one newer than everything
    /// the index shows of the agent means the index has missed a conversation.
    pub routing_since: Ms,
    /// Whether its routing status says it is on an ACD interaction (ringing, connected or in
    /// after-call work), when known. Without a summary this alone tells an agent the index
    /// has nothing for yet from an idle one.
    pub interacting: Option<bool>,
}

impl Busy {
    /// `id` with what a users page (or a routing status read) said of it.
    fn new(
        id: Id,
        summary: Option<ConversationSummary>,
        routing: Option<crate::event::RoutingChange>,
    ) -> Busy {
        Busy {
            id,
            summary,
            routing_since: routing.map_or(0, |r| r.started),
            interacting: routing.map(interacting),
        }
    }
}

/// Whether a routing status is "on an ACD interaction".
fn interacting(r: crate::event::RoutingChange) -> bool {
    r.routing == crate::event::Routing::Interacting
}

/// What the resync made of one busy agent's conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settled {
    /// Its open conversations were sent.
    Busy,
    /// No open conversation: cleared.
    Idle,
    /// Its summary counts one the index has not shown yet: asked again.
    Unindexed,
}

/// Queues per observations query: as many results as one answer can carry.
pub(super) const QUEUES_PER_QUERY: usize = crate::limits::MAX_QUEUE_RESULTS;

/// How long a resync waits for the state stage to flush what it read (a hung disk must not
/// hold the upstream stage: past this, the resync is reported with its durability unknown).
pub(super) const CHECKPOINT_WAIT: Duration = Duration::from_secs(10);

/// A failed resync is tried again after this long (on the session's clock), doubling up to
/// [`RESYNC_RETRY_MAX`]: a step refused with 403/404 (a missing permission) is retried at a
/// slow pace, never in a loop.
pub(super) const RESYNC_RETRY_MIN: Duration = Duration::from_secs(60);

/// The longest pause between retries of a failing resync step.
pub(super) const RESYNC_RETRY_MAX: Duration = Duration::from_secs(900);

/// The steps of a resync. They are independent: one that fails (a 403 for a missing
/// permission, a 404, an endpoint that keeps failing) is skipped, counted, audited and named
/// in health, and the others complete; the floor shows what they read. Only a 401 (the token)
/// ends the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncStep {
    /// Users pages: presence, routing status and conversation summary (expands).
    Users,
    /// Routing status read one by one (what an expand left out).
    RoutingStatus,
    /// Presence in bulk (what an expand left out).
    Presence,
    /// Open conversations of busy agents (analytics details query, then reads).
    Conversations,
    /// Queue observations.
    Queues,
    /// Queue interval figures (offered, answered, abandoned, service level).
    QueueFigures,
    /// Out-of-office state read one by one (what an expand left out), after the resync, at
    /// spare budget (`Upstream::read_pending_out_of_office`).
    OutOfOffice,
}

impl ResyncStep {
    /// Every step, in the order a resync runs them (its bit in [`ResyncReport::failed`]).
    pub const ALL: [ResyncStep; 7] = [
        ResyncStep::Users,
        ResyncStep::RoutingStatus,
        ResyncStep::Presence,
        ResyncStep::Conversations,
        ResyncStep::Queues,
        ResyncStep::QueueFigures,
        ResyncStep::OutOfOffice,
    ];

    /// Name in health, metrics and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            ResyncStep::Users => "users",
            ResyncStep::RoutingStatus => "routing_status",
            ResyncStep::Presence => "presence",
            ResyncStep::Conversations => "conversations",
            ResyncStep::Queues => "queues",
            ResyncStep::QueueFigures => "queue_figures",
            ResyncStep::OutOfOffice => "out_of_office",
        }
    }

    /// The names of the steps whose bits are set in `failed`, in [`ResyncStep::ALL`] order
    /// (room for every step: a REST outage fails them all).
    pub fn names(failed: u64) -> heapless::Vec<&'static str, { ResyncStep::ALL.len() }> {
        let mut out = heapless::Vec::new();
        for s in ResyncStep::ALL {
            if failed & s.bit() != 0 {
                // One slot per step.
                let _ = out.push(s.name());
            }
        }
        out
    }

    pub(super) fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// Sets (`failing`) or clears `step`'s bit in the `resync_failing` gauge; true when that
/// changed it. (One writer: the upstream task.)
pub(super) fn mark_failing(m: &Metrics, step: ResyncStep, failing: bool) -> bool {
    let was = m.upstream.resync_failing.get();
    let now = if failing {
        was | step.bit()
    } else {
        was & !step.bit()
    };
    m.upstream.resync_failing.set(now);
    now != was
}

/// What a resync could not read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResyncReport {
    /// Steps that failed (bits of [`ResyncStep`]); 0 = complete.
    pub failed: u64,
    /// Agents whose out-of-office state the users page left out (the expand is best effort):
    /// read one by one after the resync, at spare budget.
    pub out_of_office: Vec<Id>,
}

impl ResyncReport {
    /// True when every step completed.
    pub fn complete(&self) -> bool {
        self.failed == 0
    }
}

/// An error only a new session repairs (the token): every other failure of a step is skipped.
pub(super) fn fatal(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Rest {
            source: RestError::Unauthorized,
            ..
        }
    )
}

/// Durability points as upstream asks for them: the sequence of the last one sent and the
/// state stage's acknowledgements.
pub struct Checkpoints {
    sent: u64,
    acks: watch::Receiver<Durable>,
}

impl Checkpoints {
    /// Follows the state stage's acknowledgements.
    pub fn new(acks: watch::Receiver<Durable>) -> Checkpoints {
        Checkpoints { sent: 0, acks }
    }
}

impl Upstream {
    /// Sends a durability point after everything sent so far and waits (at most
    /// [`CHECKPOINT_WAIT`]) until the state stage has applied it all and flushed sled. None: no
    /// answer in time (or the state stage is gone).
    pub(super) async fn checkpoint(&mut self) -> Option<Durable> {
        self.checkpoints.sent += 1;
        let seq = self.checkpoints.sent;
        self.send(Update::Checkpoint(seq)).await;
        let acks = &mut self.checkpoints.acks;
        match tokio::time::timeout(CHECKPOINT_WAIT, acks.wait_for(|d| d.seq >= seq)).await {
            Ok(Ok(ack)) => Some(*ack),
            _ => None,
        }
    }

    /// Reads the open conversations of busy `agents` (each with its live conversation summary
    /// from the users page, when the expand came back) without a request per conversation:
    ///
    /// 1. One analytics details query per 100 agents lists their open conversations and the
    ///    state each one's segments show. The index lags the conversations by an undocumented
    ///    time (`docs/research/resync-sources.md` A1), so that state is provisional.
    /// 2. An agent whose summary counts exactly the active and after-call-work conversations
    ///    the index shows, each in a lasting state (connected, after-call work), and whose
    ///    routing status has not moved since the newest change the index shows of it, is taken
    ///    from the index: no read. Summary and routing status are current state, the index is
    ///    not: when the counts agree, the index has every transition between the counted kinds
    ///    (ringing → connected is not counted apart, so ringing ones are always read; so are
    ///    held and dialing ones, which the index may show late); and since an offer or a
    ///    wrap-up moves the routing status, a conversation that ended and another that began
    ///    inside the index's lag cannot pass for the old one.
    /// 3. Every other agent's conversations are read exactly (`GET /api/v2/conversations/{id}`).
    /// 4. An agent whose summary counts more open conversations than the reads found has one the
    ///    index has not shown yet: its summary and the index are asked again, 1, 2, 4 s apart;
    ///    after [`UNINDEXED_TRIES`] it is left as last known, counted in
    ///    `conversations_unindexed`, and the step is reported failed (retried later). It is
    ///    never cleared on the index's word. An agent without a summary (the expand is best
    ///    effort) whose routing status says it is on an interaction, or is unknown, is asked
    ///    about the same way when the index shows nothing open for it (found by
    ///    `without_summaries_an_agent_on_an_interaction_is_not_cleared_on_a_lagging_index`).
    ///
    /// Live events from the start of the resync on win over all of this (each change carries
    /// its newest participant timestamp, and the subscription was made first). What the index
    /// alone can still get wrong is a connected ↔ held change inside its lag, for an agent whose
    /// counts did not change; such a state is repaired by the conversation's next event.
    ///
    /// Agents left with no open conversation are cleared, stamped `began - 1`: one millisecond
    /// before the resync began (server time), which is after this session's topics were
    /// subscribed and its socket connected. Every conversation change from `began` on reaches
    /// the state stage as a live event stamped `began` or later, so the clear — a statement
    /// about the past, not a change — can never win against one, whatever the arrival order.
    /// What it must beat, a conversation whose end was missed while the gateway was away, was
    /// last seen on the old socket, before `began`. As exact as [`Rest::server_now_ms`].
    /// (Found as a flake of `hostile_frames_are_counted_and_survived`; regression test
    /// `resync_clear_never_beats_a_live_conversation` in `tests/e2e/faults.rs`.)
    ///
    /// Returns the agents still unresolved after the last try.
    pub(super) async fn resync_conversations(
        &mut self,
        agents: &[Busy],
        began: Ms,
    ) -> Result<usize, UpstreamError> {
        let mut pending: Vec<Busy> = agents.to_vec();
        let mut pause = Duration::from_secs(1);
        for attempt in 1..=UNINDEXED_TRIES {
            if attempt > 1 {
                tokio::time::sleep(pause).await;
                pause *= 2;
                // A fresh count: a conversation that ended meanwhile is not waited for.
                self.metrics.upstream.conversation_index_retries.inc();
                let ids: Vec<Id> = pending.iter().map(|b| b.id).collect();
                let fresh = self.summaries(&ids).await?;
                // An expand dropped this time does not forget what the last answer said
                // (`summaries` answers in the order asked).
                pending = fresh
                    .into_iter()
                    .zip(&pending)
                    .map(|(mut new, old)| {
                        if new.interacting.is_none() {
                            new.interacting = old.interacting;
                            new.routing_since = old.routing_since;
                        }
                        new
                    })
                    .collect();
            }
            let ids: Vec<Id> = pending.iter().map(|b| b.id).collect();
            let seen = self.indexed_conversations(&ids).await?;
            let mut again = Vec::new();
            let mut idle = Vec::new();
            for &agent in &pending {
                let mine: Vec<(ConversationChange, bool)> = seen
                    .iter()
                    .filter(|(c, _)| c.user == agent.id)
                    .copied()
                    .collect();
                match self.settle_agent(agent, mine).await? {
                    Settled::Busy => {}
                    Settled::Idle => idle.push(agent.id),
                    Settled::Unindexed => again.push(agent),
                }
            }
            self.clear_conversations(&idle, began).await;
            if again.is_empty() {
                return Ok(0);
            }
            pending = again;
        }
        Ok(pending.len())
    }

    /// The open conversations the details index shows for `users` (all pages), each with
    /// whether its state is a lasting one ([`decode::conversation_rest::Seen::settled`]).
    async fn indexed_conversations(
        &mut self,
        users: &[Id],
    ) -> Result<Vec<(ConversationChange, bool)>, UpstreamError> {
        // Server time: the query's interval is read against the server's clock.
        let sent = self.server_now_ms();
        let mut out = Vec::new();
        for page in 1..=MAX_CONVERSATION_PAGES {
            let body = self
                .rest()
                .post_json(
                    "/api/v2/analytics/conversations/details/query",
                    conversations_query(users, sent, page),
                )
                .await
                .what("conversation details")?;
            let res = decode::conversation_rest::conversation_details(&body)
                .map_err(|e| parse_err("conversation details", e))?;
            let got = res.hits.len() + res.dropped;
            for i in 0..res.hits.len() {
                if let (Some(c), Some(s)) = (res.change(i), res.states.get(i)) {
                    // Another participant of the same conversation is not ours.
                    if users.contains(&c.user) {
                        out.push((c, s.settled));
                    }
                }
            }
            let seen = usize::try_from(page).unwrap_or(usize::MAX) * USERS_PER_PAGE;
            if got == 0 || seen >= usize::try_from(res.total).unwrap_or(0) {
                break;
            }
        }
        Ok(out)
    }

    /// Fresh conversation summaries and routing status of `users` (users pages with those
    /// expands); a user the page left out, or whose expand was dropped, has none.
    async fn summaries(&mut self, users: &[Id]) -> Result<Vec<Busy>, UpstreamError> {
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(USERS_PER_PAGE) {
            let ids = join_ids(chunk, "&id=");
            let body = self
                .rest()
                .get(&format!(
                    "/api/v2/users?pageSize={USERS_PER_PAGE}&id={ids}&expand=routingStatus,conversationSummary"
                ))
                .await
                .what("users")?;
            let page = decode::rest::users_page(&body).map_err(|e| parse_err("users", e))?;
            for &id in chunk {
                let user = page.users.iter().find(|u| u.id == id);
                if let Some(r) = user.and_then(|u| u.routing) {
                    self.send(Update::Event(Event::Routing(r))).await;
                }
                out.push(Busy::new(
                    id,
                    user.and_then(|u| u.conversations),
                    user.and_then(|u| u.routing),
                ));
            }
        }
        Ok(out)
    }

    /// Decides one agent from what the index shows (`mine`) and its live summary: taken from
    /// the index, or read exactly; see [`Self::resync_conversations`].
    async fn settle_agent(
        &mut self,
        agent: Busy,
        mut mine: Vec<(ConversationChange, bool)>,
    ) -> Result<Settled, UpstreamError> {
        let (user, summary) = (agent.id, agent.summary);
        mine.sort_by_key(|(c, _)| c.changed);
        let newest = mine.iter().map(|(c, _)| c.changed).max().unwrap_or(0);
        let open = || mine.iter().filter(|(c, _)| !c.ended);
        let active = open().filter(|(c, _)| !c.wrapup).count();
        let acw = open().filter(|(c, _)| c.wrapup).count();
        let agrees = summary.is_some_and(|s| {
            usize::try_from(s.active).is_ok_and(|a| a == active)
                && usize::try_from(s.acw).is_ok_and(|w| w == acw)
        });
        let current = agent.routing_since != 0 && agent.routing_since <= newest;
        if agrees && current && active + acw > 0 && open().all(|(_, settled)| *settled) {
            for (c, _) in &mine {
                if !c.ended {
                    self.metrics.upstream.conversations_from_index.inc();
                }
                self.send(Update::Event(Event::Conversation(*c))).await;
            }
            return Ok(Settled::Busy);
        }
        let mut still_open: u32 = 0;
        for (c, settled) in &mine {
            if c.ended && *settled {
                // The agent left it (a transfer): nothing to read.
                self.send(Update::Event(Event::Conversation(*c))).await;
                continue;
            }
            let conversation = c.conversation;
            self.metrics.upstream.conversation_reads.inc();
            let body = match self
                .rest()
                .get(&format!("/api/v2/conversations/{conversation}"))
                .await
            {
                Ok(b) => b,
                // Gone between the query and the read: it ended.
                Err(RestError::Status { status: 404, .. }) => continue,
                Err(source) => {
                    return Err(UpstreamError::Rest {
                        what: "conversation",
                        source,
                    })
                }
            };
            match decode::conversation_rest::conversation(&body, user) {
                Ok(c) => {
                    if !c.ended {
                        still_open += 1;
                    }
                    self.send(Update::Event(Event::Conversation(c))).await;
                }
                Err(e) => tracing::warn!(%conversation, error = %e, "unreadable conversation"),
            }
        }
        match summary {
            Some(s) if s.active.saturating_add(s.acw) > still_open => Ok(Settled::Unindexed),
            _ if still_open > 0 => Ok(Settled::Busy),
            // No summary (the expand is best effort): the index showing nothing open proves
            // nothing while it lags; only a routing status known to be off any interaction
            // makes the agent idle. On one, or unknown: asked again, never cleared.
            None if agent.interacting != Some(false) => Ok(Settled::Unindexed),
            _ => Ok(Settled::Idle),
        }
    }

    /// Reads the current interval's figures (offered, answered, abandoned, service level) of
    /// `queues`, [`QUEUES_PER_QUERY`] per request, from the conversation aggregates query: the
    /// queue topic's aggregates do not carry `answered`, and a restart or a gap would
    /// otherwise leave every figure unknown until the queue's next aggregate event. A queue
    /// the answer leaves out had nothing in the interval: its figures are known zeros. Run
    /// by each resync and every `genesys.queue_figures_secs`.
    pub(super) async fn read_queue_figures(&mut self, queues: &[Id]) -> Result<(), UpstreamError> {
        let now = self.server_now_ms();
        let start = now - now % INTERVAL_MS;
        for chunk in queues.chunks(QUEUES_PER_QUERY) {
            let body = self
                .rest()
                .post_json(
                    "/api/v2/analytics/conversations/aggregates/query",
                    queue_figures_query(chunk, start),
                )
                .await
                .what("queue figures")?;
            // Off the future's state (it is held across the sends below): at most
            // QUEUES_PER_QUERY entries, on the heap.
            let read: Vec<QueueAggregate> = decode::rest::queue_aggregates(&body, start)
                .map_err(|e| parse_err("queue figures", e))?
                .into_iter()
                .collect();
            for &queue in chunk {
                let figures =
                    read.iter()
                        .find(|a| a.queue == queue)
                        .copied()
                        .unwrap_or(QueueAggregate {
                            queue,
                            interval_start: start,
                            interval_end: start + INTERVAL_MS,
                            offered: Some(0),
                            answered: Some(0),
                            abandoned: Some(0),
                            service_level_permille: None,
                        });
                self.send(Update::Event(Event::Aggregate(figures))).await;
            }
            self.metrics.upstream.queue_figure_reads.inc();
        }
        Ok(())
    }

    /// Tells the state stage that `users` have no open conversation, stamped `began - 1` (see
    /// [`Self::resync_conversations`] for why that stamp can never hide a live conversation).
    pub(super) async fn clear_conversations(&mut self, users: &[Id], began: Ms) {
        for &user in users {
            self.send(Update::Event(Event::Conversation(ConversationChange {
                user,
                conversation: Id::default(),
                media: Media::None,
                interaction: Interaction::None,
                wrapup: false,
                ended: true,
                changed: began.saturating_sub(1),
            })))
            .await;
        }
    }

    /// Reads the pending out-of-office states (`GET /api/v2/users/{id}/outofoffice`), a
    /// batch of at most [`OUT_OF_OFFICE_BATCH`], only while every client's REST budget has room
    /// (as the periodic figures read): the users page's `outOfOffice` expand is best effort,
    /// and without this read an agent whose state changed during a gap would keep the old one
    /// until its next change (found by `dropped_expands_still_bring_back_out_of_office`).
    ///
    /// The model has no `modifiedDate`: a read is stamped one millisecond before it was asked
    /// for (server time), so a live change made from then on wins whatever the arrival order.
    /// A failure (a missing permission, an endpoint down) counts as the `out_of_office` resync
    /// step failing (health `resync_failing`, audit), moves the agent to the back of the line
    /// and pauses the reads (1 min, doubling to 15, as a resync retry); the first success
    /// clears it. Only a 401 is an error.
    pub(super) async fn read_pending_out_of_office(
        &mut self,
        s: &mut Session,
    ) -> Result<(), UpstreamError> {
        let m = self.metrics.clone();
        // Agents no longer watched are not asked about.
        s.out_of_office.retain(|id| s.known.contains(id));
        for _ in 0..OUT_OF_OFFICE_BATCH {
            let Some(&id) = s.out_of_office.last() else {
                break;
            };
            if !self.spare_budget(1).await {
                s.out_of_office_at = self.clock.after(Duration::from_secs(1));
                m.upstream
                    .out_of_office_pending
                    .set(s.out_of_office.len() as u64);
                return Ok(());
            }
            let asked = self.server_now_ms().saturating_sub(1);
            let read = self
                .rest()
                .get(&format!("/api/v2/users/{id}/outofoffice"))
                .await
                .what("out of office")
                .and_then(|body| {
                    decode::rest::user_out_of_office(&body)
                        .map_err(|e| parse_err("out of office", e))
                })
                .and_then(|o| {
                    // The answer is about the agent asked for, or it is not believed.
                    if o.user == id {
                        Ok(o)
                    } else {
                        Err(parse_err(
                            "out of office",
                            format!("the answer is about user {}, not {id}", o.user),
                        ))
                    }
                });
            match read {
                Ok(mut o) => {
                    o.modified = asked;
                    s.out_of_office.pop();
                    m.upstream.out_of_office_reads.inc();
                    self.send(Update::Event(Event::Activity(None, None, Some(o))))
                        .await;
                }
                Err(e) if fatal(&e) => return Err(e),
                Err(e) => {
                    if mark_failing(&m, ResyncStep::OutOfOffice, true) {
                        m.upstream.resync_step_failures[ResyncStep::OutOfOffice as usize].inc();
                        self.audit.record(
                            "resync",
                            &format!("step out_of_office failed, retried later: {e}"),
                        );
                        tracing::warn!(error = %e, "out-of-office read failed: paused");
                    }
                    s.out_of_office.rotate_right(1);
                    let pause = s
                        .out_of_office_pause
                        .map_or(RESYNC_RETRY_MIN, |p| (p * 2).min(RESYNC_RETRY_MAX));
                    s.out_of_office_pause = Some(pause);
                    s.out_of_office_at = self.clock.after(pause);
                    m.upstream
                        .out_of_office_pending
                        .set(s.out_of_office.len() as u64);
                    return Ok(());
                }
            }
        }
        if s.out_of_office_pause.take().is_some() {
            mark_failing(&m, ResyncStep::OutOfOffice, false);
            self.audit
                .record("resync", "step out_of_office reads work again");
        }
        // The next batch at once: the select loop serves the other timers and notices first.
        s.out_of_office_at = self.clock.now_ms();
        m.upstream
            .out_of_office_pending
            .set(s.out_of_office.len() as u64);
        Ok(())
    }

    /// A step failed: fatal (401) ends the session; anything else is counted, audited and
    /// remembered in `report`, and the resync goes on without it.
    fn step_failed(
        &self,
        report: &mut ResyncReport,
        step: ResyncStep,
        e: UpstreamError,
    ) -> Result<(), UpstreamError> {
        if fatal(&e) {
            return Err(e);
        }
        if report.failed & step.bit() == 0 {
            report.failed |= step.bit();
            self.metrics.upstream.resync_step_failures[step as usize].inc();
            self.audit.record(
                "resync",
                &format!("step {} failed, skipped, retried later: {e}", step.name()),
            );
            tracing::warn!(step = step.name(), error = %e, "resync step failed: skipped");
        }
        Ok(())
    }

    /// Reads current presence, routing status, conversations and queue numbers over REST.
    /// Callers subscribe (and connect) first: changes from the start of the resync on arrive as
    /// live events too, ordered against these answers by source timestamps.
    ///
    /// One users page per 100 agents carries presence, routing status and the conversation
    /// summary and out-of-office (`expand=presence,routingStatus,conversationSummary,outOfOffice`).
    /// Expands are best effort
    /// upstream, so what a page left out is read the long way: presence in bulk (50 ids a
    /// request), routing status one by one, and an agent without a summary is treated as busy.
    /// Only busy agents (a summary with an active or after-call-work conversation) get the
    /// conversation details query and the conversation reads; idle ones are cleared without
    /// a request. An idle 10,000-agent site resyncs in ~105 requests instead of ~470.
    ///
    /// Read in priority order, each phase's duration in metrics and the audit line: presence
    /// and routing of every agent first (what a display shows most), then the queue numbers (a
    /// handful of requests), then the conversations (the costliest), then the out-of-office
    /// state the expand left out (one request per agent, a flag beside the presence).
    ///
    /// The steps are independent ([`ResyncStep`]): one that fails is skipped and named in the
    /// report (the caller retries later), the others complete. Only a 401 is an error.
    pub(super) async fn resync(&mut self, agents: &[Id]) -> Result<ResyncReport, UpstreamError> {
        // Server time, before the first request: see `resync_conversations`.
        let began = self.server_now_ms();
        let user_reqs = agents.len().div_ceil(USERS_PER_PAGE);
        // Observations and interval figures: one query each per QUEUES_PER_QUERY queues.
        let queue_reqs = 2 * self.watch.queues.len().div_ceil(QUEUES_PER_QUERY);
        let m = self.metrics.clone();
        let mut report = ResyncReport::default();
        // Planned requests; fallbacks and conversation queries are added once known.
        m.upstream.resync_total.set((user_reqs + queue_reqs) as u64);
        m.upstream.resync_done.set(0);
        let started = std::time::Instant::now();
        let progress = |m: &Metrics| {
            m.upstream.resync_done.inc();
            let done = m.upstream.resync_done.get();
            let total = m.upstream.resync_total.get();
            if done.is_multiple_of(20) || done == total {
                tracing::info!(done, total, "resync progress");
            }
        };
        let mut no_presence: Vec<Id> = Vec::new();
        let mut no_routing: Vec<Id> = Vec::new();
        let mut no_out_of_office: Vec<Id> = Vec::new();
        let mut busy: Vec<Busy> = Vec::new();
        let mut idle: Vec<Id> = Vec::new();
        for chunk in agents.chunks(USERS_PER_PAGE) {
            let ids = join_ids(chunk, "&id=");
            let page = match self
                .rest()
                .get(&format!(
                    "/api/v2/users?pageSize={USERS_PER_PAGE}&id={ids}&expand=presence,routingStatus,conversationSummary,outOfOffice"
                ))
                .await
                .what("users")
                .and_then(|body| {
                    decode::rest::users_page(&body).map_err(|e| parse_err("users", e))
                }) {
                Ok(page) => Some(page),
                Err(e) => {
                    // The page is lost: its agents are read the long way below.
                    self.step_failed(&mut report, ResyncStep::Users, e)?;
                    None
                }
            };
            let mut missing_routing: Vec<Id> = chunk.to_vec();
            let mut missing_presence: Vec<Id> = chunk.to_vec();
            let mut missing_out_of_office: Vec<Id> = chunk.to_vec();
            let mut summarized: Vec<Id> = Vec::new();
            for u in page
                .iter()
                .flat_map(|p| p.users.iter())
                .filter(|u| chunk.contains(&u.id))
            {
                if !u.name.is_empty() {
                    self.send(Update::Name {
                        user: u.id,
                        name: u.name.clone(),
                    })
                    .await;
                }
                if let Some(p) = u.presence {
                    self.send(Update::Event(Event::Presence(p))).await;
                    missing_presence.retain(|id| *id != u.id);
                }
                if let Some(r) = u.routing {
                    self.send(Update::Event(Event::Routing(r))).await;
                    missing_routing.retain(|id| *id != u.id);
                }
                if let Some(mut o) = u.out_of_office {
                    // The REST model has no modifiedDate: stamp it just before the resync
                    // began (as the conversation clear is), so it repairs what a gap missed
                    // and never beats a live change made while the resync runs.
                    if o.modified == 0 {
                        o.modified = began.saturating_sub(1);
                    }
                    self.send(Update::Event(Event::Activity(None, None, Some(o))))
                        .await;
                    missing_out_of_office.retain(|id| *id != u.id);
                }
                if let Some(c) = u.conversations {
                    summarized.push(u.id);
                    // Routing status says "on an ACD interaction" (ringing included): a
                    // summary of none is not believed. Genesys does not document whether a
                    // ringing conversation counts as active (docs/research/resync-sources.md A3).
                    let on_interaction = u.routing.is_some_and(interacting);
                    if c.active == 0 && c.acw == 0 && !on_interaction {
                        idle.push(u.id);
                    } else {
                        busy.push(Busy::new(u.id, Some(c), u.routing));
                    }
                }
            }
            // No summary (left out, or the user was not in the page): ask analytics, with the
            // routing status if the page had it (else read below).
            busy.extend(
                chunk
                    .iter()
                    .filter(|id| !summarized.contains(id))
                    .map(|id| {
                        let routing = page
                            .iter()
                            .flat_map(|p| p.users.iter())
                            .find(|u| u.id == *id)
                            .and_then(|u| u.routing);
                        Busy::new(*id, None, routing)
                    }),
            );
            no_routing.extend(missing_routing);
            no_presence.extend(missing_presence);
            no_out_of_office.extend(missing_out_of_office);
            progress(&m);
        }
        m.upstream.resync_total.set(
            m.upstream.resync_total.get()
                + (no_routing.len()
                    + no_presence.len().div_ceil(BULK_PRESENCE_IDS)
                    + busy.len().div_ceil(USERS_PER_PAGE)) as u64,
        );
        // `expand` is best effort upstream: read what it left out one by one.
        for id in no_routing {
            let read = self
                .rest()
                .get(&format!("/api/v2/users/{id}/routingstatus"))
                .await
                .what("routing status")
                .and_then(|body| {
                    decode::rest::routing_status(&body).map_err(|e| parse_err("routing status", e))
                });
            match read {
                Ok(r) => {
                    if let Some(b) = busy.iter_mut().find(|b| b.id == r.user) {
                        *b = Busy::new(b.id, b.summary, Some(r));
                    }
                    self.send(Update::Event(Event::Routing(r))).await;
                }
                Err(e) => {
                    self.step_failed(&mut report, ResyncStep::RoutingStatus, e)?;
                    break;
                }
            }
            progress(&m);
        }
        for chunk in no_presence.chunks(BULK_PRESENCE_IDS) {
            let ids = join_ids(chunk, ",");
            let read = self
                .rest()
                .get(&format!("/api/v2/users/presences/purecloud/bulk?id={ids}"))
                .await
                .what("bulk presence")
                .and_then(|body| {
                    decode::rest::bulk_presence(&body).map_err(|e| parse_err("bulk presence", e))
                });
            match read {
                Ok(list) => {
                    for p in list.iter() {
                        self.send(Update::Event(Event::Presence(*p))).await;
                    }
                }
                Err(e) => {
                    self.step_failed(&mut report, ResyncStep::Presence, e)?;
                    break;
                }
            }
            progress(&m);
        }
        // Phase 1 done: every agent's presence and routing status is on its way to the floor.
        let agents_ms = started.elapsed().as_millis() as u64;
        // Phase 2: queue numbers (a handful of requests), before the conversations, which
        // cost the most.
        for chunk in self.watch.queues.clone().chunks(QUEUES_PER_QUERY) {
            let preds: Vec<String> = chunk
                .iter()
                .map(|q| format!("{{\"type\":\"dimension\",\"dimension\":\"queueId\",\"operator\":\"matches\",\"value\":\"{q}\"}}"))
                .collect();
            let query = format!(
                "{{\"filter\":{{\"type\":\"or\",\"predicates\":[{}]}},\"metrics\":[\"oWaiting\",\"oInteracting\",\"oAlerting\",\"oOnQueueUsers\",\"oOffQueueUsers\",\"oLongestWaiting\"]}}",
                preds.join(",")
            );
            // Server time before the request: an answer without its own observation time is
            // stamped one millisecond before it was asked for. It reflects every change made
            // before then, and every change from then on also arrives live, stamped later, so
            // it wins whatever the arrival order. (Stamped when the answer was processed, a
            // burst of live changes made between the sim's answer and that moment was dropped
            // as older than the read: `heartbeats_stop_but_events_flow_then_silence_is_detected`
            // failed on it in CI once.)
            let asked = self.server_now_ms().saturating_sub(1);
            let read = self
                .rest()
                .post_json("/api/v2/analytics/queues/observations/query", query)
                .await
                .what("queue observations")
                .and_then(|body| {
                    decode::rest::observations_query(&body)
                        .map_err(|e| parse_err("queue observations", e))
                });
            let list = match read {
                Ok(list) => list,
                Err(e) => {
                    self.step_failed(&mut report, ResyncStep::Queues, e)?;
                    break;
                }
            };
            for o in list.iter() {
                let mut o = *o;
                if o.observed == 0 {
                    o.observed = asked;
                }
                self.send(Update::Event(Event::Observation(o))).await;
            }
            progress(&m);
        }
        let watched = self.watch.queues.clone();
        match Box::pin(self.read_queue_figures(&watched)).await {
            Ok(()) => (0..watched.len().div_ceil(QUEUES_PER_QUERY)).for_each(|_| progress(&m)),
            Err(e) => self.step_failed(&mut report, ResyncStep::QueueFigures, e)?,
        }
        let queues_ms = started.elapsed().as_millis() as u64 - agents_ms;
        // Phase 3: conversations (idle agents cleared without a request, busy ones read).
        self.clear_conversations(&idle, began).await;
        let (from_index, reads, retries) = (
            m.upstream.conversations_from_index.get(),
            m.upstream.conversation_reads.get(),
            m.upstream.conversation_index_retries.get(),
        );
        let mut unindexed = 0;
        for chunk in busy.chunks(USERS_PER_PAGE) {
            match Box::pin(self.resync_conversations(chunk, began)).await {
                Ok(n) => unindexed += n,
                Err(e) => {
                    // Their conversations stay as last known until a retry or a live event.
                    self.step_failed(&mut report, ResyncStep::Conversations, e)?;
                    break;
                }
            }
            progress(&m);
        }
        m.upstream.conversations_unindexed.set(unindexed as u64);
        if unindexed > 0 {
            self.step_failed(
                &mut report,
                ResyncStep::Conversations,
                UpstreamError::Unindexed { agents: unindexed },
            )?;
        }
        let conversations_ms = started.elapsed().as_millis() as u64 - agents_ms - queues_ms;
        // What the expand left out of the out-of-office state: read after the resync, one
        // agent a request at spare budget (a flag beside the presence: it delays nothing).
        report.out_of_office = no_out_of_office;
        let conversations = format!(
            "{} from index, {} read, {} retries",
            m.upstream.conversations_from_index.get() - from_index,
            m.upstream.conversation_reads.get() - reads,
            m.upstream.conversation_index_retries.get() - retries
        );
        m.upstream.resync_agents_ms.set(agents_ms);
        m.upstream.resync_queues_ms.set(queues_ms);
        m.upstream.resync_conversations_ms.set(conversations_ms);
        // The out-of-office reads run after the resync: their failure is theirs to clear.
        let reads_failing = m.upstream.resync_failing.get() & ResyncStep::OutOfOffice.bit();
        m.upstream.resync_failing.set(report.failed | reads_failing);
        // What the resync read is on disk before it is reported done: a power cut from here
        // on boots to this state, not to an older one.
        let read_ms = started.elapsed().as_millis();
        let durable = match self.checkpoint().await {
            Some(Durable {
                on_disk: true,
                flush_us,
                ..
            }) => format!("on disk (flush {} ms)", flush_us / 1000),
            Some(_) => "not on disk (store degraded or memory-only)".to_string(),
            None => format!(
                "on disk: unknown (no flush within {} s)",
                CHECKPOINT_WAIT.as_secs()
            ),
        };
        let skipped: Vec<&str> = ResyncStep::ALL
            .iter()
            .filter(|s| report.failed & s.bit() != 0)
            .map(|s| s.name())
            .collect();
        if report.complete() {
            m.upstream.resyncs.inc();
            m.upstream
                .last_resync_uptime_ms
                .set(crate::metrics::uptime_ms());
        }
        self.audit.record(
            "resync",
            &format!(
                "{} agents ({} busy), {} queues, {} requests in {read_ms} ms: presence+routing \
                 {agents_ms} ms, queues {queues_ms} ms, conversations {conversations_ms} ms \
                 ({conversations}); {durable}{}{}",
                agents.len(),
                busy.len(),
                self.watch.queues.len(),
                m.upstream.resync_total.get(),
                if report.out_of_office.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; out of office left out of the users pages for {} agents: read one \
                         by one at spare budget",
                        report.out_of_office.len()
                    )
                },
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!("; incomplete, skipped: {}", skipped.join(", "))
                }
            ),
        );
        Ok(report)
    }
}

/// Out-of-office reads per turn of the session loop (see
/// [`Upstream::read_pending_out_of_office`]).
pub(super) const OUT_OF_OFFICE_BATCH: usize = 10;

/// Length of a Genesys Cloud analytics interval (aggregates are per UTC half hour).
pub(super) const INTERVAL_MS: u64 = 30 * 60 * 1000;

/// The conversation aggregates query for the current interval's figures of `queues`.
pub(super) fn queue_figures_query(queues: &[Id], interval_start: u64) -> String {
    let preds: Vec<String> = queues
        .iter()
        .map(|q| format!("{{\"type\":\"dimension\",\"dimension\":\"queueId\",\"operator\":\"matches\",\"value\":\"{q}\"}}"))
        .collect();
    format!(
        "{{\"interval\":\"{}/{}\",\"granularity\":\"PT30M\",\"groupBy\":[\"queueId\"],\"filter\":{{\"type\":\"or\",\"predicates\":[{}]}},\"metrics\":[\"nOffered\",\"tAnswered\",\"tAbandon\",\"oServiceLevel\"]}}",
        iso8601(interval_start),
        iso8601(interval_start + INTERVAL_MS),
        preds.join(",")
    )
}

/// The analytics details query for the open conversations of `users`.
pub(super) fn conversations_query(users: &[Id], now_ms: u64, page: u32) -> String {
    let from = iso8601(now_ms.saturating_sub(CONVERSATION_LOOKBACK_MS));
    let to = iso8601(now_ms + 3_600_000);
    let preds: Vec<String> = users
        .iter()
        .map(|u| format!("{{\"type\":\"dimension\",\"dimension\":\"userId\",\"operator\":\"matches\",\"value\":\"{u}\"}}"))
        .collect();
    format!(
        "{{\"interval\":\"{from}/{to}\",\"order\":\"asc\",\"paging\":{{\"pageSize\":{USERS_PER_PAGE},\"pageNumber\":{page}}},\"conversationFilters\":[{{\"type\":\"and\",\"predicates\":[{{\"type\":\"dimension\",\"dimension\":\"conversationEnd\",\"operator\":\"notExists\"}}]}}],\"segmentFilters\":[{{\"type\":\"or\",\"predicates\":[{}]}}]}}",
        preds.join(",")
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in ms (civil-from-days, no time crate).
pub(super) fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failing_step_is_named_when_all_fail() {
        // A REST outage (5xx everywhere, the sockets up) fails every step; the health
        // document's list held five of six and panicked on the sixth.
        let all = ResyncStep::ALL.iter().fold(0, |bits, s| bits | s.bit());
        let names = ResyncStep::names(all);
        assert_eq!(names.len(), ResyncStep::ALL.len());
        assert_eq!(names.first(), Some(&"users"));
        assert_eq!(names.last(), Some(&"out_of_office"));
        assert_eq!(
            ResyncStep::names(ResyncStep::Conversations.bit()).as_slice(),
            ["conversations"]
        );
        assert!(ResyncStep::names(0).is_empty());
    }

    #[test]
    fn iso8601_formats_utc_millis() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_735_551_598_512), "2024-12-30T09:39:58.512Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
