//! Validation of a [`Raw`] config part by part (Genesys, watch and zones, MQTT) into the typed
//! parts of [`Config`], with the small checks they share (names, ranges, ids, files). Every
//! error names its field. Does not read files other than checking they exist.

use super::*;

/// `0.8` → `80` (rounded), without a lossy cast: the fraction is validated to 0.1..=0.95.
pub(super) fn percent(fraction: f64) -> u32 {
    (1..=100u32)
        .min_by(|a, b| {
            let da = (f64::from(*a) - fraction * 100.0).abs();
            let db = (f64::from(*b) - fraction * 100.0).abs();
            da.total_cmp(&db)
        })
        .unwrap_or(0)
}

/// Byte allowed in site, zone and board names: `[a-z0-9-_]`.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

/// `value` must be 1..=`max` bytes of `[a-z0-9-_]`.
pub(super) fn check_name(field: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > max || !value.bytes().all(is_name_byte) {
        return Err(ConfigError::invalid(
            field,
            format!("{value:?} must be 1..={max} characters of [a-z0-9-_]"),
        ));
    }
    Ok(())
}

/// `value` (or `default`) must lie in `lo..=hi`.
pub(super) fn in_range<T>(
    field: &str,
    value: Option<T>,
    default: T,
    lo: T,
    hi: T,
) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    let v = value.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ConfigError::invalid(
            field,
            format!("{v} is outside {lo}..={hi}"),
        ));
    }
    Ok(v)
}

/// Parses a list of ids; errors name `field[i]`, duplicates name both indices.
pub(super) fn parse_ids(field: &str, list: &[String]) -> Result<Vec<Id>, ConfigError> {
    let mut out: Vec<Id> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let id = Id::parse(text).ok_or_else(|| {
            ConfigError::invalid(
                format!("{field}[{i}]"),
                format!("{text:?} is not a UUID (8-4-4-4-12 hex)"),
            )
        })?;
        if let Some(j) = out.iter().position(|o| *o == id) {
            return Err(ConfigError::invalid(
                format!("{field}[{i}]"),
                format!("{text} is listed twice (also {field}[{j}])"),
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// A file the config refers to must exist now, not at the first TLS handshake.
pub(super) fn existing_file(
    field: &str,
    base_dir: &Path,
    path: &Path,
) -> Result<PathBuf, ConfigError> {
    let full = base_dir.join(path);
    match std::fs::metadata(&full) {
        Ok(m) if m.is_file() => Ok(full),
        Ok(_) => Err(ConfigError::invalid(
            field,
            format!("{} is not a regular file", full.display()),
        )),
        Err(e) => Err(ConfigError::invalid(
            field,
            format!("{}: {e}", full.display()),
        )),
    }
}

pub(super) fn validate_genesys(
    raw: RawGenesys,
    base_dir: &Path,
    clients: Vec<super::OAuthClient>,
) -> Result<Genesys, ConfigError> {
    let (api_base, login_base) = match (&raw.region, &raw.api_base, &raw.login_base) {
        (Some(region), None, None) => {
            let domain = region_domain(region).ok_or_else(|| {
                let known: Vec<&str> = REGIONS.iter().map(|(k, _)| *k).collect();
                ConfigError::invalid(
                    "genesys.region",
                    format!("unknown region {region:?}; known: {}", known.join(", ")),
                )
            })?;
            (
                BaseUrl::try_new("genesys.region", &format!("https://api.{domain}"))?,
                BaseUrl::try_new("genesys.region", &format!("https://login.{domain}"))?,
            )
        }
        (Some(_), _, _) => {
            return Err(ConfigError::invalid(
                "genesys.region",
                "give either region or api_base + login_base, not both",
            ))
        }
        (None, Some(api), Some(login)) => (
            BaseUrl::try_new("genesys.api_base", api)?,
            BaseUrl::try_new("genesys.login_base", login)?,
        ),
        (None, Some(_), None) => {
            return Err(ConfigError::missing(
                "genesys.login_base",
                "required with genesys.api_base (e.g. https://login.mypurecloud.ie)",
            ))
        }
        (None, None, Some(_)) => {
            return Err(ConfigError::missing(
                "genesys.api_base",
                "required with genesys.login_base (e.g. https://api.mypurecloud.ie)",
            ))
        }
        (None, None, None) => {
            return Err(ConfigError::missing(
                "genesys.region",
                "set region (e.g. \"eu_west_1\") or api_base + login_base",
            ))
        }
    };
    let ca_file = raw
        .ca_file
        .as_deref()
        .map(|p| existing_file("genesys.ca_file", base_dir, p))
        .transpose()?;
    let heartbeat = in_range(
        "genesys.heartbeat_timeout_secs",
        raw.heartbeat_timeout_secs,
        defaults::HEARTBEAT_TIMEOUT_SECS,
        5,
        600,
    )?;
    let ping = in_range(
        "genesys.ping_interval_secs",
        raw.ping_interval_secs,
        defaults::PING_INTERVAL_SECS,
        1,
        600,
    )?;
    if ping >= heartbeat {
        return Err(ConfigError::invalid(
            "genesys.ping_interval_secs",
            format!(
                "{ping} must be shorter than heartbeat_timeout_secs ({heartbeat}) so a pong can \
                 arrive before the socket is declared dead"
            ),
        ));
    }
    let fraction = raw
        .token_refresh_fraction
        .unwrap_or(defaults::TOKEN_REFRESH_FRACTION);
    if !(0.1..=0.95).contains(&fraction) {
        return Err(ConfigError::invalid(
            "genesys.token_refresh_fraction",
            format!("{fraction} is outside 0.1..=0.95 (share of the token lifetime)"),
        ));
    }
    let rotate = in_range(
        "genesys.channel_rotate_before_secs",
        raw.channel_rotate_before_secs,
        defaults::CHANNEL_ROTATE_BEFORE_SECS,
        60,
        12 * 3600,
    )?;
    let backoff_min = in_range(
        "genesys.backoff_min_ms",
        raw.backoff_min_ms,
        defaults::BACKOFF_MIN_MS,
        10,
        60_000,
    )?;
    let backoff_max = in_range(
        "genesys.backoff_max_secs",
        raw.backoff_max_secs,
        defaults::BACKOFF_MAX_SECS,
        1,
        3600,
    )?;
    if Duration::from_millis(backoff_min) > Duration::from_secs(backoff_max) {
        return Err(ConfigError::invalid(
            "genesys.backoff_min_ms",
            format!("{backoff_min} ms exceeds backoff_max_secs ({backoff_max} s)"),
        ));
    }
    let rest_budget = in_range(
        "genesys.rest_budget_per_min",
        raw.rest_budget_per_min,
        defaults::REST_BUDGET_PER_MIN,
        1,
        300,
    )?;
    let pong = in_range(
        "genesys.pong_timeout_secs",
        raw.pong_timeout_secs,
        defaults::PONG_TIMEOUT_SECS,
        1,
        60,
    )?;
    let group_refresh = in_range(
        "genesys.group_refresh_secs",
        raw.group_refresh_secs,
        defaults::GROUP_REFRESH_SECS,
        30,
        86_400,
    )?;
    let queue_figures = in_range(
        "genesys.queue_figures_secs",
        raw.queue_figures_secs,
        defaults::QUEUE_FIGURES_SECS,
        5,
        3_600,
    )?;
    let rest_timeout = in_range(
        "genesys.rest_timeout_secs",
        raw.rest_timeout_secs,
        defaults::REST_TIMEOUT_SECS,
        1,
        120,
    )?;
    let max_topics = in_range(
        "genesys.max_topics_per_channel",
        raw.max_topics_per_channel,
        defaults::MAX_TOPICS_PER_CHANNEL,
        1,
        1000,
    )?;
    let max_channels = in_range(
        "genesys.max_channels_per_client",
        raw.max_channels_per_client,
        defaults::MAX_CHANNELS_PER_CLIENT,
        2,
        20,
    )?;
    let user_topic_weight = in_range(
        "genesys.user_topic_weight",
        raw.user_topic_weight,
        crate::upstream::USER_TOPIC_WEIGHT,
        1,
        crate::upstream::USER_TOPIC_WEIGHT,
    )?;
    Ok(Genesys {
        region: raw.region,
        api_base,
        login_base,
        ca_file,
        clients,
        heartbeat_timeout: Duration::from_secs(heartbeat),
        ping_interval: Duration::from_secs(ping),
        pong_timeout: Duration::from_secs(pong),
        token_refresh_fraction: fraction,
        channel_rotate_before: Duration::from_secs(rotate),
        backoff_min: Duration::from_millis(backoff_min),
        backoff_max: Duration::from_secs(backoff_max),
        rest_budget_per_min: rest_budget,
        rest_timeout: Duration::from_secs(rest_timeout),
        group_refresh: Duration::from_secs(group_refresh),
        queue_figures: Duration::from_secs(queue_figures),
        max_topics_per_channel: max_topics,
        max_channels_per_client: max_channels,
        user_topic_weight,
    })
}

pub(super) fn validate_watch_and_zones(
    raw_watch: RawWatch,
    raw_zones: Vec<RawZone>,
    board: &Board,
) -> Result<(Watch, Vec<Zone>), ConfigError> {
    let cap = &board.capacity;
    let mut watch = Watch {
        users: parse_ids("watch.users", &raw_watch.users)?,
        queues: parse_ids("watch.queues", &raw_watch.queues)?,
        groups: parse_ids("watch.groups", &raw_watch.groups)?,
        max_agents: in_range(
            "watch.max_agents",
            raw_watch.max_agents,
            cap.max_agents,
            1,
            cap.max_agents,
        )?,
    };
    if raw_zones.len() > cap.max_zones {
        return Err(ConfigError::invalid(
            "zone",
            format!(
                "{} zones exceed board {} max_zones ({})",
                raw_zones.len(),
                board.name,
                cap.max_zones
            ),
        ));
    }
    let mut zones: Vec<Zone> = Vec::with_capacity(raw_zones.len().max(1));
    for (i, rz) in raw_zones.into_iter().enumerate() {
        let at = |key: &str| format!("zone[{i}].{key}");
        check_name(&at("name"), &rz.name, ZONE_NAME_LEN)?;
        if let Some(j) = zones.iter().position(|z| z.name.as_str() == rz.name) {
            return Err(ConfigError::invalid(
                at("name"),
                format!("{:?} is already the name of zone[{j}]", rz.name),
            ));
        }
        let queues = parse_ids(&at("queues"), &rz.queues)?;
        let users = parse_ids(&at("users"), &rz.users)?;
        if queues.is_empty() && users.is_empty() {
            return Err(ConfigError::invalid(
                at("queues"),
                "a zone needs at least one queue or user",
            ));
        }
        let zone = make_zone(
            &rz.name,
            queues,
            users,
            rz.members_of_queues.unwrap_or(true),
            rz.waiting_warning,
            rz.waiting_critical,
            &at,
            board,
        )?;
        for q in &zone.queues {
            if !watch.queues.contains(q) {
                watch.queues.push(*q);
            }
        }
        for u in &zone.users {
            if !watch.users.contains(u) {
                watch.users.push(*u);
            }
        }
        zones.push(zone);
    }
    if watch.users.len() > watch.max_agents {
        return Err(ConfigError::invalid(
            "watch.users",
            format!(
                "{} users (with zone users) exceed max_agents ({}) ([watch] max_agents, at most board {}'s)",
                watch.users.len(),
                watch.max_agents,
                board.name,
            ),
        ));
    }
    if watch.queues.len() > cap.max_queues {
        return Err(ConfigError::invalid(
            "watch.queues",
            format!(
                "{} queues (with zone queues) exceed board {} max_queues ({})",
                watch.queues.len(),
                board.name,
                cap.max_queues
            ),
        ));
    }
    if zones.is_empty() {
        let at = |key: &str| {
            format!(
                "zone[0].{key} (implicit zone {:?})",
                defaults::IMPLICIT_ZONE
            )
        };
        let mut zone = make_zone(
            defaults::IMPLICIT_ZONE,
            watch.queues.clone(),
            watch.users.clone(),
            true,
            None,
            None,
            &at,
            board,
        )?;
        zone.implicit = true;
        zones.push(zone);
    }
    Ok((watch, zones))
}

#[allow(clippy::too_many_arguments)] // one call per zone kind; a struct would only rename them
pub(super) fn make_zone(
    name: &str,
    queues: Vec<Id>,
    users: Vec<Id>,
    members_of_queues: bool,
    warning: Option<u32>,
    critical: Option<u32>,
    at: &dyn Fn(&str) -> String,
    board: &Board,
) -> Result<Zone, ConfigError> {
    let cap = &board.capacity;
    if users.len() > cap.max_zone_members {
        return Err(ConfigError::invalid(
            at("users"),
            format!(
                "{} users exceed board {} max_zone_members ({})",
                users.len(),
                board.name,
                cap.max_zone_members
            ),
        ));
    }
    let warning = in_range(
        &at("waiting_warning"),
        warning,
        defaults::WAITING_WARNING,
        1,
        u32::MAX,
    )?;
    let critical = critical.unwrap_or(defaults::WAITING_CRITICAL);
    if critical < warning {
        return Err(ConfigError::invalid(
            at("waiting_critical"),
            format!("{critical} is below waiting_warning ({warning})"),
        ));
    }
    let mut zone_name = heapless::String::new();
    zone_name.push_str(name).map_err(|_| {
        ConfigError::invalid(at("name"), format!("longer than {ZONE_NAME_LEN} bytes"))
    })?;
    Ok(Zone {
        name: zone_name,
        queues,
        users,
        members_of_queues,
        waiting_warning: warning,
        waiting_critical: critical,
        implicit: false,
    })
}

pub(super) fn validate_mqtt(
    raw: RawMqtt,
    base_dir: &Path,
    site_id: &str,
    password: Option<String>,
) -> Result<Mqtt, ConfigError> {
    if raw.host.contains("://") {
        return Err(ConfigError::invalid(
            "mqtt.host",
            format!(
                "{:?}: give a host name or address, not a URL (set tls and port instead)",
                raw.host
            ),
        ));
    }
    let host = raw.host.trim_start_matches('[').trim_end_matches(']');
    if !endpoint::valid_host(host) {
        return Err(ConfigError::invalid(
            "mqtt.host",
            format!("{:?} is not a valid host name or address", raw.host),
        ));
    }
    let tls_on = raw.tls.unwrap_or(false);
    let port = raw.port.unwrap_or(if tls_on {
        defaults::MQTTS_PORT
    } else {
        defaults::MQTT_PORT
    });
    if port == 0 {
        return Err(ConfigError::invalid(
            "mqtt.port",
            "0 is not a port (1..=65535)",
        ));
    }
    let needs_tls = |field: &str, given: bool| {
        if given && !tls_on {
            Err(ConfigError::invalid(
                field,
                "only meaningful with mqtt.tls = true",
            ))
        } else {
            Ok(())
        }
    };
    needs_tls("mqtt.ca_file", raw.ca_file.is_some())?;
    needs_tls("mqtt.client_cert", raw.client_cert.is_some())?;
    needs_tls("mqtt.client_key", raw.client_key.is_some())?;
    let tls = if tls_on {
        let ca_file = raw
            .ca_file
            .as_deref()
            .map(|p| existing_file("mqtt.ca_file", base_dir, p))
            .transpose()?;
        let client_auth = match (&raw.client_cert, &raw.client_key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::missing(
                    "mqtt.client_key",
                    "required with mqtt.client_cert (mutual TLS)",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::missing(
                    "mqtt.client_cert",
                    "required with mqtt.client_key (mutual TLS)",
                ))
            }
            (Some(cert), Some(key)) => {
                let cert = existing_file("mqtt.client_cert", base_dir, cert)?;
                let key = existing_file("mqtt.client_key", base_dir, key)?;
                secret::check_private(&key)?;
                Some(ClientAuth { cert, key })
            }
        };
        Some(MqttTls {
            ca_file,
            client_auth,
        })
    } else {
        None
    };
    if raw.username.as_deref() == Some("") {
        return Err(ConfigError::invalid(
            "mqtt.username",
            "must not be empty (leave it out for anonymous access)",
        ));
    }
    if password.is_some() && raw.username.is_none() {
        return Err(ConfigError::missing(
            "mqtt.username",
            "an MQTT password is set (MQTT_PASSWORD or mqtt_password) but MQTT only sends a \
             password with a user name",
        ));
    }
    // Secure by default: a password never crosses the network in clear text. Plain TCP with
    // credentials only to a broker on this box, or when the site says so explicitly.
    if password.is_some()
        && !tls_on
        && !endpoint::is_loopback(host)
        && !raw.allow_plaintext_credentials.unwrap_or(false)
    {
        return Err(ConfigError::invalid(
            "mqtt.allow_plaintext_credentials",
            format!(
                "the MQTT password would cross the network in clear text to {host}: set \
                 mqtt.tls = true (recommended), or allow_plaintext_credentials = true if the \
                 network to the broker is trusted"
            ),
        ));
    }
    let client_id = raw
        .client_id
        .unwrap_or_else(|| format!("presence-gateway-{site_id}"));
    if client_id.is_empty()
        || client_id.len() > MQTT_CLIENT_ID_LEN
        || !client_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ConfigError::invalid(
            "mqtt.client_id",
            format!("{client_id:?} must be 1..={MQTT_CLIENT_ID_LEN} printable ASCII characters without spaces"),
        ));
    }
    let topic_prefix = raw
        .topic_prefix
        .unwrap_or_else(|| defaults::TOPIC_PREFIX.to_owned());
    if topic_prefix.is_empty()
        || topic_prefix.len() > TOPIC_PREFIX_LEN
        || topic_prefix
            .split('/')
            .any(|level| level.is_empty() || !level.bytes().all(is_name_byte))
    {
        return Err(ConfigError::invalid(
            "mqtt.topic_prefix",
            format!(
                "{topic_prefix:?} must be 1..={TOPIC_PREFIX_LEN} bytes: levels of [a-z0-9-_] \
                 separated by / (no wildcards, no empty level, no leading or trailing /)"
            ),
        ));
    }
    let keep_alive = in_range(
        "mqtt.keep_alive_secs",
        raw.keep_alive_secs,
        defaults::KEEP_ALIVE_SECS,
        5,
        u64::from(u16::MAX),
    )?;
    let metrics = in_range(
        "mqtt.metrics_interval_secs",
        raw.metrics_interval_secs,
        defaults::METRICS_INTERVAL_SECS,
        1,
        3600,
    )?;
    Ok(Mqtt {
        host: host.to_ascii_lowercase(),
        port,
        tls,
        username: raw.username,
        password: password.map(Secret::new),
        client_id,
        topic_prefix,
        keep_alive: Duration::from_secs(keep_alive),
        metrics_interval: Duration::from_secs(metrics),
        json: crate::publish::JsonOptions {
            mirror: raw.json_mirror.unwrap_or(false),
            home_assistant: raw.home_assistant_discovery.unwrap_or(false),
        },
    })
}
