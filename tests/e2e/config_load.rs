//! Site config loading end to end: the shipped example, region mapping, the http-only-to-
//! loopback rule, one case per field error (each must name its field), and redaction of
//! secrets in `Debug`, `summary()` and `check-config` output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use presence_gateway::config::{
    cli, Config, ConfigError, Env, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_MQTT_PASSWORD, EXIT_USAGE,
};
use presence_gateway::event::Id;

const SECRET_ID: &str = "client-id-f00d";
const SECRET: &str = "client-secret-b33f";
const MQTT_PW: &str = "mqtt-pw-c0de";
const ENV: [(&str, &str); 3] = [
    (ENV_CLIENT_ID, SECRET_ID),
    (ENV_CLIENT_SECRET, SECRET),
    (ENV_MQTT_PASSWORD, MQTT_PW),
];
const ENV_NO_MQTT: [(&str, &str); 2] = [(ENV_CLIENT_ID, SECRET_ID), (ENV_CLIENT_SECRET, SECRET)];

const Q1: &str = "3b1e2c4d-5f60-4a7b-8c9d-0e1f2a3b4c5d";
const U1: &str = "9ed7d9f6-0c59-4360-ac54-40dd35eb9c2f";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site.toml")
}

/// A small valid config; cases below replace one line of it.
fn base() -> String {
    format!(
        r#"
[site]
id = "lab"
board = "x86_64"

[genesys]
region = "eu_west_1"

[watch]
users = ["{U1}"]
queues = ["{Q1}"]
groups = []

[[zone]]
name = "floor-1"
queues = ["{Q1}"]

[mqtt]
host = "localhost"
username = "gw"
"#
    )
}

fn load(text: &str, env: &dyn Env) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("/srv/pg"), env)
}

/// Secure by default: a password over plain TCP goes only to a broker on loopback, unless the
/// site allows it explicitly; with TLS it goes anywhere.
#[test]
fn plaintext_credentials_off_loopback_are_refused_unless_allowed() {
    let remote = base().replace("host = \"localhost\"", "host = \"broker.example.net\"");
    let err = load(&remote, &ENV).unwrap_err();
    assert_eq!(err.exit_code(), EXIT_USAGE);
    assert!(
        err.to_string().contains("mqtt.allow_plaintext_credentials"),
        "{err}"
    );
    let allowed = remote.replace(
        "username = \"gw\"",
        "username = \"gw\"\nallow_plaintext_credentials = true",
    );
    assert!(load(&allowed, &ENV).is_ok());
    let tls = remote.replace("username = \"gw\"", "username = \"gw\"\ntls = true");
    assert!(load(&tls, &ENV).is_ok());
    for host in ["127.0.0.1", "localhost", "::1"] {
        let local = base().replace("host = \"localhost\"", &format!("host = \"{host}\""));
        assert!(load(&local, &ENV).is_ok(), "{host}");
    }
    // Without a password nothing secret is sent: anonymous plain TCP anywhere is fine.
    let anonymous = remote.replace("username = \"gw\"\n", "");
    assert!(load(&anonymous, &ENV_NO_MQTT).is_ok());
}

#[test]
fn the_example_site_config_loads() {
    // The example has no username, so no MQTT password may be offered.
    let c = Config::load(&example(), &ENV_NO_MQTT).unwrap();
    assert_eq!(c.site.id, "dublin-1");
    assert_eq!(c.site.config_path.as_deref(), Some(example().as_path()));
    assert_eq!(c.board.name, "rpi4");
    assert_eq!(c.genesys.region.as_deref(), Some("eu_west_1"));
    assert_eq!(c.genesys.clients[0].secret.expose(), SECRET);
    assert_eq!(c.genesys.channel_rotate_before, Duration::from_secs(3600));
    assert_eq!(c.zones.len(), 2);
    assert_eq!(c.zones[1].name.as_str(), "escalations");
    assert_eq!(
        (c.zones[1].waiting_warning, c.zones[1].waiting_critical),
        (2, 4)
    );
    assert_eq!(c.watch.users.len(), 2);
    assert_eq!(c.watch.queues.len(), 2);
    assert_eq!(c.watch.groups.len(), 1);
    assert_eq!(c.mqtt.host, "broker.example.net");
    assert!(c.mqtt.password.is_none());
}

#[test]
fn region_maps_to_api_and_login_hosts() {
    for (region, api, login) in [
        (
            "us_east_1",
            "https://api.mypurecloud.com",
            "https://login.mypurecloud.com",
        ),
        (
            "eu_west_1",
            "https://api.mypurecloud.ie",
            "https://login.mypurecloud.ie",
        ),
        (
            "ap_southeast_2",
            "https://api.mypurecloud.com.au",
            "https://login.mypurecloud.com.au",
        ),
        (
            "us_east_2",
            "https://api.use2.us-gov-pure.cloud",
            "https://login.use2.us-gov-pure.cloud",
        ),
        (
            "eusc_de_east_1",
            "https://api.edee1.eusc-pure.cloud",
            "https://login.edee1.eusc-pure.cloud",
        ),
    ] {
        let text = base().replace("region = \"eu_west_1\"", &format!("region = \"{region}\""));
        let c = load(&text, &ENV).unwrap();
        assert_eq!(c.genesys.api_base.as_str(), api);
        assert_eq!(c.genesys.login_base.as_str(), login);
        assert!(c.genesys.api_base.is_https());
    }
}

#[test]
fn explicit_loopback_http_is_how_tests_reach_the_simulator() {
    let text = base().replace(
        "region = \"eu_west_1\"",
        "api_base = \"http://127.0.0.1:40123\"\nlogin_base = \"http://localhost:40123/\"",
    );
    let c = load(&text, &ENV).unwrap();
    assert_eq!(c.genesys.region, None);
    assert_eq!(c.genesys.api_base.as_str(), "http://127.0.0.1:40123");
    assert_eq!(c.genesys.api_base.port(), 40123);
    assert_eq!(c.genesys.login_base.as_str(), "http://localhost:40123");
    assert!(!c.genesys.api_base.is_https());
}

#[test]
fn http_to_a_non_loopback_host_is_refused() {
    for host in [
        "http://api.mypurecloud.ie",
        "http://10.1.2.3:8080",
        "http://[2001:db8::1]",
    ] {
        let text = base().replace(
            "region = \"eu_west_1\"",
            &format!("api_base = \"{host}\"\nlogin_base = \"https://login.mypurecloud.ie\""),
        );
        let err = load(&text, &ENV).unwrap_err();
        match &err {
            ConfigError::Invalid { field, reason } => {
                assert_eq!(field, "genesys.api_base");
                assert!(reason.contains("loopback"), "{reason}");
            }
            other => panic!("{host}: {other}"),
        }
    }
}

/// One case per validation rule: (what to replace, with what, the field the error must name).
#[test]
fn every_field_error_names_its_field() {
    let b = base();
    let cases: &[(&str, &str, &str)] = &[
        ("id = \"lab\"", "id = \"Lab!\"", "site.id"),
        ("id = \"lab\"", "id = \"a-site-id-that-is-way-too-long-for-a-topic\"", "site.id"),
        ("board = \"x86_64\"", "board = \"pdp11\"", "site.board"),
        ("board = \"x86_64\"", "board = \"x86_64\"\nstate_dir = \"\"", "site.state_dir"),
        ("board = \"x86_64\"", "board = \"x86_64\"\nbogus = 1", "bogus"),
        ("region = \"eu_west_1\"", "region = \"mars_1\"", "genesys.region"),
        ("region = \"eu_west_1\"", "", "genesys.region"),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\napi_base = \"https://api.mypurecloud.ie\"",
            "genesys.region",
        ),
        ("region = \"eu_west_1\"", "api_base = \"https://a.example\"", "genesys.login_base"),
        ("region = \"eu_west_1\"", "login_base = \"https://l.example\"", "genesys.api_base"),
        (
            "region = \"eu_west_1\"",
            "api_base = \"https://a.example/api/v2\"\nlogin_base = \"https://l.example\"",
            "genesys.api_base",
        ),
        (
            "region = \"eu_west_1\"",
            "api_base = \"https://a.example\"\nlogin_base = \"http://l.example\"",
            "genesys.login_base",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nca_file = \"/nonexistent/ca.pem\"",
            "genesys.ca_file",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nheartbeat_timeout_secs = 0",
            "genesys.heartbeat_timeout_secs",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nping_interval_secs = 45",
            "genesys.ping_interval_secs",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\ntoken_refresh_fraction = 1.5",
            "genesys.token_refresh_fraction",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nchannel_rotate_before_secs = 90000",
            "genesys.channel_rotate_before_secs",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nbackoff_min_ms = 5000\nbackoff_max_secs = 2",
            "genesys.backoff_min_ms",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nbackoff_max_secs = 0",
            "genesys.backoff_max_secs",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nrest_budget_per_min = 301",
            "genesys.rest_budget_per_min",
        ),
        (
            "region = \"eu_west_1\"",
            "region = \"eu_west_1\"\nmax_topics_per_channel = 1001",
            "genesys.max_topics_per_channel",
        ),
        (
            &format!("users = [\"{U1}\"]"),
            &format!("users = [\"{U1}\", \"not-a-uuid\"]"),
            "watch.users[1]",
        ),
        (
            &format!("users = [\"{U1}\"]"),
            &format!("users = [\"{U1}\", \"{}\"]", U1.to_uppercase()),
            "watch.users[1]",
        ),
        (&format!("queues = [\"{Q1}\"]\ngroups"), "queues = [\"x\"]\ngroups", "watch.queues[0]"),
        ("groups = []", "groups = [\"\"]", "watch.groups[0]"),
        ("name = \"floor-1\"", "name = \"Floor 1\"", "zone[0].name"),
        (
            "name = \"floor-1\"",
            "name = \"a-zone-name-longer-than-32-bytes-x\"",
            "zone[0].name",
        ),
        (&format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]"), "name = \"empty\"", "zone[0].queues"),
        (
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]"),
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]\nusers = [\"nope\"]"),
            "zone[0].users[0]",
        ),
        (
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]"),
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]\nwaiting_warning = 0"),
            "zone[0].waiting_warning",
        ),
        (
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]"),
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]\nwaiting_warning = 8\nwaiting_critical = 3"),
            "zone[0].waiting_critical",
        ),
        (
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]"),
            &format!("name = \"floor-1\"\nqueues = [\"{Q1}\"]\n[[zone]]\nname = \"floor-1\"\nqueues = [\"{Q1}\"]"),
            "zone[1].name",
        ),
        ("host = \"localhost\"", "host = \"mqtt://broker\"", "mqtt.host"),
        ("host = \"localhost\"", "host = \"bad host\"", "mqtt.host"),
        ("host = \"localhost\"", "host = \"localhost\"\nport = 0", "mqtt.port"),
        ("host = \"localhost\"", "host = \"localhost\"\nca_file = \"ca.pem\"", "mqtt.ca_file"),
        ("host = \"localhost\"", "host = \"localhost\"\nclient_cert = \"c.pem\"", "mqtt.client_cert"),
        (
            "host = \"localhost\"",
            "host = \"localhost\"\ntls = true\nclient_cert = \"/nonexistent/c.pem\"",
            "mqtt.client_key",
        ),
        (
            "host = \"localhost\"",
            "host = \"localhost\"\ntls = true\nca_file = \"/nonexistent/ca.pem\"",
            "mqtt.ca_file",
        ),
        ("username = \"gw\"", "username = \"\"", "mqtt.username"),
        ("username = \"gw\"", "client_id = \"has space\"", "mqtt.username"),
        ("username = \"gw\"", "username = \"gw\"\nclient_id = \"has space\"", "mqtt.client_id"),
        ("username = \"gw\"", "username = \"gw\"\ntopic_prefix = \"a/+/b\"", "mqtt.topic_prefix"),
        ("username = \"gw\"", "username = \"gw\"\ntopic_prefix = \"/lead\"", "mqtt.topic_prefix"),
        ("username = \"gw\"", "username = \"gw\"\nkeep_alive_secs = 1", "mqtt.keep_alive_secs"),
        (
            "username = \"gw\"",
            "username = \"gw\"\nmetrics_interval_secs = 0",
            "mqtt.metrics_interval_secs",
        ),
        ("username = \"gw\"", "username = \"gw\"\nport = \"x\"", "port"),
    ];
    for (from, to, field) in cases {
        assert!(b.contains(from), "case {field}: base lacks {from:?}");
        let text = b.replacen(from, to, 1);
        let err = match load(&text, &ENV) {
            Ok(_) => panic!("case {field}: accepted\n{text}"),
            Err(e) => e,
        };
        let shown = err.to_string();
        let named = match &err {
            ConfigError::Invalid { field: f, .. } | ConfigError::Missing { field: f, .. } => {
                f.starts_with(field)
            }
            // serde/toml errors (unknown key, wrong type) carry the key in the message.
            ConfigError::Toml { message, .. } => message.contains(field),
            _ => false,
        };
        assert!(named, "case {field}: error does not name it: {shown}");
        assert_eq!(err.exit_code(), EXIT_USAGE);
    }
}

#[test]
fn nothing_to_watch_is_an_error() {
    let text = "[site]\nid = \"lab\"\nboard = \"x86_64\"\n[genesys]\nregion = \"eu_west_1\"\n\
                [mqtt]\nhost = \"localhost\"\n";
    let err = load(text, &ENV_NO_MQTT).unwrap_err();
    assert!(err.to_string().starts_with("watch:"), "{err}");
}

#[test]
fn zone_count_is_checked_against_the_board() {
    let mut text = base().replace("board = \"x86_64\"", "board = \"armv7-512\"");
    for i in 0..32 {
        text.push_str(&format!(
            "\n[[zone]]\nname = \"z{i}\"\nqueues = [\"{Q1}\"]\n"
        ));
    }
    // 33 zones > armv7-512's max_zones (32). [[zone]] after [mqtt] is still the zone array.
    let err = load(&text, &ENV).unwrap_err();
    match err {
        ConfigError::Invalid { field, reason } => {
            assert_eq!(field, "zone");
            assert!(reason.contains("max_zones (32)"), "{reason}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn no_zone_means_one_implicit_zone_with_everything() {
    let text = base().replace(
        &format!("[[zone]]\nname = \"floor-1\"\nqueues = [\"{Q1}\"]\n"),
        "",
    );
    let c = load(&text, &ENV).unwrap();
    assert_eq!(c.zones.len(), 1);
    let z = &c.zones[0];
    assert_eq!(z.name.as_str(), "all");
    assert!(z.implicit && z.members_of_queues);
    assert_eq!(z.queues, vec![Id::parse(Q1).unwrap()]);
    assert_eq!(z.users, vec![Id::parse(U1).unwrap()]);
}

#[test]
fn debug_summary_and_check_output_never_contain_secrets() {
    let c = load(&base(), &ENV).unwrap();
    assert_eq!(c.mqtt.password.as_ref().map(|p| p.expose()), Some(MQTT_PW));
    let debug = format!("{c:?}");
    let pretty = format!("{c:#?}");
    let summary = c.summary();
    for text in [&debug, &pretty, &summary] {
        for secret in [SECRET_ID, SECRET, MQTT_PW] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
    assert!(debug.contains("<redacted>"));
    assert!(summary.contains("site          lab"), "{summary}");
    assert!(summary.contains("https://api.mypurecloud.ie"), "{summary}");
}

#[test]
fn check_config_prints_summary_and_memory_arithmetic() {
    let out = cli::check_config(&example(), &ENV_NO_MQTT).unwrap();
    assert!(out.contains("dublin-1"), "{out}");
    assert!(out.contains("worst-case memory for board rpi4"), "{out}");
    assert!(
        out.contains("10000 × (96 B record + 64 B key map entry)"),
        "{out}"
    );
    assert!(out.contains("fits"), "{out}");
    for secret in [SECRET_ID, SECRET] {
        assert!(!out.contains(secret));
    }

    let err = cli::check_config(Path::new("/nonexistent/site.toml"), &ENV).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err}");
    assert_eq!(err.exit_code(), 64);
}

#[test]
fn relative_state_dir_resolves_against_the_config_directory() {
    let c = load(&base(), &ENV).unwrap();
    // x86_64's default state_dir is "state".
    assert_eq!(c.site.state_dir, PathBuf::from("/srv/pg/state"));
    let text = base().replace(
        "board = \"x86_64\"",
        "board = \"x86_64\"\nstate_dir = \"/data/pg\"",
    );
    assert_eq!(
        load(&text, &ENV).unwrap().site.state_dir,
        PathBuf::from("/data/pg")
    );
}
