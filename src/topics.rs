//! Every MQTT topic name the gateway publishes or subscribes to, in one place.
//!
//! ```text
//! {prefix}/{site}/gateway/$state            retained  "online" | "offline" | "lost" (last will)
//! {prefix}/{site}/gateway/birth             retained  JSON {session, version, started_ms}
//! {prefix}/{site}/gateway/health            retained  JSON health
//! {prefix}/{site}/gateway/metrics           retained  JSON counters, every metrics interval
//! {prefix}/{site}/gateway/audit                       JSON audit events (not retained)
//! {prefix}/{site}/zone/{zone}/agent/{userId}  retained  postcard AgentFrame
//! {prefix}/{site}/zone/{zone}/queue/{queueId} retained  postcard QueueFrame
//! {prefix}/{site}/zone/{zone}/name/{userId}   retained  postcard Name frame
//! {prefix}/{site}/zone/{zone}/roster          retained  postcard Roster frame
//! {prefix}/{site}/zone/{zone}/heatmap         retained  postcard HeatmapFrame, each minute
//! {prefix}/{site}/json/{zone}/agent/{userId}  retained  JSON mirror (opt-in), name folded in
//! {prefix}/{site}/json/{zone}/queue/{queueId} retained  JSON mirror (opt-in), name folded in
//! {prefix}/{site}/json/{zone}/roster          retained  JSON mirror (opt-in)
//! {prefix}/{site}/json/{zone}/heatmap         retained  JSON mirror (opt-in)
//! homeassistant/{component}/presence_gateway_{site}/{object}/config   retained (opt-in)
//! {prefix}/{site}/gateway/cmd                           JSON commands (subscribed)
//! {prefix}/{site}/gateway/reply[/{token}]               JSON answers to commands
//! ```

use crate::event::Id;

/// Builds topic names for one site.
#[derive(Clone, Debug)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// `prefix` and `site` are validated by config (`[a-z0-9_-]`, no wildcards).
    pub fn new(prefix: &str, site: &str) -> Topics {
        Topics {
            base: format!("{prefix}/{site}"),
        }
    }

    /// `{prefix}/{site}`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Online/offline/lost (the last will).
    pub fn state(&self) -> String {
        format!("{}/gateway/$state", self.base)
    }

    /// Birth message with the session counter.
    pub fn birth(&self) -> String {
        format!("{}/gateway/birth", self.base)
    }

    /// Health document.
    pub fn health(&self) -> String {
        format!("{}/gateway/health", self.base)
    }

    /// Metrics document.
    pub fn metrics(&self) -> String {
        format!("{}/gateway/metrics", self.base)
    }

    /// Audit events.
    pub fn audit(&self) -> String {
        format!("{}/gateway/audit", self.base)
    }

    /// One agent in one zone.
    pub fn agent(&self, zone: &str, user: &Id) -> String {
        self.entity("zone", zone, "agent", user)
    }

    /// One queue in one zone.
    pub fn queue(&self, zone: &str, queue: &Id) -> String {
        self.entity("zone", zone, "queue", queue)
    }

    /// One agent's display name in one zone.
    pub fn name(&self, zone: &str, user: &Id) -> String {
        self.entity("zone", zone, "name", user)
    }

    /// One queue's display name in one zone.
    pub fn queue_name(&self, zone: &str, queue: &Id) -> String {
        self.entity("zone", zone, "queue_name", queue)
    }

    /// `{base}/{section}/{zone}/{kind}/{id}` in one allocation of its exact size: the topic of every
    /// published frame. `format!` grew the string four times and went through the formatter
    /// piece by piece, ~2,500 instructions per frame, a fifth of the publish step (callgrind).
    fn entity(&self, section: &str, zone: &str, kind: &str, id: &Id) -> String {
        let text = id.hyphenated();
        let id = core::str::from_utf8(&text).unwrap_or_default();
        let parts = [
            self.base.as_str(),
            "/",
            section,
            "/",
            zone,
            "/",
            kind,
            "/",
            id,
        ];
        let mut topic = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            topic.push_str(p);
        }
        topic
    }

    /// A zone's roster.
    pub fn roster(&self, zone: &str) -> String {
        format!("{}/zone/{zone}/roster", self.base)
    }

    /// A zone's activity heatmap.
    pub fn heatmap(&self, zone: &str) -> String {
        format!("{}/zone/{zone}/heatmap", self.base)
    }

    /// The JSON mirror of one agent in one zone.
    pub fn json_agent(&self, zone: &str, user: &Id) -> String {
        self.entity("json", zone, "agent", user)
    }

    /// The JSON mirror of one queue in one zone.
    pub fn json_queue(&self, zone: &str, queue: &Id) -> String {
        self.entity("json", zone, "queue", queue)
    }

    /// The JSON mirror of a zone's roster.
    pub fn json_roster(&self, zone: &str) -> String {
        format!("{}/json/{zone}/roster", self.base)
    }

    /// The JSON mirror of a zone's heatmap.
    pub fn json_heatmap(&self, zone: &str) -> String {
        format!("{}/json/{zone}/heatmap", self.base)
    }

    /// Commands to the gateway (it subscribes).
    pub fn cmd(&self) -> String {
        format!("{}/gateway/cmd", self.base)
    }

    /// Answers to commands: `…/gateway/reply/{token}`, or `…/gateway/reply` without one.
    pub fn reply(&self, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("{}/gateway/reply/{t}", self.base),
            None => format!("{}/gateway/reply", self.base),
        }
    }

    /// Everything of one zone (a display's subscription).
    pub fn zone_filter(&self, zone: &str) -> String {
        format!("{}/zone/{zone}/#", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree() {
        let t = Topics::new("presence", "lyon-1");
        let id = Id::parse("9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f").unwrap();
        assert_eq!(t.state(), "presence/lyon-1/gateway/$state");
        assert_eq!(
            t.agent("floor-2", &id),
            "presence/lyon-1/zone/floor-2/agent/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f"
        );
        let topic = t.queue("floor-2", &id);
        assert_eq!(
            topic,
            "presence/lyon-1/zone/floor-2/queue/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f"
        );
        assert_eq!(
            topic.capacity(),
            topic.len(),
            "one allocation of the exact size"
        );
        assert_eq!(
            t.queue_name("floor-2", &id),
            "presence/lyon-1/zone/floor-2/queue_name/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f"
        );
        assert_eq!(t.zone_filter("wall"), "presence/lyon-1/zone/wall/#");
        assert_eq!(
            t.name("wall", &id),
            "presence/lyon-1/zone/wall/name/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f"
        );
        assert_eq!(t.roster("wall"), "presence/lyon-1/zone/wall/roster");
        assert_eq!(t.heatmap("wall"), "presence/lyon-1/zone/wall/heatmap");
        assert_eq!(
            t.json_agent("wall", &id),
            "presence/lyon-1/json/wall/agent/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f"
        );
        assert_eq!(
            t.json_queue("wall", &id),
            "presence/lyon-1/json/wall/queue/9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f"
        );
        assert_eq!(t.json_roster("wall"), "presence/lyon-1/json/wall/roster");
        assert_eq!(t.json_heatmap("wall"), "presence/lyon-1/json/wall/heatmap");
        assert_eq!(t.cmd(), "presence/lyon-1/gateway/cmd");
        assert_eq!(t.reply(Some("a1")), "presence/lyon-1/gateway/reply/a1");
        assert_eq!(t.reply(None), "presence/lyon-1/gateway/reply");
    }
}
