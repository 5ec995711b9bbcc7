//! Secrets: from the environment (through the `Env` seam, never `set_var`), from a private
//! secrets file, precedence between the two, and refusal of group/world-readable files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use presence_gateway::config::{
    Config, ConfigError, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_MQTT_PASSWORD,
};

const Q1: &str = "3b1e2c4d-5f60-4a7b-8c9d-0e1f2a3b4c5d";

fn site(secrets_file: Option<&str>, mqtt_extra: &str) -> String {
    let secrets = secrets_file.map_or_else(String::new, |f| format!("secrets_file = \"{f}\"\n"));
    format!(
        "[site]\nid = \"lab\"\nboard = \"rpi4\"\n{secrets}[genesys]\nregion = \"us_east_1\"\n\
         [watch]\nqueues = [\"{Q1}\"]\n[mqtt]\nhost = \"localhost\"\n{mqtt_extra}"
    )
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn secrets_from_the_environment() {
    let env = [
        (ENV_CLIENT_ID, "id-env"),
        (ENV_CLIENT_SECRET, "secret-env"),
        (ENV_MQTT_PASSWORD, "pw-env"),
    ];
    let c = Config::from_toml_str(&site(None, "username = \"u\"\n"), Path::new("."), &env).unwrap();
    assert_eq!(c.genesys.clients[0].id.expose(), "id-env");
    assert_eq!(c.genesys.clients[0].secret.expose(), "secret-env");
    assert_eq!(c.mqtt.password.as_ref().unwrap().expose(), "pw-env");
    assert_eq!(c.site.secrets_file, None);
}

#[test]
fn missing_secrets_are_named() {
    let err = Config::from_toml_str(&site(None, ""), Path::new("."), &[(ENV_CLIENT_ID, "x")])
        .unwrap_err();
    match err {
        ConfigError::Missing { field, hint } => {
            assert_eq!(field, ENV_CLIENT_SECRET);
            assert!(hint.contains("secrets_file"), "{hint}");
        }
        other => panic!("{other}"),
    }
    // An empty variable counts as unset.
    let err =
        Config::from_toml_str(&site(None, ""), Path::new("."), &[(ENV_CLIENT_ID, "")]).unwrap_err();
    assert!(
        err.to_string().starts_with("GENESYS_CLIENT_ID is missing"),
        "{err}"
    );
}

#[test]
fn an_mqtt_password_needs_a_username() {
    let env = [
        (ENV_CLIENT_ID, "i"),
        (ENV_CLIENT_SECRET, "s"),
        (ENV_MQTT_PASSWORD, "p"),
    ];
    let err = Config::from_toml_str(&site(None, ""), Path::new("."), &env).unwrap_err();
    assert!(
        err.to_string().starts_with("mqtt.username is missing"),
        "{err}"
    );
}

#[test]
fn private_secrets_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "secrets.toml",
        "client_id = \"id-file\"\nclient_secret = \"secret-file\"\nmqtt_password = \"pw-file\"\n",
        0o600,
    );
    let text = site(Some("secrets.toml"), "username = \"u\"\n");
    let c = Config::from_toml_str(&text, dir.path(), &[("UNRELATED", "1")]).unwrap();
    assert_eq!(c.genesys.clients[0].id.expose(), "id-file");
    assert_eq!(c.genesys.clients[0].secret.expose(), "secret-file");
    assert_eq!(c.mqtt.password.as_ref().unwrap().expose(), "pw-file");
    assert_eq!(
        c.site.secrets_file.as_deref(),
        Some(dir.path().join("secrets.toml").as_path())
    );

    let c = Config::from_toml_str(&text, dir.path(), &[(ENV_CLIENT_SECRET, "secret-env")]).unwrap();
    assert_eq!(c.genesys.clients[0].id.expose(), "id-file");
    assert_eq!(c.genesys.clients[0].secret.expose(), "secret-env");

    // Owner-only read is fine too.
    fs::set_permissions(
        dir.path().join("secrets.toml"),
        fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    assert!(Config::from_toml_str(&text, dir.path(), &[("X", "1")]).is_ok());
}

#[test]
fn group_or_world_readable_secrets_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
        write(
            dir.path(),
            "secrets.toml",
            "client_id = \"i\"\nclient_secret = \"s\"\n",
            mode,
        );
        let err = Config::from_toml_str(&site(Some("secrets.toml"), ""), dir.path(), &[("X", "1")])
            .unwrap_err();
        match &err {
            ConfigError::InsecureSecrets { path, mode: m } => {
                assert_eq!(path, &dir.path().join("secrets.toml"));
                assert_eq!(*m, mode);
            }
            other => panic!("mode {mode:o}: {other}"),
        }
        let shown = err.to_string();
        assert!(shown.contains("secrets.toml"), "{shown}");
        assert!(shown.contains(&format!("{mode:04o}")), "{shown}");
        assert!(shown.contains("chmod 600"), "{shown}");
    }
}

#[test]
fn secrets_file_problems_name_the_file_without_quoting_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let text = site(Some("secrets.toml"), "");
    // Missing file.
    let err = Config::from_toml_str(&text, dir.path(), &[("X", "1")]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Io { path, .. } if path.ends_with("secrets.toml")),
        "{err}"
    );
    // Unknown key.
    write(
        dir.path(),
        "secrets.toml",
        "client_id = \"i\"\npassword = \"hunter2\"\n",
        0o600,
    );
    let err = Config::from_toml_str(&text, dir.path(), &[("X", "1")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("secrets.toml") && err.contains("line 2"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn mutual_tls_key_must_be_private() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "client.pem", "cert", 0o644);
    write(dir.path(), "client.key", "key", 0o644);
    let env = [(ENV_CLIENT_ID, "i"), (ENV_CLIENT_SECRET, "s")];
    let text = site(
        None,
        "tls = true\nclient_cert = \"client.pem\"\nclient_key = \"client.key\"\n",
    );
    let err = Config::from_toml_str(&text, dir.path(), &env).unwrap_err();
    assert!(
        matches!(err, ConfigError::InsecureSecrets { mode: 0o644, .. }),
        "{err}"
    );

    fs::set_permissions(
        dir.path().join("client.key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let c = Config::from_toml_str(&text, dir.path(), &env).unwrap();
    let auth = c.mqtt.tls.unwrap().client_auth.unwrap();
    assert_eq!(auth.key, dir.path().join("client.key"));
    assert_eq!(c.mqtt.port, 8883);
}

/// `[[genesys.client]]`: each named client's credentials come from
/// `GENESYS_CLIENT_ID_{NAME}` / `GENESYS_CLIENT_SECRET_{NAME}` or the secrets file's
/// `[client.{name}]`; a missing one is named; a name given twice is refused.
#[test]
fn several_oauth_clients_each_with_their_own_credentials() {
    let text = |names: &[&str]| {
        let clients: String = names
            .iter()
            .map(|n| format!("[[genesys.client]]\nname = \"{n}\"\n"))
            .collect();
        format!(
            "[site]\nid = \"lab\"\nboard = \"rpi4\"\nsecrets_file = \"secrets.toml\"\n\
             [genesys]\nregion = \"us_east_1\"\n{clients}\
             [watch]\nqueues = [\"{Q1}\"]\n[mqtt]\nhost = \"localhost\"\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "secrets.toml",
        "[client.floor-b]\nclient_id = \"id-b\"\nclient_secret = \"secret-b\"\n",
        0o600,
    );
    let env = [
        ("GENESYS_CLIENT_ID_FLOOR_A", "id-a"),
        ("GENESYS_CLIENT_SECRET_FLOOR_A", "secret-a"),
    ];
    let c = Config::from_toml_str(&text(&["floor-a", "floor-b"]), dir.path(), &env).unwrap();
    let got: Vec<(&str, &str, &str)> = c
        .genesys
        .clients
        .iter()
        .map(|k| (k.name.as_str(), k.id.expose(), k.secret.expose()))
        .collect();
    assert_eq!(
        got,
        [
            ("floor-a", "id-a", "secret-a"),
            ("floor-b", "id-b", "secret-b")
        ]
    );
    // Secrets never print.
    assert!(!format!("{:?}", c.genesys).contains("secret-a"));

    let err = Config::from_toml_str(&text(&["floor-a", "floor-c"]), dir.path(), &env).unwrap_err();
    match err {
        ConfigError::Missing { field, hint } => {
            assert_eq!(field, "GENESYS_CLIENT_ID_FLOOR_C");
            assert!(hint.contains("[client.floor-c]"), "{hint}");
        }
        other => panic!("{other}"),
    }
    let err = Config::from_toml_str(&text(&["floor-a", "floor-a"]), dir.path(), &env).unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
    let err = Config::from_toml_str(&text(&["Floor A"]), dir.path(), &env).unwrap_err();
    assert!(err.to_string().contains("genesys.client.name"), "{err}");
}
