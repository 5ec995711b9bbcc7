//! Discovery: presence definitions, and the watched agents (config users, members of watched
//! queues and groups), read through bounded paging that stops hostile `nextUri` chains; the
//! re-read after a reconnect. Does not own the channels the agents are subscribed on.

use super::*;

/// Pages of presence definitions read at most: an org has a few dozen definitions (one or
/// two pages of 100), so 20 is generous and still ends a hostile `nextUri` chain quickly.
pub(super) const MAX_DEFINITION_PAGES: usize = 20;

/// A page's `nextUri`, as decoded.
#[derive(Clone, Copy, Debug)]
pub(super) enum Link<'a> {
    /// None (or empty): the last page.
    End,
    /// Present but longer than the decoder keeps: cannot be followed.
    TooLong,
    /// The next page's path.
    Next(&'a str),
}

impl<'a> Link<'a> {
    fn of(next: Option<&'a str>, too_long: bool) -> Link<'a> {
        match next.filter(|n| !n.is_empty()) {
            Some(n) => Link::Next(n),
            None if too_long => Link::TooLong,
            None => Link::End,
        }
    }
}

/// Follows one paged listing's `nextUri` links, bounded against a broken or hostile server:
/// at most `max_pages` pages, never a URI twice (a page that links to itself or back to an
/// earlier page), and nothing past an empty page (a chain of empty pages that never ends).
/// Each visited path is kept, so its memory is at most `max_pages` short strings.
pub(super) struct Pager {
    next: Option<String>,
    visited: Vec<String>,
    max_pages: usize,
}

impl Pager {
    fn new(first: String, max_pages: usize) -> Pager {
        Pager {
            next: Some(first),
            visited: Vec::new(),
            max_pages: max_pages.max(1),
        }
    }

    /// The next path to read, if any.
    fn next_path(&mut self) -> Option<String> {
        let p = self.next.take()?;
        self.visited.push(p.clone());
        Some(p)
    }

    /// Pages read so far.
    fn pages(&self) -> usize {
        self.visited.len()
    }

    /// Takes the `nextUri` of the page just read (which held `entries` items). `Some(why)`
    /// when the link is not followed although the server gave one: the listing is cut short.
    fn follow(&mut self, next: Link<'_>, entries: usize) -> Option<&'static str> {
        let next = match next {
            Link::End => return None,
            Link::TooLong => return Some("nextUri longer than NEXT_URI_LEN"),
            Link::Next(n) => n,
        };
        let why = if entries == 0 {
            "nextUri after an empty page"
        } else if self.visited.iter().any(|v| v == next) {
            "nextUri loops back to a page already read"
        } else if self.visited.len() >= self.max_pages {
            "page limit reached"
        } else {
            self.next = Some(next.to_string());
            return None;
        };
        Some(why)
    }
}

impl Upstream {
    pub(super) async fn load_definitions(&mut self) -> Result<(), UpstreamError> {
        let mut pager = Pager::new(
            "/api/v2/presence/definitions?pageSize=100".to_string(),
            MAX_DEFINITION_PAGES,
        );
        while let Some(p) = pager.next_path() {
            let body = self.rest().get(&p).await.what("presence definitions")?;
            let page =
                decode::rest::presence_definitions(&body).map_err(|e| UpstreamError::Rest {
                    what: "presence definitions",
                    source: RestError::Parse {
                        what: "presence definitions",
                        reason: e.to_string(),
                    },
                })?;
            for (id, presence) in page.definitions.iter() {
                self.send(Update::Definition {
                    id: *id,
                    presence: *presence,
                })
                .await;
            }
            let next = Link::of(page.next_uri.as_deref(), page.next_uri_too_long);
            self.follow(
                &mut pager,
                next,
                page.definitions.len(),
                "presence definitions",
            );
        }
        Ok(())
    }

    /// [`Pager::follow`], counting and logging a listing cut short.
    /// Moves `pager` on; true when paging was stopped before the listing's end (counted).
    pub(super) fn follow(
        &self,
        pager: &mut Pager,
        next: Link<'_>,
        entries: usize,
        listing: &str,
    ) -> bool {
        if let Some(why) = pager.follow(next, entries) {
            self.metrics.upstream.rest_paging_stopped.inc();
            tracing::warn!(listing, pages = pager.pages(), why, "paging stopped");
            return true;
        }
        false
    }

    /// Agents to watch: config users, members of watched queues and groups (bounded).
    pub(super) async fn discover(&mut self) -> Result<Vec<Id>, UpstreamError> {
        let max = self.settings.max_agents;
        let mut seen: HashSet<Id> = HashSet::with_capacity(max.min(1 << 16));
        let mut agents = Vec::new();
        let mut add = |id: Id, agents: &mut Vec<Id>| {
            if agents.len() < max && seen.insert(id) {
                agents.push(id);
            }
        };
        // Why each agent is watched, rebuilt from this read (kept to what was added below).
        let mut member_of: Vec<(Id, Id)> = Vec::new();
        let mut direct: Vec<Id> = Vec::new();
        for u in self.watch.users.clone() {
            add(u, &mut agents);
            direct.push(u);
        }
        let max_pages = max / 100 + 2;
        for q in self.watch.queues.clone() {
            let mut pager = Pager::new(
                format!("/api/v2/routing/queues/{q}/members?pageSize=100"),
                max_pages,
            );
            // A complete listing also tells who left (during a gap, or while we were off).
            self.send(Update::MemberListing {
                queue: q,
                phase: ListingPhase::Begin,
            })
            .await;
            let mut complete = true;
            while let Some(p) = pager.next_path() {
                let body = self.rest().get(&p).await.what("queue members")?;
                let page =
                    decode::rest::members_page(&body).map_err(|e| parse_err("queue members", e))?;
                for m in page.members.iter() {
                    add(m.id, &mut agents);
                    if m.joined {
                        member_of.push((m.id, q));
                    }
                    self.send(Update::Listed(MemberChange {
                        queue: q,
                        user: m.id,
                        joined: m.joined,
                    }))
                    .await;
                    if !m.name.is_empty() {
                        self.send(Update::Name {
                            user: m.id,
                            name: m.name.clone(),
                        })
                        .await;
                    }
                }
                let next = Link::of(page.next_uri.as_deref(), page.next_uri_too_long);
                complete &= !self.follow(&mut pager, next, page.members.len(), "queue members");
            }
            if complete {
                self.send(Update::MemberListing {
                    queue: q,
                    phase: ListingPhase::Complete,
                })
                .await;
            }
        }
        self.read_queue_names().await;
        let (members, _) = self.group_members().await?;
        for u in members {
            add(u, &mut agents);
            direct.push(u);
        }
        let watched: HashSet<Id> = agents.iter().copied().collect();
        let mut membership = Membership::default();
        for (user, queue) in member_of {
            if watched.contains(&user) {
                membership.join(user, queue);
            }
        }
        membership
            .direct
            .extend(direct.into_iter().filter(|u| watched.contains(u)));
        self.membership = membership;
        for a in &agents {
            self.send(Update::Watch(*a)).await;
        }
        self.metrics
            .upstream
            .watched_agents
            .set(agents.len() as u64);
        Ok(agents)
    }

    /// The watched queues' display names, 100 a request (`GET /api/v2/routing/queues?id=…`).
    /// Best effort: a failure (a missing `routing:queue:view` permission, say) is audited
    /// and the queues stay unnamed (displays show their ids); nothing else depends on it.
    async fn read_queue_names(&mut self) {
        for chunk in self.watch.queues.clone().chunks(crate::limits::MAX_PAGE) {
            let ids = join_ids(chunk, "&id=");
            let read = self
                .rest()
                .get(&format!(
                    "/api/v2/routing/queues?pageSize={}&id={ids}",
                    crate::limits::MAX_PAGE
                ))
                .await
                .what("queue names")
                .and_then(|body| {
                    decode::rest::queues_page(&body).map_err(|e| parse_err("queue names", e))
                });
            match read {
                Ok(page) => {
                    for q in page.queues.iter().filter(|q| chunk.contains(&q.id)) {
                        if !q.name.is_empty() {
                            self.send(Update::QueueName {
                                queue: q.id,
                                name: q.name.clone(),
                            })
                            .await;
                        }
                    }
                }
                Err(e) => {
                    self.audit
                        .record("resync", &format!("queue names not read: {e}"));
                    tracing::warn!(error = %e, "queue names not read");
                    return;
                }
            }
        }
    }

    /// Members of the watched groups (each once), and whether every listing was read to its
    /// end (one cut short by a paging limit tells nobody to leave).
    async fn group_members(&self) -> Result<(Vec<Id>, bool), UpstreamError> {
        let max_pages = self.settings.max_agents / 100 + 2;
        let mut members: Vec<Id> = Vec::new();
        let mut seen: HashSet<Id> = HashSet::new();
        let mut complete = true;
        for g in &self.watch.groups {
            let mut pager = Pager::new(
                format!("/api/v2/groups/{g}/members?pageSize=100"),
                max_pages,
            );
            while let Some(p) = pager.next_path() {
                let body = self.rest().get(&p).await.what("group members")?;
                let page =
                    decode::rest::users_page(&body).map_err(|e| parse_err("group members", e))?;
                members.extend(page.users.iter().map(|u| u.id).filter(|u| seen.insert(*u)));
                let next = Link::of(page.next_uri.as_deref(), page.next_uri_too_long);
                complete &= !self.follow(&mut pager, next, page.users.len(), "group members");
            }
        }
        Ok((members, complete))
    }

    /// Re-reads the watched groups (Genesys notifies no group change; every
    /// `group_refresh`): members not yet watched are subscribed (within the channel budget and
    /// `max_agents`) and resynced; agents watched only through a group they left, in no watched
    /// queue and not configured, are unsubscribed and cleared from the floor.
    pub(super) async fn refresh_groups(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<(), UpstreamError> {
        let (members, complete) = Box::pin(self.group_members()).await?;
        let configured: HashSet<Id> = self.watch.users.iter().copied().collect();
        let now_direct: HashSet<Id> = configured.iter().chain(members.iter()).copied().collect();
        if complete {
            let gone: Vec<Id> = self
                .membership
                .direct
                .iter()
                .filter(|a| !now_direct.contains(a))
                .copied()
                .collect();
            for a in gone {
                self.membership.direct.remove(&a);
                if !self.membership.queues.contains_key(&a) && s.known.contains(&a) {
                    s.leavers.insert(a);
                }
            }
            self.drop_leavers(s, true).await?;
        }
        let room = self.settings.max_agents.saturating_sub(s.known.len());
        let new: Vec<Id> = members
            .iter()
            .filter(|a| !s.known.contains(a))
            .take(room)
            .copied()
            .collect();
        for a in members
            .iter()
            .filter(|a| s.known.contains(a) || new.contains(a))
        {
            self.membership.direct.insert(*a);
        }
        if !new.is_empty() {
            self.audit.record(
                "subscribe",
                &format!("{} agent(s) joined a watched group: subscribed", new.len()),
            );
            Box::pin(self.add_agents(s, generation, ntx, &new)).await?;
        }
        Ok(())
    }

    /// Re-reads membership once a session's channels are subscribed (after a reconnect, and
    /// at boot); agents who joined meanwhile are subscribed (onto channels with room, or new
    /// ones within the budget) and resynced, those who left are unsubscribed and cleared.
    pub(super) async fn rediscover(
        &mut self,
        s: &mut Session,
        generation: &mut u64,
        ntx: &mpsc::Sender<Notice>,
    ) -> Result<(), UpstreamError> {
        // Member notices dropped from here on are after this read began: read again for them.
        s.dropped_seen = self.metrics.upstream.notices_dropped.get();
        let fresh = Box::pin(self.discover()).await?;
        let new: Vec<Id> = fresh
            .iter()
            .filter(|a| !s.known.contains(a))
            .copied()
            .collect();
        // Who left every watched queue while we were away: unsubscribed now (one PUT per
        // channel that held them) and cleared from the floor.
        let fresh_set: HashSet<Id> = fresh.iter().copied().collect();
        // The re-read is the truth: an agent noted as leaving who is a member again (it joined
        // another watched queue while the socket was down) stays watched.
        s.leavers.retain(|a| !fresh_set.contains(a));
        s.leavers
            .extend(s.known.iter().copied().filter(|a| !fresh_set.contains(a)));
        self.drop_leavers(s, true).await?;
        if !new.is_empty() {
            Box::pin(self.add_agents(s, generation, ntx, &new)).await?;
        }
        // Whoever joined and could not be subscribed before is now (or refused by the budget).
        self.metrics.upstream.members_unsubscribed.set(0);
        self.metrics.upstream.rediscoveries.inc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_follows_honest_links_and_stops_hostile_ones() {
        // Honest: three pages, the last without nextUri.
        let mut p = Pager::new("/l?pageNumber=1".into(), 10);
        assert_eq!(p.next_path().as_deref(), Some("/l?pageNumber=1"));
        assert_eq!(p.follow(Link::Next("/l?pageNumber=2"), 100), None);
        assert_eq!(p.next_path().as_deref(), Some("/l?pageNumber=2"));
        assert_eq!(p.follow(Link::End, 3), None);
        assert_eq!(p.next_path(), None);
        // A page that links to itself, or back to the first.
        let mut p = Pager::new("/l?pageNumber=1".into(), 10);
        p.next_path();
        assert!(p.follow(Link::Next("/l?pageNumber=1"), 5).is_some());
        assert_eq!(p.next_path(), None);
        let mut p = Pager::new("/a".into(), 10);
        p.next_path();
        assert_eq!(p.follow(Link::Next("/b"), 5), None);
        p.next_path();
        assert!(p.follow(Link::Next("/a"), 5).is_some());
        // An endless chain of empty pages stops at the first empty one.
        let mut p = Pager::new("/l?pageNumber=1".into(), 10);
        p.next_path();
        assert!(p.follow(Link::Next("/l?pageNumber=2"), 0).is_some());
        assert_eq!(p.next_path(), None);
        // A chain of distinct full pages stops at the page limit.
        let mut p = Pager::new("/p0".into(), 3);
        let mut read = 0;
        while p.next_path().is_some() {
            read += 1;
            if p.follow(Link::Next(&format!("/p{read}")), 1).is_some() {
                break;
            }
        }
        assert_eq!(read, 3);
        // A link too long to keep ends the listing, counted; no link at all does not.
        let mut p = Pager::new("/l".into(), 10);
        p.next_path();
        assert!(p.follow(Link::of(None, true), 5).is_some());
        assert!(matches!(Link::of(Some(""), false), Link::End));
    }
}
