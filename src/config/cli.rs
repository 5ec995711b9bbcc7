//! The command line: clap-derived [`Cli`] with the `run`, `demo` and `check-config`
//! subcommands and the global `--log` filter, plus [`check_config`], which does all the work
//! of `check-config` so `main.rs` only prints and picks the exit code. Does not set up
//! logging or start anything.

use std::path::{Path, PathBuf};

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
}

/// Everything `check-config` prints on success: the config summary and the memory
/// arithmetic. On error `main` prints the error and exits with [`super::EXIT_USAGE`].
pub fn check_config(path: &Path, env: &dyn Env) -> Result<String, ConfigError> {
    let config = Config::load(path, env)?;
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

    #[test]
    fn help_says_what_each_subcommand_does() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("check-config"), "{help}");
        assert!(help.contains("--log"), "{help}");
        for sub in ["run", "demo", "check-config"] {
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
