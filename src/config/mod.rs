//! Configuration: the site config (`site.toml`), the board profile it names (`board/*.toml`)
//! and the secrets (environment or a private secrets file), read in two stages (STYLE.md
//! habit 8): [`Raw`] is deserialized and only that, then validated into the typed [`Config`]
//! that the stages use. Also the CLI ([`cli`]). Owns every default and every range check;
//! does not open sockets, create directories or start anything.
//!
//! # Layout
//! - `raw.rs`: [`Raw`] serde structs (what the file says).
//! - `mod.rs`: [`Config`] and its parts, defaults, [`Config::summary`].
//! - `validate.rs`: the range and shape checks, [`Raw`] part by part into [`Config`] parts.
//! - `board.rs`: [`Board`], [`Capacity`], worst-case [`MemoryEstimate`], the embedded boards.
//! - `endpoint.rs`: Genesys [`REGIONS`] and [`BaseUrl`] (https, or http to loopback only).
//! - `secret.rs`: [`Secret`], the [`Env`] seam, the secrets file and its mode check.
//! - `error.rs`: [`ConfigError`], [`EXIT_USAGE`].
//! - `cli.rs`: clap [`cli::Cli`] and [`cli::check_config`].
//!
//! Every error names the field (`genesys.api_base`, `watch.users[2]`, `zone[1].name`) and
//! exits with [`EXIT_USAGE`] (64) before any socket opens.

mod board;
pub mod cli;
mod endpoint;
mod error;
mod raw;
mod secret;
mod validate;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use board::{
    Board, BoardOrigin, Capacity, MemoryEstimate, MemoryLine, AGENT_RECORD_BYTES, EMBEDDED,
    EVENT_BYTES, KEY_MAP_ENTRY_BYTES, MQTT_REQUEST_BYTES, QUEUE_RECORD_BYTES,
    RUNTIME_OVERHEAD_BYTES, SLED_OVERHEAD_BYTES, ZONE_MEMBER_BYTES,
};
pub use endpoint::{region_domain, BaseUrl, REGIONS};
pub use error::{ConfigError, EXIT_USAGE};
pub use raw::{Raw, RawClient, RawGenesys, RawMqtt, RawSite, RawWatch, RawZone};
pub use secret::{
    client_env, Env, ProcessEnv, Secret, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_MQTT_PASSWORD,
};

use crate::event::Id;
use crate::limits::ZONE_NAME_LEN;
use validate::*;

/// The channels a watch set needs in its worst case ([`Config::channel_plan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelPlan {
    /// Agents counted: configured users, or the board's `max_agents` when members of watched
    /// queues or groups are only known at run time.
    pub agents: usize,
    /// Whether membership is only known at run time.
    pub members_at_run_time: bool,
    /// Topic weight: agents × `user_topic_weight` + 2 per watched queue.
    pub weight: usize,
    /// Channels that weight needs.
    pub channels: usize,
    /// Channels usable per client (the budget less one spare for rotation).
    pub usable: usize,
    /// OAuth clients configured.
    pub clients: usize,
    /// Most agents the clients carry with the watched queues (packed as the gateway packs).
    pub agents_that_fit: usize,
}

impl ChannelPlan {
    /// Whether the configured OAuth clients carry it.
    pub fn fits(&self) -> bool {
        self.channels <= self.usable * self.clients
    }
}

/// Longest site id: it is one MQTT topic level, like a zone name.
pub const SITE_ID_LEN: usize = 32;
/// Longest MQTT topic prefix (it precedes site and zone in every topic).
pub const TOPIC_PREFIX_LEN: usize = 64;
/// Longest MQTT client id accepted (brokers must accept 23; most accept far more).
pub const MQTT_CLIENT_ID_LEN: usize = 128;

/// Defaults for every optional field, in one place (each says why).
pub mod defaults {
    /// No message (heartbeat, event, pong) for this long = dead socket. Genesys heartbeats
    /// every ~30 s (COMM-HB), so 45 s tolerates one late heartbeat.
    pub const HEARTBEAT_TIMEOUT_SECS: u64 = 45;
    /// Our `{"message":"ping"}` period: keeps NAT state alive and gets a pong between heartbeats.
    pub const PING_INTERVAL_SECS: u64 = 20;
    /// Fetch a new token once 80 % of `expires_in` has passed (no refresh tokens for
    /// client credentials, PROTOCOL.md §1).
    pub const TOKEN_REFRESH_FRACTION: f64 = 0.8;
    /// Replace a channel 1 h before its 24 h `expires`, leaving time for retries.
    pub const CHANNEL_ROTATE_BEFORE_SECS: u64 = 3600;
    /// First reconnect delay.
    pub const BACKOFF_MIN_MS: u64 = 500;
    /// Reconnect delay ceiling.
    pub const BACKOFF_MAX_SECS: u64 = 30;
    /// REST calls per minute: under Genesys' 300/min per token, leaving room for a human
    /// using the same OAuth client.
    pub const REST_BUDGET_PER_MIN: u32 = 240;
    /// Seconds a REST request may wait for its answer head, and again for its body: a server
    /// that accepts and never answers costs this much per attempt, not a stalled resync.
    pub const REST_TIMEOUT_SECS: u64 = 15;
    /// No answer to a ping within this long: the socket is dead.
    pub const PONG_TIMEOUT_SECS: u64 = 10;
    /// Watched groups' members are read again this often (Genesys notifies no change).
    pub const GROUP_REFRESH_SECS: u64 = 300;
    /// `genesys.queue_figures_secs`: one request per 100 queues this often (5 of the 300
    /// requests a minute for 500 queues at the default).
    pub const QUEUE_FIGURES_SECS: u64 = 60;
    /// Genesys refuses more than 1000 topics per channel.
    pub const MAX_TOPICS_PER_CHANNEL: usize = 1000;
    /// Genesys keeps 20 channels per OAuth client (user + application); a 21st evicts the
    /// oldest. The gateway keeps one spare for one-at-a-time rotation.
    pub const MAX_CHANNELS_PER_CLIENT: usize = 20;
    /// Zone warning threshold (waiting interactions).
    pub const WAITING_WARNING: u32 = 5;
    /// Zone critical threshold (waiting interactions).
    pub const WAITING_CRITICAL: u32 = 10;
    /// MQTT port without TLS.
    pub const MQTT_PORT: u16 = 1883;
    /// MQTT port with TLS.
    pub const MQTTS_PORT: u16 = 8883;
    /// First MQTT topic level.
    pub const TOPIC_PREFIX: &str = "presence";
    /// MQTT keep alive.
    pub const KEEP_ALIVE_SECS: u64 = 30;
    /// Metrics report period.
    pub const METRICS_INTERVAL_SECS: u64 = 10;
    /// Name of the zone created when none is configured.
    pub const IMPLICIT_ZONE: &str = "all";
}

/// The validated configuration every stage is built from.
#[derive(Clone, Debug)]
pub struct Config {
    /// `[site]`.
    pub site: Site,
    /// The board profile the site names, validated and budget-checked.
    pub board: Board,
    /// `[genesys]` plus the OAuth credentials.
    pub genesys: Genesys,
    /// Everything to subscribe to: `[watch]` plus every id a zone names.
    pub watch: Watch,
    /// Zones, at least one (the implicit `all` when none is configured).
    pub zones: Vec<Zone>,
    /// `[mqtt]` plus the password.
    pub mqtt: Mqtt,
}

/// `[site]`, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// `[a-z0-9-_]{1,32}`; one MQTT topic level.
    pub id: String,
    /// Where sled keeps state: the site's `state_dir` or the board's, relative paths resolved
    /// against the config file's directory. Not created here.
    pub state_dir: PathBuf,
    /// The secrets file that was read, if any.
    pub secrets_file: Option<PathBuf>,
    /// The site config file, when loaded from one.
    pub config_path: Option<PathBuf>,
}

/// `[genesys]`, typed, with the OAuth client credentials.
#[derive(Clone, Debug)]
pub struct Genesys {
    /// The region key when the endpoints came from the table.
    pub region: Option<String>,
    /// `https://api.{env}` (or loopback `http://` for tests).
    pub api_base: BaseUrl,
    /// `https://login.{env}`.
    pub login_base: BaseUrl,
    /// Extra CA (PEM) to trust in addition to the compiled-in roots; checked to exist.
    pub ca_file: Option<PathBuf>,
    /// The OAuth clients, at least one: each has its own token, channels (at most
    /// `max_channels_per_client`) and REST budget (`rest_budget_per_min`). Without
    /// `[[genesys.client]]` there is one, named `default`, with `GENESYS_CLIENT_ID` /
    /// `GENESYS_CLIENT_SECRET` (or the secrets file's `client_id` / `client_secret`).
    pub clients: Vec<OAuthClient>,
    /// Silence on the WebSocket longer than this = reconnect.
    pub heartbeat_timeout: Duration,
    /// Period of our pings; shorter than `heartbeat_timeout`.
    pub ping_interval: Duration,
    /// No frame within this long after a ping = dead socket (1..=60 s).
    pub pong_timeout: Duration,
    /// Refresh a token after this fraction of its lifetime (0.1..=0.95).
    pub token_refresh_fraction: f64,
    /// Rotate a channel this long before its `expires`.
    pub channel_rotate_before: Duration,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay (≥ `backoff_min`).
    pub backoff_max: Duration,
    /// REST requests per minute (1..=300).
    pub rest_budget_per_min: u32,
    /// Wait for one REST answer (head, then body) before it counts as failed (1..=120 s).
    pub rest_timeout: Duration,
    /// Watched groups' members are re-read this often: joiners watched, leavers cleared
    /// (30..=86400 s).
    pub group_refresh: Duration,
    /// The watched queues' interval figures (offered, answered, abandoned, service level) are
    /// read again this often (5..=3600 s): the queue topic does not carry `answered`.
    pub queue_figures: Duration,
    /// Topics per channel (1..=1000).
    pub max_topics_per_channel: usize,
    /// Channels per OAuth client (2..=20), one kept spare for rotation.
    pub max_channels_per_client: usize,
    /// What one combined user topic (`v2.users.{id}?activity&conversations`) counts toward
    /// `max_topics_per_channel` (1..=2, default 2: its expansion).
    pub user_topic_weight: usize,
}

/// Most `[[genesys.client]]` entries.
pub const MAX_CLIENTS: usize = 8;

/// Longest client name.
pub const CLIENT_NAME_LEN: usize = 16;

/// One OAuth client (client credentials grant).
#[derive(Clone, Debug)]
pub struct OAuthClient {
    /// Its name (`default` for the single unnamed client).
    pub name: String,
    /// Client id.
    pub id: Secret,
    /// Client secret.
    pub secret: Secret,
}

/// What to subscribe to, as ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watch {
    /// Users: `[watch].users` then zone users not already listed; no duplicates.
    pub users: Vec<Id>,
    /// Queues: `[watch].queues` then zone queues not already listed; no duplicates.
    pub queues: Vec<Id>,
    /// Groups, expanded to users at runtime.
    pub groups: Vec<Id>,
    /// Most agents watched (`[watch] max_agents`, default and at most the board's
    /// `max_agents`): discovery stops there, and the channel arithmetic counts it as the
    /// worst case when members are only known at run time.
    pub max_agents: usize,
}

/// One display zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// `[a-z0-9-_]`, at most [`ZONE_NAME_LEN`]; one MQTT topic level.
    pub name: heapless::String<ZONE_NAME_LEN>,
    /// Queues shown in the zone.
    pub queues: Vec<Id>,
    /// Users listed explicitly (at most `capacity.max_zone_members`).
    pub users: Vec<Id>,
    /// Agents who are members of the zone's queues belong to the zone too.
    pub members_of_queues: bool,
    /// Waiting interactions at which the zone shows a warning (≥ 1).
    pub waiting_warning: u32,
    /// Waiting interactions at which the zone shows critical (≥ warning).
    pub waiting_critical: u32,
    /// True for the zone `all` made because no `[[zone]]` was configured.
    pub implicit: bool,
}

/// `[mqtt]`, typed, with the password.
#[derive(Clone, Debug)]
pub struct Mqtt {
    /// Broker host name or address.
    pub host: String,
    /// Broker port (default 1883, 8883 with TLS).
    pub port: u16,
    /// TLS settings; `None` = plain TCP.
    pub tls: Option<MqttTls>,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password (`MQTT_PASSWORD` or the secrets file); only with a `username`.
    pub password: Option<Secret>,
    /// MQTT client id (default `presence-gateway-{site}`).
    pub client_id: String,
    /// First topic level(s): `[a-z0-9-_]` levels joined by `/` (so never a wildcard).
    pub topic_prefix: String,
    /// MQTT keep alive.
    pub keep_alive: Duration,
    /// Period of the health/metrics report.
    pub metrics_interval: Duration,
    /// `json_mirror` and `home_assistant_discovery` (both off by default).
    pub json: crate::publish::JsonOptions,
}

/// TLS to the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttTls {
    /// CA (PEM) that signed the broker's certificate; `None` = compiled-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub client_auth: Option<ClientAuth>,
}

/// A client certificate and its key (the key file must be private: mode & 0o077 == 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAuth {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

impl Config {
    /// Reads the site config at `path` (relative names in it resolve against its directory),
    /// its board and its secrets, and validates everything.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let raw = Raw::from_toml_str(&text, path)?;
        let mut config = Config::from_raw(raw, base_dir, env)?;
        config.site.config_path = Some(path.to_owned());
        Ok(config)
    }

    /// Like [`Config::load`] for config text; `base_dir` stands in for the file's directory.
    pub fn from_toml_str(
        text: &str,
        base_dir: &Path,
        env: &dyn Env,
    ) -> Result<Config, ConfigError> {
        let raw = Raw::from_toml_str(text, Path::new("<inline>"))?;
        Config::from_raw(raw, base_dir, env)
    }

    /// Stage two: validates a deserialized [`Raw`] into a `Config`.
    pub fn from_raw(raw: Raw, base_dir: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let Raw {
            site,
            genesys,
            watch,
            zones,
            mqtt,
        } = raw;

        check_name("site.id", &site.id, SITE_ID_LEN)?;
        let board = Board::resolve(&site.board, base_dir)?;
        let state_dir = base_dir.join(site.state_dir.as_ref().unwrap_or(&board.state_dir));
        if site
            .state_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err(ConfigError::invalid("site.state_dir", "must not be empty"));
        }

        let secrets_path = site.secrets_file.as_ref().map(|p| base_dir.join(p));
        let file = match &secrets_path {
            Some(p) => secret::read_secrets_file(p)?,
            None => secret::SecretsFile::default(),
        };
        let from = |var: &str, file_value: Option<String>| {
            env.get(var)
                .filter(|v| !v.is_empty())
                .or(file_value.filter(|v| !v.is_empty()))
        };
        let hint = |var: &str, key: &str| match &secrets_path {
            Some(p) => format!("set {var} in the environment or {key} in {}", p.display()),
            None => format!(
                "set {var} in the environment, or name a secrets_file in [site] holding {key}"
            ),
        };
        let clients = if genesys.clients.is_empty() {
            let id = from(ENV_CLIENT_ID, file.client_id.clone()).ok_or_else(|| {
                ConfigError::missing(ENV_CLIENT_ID, hint(ENV_CLIENT_ID, "client_id"))
            })?;
            let secret = from(ENV_CLIENT_SECRET, file.client_secret.clone()).ok_or_else(|| {
                ConfigError::missing(ENV_CLIENT_SECRET, hint(ENV_CLIENT_SECRET, "client_secret"))
            })?;
            vec![OAuthClient {
                name: "default".to_string(),
                id: Secret::new(id),
                secret: Secret::new(secret),
            }]
        } else {
            if genesys.clients.len() > MAX_CLIENTS {
                return Err(ConfigError::invalid(
                    "genesys.client",
                    format!("at most {MAX_CLIENTS} clients"),
                ));
            }
            let mut clients: Vec<OAuthClient> = Vec::new();
            for c in &genesys.clients {
                check_name("genesys.client.name", &c.name, CLIENT_NAME_LEN)?;
                if clients.iter().any(|k| k.name == c.name) {
                    return Err(ConfigError::invalid(
                        "genesys.client.name",
                        format!("{:?} is named twice", c.name),
                    ));
                }
                let stored = file.client.get(&c.name).cloned().unwrap_or_default();
                let (id_var, secret_var) = (
                    secret::client_env(ENV_CLIENT_ID, &c.name),
                    secret::client_env(ENV_CLIENT_SECRET, &c.name),
                );
                let key = |k: &str| format!("{k} in [client.{}]", c.name);
                let id = from(&id_var, stored.client_id).ok_or_else(|| {
                    ConfigError::missing(&id_var, hint(&id_var, &key("client_id")))
                })?;
                let secret = from(&secret_var, stored.client_secret).ok_or_else(|| {
                    ConfigError::missing(&secret_var, hint(&secret_var, &key("client_secret")))
                })?;
                clients.push(OAuthClient {
                    name: c.name.clone(),
                    id: Secret::new(id),
                    secret: Secret::new(secret),
                });
            }
            clients
        };
        let mqtt_password = from(ENV_MQTT_PASSWORD, file.mqtt_password.clone());

        let genesys = validate_genesys(genesys, base_dir, clients)?;
        let (watch, zones) = validate_watch_and_zones(watch, zones, &board)?;
        if watch.users.is_empty() && watch.queues.is_empty() && watch.groups.is_empty() {
            return Err(ConfigError::invalid(
                "watch",
                "nothing to watch: list users, queues or groups in [watch] or in a [[zone]]",
            ));
        }
        let mqtt = validate_mqtt(mqtt, base_dir, &site.id, mqtt_password)?;

        Ok(Config {
            site: Site {
                id: site.id,
                state_dir,
                secrets_file: secrets_path,
                config_path: None,
            },
            board,
            genesys,
            watch,
            zones,
            mqtt,
        })
    }

    /// The channel arithmetic of the watch set in its worst case: configured users, and up to
    /// the board's `max_agents` when membership of watched queues or groups is only known at
    /// run time; weighted as the gateway subscribes them.
    pub fn channel_plan(&self) -> ChannelPlan {
        let g = &self.genesys;
        let members_at_run_time = !self.watch.queues.is_empty() || !self.watch.groups.is_empty();
        let agents = if members_at_run_time {
            self.watch.max_agents
        } else {
            self.watch.users.len().min(self.watch.max_agents)
        };
        let w = g.user_topic_weight;
        let queue_weight = 2 * self.watch.queues.len();
        let weight = agents * w + queue_weight;
        // Packing leaves at most one topic's weight unused per channel.
        let per_channel = g.max_topics_per_channel.max(w) - (w - 1);
        let usable = g.max_channels_per_client.saturating_sub(1).max(1);
        let clients = g.clients.len();
        ChannelPlan {
            agents,
            members_at_run_time,
            weight,
            channels: weight.div_ceil(per_channel),
            usable,
            clients,
            agents_that_fit: (usable * clients * per_channel).saturating_sub(queue_weight) / w,
        }
    }

    /// The channel plan when its worst case fits the configured OAuth clients; otherwise the
    /// refusal `check-config` exits 64 with, naming the field to change.
    pub fn check_fit(&self) -> Result<ChannelPlan, ConfigError> {
        let plan = self.channel_plan();
        if plan.fits() {
            return Ok(plan);
        }
        Err(ConfigError::invalid(
            "genesys.client",
            format!(
                "the watch set needs up to {} channels ({} agents{}, {} queues), {} OAuth \
                 client(s) carry {} ({} each, one of {} kept spare): add a [[genesys.client]] \
                 (each carries {} more), or set [watch] max_agents to at most {}",
                plan.channels,
                plan.agents,
                if plan.members_at_run_time {
                    " counting members of watched queues or groups up to max_agents"
                } else {
                    ""
                },
                self.watch.queues.len(),
                plan.clients,
                plan.usable * plan.clients,
                plan.usable,
                self.genesys.max_channels_per_client,
                plan.usable,
                plan.agents_that_fit
            ),
        ))
    }

    /// A human-readable description of the configuration without any secret value (for
    /// `check-config` and the startup log).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let site = &self.site;
        let _ = writeln!(s, "site          {}", site.id);
        if let Some(p) = &site.config_path {
            let _ = writeln!(s, "config        {}", p.display());
        }
        let _ = writeln!(s, "state dir     {}", site.state_dir.display());
        let b = &self.board;
        let _ = writeln!(
            s,
            "board         {} ({}), target {}, budget {} MiB of {} MiB RAM, stale after {}s",
            b.name,
            b.origin,
            b.target,
            b.memory_budget_mib,
            b.ram_mib,
            b.stale_ttl.as_secs()
        );
        let c = &b.capacity;
        let _ = writeln!(
            s,
            "capacity      {} agents, {} queues, {} zones × {} members, event channel {}, \
             ws message {} B / frame {} B, rest body {} B, sled cache {} B, \
             mqtt inflight {} / requests {}, republish {}/s",
            c.max_agents,
            c.max_queues,
            c.max_zones,
            c.max_zone_members,
            c.event_channel_depth,
            c.ws_max_message_bytes,
            c.ws_max_frame_bytes,
            c.rest_max_body_bytes,
            c.sled_cache_bytes,
            c.mqtt_inflight,
            c.mqtt_request_depth,
            c.republish_per_second
        );
        let g = &self.genesys;
        let region = g.region.as_deref().map_or_else(
            || "explicit endpoints".to_owned(),
            |r| format!("region {r}"),
        );
        let _ = writeln!(
            s,
            "genesys       {region}: api {} login {}{}",
            g.api_base,
            g.login_base,
            g.ca_file
                .as_ref()
                .map_or_else(String::new, |p| format!(", extra CA {}", p.display()))
        );
        let _ = writeln!(
            s,
            "              heartbeat timeout {}s, ping {}s, token refresh at {}% of lifetime, \
             channel rotated {}s before expiry, backoff {}ms..{}s, {} REST/min, REST timeout {}s, \
             {} topics/channel (a user topic weighs {}), {} channels/client (one spare)",
            g.heartbeat_timeout.as_secs(),
            g.ping_interval.as_secs(),
            percent(g.token_refresh_fraction),
            g.channel_rotate_before.as_secs(),
            g.backoff_min.as_millis(),
            g.backoff_max.as_secs(),
            g.rest_budget_per_min,
            g.rest_timeout.as_secs(),
            g.max_topics_per_channel,
            g.user_topic_weight,
            g.max_channels_per_client
        );
        let plan = self.channel_plan();
        let _ = writeln!(
            s,
            "channels      worst case: {} agents ({} configured{}) × weight {} + {} queues × 2 \
             = {} topic weight → {} channel(s) of {} topics; budget {} per client, one kept \
             spare, {} client(s) carry {} channels, {} agents: {}",
            plan.agents,
            self.watch.users.len(),
            if plan.members_at_run_time {
                format!(
                    ", the rest members of watched queues or groups up to max_agents {}",
                    self.watch.max_agents
                )
            } else {
                String::new()
            },
            g.user_topic_weight,
            self.watch.queues.len(),
            plan.weight,
            plan.channels,
            g.max_topics_per_channel,
            g.max_channels_per_client,
            plan.clients,
            plan.usable * plan.clients,
            plan.agents_that_fit,
            if plan.fits() { "fits" } else { "DOES NOT FIT" }
        );
        // The first client's channels fill first, then the next (as the gateway places them).
        let mut left = plan.channels;
        let per_client: Vec<String> = g
            .clients
            .iter()
            .map(|c| {
                let n = left.min(plan.usable);
                left -= n;
                format!("{} {n} channel(s)", c.name)
            })
            .collect();
        let _ = writeln!(
            s,
            "  per client  {}{}",
            per_client.join(", "),
            if left > 0 {
                format!("; {left} channel(s) carried by none")
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "credentials   {} OAuth client(s) ({}), id and secret set{}; mqtt password {}",
            g.clients.len(),
            g.clients
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            site.secrets_file
                .as_ref()
                .map_or_else(String::new, |p| format!(" (secrets file {})", p.display())),
            if self.mqtt.password.is_some() {
                "set"
            } else {
                "not set"
            }
        );
        let w = &self.watch;
        let _ = writeln!(
            s,
            "watch         {} users, {} queues, {} groups",
            w.users.len(),
            w.queues.len(),
            w.groups.len()
        );
        let _ = writeln!(s, "zones         {}", self.zones.len());
        for z in &self.zones {
            let _ = writeln!(
                s,
                "  {:<12} {} queues, {} users{}{}, waiting warning ≥ {}, critical ≥ {}",
                z.name.as_str(),
                z.queues.len(),
                z.users.len(),
                if z.members_of_queues {
                    " + queue members"
                } else {
                    ""
                },
                if z.implicit {
                    " (implicit: no [[zone]] configured)"
                } else {
                    ""
                },
                z.waiting_warning,
                z.waiting_critical
            );
        }
        let m = &self.mqtt;
        let tls = match &m.tls {
            None => "plain TCP".to_owned(),
            Some(t) => format!(
                "TLS (CA {}{})",
                t.ca_file
                    .as_ref()
                    .map_or_else(|| "built-in roots".to_owned(), |p| p.display().to_string()),
                t.client_auth.as_ref().map_or_else(String::new, |a| format!(
                    ", client cert {}",
                    a.cert.display()
                ))
            ),
        };
        let _ = writeln!(
            s,
            "mqtt          {}:{} {tls}, client id {}, user {}, topics {}/{}/…",
            m.host,
            m.port,
            m.client_id,
            m.username.as_deref().unwrap_or("(none)"),
            m.topic_prefix,
            site.id
        );
        let _ = write!(
            s,
            "              keep alive {}s, metrics every {}s",
            m.keep_alive.as_secs(),
            m.metrics_interval.as_secs()
        );
        if m.json.mirror {
            let _ = write!(
                s,
                ", JSON mirror under {}/{}/json/…",
                m.topic_prefix, site.id
            );
        }
        if m.json.home_assistant {
            let _ = write!(s, ", Home Assistant discovery");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: [(&str, &str); 2] = [(ENV_CLIENT_ID, "cid"), (ENV_CLIENT_SECRET, "csecret")];
    const Q1: &str = "11111111-1111-1111-1111-111111111111";
    const U1: &str = "22222222-2222-2222-2222-222222222222";

    fn minimal(extra: &str) -> String {
        format!(
            "[site]\nid = \"lab\"\nboard = \"rpi4\"\n[genesys]\nregion = \"eu_west_1\"\n\
             [watch]\nqueues = [\"{Q1}\"]\nusers = [\"{U1}\"]\n[mqtt]\nhost = \"localhost\"\n{extra}"
        )
    }

    #[test]
    fn rest_timeout_is_configurable_within_bounds() {
        let with = |v: &str| {
            let toml = minimal("").replace("[watch]", &format!("rest_timeout_secs = {v}\n[watch]"));
            Config::from_toml_str(&toml, Path::new("/etc/pg"), &ENV)
        };
        assert_eq!(
            with("1").unwrap().genesys.rest_timeout,
            Duration::from_secs(1)
        );
        for bad in ["0", "121"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("genesys.rest_timeout_secs"), "{e}");
        }
    }

    #[test]
    fn json_mirror_and_home_assistant_are_opt_in() {
        let off = Config::from_toml_str(&minimal(""), Path::new("/etc/pg"), &ENV).unwrap();
        assert_eq!(off.mqtt.json, crate::publish::JsonOptions::default());
        assert!(!off.summary().contains("JSON mirror"));
        let toml = minimal("json_mirror = true\nhome_assistant_discovery = true\n");
        let on = Config::from_toml_str(&toml, Path::new("/etc/pg"), &ENV).unwrap();
        assert!(on.mqtt.json.mirror && on.mqtt.json.home_assistant);
        assert!(on
            .summary()
            .contains("JSON mirror under presence/lab/json/…, Home Assistant discovery"));
        let e = Config::from_toml_str(
            &minimal("json_mirror = \"yes\"\n"),
            Path::new("/etc/pg"),
            &ENV,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("json_mirror"), "{e}");
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::from_toml_str(&minimal(""), Path::new("/etc/pg"), &ENV).unwrap();
        assert_eq!(c.genesys.api_base.as_str(), "https://api.mypurecloud.ie");
        assert_eq!(
            c.genesys.login_base.as_str(),
            "https://login.mypurecloud.ie"
        );
        assert_eq!(c.genesys.heartbeat_timeout, Duration::from_secs(45));
        assert_eq!(c.genesys.backoff_min, Duration::from_millis(500));
        assert_eq!(c.genesys.rest_timeout, Duration::from_secs(15));
        assert_eq!(c.mqtt.port, 1883);
        assert_eq!(c.mqtt.client_id, "presence-gateway-lab");
        assert_eq!(c.mqtt.topic_prefix, "presence");
        assert_eq!(
            c.site.state_dir,
            PathBuf::from("/var/lib/presence-gateway/sled")
        );
        assert_eq!(c.zones.len(), 1);
        assert_eq!(c.zones[0].name.as_str(), "all");
        assert!(c.zones[0].implicit);
        assert_eq!(c.zones[0].queues, vec![Id::parse(Q1).unwrap()]);
        assert_eq!(
            (c.zones[0].waiting_warning, c.zones[0].waiting_critical),
            (5, 10)
        );
    }

    #[test]
    fn tls_default_port_is_8883() {
        let c = Config::from_toml_str(&minimal("tls = true\n"), Path::new("."), &ENV).unwrap();
        assert_eq!(c.mqtt.port, 8883);
        assert_eq!(
            c.mqtt.tls,
            Some(MqttTls {
                ca_file: None,
                client_auth: None
            })
        );
    }

    #[test]
    fn percent_rounds() {
        assert_eq!(percent(0.8), 80);
        assert_eq!(percent(0.95), 95);
        assert_eq!(percent(0.1), 10);
    }

    #[test]
    fn zone_ids_join_the_watch() {
        let text = minimal(&format!(
            "[[zone]]\nname = \"z\"\nqueues = [\"{Q1}\", \"33333333-3333-3333-3333-333333333333\"]\n"
        ));
        let c = Config::from_toml_str(&text, Path::new("."), &ENV).unwrap();
        assert_eq!(c.watch.queues.len(), 2);
        assert!(!c.zones[0].implicit);
    }
}
