//! The command line: clap-derived [`Cli`] with the `run`, `demo` and `check-config`
//! subcommands (and, with the `demo` feature, the display tools `decode` and `display`) and the
//! global `--log` filter, plus [`check_config`], which does all the work of `check-config` so
//! `main.rs` only prints and picks the exit code. Does not set up logging or start anything.

use std::path::{Path, PathBuf};

#[cfg(feature = "demo")]
use clap::Args;
use clap::{Parser, Subcommand};

use super::{Config, ConfigError, Env};

/// presence-gateway: Genesys Cloud agent presence and queue state, republished over MQTT as
/// compact postcard frames for wall displays.
#[derive(Debug, Parser)]
#[command(name = "presence-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `info` or
    /// `presence_gateway=debug,rumqttc=warn`.
    #[arg(long, global = true, default_value = "info", value_name = "FILTER")]
    pub log: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand, PartialEq)]
pub enum Command {
    /// Run the gateway with a site config.
    ///
    /// Reads and validates the site config, its board profile and its secrets (exit 64 on any
    /// problem, before a socket opens), then connects to Genesys Cloud and the MQTT broker and
    /// republishes agent and queue state until SIGTERM or SIGINT.
    Run {
        /// Site config (TOML); see examples/site.toml.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
    /// Run a self-contained demo on loopback.
    ///
    /// Starts a simulated Genesys Cloud org and an embedded MQTT broker on 127.0.0.1 and runs
    /// the gateway between them, with the embedded x86_64 board. Needs the `demo` cargo
    /// feature (on by default, off in firmware builds).
    Demo {
        /// Simulated agents.
        #[arg(long, default_value_t = 50, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=20_000))]
        agents: u32,
        /// Simulated queues.
        #[arg(long, default_value_t = 5, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1_000))]
        queues: u32,
        /// Simulated events per second (0 = quiet).
        #[arg(long, default_value_t = 20, value_name = "N",
              value_parser = clap::value_parser!(u32).range(0..=10_000))]
        rate: u32,
    },
    /// Validate a site config and print what it means.
    ///
    /// Checks the site config, its board and its secrets without connecting anywhere, then
    /// prints a summary (never a secret value) and the board's worst-case memory arithmetic.
    /// Exits 0 when valid; otherwise prints the error, which names the field, and exits 64.
    CheckConfig {
        /// Site config (TOML) to check.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
    /// Decode frames to JSON lines: one frame from a file, or live from a broker.
    ///
    /// Without --broker, reads one frame (raw bytes, or hex text with --hex) from FILE or
    /// standard input and prints it as one JSON line; exits 1 if it does not decode (the line
    /// then has an "error" field). With --broker, subscribes to a site's zones and gateway
    /// topics and prints one line per message: {"topic", "kind", "session", "seq", fields…},
    /// enums as names ("presence":"OnQueue"), times as Unix seconds; a bad frame prints a line
    /// with "error" and the stream goes on. Needs the `demo` cargo feature.
    #[cfg(feature = "demo")]
    Decode(DecodeArgs),
    /// Show one zone as a terminal wallboard, live from a broker.
    ///
    /// Queue tiles coloured by their threshold level, agent tiles coloured by status with live
    /// time-in-status timers, a red banner when the gateway's $state is `lost`. Redraws every
    /// second; q, Esc or Ctrl-C quits. Logs go to a file in the temp directory, named in the
    /// footer. Needs the `demo` cargo feature.
    #[cfg(feature = "demo")]
    Display(DisplayArgs),
    /// One line per site, live from a (central) broker: the fleet view.
    ///
    /// For each site under the prefix: a verdict (UNREACHABLE when the site's MQTT bridge is
    /// down, LOST or OFFLINE from the gateway's $state, degraded or ok from its health), the
    /// bridge, $state, agents, queues, the last resync's age, the health document's age and
    /// the health reasons and alarms. Prints the table whenever it changes (at most every 2 s);
    /// with --once SECS, listens SECS seconds, prints it once and exits (1 if no site was
    /// seen). Needs the `demo` cargo feature.
    #[cfg(feature = "demo")]
    Fleet(FleetArgs),
}

/// `fleet`'s arguments.
#[cfg(feature = "demo")]
#[derive(Debug, Args, PartialEq)]
pub struct FleetArgs {
    /// The broker the sites' brokers bridge to: HOST:PORT (port 1883 when omitted).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_broker)]
    pub broker: BrokerAddr,
    /// Topic prefix, as `mqtt.topic_prefix` in the sites' configs.
    #[arg(long, default_value = "presence", value_name = "PREFIX", value_parser = topic_prefix)]
    pub prefix: String,
    /// Listen this many seconds, print the table once and exit.
    #[arg(long, value_name = "SECS")]
    pub once: Option<u64>,
    /// TLS and credentials.
    #[command(flatten)]
    pub security: BrokerSecurityArgs,
}

/// A broker address, `HOST:PORT` or `HOST` (port 1883).
#[cfg(feature = "demo")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

#[cfg(feature = "demo")]
impl BrokerAddr {
    /// As (host, port).
    pub fn pair(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }
}

/// Parses `HOST:PORT`, `HOST` (port 1883) or `[V6]:PORT`.
#[cfg(feature = "demo")]
pub fn parse_broker(s: &str) -> Result<BrokerAddr, String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: missing ']'"))?;
        match tail.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if tail.is_empty() => (host, None),
            None => return Err(format!("{s:?}: expected [HOST]:PORT")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{s:?}: empty host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("{s:?}: port must be 1-65535"))?,
        None => 1883,
    };
    Ok(BrokerAddr {
        host: host.to_string(),
        port,
    })
}

/// One topic level (a site or a zone): no `/` or `#`; `+` alone is the MQTT wildcard.
#[cfg(feature = "demo")]
fn topic_level(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(['/', '#']) || (s.contains('+') && s != "+") {
        return Err(format!(
            "{s:?}: one topic level (no '/' or '#'; '+' only alone)"
        ));
    }
    Ok(s.to_string())
}

/// One concrete topic level: as [`topic_level`], without wildcards.
#[cfg(feature = "demo")]
fn exact_level(s: &str) -> Result<String, String> {
    if s == "+" {
        return Err("a wildcard is not allowed here".to_string());
    }
    topic_level(s)
}

/// A topic prefix: one or more levels, no wildcards.
#[cfg(feature = "demo")]
fn topic_prefix(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(['+', '#']) || s.split('/').any(str::is_empty) {
        return Err(format!("{s:?}: topic levels without wildcards"));
    }
    Ok(s.to_string())
}

/// How the display tools reach a secured broker (the gateway's `[mqtt]` settings as flags);
/// the password comes from `MQTT_PASSWORD`, never from the command line.
#[cfg(feature = "demo")]
#[derive(Debug, Args, PartialEq, Default)]
pub struct BrokerSecurityArgs {
    /// Connect with TLS (verified against the Mozilla roots and --ca-file).
    #[arg(long)]
    pub tls: bool,
    /// An extra CA (PEM) that signed the broker's certificate (implies --tls).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (implies --tls; needs --client-key).
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// User name; the password is read from the MQTT_PASSWORD environment variable.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
}

/// `decode`'s arguments.
#[cfg(feature = "demo")]
#[derive(Debug, Args, PartialEq)]
pub struct DecodeArgs {
    /// Frame to decode: raw bytes, or hex text with --hex; `-` or nothing reads stdin.
    #[arg(value_name = "FILE", conflicts_with = "broker")]
    pub file: Option<PathBuf>,
    /// The input is hex text (whitespace, commas, colons and 0x prefixes are ignored).
    #[arg(long, conflicts_with = "broker")]
    pub hex: bool,
    /// Subscribe to this broker and decode live: HOST:PORT (port 1883 when omitted).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_broker)]
    pub broker: Option<BrokerAddr>,
    /// Site id (live mode); `+` = every site.
    #[arg(long, default_value = "+", value_name = "SITE", value_parser = topic_level)]
    pub site: String,
    /// Topic prefix (live mode), as `mqtt.topic_prefix` in the site config.
    #[arg(long, default_value = "presence", value_name = "PREFIX", value_parser = topic_prefix)]
    pub prefix: String,
    /// Zone (live mode); `+` = every zone.
    #[arg(long, default_value = "+", value_name = "ZONE", value_parser = topic_level)]
    pub zone: String,
    /// Stop after N messages (live mode).
    #[arg(long, value_name = "N", requires = "broker")]
    pub count: Option<u64>,
    /// Stop after SECS seconds (live mode); exits 1 if --count was given and not reached.
    #[arg(long, value_name = "SECS", requires = "broker")]
    pub timeout: Option<u64>,
    /// TLS and credentials (live mode).
    #[command(flatten)]
    pub security: BrokerSecurityArgs,
}

/// `display`'s arguments.
#[cfg(feature = "demo")]
#[derive(Debug, Args, PartialEq)]
pub struct DisplayArgs {
    /// The broker the gateway publishes to: HOST:PORT (port 1883 when omitted).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_broker)]
    pub broker: BrokerAddr,
    /// Site id, as `site.id` in the gateway's site config; `+` (the default) follows whichever
    /// site publishes on this broker (one site per broker is the usual case).
    #[arg(long, default_value = "+", value_name = "SITE", value_parser = topic_level)]
    pub site: String,
    /// Topic prefix, as `mqtt.topic_prefix` in the site config.
    #[arg(long, default_value = "presence", value_name = "PREFIX", value_parser = topic_prefix)]
    pub prefix: String,
    /// Zone to show (`all` is the implicit zone holding everything).
    #[arg(long, default_value = "all", value_name = "ZONE", value_parser = exact_level)]
    pub zone: String,
    /// TLS and credentials.
    #[command(flatten)]
    pub security: BrokerSecurityArgs,
}

/// Everything `check-config` prints on success: the config summary and the memory
/// arithmetic. On error `main` prints the error and exits with [`super::EXIT_USAGE`].
pub fn check_config(path: &Path, env: &dyn Env) -> Result<String, ConfigError> {
    let config = Config::load(path, env)?;
    config.check_fit()?;
    Ok(format!(
        "{}\n\n{}\nconfig OK",
        config.summary(),
        config.board.worst_case_memory()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_each_subcommand() {
        let cli = Cli::try_parse_from(["pg", "run", "--config", "site.toml"]).unwrap();
        assert_eq!(cli.log, "info");
        assert_eq!(
            cli.command,
            Command::Run {
                config: "site.toml".into()
            }
        );

        let cli = Cli::try_parse_from(["pg", "--log", "debug", "demo", "--agents", "7"]).unwrap();
        assert_eq!(cli.log, "debug");
        assert_eq!(
            cli.command,
            Command::Demo {
                agents: 7,
                queues: 5,
                rate: 20
            }
        );

        let cli =
            Cli::try_parse_from(["pg", "check-config", "-c", "x.toml", "--log", "warn"]).unwrap();
        assert_eq!(cli.log, "warn");
        assert_eq!(
            cli.command,
            Command::CheckConfig {
                config: "x.toml".into()
            }
        );

        assert!(Cli::try_parse_from(["pg", "demo", "--agents", "0"]).is_err());
        assert!(Cli::try_parse_from(["pg", "run"]).is_err());
    }

    #[cfg(feature = "demo")]
    #[test]
    fn parses_the_display_tools() {
        let cli = Cli::try_parse_from(["pg", "decode", "--hex", "f.txt"]).unwrap();
        let Command::Decode(d) = cli.command else {
            panic!("decode")
        };
        assert_eq!(d.file, Some("f.txt".into()));
        assert!(d.hex && d.broker.is_none());
        assert_eq!((d.site.as_str(), d.zone.as_str()), ("+", "+"));

        let cli = Cli::try_parse_from([
            "pg",
            "decode",
            "--broker",
            "10.0.0.2:1884",
            "--site",
            "lyon",
            "--count",
            "3",
        ])
        .unwrap();
        let Command::Decode(d) = cli.command else {
            panic!("decode")
        };
        assert_eq!(
            d.broker,
            Some(BrokerAddr {
                host: "10.0.0.2".into(),
                port: 1884
            })
        );
        assert_eq!(d.count, Some(3));
        assert!(Cli::try_parse_from(["pg", "decode", "--count", "3"]).is_err());
        assert!(Cli::try_parse_from(["pg", "decode", "--broker", "h", "f.bin"]).is_err());
        assert!(Cli::try_parse_from(["pg", "decode", "--broker", "h", "--zone", "a/b"]).is_err());

        let cli = Cli::try_parse_from(["pg", "display", "--broker", "gw", "--site", "s1"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Display(DisplayArgs {
                broker: BrokerAddr {
                    host: "gw".into(),
                    port: 1883
                },
                site: "s1".into(),
                prefix: "presence".into(),
                zone: "all".into(),
                security: BrokerSecurityArgs::default(),
            })
        );
        // The site defaults to `+`, like decode's; a zone is still one exact level.
        let cli = Cli::try_parse_from(["pg", "display", "--broker", "gw"]).unwrap();
        assert!(
            matches!(cli.command, Command::Display(DisplayArgs { ref site, .. }) if site == "+")
        );
        assert!(Cli::try_parse_from(["pg", "display", "--broker", "gw", "--zone", "+"]).is_err());
    }

    #[cfg(feature = "demo")]
    #[test]
    fn broker_addresses() {
        assert_eq!(parse_broker("h:1").unwrap().pair(), ("h".to_string(), 1));
        assert_eq!(
            parse_broker("[::1]:9").unwrap().pair(),
            ("::1".to_string(), 9)
        );
        assert_eq!(parse_broker("[::1]").unwrap().port, 1883);
        assert!(parse_broker("h:0").is_err());
        assert!(parse_broker(":80").is_err());
        assert!(parse_broker("h:x").is_err());
    }

    #[test]
    fn help_says_what_each_subcommand_does() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("check-config"), "{help}");
        assert!(help.contains("--log"), "{help}");
        #[cfg(not(feature = "demo"))]
        let subs = ["run", "demo", "check-config"];
        #[cfg(feature = "demo")]
        let subs = ["run", "demo", "check-config", "decode", "display"];
        for sub in subs {
            let mut cmd = Cli::command();
            let h = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            assert!(h.len() > 80, "{sub}: {h}");
        }
    }
}
