//! Secrets and the environment seam: [`Secret`] (a string that never prints), [`Env`] (how
//! config reads environment variables, so tests pass a map instead of calling `set_var`), and
//! the secrets-file reader with its permission check. Does not decide which secret goes where
//! (that is `Config`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// A credential. `Debug` and `Display` print `<redacted>`, so a secret can sit in a struct
/// that is logged; read it only with [`Secret::expose`] at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (OAuth header, MQTT CONNECT).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    /// Best effort: overwrite the bytes before the allocation is freed so the value does not
    /// linger in a core dump of a long-running process. (Without `unsafe` or a zeroize crate
    /// the compiler could in theory elide this; `black_box` discourages that.)
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// Where configuration reads environment variables from. Production uses [`ProcessEnv`];
/// tests pass a map or an array of pairs so they never mutate the process environment.
pub trait Env {
    /// The variable's value, or `None` when unset or not valid UTF-8.
    fn get(&self, key: &str) -> Option<String>;
}

/// The real process environment (`std::env::var`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl<S: std::hash::BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

/// `[("GENESYS_CLIENT_ID", "x"), …]`: the shortest way to write an environment in a test.
impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, key: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Environment variable holding the Genesys OAuth client id.
pub const ENV_CLIENT_ID: &str = "GENESYS_CLIENT_ID";
/// Environment variable holding the Genesys OAuth client secret.
pub const ENV_CLIENT_SECRET: &str = "GENESYS_CLIENT_SECRET";
/// Environment variable holding the MQTT password.
pub const ENV_MQTT_PASSWORD: &str = "MQTT_PASSWORD";

/// The secrets file's shape (`secrets_file` in `[site]`). Every key is optional; the
/// environment fills what the file leaves out.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretsFile {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub mqtt_password: Option<String>,
    /// `[client.{name}]` tables: the credentials of each `[[genesys.client]]`.
    #[serde(default)]
    pub client: BTreeMap<String, ClientSecrets>,
}

/// The credentials of one named OAuth client in the secrets file.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientSecrets {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// `GENESYS_CLIENT_ID_{NAME}` for client `name` (upper case, `-` as `_`).
pub fn client_env(var: &str, name: &str) -> String {
    format!("{var}_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// Reads a secrets file after checking nobody but the owner can read it.
///
/// Parse errors are reported by line number and message only: the usual TOML error quotes
/// the offending line, which here would be a secret.
pub(crate) fn read_secrets_file(path: &Path) -> Result<SecretsFile, ConfigError> {
    check_private(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let message = match line {
            Some(line) => format!("line {line}: {}", e.message()),
            None => e.message().to_owned(),
        };
        ConfigError::Toml {
            path: path.to_owned(),
            message,
        }
    })
}

/// Refuses a file whose mode lets group or others read or write it (`mode & 0o077 != 0`).
#[cfg(unix)]
pub(crate) fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::InsecureSecrets {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Non-Unix hosts (development only) have no mode bits to check; existence is still checked.
#[cfg(not(unix))]
pub(crate) fn check_private(path: &Path) -> Result<(), ConfigError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn env_impls_agree() {
        let pairs = [("A", "1")];
        let map: HashMap<String, String> = [("A".to_owned(), "1".to_owned())].into();
        let tree: BTreeMap<String, String> = [("A".to_owned(), "1".to_owned())].into();
        for env in [&pairs as &dyn Env, &map, &tree] {
            assert_eq!(env.get("A").as_deref(), Some("1"));
            assert_eq!(env.get("B"), None);
        }
    }

    #[test]
    fn secrets_file_parse_error_does_not_quote_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.toml");
        std::fs::write(
            &path,
            "client_id = \"id\"\nclient_secret = \"s3cr3t-value\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = read_secrets_file(&path).err().unwrap().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
