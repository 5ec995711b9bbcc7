//! `presence-gateway fleet`: one line per site, for operations watching many sites on one
//! central broker (README "Fleet view": each site's broker bridges `{prefix}/{site}/#` out).
//!
//! Owns the fleet model ([`Fleet`]: what the last `$state`, health document and bridge
//! liveness topic of each site said, pure), its verdict per site ([`Verdict`]), the table
//! ([`Fleet::table`]), and the subscriber that keeps it ([`FleetWatch`]). The bridge's own
//! topic is read first: when a site's broker is unreachable, the central broker keeps that
//! site's last `$state` (`online`) and health, frozen; only the bridge's last will
//! (`{prefix}/{site}/bridge/$state` = `0`) tells that nothing from the site is current.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;

/// What a site's health document says that the fleet line shows.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct HealthLine {
    /// `ok` or `degraded`.
    #[serde(default)]
    pub status: String,
    /// Why degraded.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Alarms raised.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// Agents in the gateway's table.
    #[serde(default)]
    pub agents: u64,
    /// Queues in the gateway's table.
    #[serde(default)]
    pub queues: u64,
    /// Seconds since the last complete resync when the document was made; `None`: none since
    /// the gateway started.
    #[serde(default)]
    pub last_resync_age_s: Option<u64>,
}

/// One site as the central broker shows it.
#[derive(Clone, Debug, Default)]
pub struct SiteView {
    /// The bridge's liveness topic: `Some(true)` = `1`, `Some(false)` = `0`, `None` = no
    /// bridge seen (a site publishing to this broker directly).
    pub bridge: Option<bool>,
    /// The gateway's last `$state`.
    pub state: Option<String>,
    /// The last health document.
    pub health: Option<HealthLine>,
    /// When the last health document arrived.
    pub health_at: Option<Instant>,
}

/// What a site is, in one word, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// The bridge from the site's broker is down: everything shown for the site is frozen.
    Unreachable,
    /// The site's broker ran the gateway's last will: the gateway died or lost its broker.
    Lost,
    /// The gateway stopped cleanly.
    Offline,
    /// Nothing (or no `$state`) heard from the gateway yet.
    Unknown,
    /// Online, with reasons or alarms in its health.
    Degraded,
    /// Online and healthy.
    Ok,
}

impl Verdict {
    /// Its word in the table.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Unreachable => "UNREACHABLE",
            Verdict::Lost => "LOST",
            Verdict::Offline => "OFFLINE",
            Verdict::Unknown => "unknown",
            Verdict::Degraded => "degraded",
            Verdict::Ok => "ok",
        }
    }
}

impl SiteView {
    /// The site's verdict: the bridge first, then the gateway's `$state`, then its health.
    pub fn verdict(&self) -> Verdict {
        if self.bridge == Some(false) {
            return Verdict::Unreachable;
        }
        match self.state.as_deref() {
            Some("lost") => Verdict::Lost,
            Some("offline") => Verdict::Offline,
            Some("online") => match &self.health {
                Some(h) if h.status != "ok" || !h.alarms.is_empty() => Verdict::Degraded,
                Some(_) => Verdict::Ok,
                // Online but no health yet (the first metrics interval).
                None => Verdict::Unknown,
            },
            _ => Verdict::Unknown,
        }
    }
}

/// Every site seen on the broker, by site id.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    /// The sites.
    pub sites: BTreeMap<String, SiteView>,
}

impl Fleet {
    /// Takes one message; `prefix_levels` is how many levels the topic prefix has. Topics other
    /// than `{prefix}/{site}/gateway/$state`, `…/gateway/health` and `…/bridge/$state` are
    /// ignored; a health document that is not JSON is kept as unknown.
    pub fn apply(&mut self, topic: &str, payload: &[u8], prefix_levels: usize, now: Instant) {
        let mut levels = topic.split('/').skip(prefix_levels);
        let (Some(site), Some(kind), Some(leaf), None) =
            (levels.next(), levels.next(), levels.next(), levels.next())
        else {
            return;
        };
        let text = || String::from_utf8_lossy(payload).into_owned();
        match (kind, leaf) {
            ("gateway", "$state") => {
                let view = self.sites.entry(site.to_string()).or_default();
                view.state = (!payload.is_empty()).then(text);
            }
            ("gateway", "health") => {
                let view = self.sites.entry(site.to_string()).or_default();
                view.health = serde_json::from_slice(payload).ok();
                view.health_at = Some(now);
            }
            ("bridge", "$state") => {
                let view = self.sites.entry(site.to_string()).or_default();
                view.bridge = match payload {
                    b"1" => Some(true),
                    b"0" => Some(false),
                    _ => None,
                };
            }
            _ => {}
        }
    }

    /// The table: a header and one line per site (by site id); ages are as of `now`.
    pub fn table(&self, now: Instant) -> Vec<String> {
        let mut out = vec![format!(
            "{:<20} {:<11} {:<6} {:<8} {:>6} {:>6} {:>11} {:>10}  {}",
            "SITE",
            "VERDICT",
            "BRIDGE",
            "$STATE",
            "AGENTS",
            "QUEUES",
            "LAST RESYNC",
            "HEALTH AGE",
            "REASONS / ALARMS"
        )];
        for (site, v) in &self.sites {
            let h = v.health.as_ref();
            let count = |n: Option<u64>| n.map_or("–".to_string(), |n| n.to_string());
            let health_age = v.health_at.map(|t| now.duration_since(t).as_secs());
            let resync = match h.map(|h| h.last_resync_age_s) {
                Some(Some(s)) => format!("{} ago", age(s + health_age.unwrap_or(0))),
                Some(None) => "never".to_string(),
                None => "–".to_string(),
            };
            let mut notes: Vec<&str> = h
                .map(|h| {
                    h.reasons
                        .iter()
                        .chain(&h.alarms)
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            notes.dedup();
            out.push(format!(
                "{:<20} {:<11} {:<6} {:<8} {:>6} {:>6} {:>11} {:>10}  {}",
                site,
                v.verdict().word(),
                match v.bridge {
                    Some(true) => "up",
                    Some(false) => "down",
                    None => "–",
                },
                v.state.as_deref().unwrap_or("–"),
                count(h.map(|h| h.agents)),
                count(h.map(|h| h.queues)),
                resync,
                health_age.map_or("–".to_string(), age),
                if notes.is_empty() {
                    "–".to_string()
                } else {
                    notes.join(",")
                },
            ));
        }
        out
    }
}

/// `45s`, `3m05s`, `2h07m`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A fleet model kept up to date from a broker.
pub struct FleetWatch {
    /// The model.
    pub fleet: Arc<Mutex<Fleet>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FleetWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FleetWatch {
    /// Subscribes to every site's `$state`, health and bridge topic under `prefix`.
    pub fn connect(
        broker: (String, u16),
        security: &super::BrokerSecurity,
        prefix: &str,
    ) -> FleetWatch {
        let fleet = Arc::new(Mutex::new(Fleet::default()));
        let mut opts = MqttOptions::new(format!("fleet-{}", fastrand::u32(..)), broker.0, broker.1);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(64 * 1024, 64 * 1024);
        security.apply(&mut opts);
        let (client, mut eventloop) = AsyncClient::new(opts, 16);
        let filters = [
            format!("{prefix}/+/gateway/$state"),
            format!("{prefix}/+/gateway/health"),
            format!("{prefix}/+/bridge/$state"),
        ];
        let levels = prefix.split('/').count();
        let f = fleet.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for filter in &filters {
                            let _ = client.subscribe(filter.as_str(), QoS::AtLeastOnce).await;
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        f.lock().unwrap_or_else(|e| e.into_inner()).apply(
                            &p.topic,
                            &p.payload,
                            levels,
                            Instant::now(),
                        );
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        FleetWatch { fleet, task }
    }

    /// A copy of the model now.
    pub fn snapshot(&self) -> Fleet {
        self.fleet.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What `presence-gateway fleet` watches.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// Broker host and port (the central broker).
    pub broker: (String, u16),
    /// Topic prefix.
    pub prefix: String,
    /// Listen this long, print once and return; `None`: print on change until `shutdown`.
    pub once: Option<Duration>,
    /// TLS and credentials for the broker.
    pub security: super::BrokerSecurity,
}

/// How often a live table is looked at (and reprinted when it changed: the ages in it change
/// every second, so "changed" means a different set of verdicts, states or counts).
const REFRESH: Duration = Duration::from_secs(2);

/// Prints the fleet table to `out`: once after `opts.once`, or whenever it changes until
/// `shutdown` (or until `out` is closed). Returns how many sites were seen.
pub async fn run(
    opts: &FleetOptions,
    out: &mut (dyn Write + Send),
    shutdown: impl std::future::Future<Output = ()>,
) -> usize {
    let watch = FleetWatch::connect(opts.broker.clone(), &opts.security, &opts.prefix);
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    if let Some(wait) = opts.once {
        tokio::select! {
            () = shutdown => {}
            () = tokio::time::sleep(wait) => {}
        }
        let fleet = watch.snapshot();
        for line in fleet.table(Instant::now()) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        return fleet.sites.len();
    }
    tokio::pin!(shutdown);
    let mut shown: Option<Vec<String>> = None;
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        let fleet = watch.snapshot();
        let key: Vec<String> = fleet
            .sites
            .iter()
            .map(|(site, v)| {
                format!(
                    "{site} {:?} {:?} {:?} {:?}",
                    v.verdict(),
                    v.bridge,
                    v.state,
                    v.health
                )
            })
            .collect();
        if shown.as_ref() == Some(&key) {
            continue;
        }
        shown = Some(key);
        let stamp = unix_now();
        let mut text = format!(
            "-- fleet at {stamp} (Unix s), {} site(s)\n",
            fleet.sites.len()
        );
        for line in fleet.table(Instant::now()) {
            text.push_str(&line);
            text.push('\n');
        }
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    watch.snapshot().sites.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(status: &str, reasons: &[&str], last: Option<u64>) -> Vec<u8> {
        serde_json::json!({
            "status": status, "reasons": reasons, "alarms": [], "agents": 20, "queues": 2,
            "last_resync_age_s": last, "session": 1
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_bridge_is_read_before_the_frozen_state() {
        let now = Instant::now();
        let mut f = Fleet::default();
        f.apply("presence/lyon/bridge/$state", b"1", 1, now);
        f.apply("presence/lyon/gateway/$state", b"online", 1, now);
        assert_eq!(f.sites["lyon"].verdict(), Verdict::Unknown, "no health yet");
        f.apply(
            "presence/lyon/gateway/health",
            &health("ok", &[], Some(3)),
            1,
            now,
        );
        assert_eq!(f.sites["lyon"].verdict(), Verdict::Ok);
        f.apply(
            "presence/lyon/gateway/health",
            &health("degraded", &["resync_incomplete"], None),
            1,
            now,
        );
        assert_eq!(f.sites["lyon"].verdict(), Verdict::Degraded);
        // The site's broker goes away: its `$state` stays `online` on the central broker.
        f.apply("presence/lyon/bridge/$state", b"0", 1, now);
        assert_eq!(f.sites["lyon"].verdict(), Verdict::Unreachable);
        f.apply("presence/lyon/bridge/$state", b"1", 1, now);
        f.apply("presence/lyon/gateway/$state", b"lost", 1, now);
        assert_eq!(f.sites["lyon"].verdict(), Verdict::Lost);
        f.apply("presence/lyon/gateway/$state", b"offline", 1, now);
        assert_eq!(f.sites["lyon"].verdict(), Verdict::Offline);
        // Other topics and malformed health change nothing else.
        f.apply("presence/lyon/zone/all/roster", b"\x02", 1, now);
        f.apply("presence/oslo/gateway/health", b"{not json", 1, now);
        assert_eq!(f.sites.len(), 2);
        assert!(f.sites["oslo"].health.is_none());
    }

    #[test]
    fn one_line_per_site_with_unknowns_shown_as_dashes() {
        let now = Instant::now();
        let mut f = Fleet::default();
        f.apply("acme/eu/oslo/gateway/$state", b"online", 2, now);
        f.apply(
            "acme/eu/oslo/gateway/health",
            &health("degraded", &["upstream_down"], Some(55)),
            2,
            now,
        );
        f.apply("acme/eu/lyon/bridge/$state", b"0", 2, now);
        // The health document is 5 s old: the resync it reported 55 s old is 1 min old now.
        let t = f.table(now + Duration::from_secs(5));
        assert_eq!(t.len(), 3);
        assert!(t[0].starts_with("SITE"));
        let lyon: Vec<&str> = t[1].split_whitespace().collect();
        assert_eq!(
            lyon,
            ["lyon", "UNREACHABLE", "down", "–", "–", "–", "–", "–", "–"]
        );
        let oslo: Vec<&str> = t[2].split_whitespace().collect();
        assert_eq!(
            oslo,
            [
                "oslo",
                "degraded",
                "–",
                "online",
                "20",
                "2",
                "1m00s",
                "ago",
                "5s",
                "upstream_down"
            ]
        );
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(65), "1m05s");
        assert_eq!(age(7_620), "2h07m");
    }
}
