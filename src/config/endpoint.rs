//! Genesys endpoints: the region table (region key → environment domain, PROTOCOL.md §1) and
//! [`BaseUrl`], a validated `scheme://host[:port]` with the rule that plain `http://` is only
//! allowed to a loopback host (that is how tests reach the simulator). Does not open sockets.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::ConfigError;

/// Genesys Cloud regions: key → environment domain. API base is `https://api.{env}`, login base
/// `https://login.{env}` (PROTOCOL.md §1, from the official Python and JS SDK host tables).
pub const REGIONS: &[(&str, &str)] = &[
    ("us_east_1", "mypurecloud.com"),
    ("eu_west_1", "mypurecloud.ie"),
    ("ap_southeast_2", "mypurecloud.com.au"),
    ("ap_northeast_1", "mypurecloud.jp"),
    ("eu_central_1", "mypurecloud.de"),
    ("us_west_2", "usw2.pure.cloud"),
    ("ca_central_1", "cac1.pure.cloud"),
    ("ap_northeast_2", "apne2.pure.cloud"),
    ("eu_west_2", "euw2.pure.cloud"),
    ("ap_south_1", "aps1.pure.cloud"),
    ("us_east_2", "use2.us-gov-pure.cloud"),
    ("sa_east_1", "sae1.pure.cloud"),
    ("me_central_1", "mec1.pure.cloud"),
    ("ap_northeast_3", "apne3.pure.cloud"),
    ("eu_central_2", "euc2.pure.cloud"),
    ("mx_central_1", "mxc1.pure.cloud"),
    ("ap_southeast_1", "apse1.pure.cloud"),
    ("eusc_de_east_1", "edee1.eusc-pure.cloud"),
];

/// The environment domain of a region key (`"eu_west_1"` → `"mypurecloud.ie"`).
pub fn region_domain(region: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(key, _)| *key == region)
        .map(|(_, domain)| *domain)
}

/// A validated base URL: `https://host[:port]` (or `http://` to loopback), no path, query or
/// credentials, host lower-cased, no trailing slash. Join API paths with `format!("{base}{path}")`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BaseUrl {
    text: String,
    https: bool,
    host: String,
    port: u16,
}

impl BaseUrl {
    /// Parses and validates `text`; `field` names the config key in errors.
    pub fn try_new(field: &str, text: &str) -> Result<BaseUrl, ConfigError> {
        let bad = |reason: String| ConfigError::invalid(field, format!("{reason} (got {text:?})"));
        let lower = text.to_ascii_lowercase();
        let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = lower.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("must start with https://".into()));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) || authority.is_empty() {
            return Err(bad(
                "a base URL is scheme://host[:port] with no path, query or credentials".into(),
            ));
        }
        let (host, port_text) = split_host_port(authority).ok_or_else(|| {
            bad("expected host[:port], with IPv6 addresses in brackets ([::1]:8080)".into())
        })?;
        if !valid_host(host) {
            return Err(bad(format!("{host:?} is not a valid host name or address")));
        }
        let port = match port_text {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad(format!("port {p:?} is not in 1..=65535"))),
            },
        };
        if !https && !is_loopback(host) {
            return Err(bad(
                "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost); \
                 use https://"
                    .into(),
            ));
        }
        Ok(BaseUrl {
            text: format!("{}://{authority}", if https { "https" } else { "http" }),
            https,
            host: host.to_owned(),
            port,
        })
    }

    /// `https://api.mypurecloud.ie` form, no trailing slash.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `https://` (false only for loopback `http://`).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Host name or address, lower case, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Explicit port, or 443 / 80 by scheme.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits `host[:port]` / `[v6][:port]`; `None` when malformed (e.g. an unbracketed IPv6).
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        None => Some((authority, None)),
        Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
        Some(_) => None,
    }
}

/// A DNS name (letters, digits, `-`, `.`; labels not starting or ending with `-`) or an IP.
pub(crate) fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `localhost`, 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_domains() {
        assert_eq!(region_domain("eu_west_1"), Some("mypurecloud.ie"));
        assert_eq!(region_domain("us_east_1"), Some("mypurecloud.com"));
        assert_eq!(
            region_domain("eusc_de_east_1"),
            Some("edee1.eusc-pure.cloud")
        );
        assert_eq!(region_domain("mars_1"), None);
        assert_eq!(REGIONS.len(), 18);
    }

    #[test]
    fn https_anywhere_http_only_loopback() {
        let u = BaseUrl::try_new("f", "https://API.mypurecloud.ie/").unwrap();
        assert_eq!(u.as_str(), "https://api.mypurecloud.ie");
        assert_eq!(
            (u.host(), u.port(), u.is_https()),
            ("api.mypurecloud.ie", 443, true)
        );
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://[::1]:9",
            "http://localhost:1",
        ] {
            assert!(BaseUrl::try_new("f", ok).is_ok(), "{ok}");
        }
        assert_eq!(
            BaseUrl::try_new("f", "http://[::1]:9").unwrap().host(),
            "::1"
        );
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "http://localhost.evil.com",
            "ftp://x",
            "api.mypurecloud.ie",
            "https://x/api",
            "https://u:p@x",
            "https://x:0",
            "https://x:99999",
            "https://",
            "https://::1",
            "https://-x.com",
        ] {
            let err = BaseUrl::try_new("genesys.api_base", bad)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("genesys.api_base:"), "{bad}: {err}");
        }
    }
}
