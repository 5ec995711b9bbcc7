//! [`Raw`]: the site config exactly as written in TOML. Only deserialized here: every field is
//! optional where the file may leave it out, unknown keys are refused, and nothing is checked
//! beyond types. Validation into the typed `Config` happens in `config/mod.rs`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// The whole site config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `[site]`.
    pub site: RawSite,
    /// `[genesys]`.
    pub genesys: RawGenesys,
    /// `[watch]`; may be empty when zones list everything.
    #[serde(default)]
    pub watch: RawWatch,
    /// `[[zone]]` tables; none means one implicit zone `all`.
    #[serde(default, rename = "zone")]
    pub zones: Vec<RawZone>,
    /// `[mqtt]`.
    pub mqtt: RawMqtt,
}

/// `[site]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    /// Site id used in MQTT topics.
    pub id: String,
    /// Board name or path.
    pub board: String,
    /// Overrides the board's `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// TOML file with `client_id`, `client_secret`, `mqtt_password`.
    pub secrets_file: Option<PathBuf>,
}

/// `[genesys]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenesys {
    /// Region key (`eu_west_1`); exclusive with `api_base`/`login_base`.
    pub region: Option<String>,
    /// Explicit API base URL.
    pub api_base: Option<String>,
    /// Explicit login base URL.
    pub login_base: Option<String>,
    /// Extra CA (PEM) to trust for the API, login and WebSocket hosts.
    pub ca_file: Option<PathBuf>,
    /// Seconds without any message before the WebSocket is considered dead.
    pub heartbeat_timeout_secs: Option<u64>,
    /// Seconds between our `ping` messages.
    pub ping_interval_secs: Option<u64>,
    /// Seconds a ping may go unanswered before the socket counts as dead.
    pub pong_timeout_secs: Option<u64>,
    /// Fraction of a token's lifetime after which a new one is fetched.
    pub token_refresh_fraction: Option<f64>,
    /// Seconds before a channel's `expires` at which it is replaced.
    pub channel_rotate_before_secs: Option<u64>,
    /// First reconnect delay, milliseconds.
    pub backoff_min_ms: Option<u64>,
    /// Largest reconnect delay, seconds.
    pub backoff_max_secs: Option<u64>,
    /// REST requests per minute the gateway allows itself.
    pub rest_budget_per_min: Option<u32>,
    /// Seconds one REST request may wait for its answer (head, then body).
    pub rest_timeout_secs: Option<u64>,
    /// Seconds between re-reads of the watched groups' members.
    pub group_refresh_secs: Option<u64>,
    /// Seconds between reads of the watched queues' interval figures.
    pub queue_figures_secs: Option<u64>,
    /// Topics subscribed per channel.
    pub max_topics_per_channel: Option<usize>,
    /// Channels per OAuth client.
    pub max_channels_per_client: Option<usize>,
    /// What a combined user topic counts toward the per-channel limit.
    pub user_topic_weight: Option<usize>,
    /// `[[genesys.client]]`: several OAuth clients, the watch set sharded across them.
    #[serde(default, rename = "client")]
    pub clients: Vec<RawClient>,
}

/// One `[[genesys.client]]`: a name; its credentials come from the environment
/// (`GENESYS_CLIENT_ID_{NAME}`, `GENESYS_CLIENT_SECRET_{NAME}`) or the secrets file
/// (`[client.{name}]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// `[a-z0-9_-]`, at most 16 bytes; names the client in metrics, audit and logs.
    pub name: String,
}

/// `[watch]`: ids as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    /// User ids.
    #[serde(default)]
    pub users: Vec<String>,
    /// Queue ids.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Group ids (expanded to users at runtime).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Most agents watched (default: the board's `max_agents`).
    pub max_agents: Option<usize>,
}

/// One `[[zone]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    /// Zone name used in MQTT topics.
    pub name: String,
    /// Queue ids.
    #[serde(default)]
    pub queues: Vec<String>,
    /// User ids.
    #[serde(default)]
    pub users: Vec<String>,
    /// Whether members of the zone's queues belong to the zone.
    pub members_of_queues: Option<bool>,
    /// Waiting interactions at which the zone shows a warning.
    pub waiting_warning: Option<u32>,
    /// Waiting interactions at which the zone shows critical.
    pub waiting_critical: Option<u32>,
}

/// `[mqtt]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: Option<u16>,
    /// Use TLS.
    pub tls: Option<bool>,
    /// CA (PEM) for the broker; default: the compiled-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    pub client_key: Option<PathBuf>,
    /// MQTT user name.
    pub username: Option<String>,
    /// Accept sending the MQTT password over plain TCP to a broker off loopback.
    pub allow_plaintext_credentials: Option<bool>,
    /// MQTT client id.
    pub client_id: Option<String>,
    /// First topic level(s).
    pub topic_prefix: Option<String>,
    /// MQTT keep alive, seconds.
    pub keep_alive_secs: Option<u64>,
    /// Seconds between metrics reports.
    pub metrics_interval_secs: Option<u64>,
    /// Also publish the zones' state as retained JSON under `{prefix}/{site}/json/…`.
    pub json_mirror: Option<bool>,
    /// Publish Home Assistant MQTT discovery documents for the gateway's health.
    pub home_assistant_discovery: Option<bool>,
}

impl Raw {
    /// Deserializes site config TOML; `path` is only used in the error.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Raw, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}
