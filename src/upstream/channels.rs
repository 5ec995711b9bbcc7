//! The channel set of one session: the topics of the watched agents and queues (combined
//! per-user topics, weighted against the per-channel limit), channels opened, connected and
//! subscribed (one bulk PUT each, verified), make-before-break rotation, and a new queue member
//! added to a live channel. Does not own the socket read loop (`socket`).

use super::*;

/// Per-user topic suffixes, subscribed as one combined topic per agent: `activity` carries
/// presence and routing status in one event (and out-of-office, active queues), so two
/// sub-topics do the work three did (`presence`, `routingStatus`), leaving room for a third
/// more agents per channel.
pub(super) const USER_TOPICS: &str = "?activity&conversations";

/// What one combined user topic counts toward a channel's topic limit by default. Whether
/// Genesys counts a combined topic as one or as its expansion is undocumented: count the
/// expansion (one per sub-topic of `?activity&conversations`), which is safe either way; the site config
/// may say otherwise (`genesys.user_topic_weight`).
pub const USER_TOPIC_WEIGHT: usize = sub_topics(USER_TOPICS);

/// Sub-topics of a combined topic suffix (`?a&b&c` is 3).
pub(super) const fn sub_topics(suffix: &str) -> usize {
    let b = suffix.as_bytes();
    let mut n = 1;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'&' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Per-queue topics.
pub(super) const QUEUE_TOPICS: [&str; 2] = ["users", "observations"];

/// A channel is kept at least this long, whatever `expires` it was given.
pub(super) const MIN_CHANNEL_LIFE_MS: u64 = 10_000;

/// …and replaced after this long at most (Genesys channels live 24 h).
pub(super) const MAX_CHANNEL_LIFE_MS: u64 = 86_400_000;

/// One open channel with its socket reader.
pub(super) struct Live {
    pub(super) id: String,
    /// The client (index into `Upstream::clients`) whose token created it: its subscriptions
    /// are changed with that token, and it counts toward that client's channel budget.
    pub(super) client: usize,
    /// Unique per channel opened: notices carry it, so a notice from a channel already
    /// replaced is ignored while one from a live channel is acted on.
    pub(super) generation: u64,
    /// When to replace it (on the [`Clock`]), from its `expires` read against the server's time.
    pub(super) rotate_at: Ms,
    pub(super) cancel: CancellationToken,
    /// Its topics, to subscribe its replacement to exactly the same set (at most
    /// `max_topics` by weight).
    pub(super) topics: Vec<String>,
    /// Their weight toward the per-channel topic limit.
    pub(super) weight: usize,
    /// When it was last created or had its subscriptions changed (the clock): Genesys evicts
    /// the channel with the oldest last-used date first among connected ones, so a rotation
    /// replaces channels in this order and the one a new channel pushes out is always the one
    /// just retired, never one in use.
    pub(super) last_used: Ms,
}

impl Upstream {
    /// When to replace a channel the server says `expires` at (server time): its remaining
    /// life is read against the server's `Date`, never against this box's clock, which may be
    /// days off. `rotate_before` that life ends; a channel given less life than that margin is
    /// replaced halfway through it, and never sooner than `MIN_CHANNEL_LIFE_MS` (no storm when
    /// a server hands out channels that are already expired).
    pub(super) fn rotation_due(&self, expires: u64) -> Ms {
        let life = expires.saturating_sub(self.server_now_ms());
        let before = u64::try_from(self.settings.rotate_before.as_millis()).unwrap_or(0);
        let wait = if life > before.saturating_mul(2) {
            life - before
        } else {
            life / 2
        };
        self.clock
            .now_ms()
            .saturating_add(wait.clamp(MIN_CHANNEL_LIFE_MS, MAX_CHANNEL_LIFE_MS))
    }

    /// Make-before-break: a new token if due, a new channel set live, then the old closed.
    /// Replaces every channel, one at a time: a new channel is connected and subscribed to the
    /// old one's topics, then the old one is closed, then the next. Never more than one channel
    /// above the set (the spare of the per-client budget), so the service never evicts one of
    /// ours; events arrive on both channels of a pair for a moment (duplicates, dropped by the
    /// table's ordering), never on neither. A fresh token first when one is due (channels are
    /// bound to the token that created them).
    pub(super) async fn rotate(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
        why: &str,
    ) -> Result<(), UpstreamError> {
        // Agents who left every watched queue are not carried onto the new channels.
        self.drop_leavers(s, false).await?;
        if self.clock.now_ms() >= s.token_refresh_at {
            let refresh_in = self.login().await?;
            s.token_refresh_at = self.clock.after(refresh_in);
            self.token_refresh_at = Some(s.token_refresh_at);
        }
        // Oldest last-used first (see `Live::last_used`).
        let mut order: Vec<usize> = (0..s.live.len()).collect();
        order.sort_by_key(|&i| s.live[i].last_used);
        self.metrics.upstream.rotating.set(1);
        for i in order {
            *generation += 1;
            let topics = std::mem::take(&mut s.live[i].topics);
            let client = s.live[i].client;
            let fresh = match self.open_channel(*generation, client, topics, ntx).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    // The caller ends the session (every channel closed, then a resync).
                    self.metrics.upstream.rotating.set(0);
                    return Err(e);
                }
            };
            let old = std::mem::replace(&mut s.live[i], fresh);
            old.cancel.cancel();
        }
        self.metrics.upstream.rotating.set(0);
        self.metrics.upstream.rotations.inc();
        self.audit.record(
            "rotate",
            &format!(
                "{why}: {} channel(s) replaced one at a time, make-before-break",
                s.live.len()
            ),
        );
        Ok(())
    }

    pub(super) fn topics(&self, agents: &[Id]) -> Vec<String> {
        let mut t: Vec<String> = agents
            .iter()
            .map(|a| format!("v2.users.{a}{USER_TOPICS}"))
            .collect();
        for q in &self.watch.queues {
            t.push(format!("v2.routing.queues.{q}.{}", QUEUE_TOPICS[0]));
            t.push(format!("v2.analytics.queues.{q}.{}", QUEUE_TOPICS[1]));
        }
        t
    }

    /// Opens the channel set: per chunk of topics, create → connect → PUT → verify.
    /// Opens the channels `agents` (and the watched queues) need, within the per-client
    /// budget less one spare: topics beyond it are refused loudly (counted in
    /// `subscriptions_refused`, audited), never left to a 21st channel that would evict one of
    /// ours.
    pub(super) async fn open_channels(
        &mut self,
        generation: &mut u64,
        agents: &[Id],
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<Vec<Live>, UpstreamError> {
        let topics = self.topics(agents);
        let usable = self.settings.max_channels.saturating_sub(1).max(1);
        let w = self.settings.user_topic_weight;
        let chunks = chunk_by_weight(&topics, self.settings.max_topics.max(w), w);
        let mut live = Vec::new();
        // The first client's budget fills first, then the next: one client stays the simple
        // case, and each further client carries what the ones before could not.
        let budget = usable * self.clients.len();
        for (k, chunk) in chunks.iter().take(budget).enumerate() {
            *generation += 1;
            match self
                .open_channel(*generation, k / usable, chunk.to_vec(), ntx)
                .await
            {
                Ok(l) => live.push(l),
                Err(e) => {
                    cancel_all(&live);
                    return Err(e);
                }
            }
        }
        let refused: usize = chunks.iter().skip(budget).map(|c| c.len()).sum();
        if refused > 0 {
            self.refuse_topics(refused, "the watch set needs more channels than the budget");
        }
        self.count_channels(&live);
        Ok(live)
    }

    /// Stops watching `s.leavers` (agents in no watched queue and not watched directly): their
    /// topics leave the channels' lists (with `put`, each changed channel's subscriptions are
    /// replaced now; without, the rotation that follows subscribes the shorter lists), the state
    /// stage clears them from the floor (`Update::Unwatch`), and they are counted.
    pub(super) async fn drop_leavers(
        &mut self,
        s: &mut Session,
        put: bool,
    ) -> Result<(), UpstreamError> {
        if s.leavers.is_empty() {
            return Ok(());
        }
        let leavers: Vec<Id> = s.leavers.drain().collect();
        let w = self.settings.user_topic_weight;
        let mut changed = vec![false; s.live.len()];
        for u in &leavers {
            let topic = format!("v2.users.{u}{USER_TOPICS}");
            for (i, l) in s.live.iter_mut().enumerate() {
                if let Some(pos) = l.topics.iter().position(|t| *t == topic) {
                    l.topics.swap_remove(pos);
                    l.weight = l.weight.saturating_sub(w);
                    changed[i] = true;
                }
            }
            s.known.remove(u);
            self.send(Update::Unwatch(*u)).await;
        }
        s.agents.retain(|a| !leavers.contains(a));
        self.agents = Some(s.agents.clone());
        self.metrics
            .upstream
            .agents_unwatched
            .add(leavers.len() as u64);
        self.metrics
            .upstream
            .watched_agents
            .set(s.agents.len() as u64);
        self.audit.record(
            "subscribe",
            &format!(
                "{} agent(s) left every watched queue: unsubscribed and cleared from the floor",
                leavers.len()
            ),
        );
        if put {
            for (i, l) in s.live.iter_mut().enumerate() {
                if changed[i] {
                    self.subscribe(l.client, &l.id, &l.topics, false).await?;
                    l.last_used = self.clock.now_ms();
                }
            }
        }
        self.count_channels(&s.live);
        Ok(())
    }

    /// Channels `live` holds on `client`.
    fn channels_of(live: &[Live], client: usize) -> usize {
        live.iter().filter(|l| l.client == client).count()
    }

    /// The channel gauges: channels (in all, and of the busiest client), topics, and their
    /// weight against the per-channel limit.
    fn count_channels(&self, live: &[Live]) {
        let u = &self.metrics.upstream;
        u.channels.set(live.len() as u64);
        u.clients.set(self.clients.len() as u64);
        u.channels_busiest_client.set(
            (0..self.clients.len())
                .map(|c| Self::channels_of(live, c))
                .max()
                .unwrap_or(0) as u64,
        );
        u.topics
            .set(live.iter().map(|l| l.topics.len()).sum::<usize>() as u64);
        u.topic_weight
            .set(live.iter().map(|l| l.weight).sum::<usize>() as u64);
    }

    /// Topics that could not be subscribed for lack of channel budget: counted, audited and
    /// alarmed (health), never only a log line.
    fn refuse_topics(&self, topics: usize, why: &str) {
        self.metrics
            .upstream
            .subscriptions_refused
            .add(topics as u64);
        self.audit.record(
            "subscribe",
            &format!(
                "{topics} topic(s) not subscribed: {why} ({} client(s), {} channels per client, one kept spare for rotation, {} topics per channel)",
                self.clients.len(), self.settings.max_channels, self.settings.max_topics
            ),
        );
        tracing::error!(
            topics,
            why,
            "channel budget exhausted: topics not subscribed"
        );
    }

    pub(super) async fn open_channel(
        &mut self,
        generation: u64,
        client: usize,
        topics: Vec<String>,
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<Live, UpstreamError> {
        let body = self.clients[client]
            .rest
            .post_json("/api/v2/notifications/channels", String::new())
            .await
            .what("create channel")?;
        let ch = decode::rest::channel(&body).map_err(|e| parse_err("create channel", e))?;
        self.metrics.upstream.channels_created.inc();
        let ws = socket::connect(
            ch.connect_uri.as_str(),
            &self.settings.socket,
            self.tls.clone(),
        )
        .await
        .map_err(|reason| UpstreamError::Connect {
            channel: ch.id.as_str().to_string(),
            reason,
        })?;
        self.metrics.upstream.connects.inc();
        let cancel = self.cancel.child_token();
        self.tasks.spawn(socket::read(
            ws,
            generation,
            self.settings.socket.clone(),
            self.tx.clone(),
            ntx.clone(),
            self.metrics.clone(),
            self.audit.clone(),
            cancel.clone(),
        ));
        let live = Live {
            id: ch.id.as_str().to_string(),
            client,
            generation,
            rotate_at: self.rotation_due(ch.expires),
            cancel,
            weight: topics
                .iter()
                .map(|t| weight(t, self.settings.user_topic_weight))
                .sum(),
            topics,
            last_used: self.clock.now_ms(),
        };
        if let Err(e) = self.subscribe(client, &live.id, &live.topics, false).await {
            live.cancel.cancel();
            return Err(e);
        }
        self.audit.record(
            "subscribe",
            &format!(
                "channel {} live with {} topics (client {})",
                live.id,
                live.topics.len(),
                self.clients[client].name
            ),
        );
        Ok(live)
    }

    /// One bulk PUT (replace) or POST (add) of `topics`, verified by the tally of the answer.
    pub(super) async fn subscribe(
        &self,
        client: usize,
        channel: &str,
        topics: &[String],
        add: bool,
    ) -> Result<(), UpstreamError> {
        let mut json = String::with_capacity(topics.len() * 80 + 2);
        json.push('[');
        for (i, t) in topics.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"id\":\"");
            json.push_str(t);
            json.push_str("\"}");
        }
        json.push(']');
        let path =
            format!("/api/v2/notifications/channels/{channel}/subscriptions?ignoreErrors=true");
        let rest = &self.clients[client].rest;
        let res = if add {
            rest.post_json(&path, json).await
        } else {
            rest.put_json(&path, json).await
        };
        let body = res.what("subscribe")?;
        let tally = decode::rest::subscriptions(&body).map_err(|e| parse_err("subscribe", e))?;
        if tally.rejected > 0 {
            // Permission problems on some topics must not take the whole site down: report
            // them loudly and keep the permitted ones.
            self.audit.record(
                "subscribe",
                &format!(
                    "channel {channel}: {} of {} topics rejected (first: {:?})",
                    tally.rejected,
                    tally.total,
                    tally.rejected_ids.first().map(|s| s.as_str())
                ),
            );
        }
        if tally.total == 0 && !topics.is_empty() {
            return Err(UpstreamError::Subscribe {
                channel: channel.to_string(),
                rejected: tally.rejected,
                total: u32::try_from(topics.len()).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// A new queue member joined while live: subscribe to it on the last channel (adding),
    /// and read its current state.
    /// Subscribes agents who joined a watched queue or group (live, or found by a re-read
    /// after a reconnect): onto live channels with room for their topics (one POST per channel),
    /// then new channels within the budget (one kept spare); whoever does not fit is refused
    /// loudly. The ones placed are watched and resynced.
    pub(super) async fn add_agents(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
        users: &[Id],
    ) -> Result<(), UpstreamError> {
        let w = self.settings.user_topic_weight;
        let max = self.settings.max_topics.max(w);
        let mut left: &[Id] = users;
        let mut placed: Vec<Id> = Vec::with_capacity(users.len());
        for i in 0..s.live.len() {
            let room = (max.saturating_sub(s.live[i].weight)) / w;
            let n = room.min(left.len());
            if n == 0 {
                continue;
            }
            let topics: Vec<String> = left[..n]
                .iter()
                .map(|u| format!("v2.users.{u}{USER_TOPICS}"))
                .collect();
            let (channel, client) = (s.live[i].id.clone(), s.live[i].client);
            self.subscribe(client, &channel, &topics, true).await?;
            let l = &mut s.live[i];
            l.last_used = self.clock.now_ms();
            l.weight += n * w;
            l.topics.extend(topics);
            placed.extend_from_slice(&left[..n]);
            left = &left[n..];
        }
        let per_channel = (max / w).max(1);
        // New channels on the client with the fewest, each within its budget (one spare).
        while let Some(client) = (0..self.clients.len())
            .filter(|&c| Self::channels_of(&s.live, c) + 1 < self.settings.max_channels)
            .min_by_key(|&c| Self::channels_of(&s.live, c))
        {
            if left.is_empty() {
                break;
            }
            let n = per_channel.min(left.len());
            let topics: Vec<String> = left[..n]
                .iter()
                .map(|u| format!("v2.users.{u}{USER_TOPICS}"))
                .collect();
            *generation += 1;
            let l = self.open_channel(*generation, client, topics, ntx).await?;
            s.live.push(l);
            placed.extend_from_slice(&left[..n]);
            left = &left[n..];
        }
        if !left.is_empty() {
            self.refuse_topics(left.len(), "new members and every channel is full");
        }
        self.count_channels(&s.live);
        if placed.is_empty() {
            return Ok(());
        }
        for u in &placed {
            s.known.insert(*u);
            s.agents.push(*u);
            self.send(Update::Watch(*u)).await;
        }
        self.agents = Some(s.agents.clone());
        let report = Box::pin(self.resync(&placed)).await?;
        s.after_resync(report, &self.clock, false);
        Ok(())
    }
}

/// Weight of a topic toward the per-channel limit: `user` for a combined user topic, 1 else.
pub(super) fn weight(topic: &str, user: usize) -> usize {
    if topic.contains('?') {
        user
    } else {
        1
    }
}

/// Splits `topics` into consecutive chunks whose weights (combined user topics weigh `user`)
/// each sum to at most `max`.
pub(super) fn chunk_by_weight(topics: &[String], max: usize, user: usize) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut sum) = (0, 0);
    for (i, t) in topics.iter().enumerate() {
        let w = weight(t, user);
        if sum + w > max && i > start {
            out.push(&topics[start..i]);
            start = i;
            sum = 0;
        }
        sum += w;
    }
    if start < topics.len() {
        out.push(&topics[start..]);
    }
    out
}

pub(super) fn cancel_all(live: &[Live]) {
    for l in live {
        l.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_weight_counts_the_sub_topics() {
        assert_eq!(USER_TOPIC_WEIGHT, 2);
        assert_eq!(sub_topics("?presence&routingStatus&conversations"), 3);
        assert_eq!(sub_topics("?presence"), 1);
        assert_eq!(sub_topics("?activity&conversations"), 2);
    }

    #[test]
    fn chunks_respect_the_weighted_topic_limit() {
        let mut topics: Vec<String> = (0..500)
            .map(|i| format!("v2.users.{i}{USER_TOPICS}"))
            .collect();
        topics.extend((0..40).map(|i| format!("v2.routing.queues.{i}.users")));
        for (w, channels) in [(2, 2), (3, 2), (1, 1)] {
            let chunks = chunk_by_weight(&topics, 1000, w);
            assert_eq!(chunks.len(), channels, "weight {w}");
            assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 540);
            for c in &chunks {
                assert!(c.iter().map(|t| weight(t, w)).sum::<usize>() <= 1000);
            }
        }
        assert_eq!(chunk_by_weight(&[], 1000, 2).len(), 0);
    }
}
