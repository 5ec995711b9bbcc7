//! The `presence-gateway` binary: parse the command line, set up logging, build the runtime,
//! hand over to `app` (or `demo`, or the display tools), map errors to exit codes (64 = bad
//! config). Nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use presence_gateway::config::{self, cli::Cli, cli::Command, ProcessEnv, EXIT_USAGE};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The embedded broker (demo only) logs every probe connection as an error: keep it quiet.
    let filter = match cli.command {
        Command::Demo { .. } => format!("{},rumqttd=off", cli.log),
        _ => cli.log.clone(),
    };
    let log_file = wallboard_log(&cli.command);
    init_logs(&filter, log_file.as_deref());
    match cli.command {
        Command::CheckConfig { config } => match config::cli::check_config(&config, &ProcessEnv) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("presence-gateway: {e}");
                exit_usage()
            }
        },
        Command::Run { config } => {
            let config = match config::Config::load(&config, &ProcessEnv) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("presence-gateway: {e}");
                    return exit_usage();
                }
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("presence-gateway: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(presence_gateway::app::run(
                config,
                presence_gateway::signal::shutdown(),
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(presence_gateway::app::AppError::Config(e)) => {
                    eprintln!("presence-gateway: {e}");
                    exit_usage()
                }
                Err(e) => {
                    eprintln!("presence-gateway: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo {
            agents,
            queues,
            rate,
        } => demo(agents, queues, rate, log_file.as_deref()),
        #[cfg(feature = "demo")]
        Command::Decode(args) => decode(&args),
        #[cfg(feature = "demo")]
        Command::Display(args) => display(&args, log_file.as_deref()),
        #[cfg(feature = "demo")]
        Command::Fleet(args) => fleet(&args),
    }
}

/// Logs go to stderr, or to `file` while a wallboard owns the terminal (log lines written
/// over the alternate screen would stay there until the next full redraw).
fn init_logs(filter: &str, file: Option<&Path>) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file = file.and_then(|p| std::fs::File::create(p).ok());
    match file {
        Some(f) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init(),
        None => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
}

/// The log file of a command that shows the wallboard on a terminal, if this one does.
#[cfg(feature = "demo")]
fn wallboard_log(command: &Command) -> Option<PathBuf> {
    use std::io::IsTerminal as _;
    let name = match command {
        Command::Demo { .. } => "demo",
        Command::Display(_) => "display",
        _ => return None,
    };
    std::io::stdout()
        .is_terminal()
        .then(|| std::env::temp_dir().join(format!("presence-gateway-{name}.log")))
}

#[cfg(not(feature = "demo"))]
fn wallboard_log(_: &Command) -> Option<PathBuf> {
    None
}

#[cfg(feature = "demo")]
fn footer(log: Option<&Path>) -> String {
    log.map_or(String::new(), |p| format!("log: {}", p.display()))
}

fn exit_usage() -> ExitCode {
    ExitCode::from(u8::try_from(EXIT_USAGE).unwrap_or(64))
}

/// Runtime workers: the stages are few and mostly wait on sockets; two keep one busy stage
/// (a resync's decode, a republish sweep) from delaying the others.
const WORKER_THREADS: usize = 2;

/// The most blocking threads at once (tokio's default is 512). Their users are few and each
/// bounded: one store upkeep, one watchdog probe, and a name lookup per connection being
/// made (21 channel sockets, the REST clients, the broker); a lookup past this waits for a
/// thread instead of adding one (a fixed-memory box: each thread reserves a stack).
const BLOCKING_THREADS: usize = 32;

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
}

#[cfg(feature = "demo")]
fn demo(agents: u32, queues: u32, rate: u32, log: Option<&Path>) -> ExitCode {
    use presence_gateway::demo::View;
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("presence-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `log` is set exactly when stdout is a terminal: then the wallboard, else plain text.
    let view = match log {
        Some(_) => View::Wallboard {
            footer: footer(log),
        },
        None => View::Text,
    };
    let result = rt.block_on(presence_gateway::demo::run(
        agents,
        queues,
        rate,
        view,
        presence_gateway::signal::shutdown(),
    ));
    if let Some(p) = log {
        println!("presence-gateway demo stopped; its log is {}", p.display());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("presence-gateway demo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "demo"))]
fn demo(_: u32, _: u32, _: u32, _: Option<&Path>) -> ExitCode {
    eprintln!(
        "presence-gateway: this firmware build has no demo (built without the `demo` feature)"
    );
    exit_usage()
}

/// `decode`: one frame from a file or stdin, or a live subscription. Exit 1 when the frame
/// does not decode, when the input cannot be read, or when `--count` was not reached in time.
#[cfg(feature = "demo")]
fn decode(args: &config::cli::DecodeArgs) -> ExitCode {
    use presence_gateway::display::decode::{self, LiveEnd, LiveOptions};
    let Some(broker) = &args.broker else {
        let stdout = std::io::stdout();
        return match decode::file(args.file.as_deref(), args.hex, &mut stdout.lock()) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("presence-gateway decode: {e}");
                ExitCode::FAILURE
            }
        };
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("presence-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = LiveOptions {
        broker: broker.pair(),
        prefix: args.prefix.clone(),
        site: args.site.clone(),
        zone: args.zone.clone(),
        count: args.count,
        timeout: args.timeout.map(std::time::Duration::from_secs),
        security: match security(&args.security) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("presence-gateway decode: {e}");
                return exit_usage();
            }
        },
    };
    let mut out = std::io::stdout();
    let (end, written) = rt.block_on(decode::live(
        &opts,
        &mut out,
        presence_gateway::signal::shutdown(),
    ));
    match (end, args.count) {
        (LiveEnd::Timeout, Some(n)) => {
            eprintln!("presence-gateway decode: timed out after {written} of {n} messages");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

/// `fleet`: the fleet table, once (`--once SECS`) or whenever it changes until a signal.
#[cfg(feature = "demo")]
fn fleet(args: &config::cli::FleetArgs) -> ExitCode {
    use presence_gateway::display::fleet::{self, FleetOptions};
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("presence-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = FleetOptions {
        broker: args.broker.pair(),
        prefix: args.prefix.clone(),
        once: args.once.map(std::time::Duration::from_secs),
        security: match security(&args.security) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("presence-gateway fleet: {e}");
                return exit_usage();
            }
        },
    };
    let mut out = std::io::stdout();
    let sites = rt.block_on(fleet::run(
        &opts,
        &mut out,
        presence_gateway::signal::shutdown(),
    ));
    if opts.once.is_some() && sites == 0 {
        eprintln!(
            "presence-gateway fleet: no site seen under {}/",
            opts.prefix
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `display`: the wallboard until a quit key or a signal.
/// The display tools' TLS and credentials from their flags and `MQTT_PASSWORD`.
#[cfg(feature = "demo")]
fn security(
    a: &config::cli::BrokerSecurityArgs,
) -> Result<presence_gateway::display::BrokerSecurity, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = if a.tls || a.ca_file.is_some() || a.client_cert.is_some() {
        let auth = a.client_cert.as_deref().zip(a.client_key.as_deref());
        Some(
            presence_gateway::tls::client_config(a.ca_file.as_deref(), auth)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let credentials = match &a.username {
        Some(user) => {
            let password =
                std::env::var(presence_gateway::config::ENV_MQTT_PASSWORD).map_err(|_| {
                    format!(
                        "--username needs the password in {}",
                        presence_gateway::config::ENV_MQTT_PASSWORD
                    )
                })?;
            Some((
                user.clone(),
                presence_gateway::config::Secret::new(password),
            ))
        }
        None => None,
    };
    Ok(presence_gateway::display::BrokerSecurity { tls, credentials })
}

#[cfg(feature = "demo")]
fn display(args: &config::cli::DisplayArgs, log: Option<&Path>) -> ExitCode {
    use presence_gateway::display::{self, DisplayOptions};
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("presence-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = DisplayOptions {
        broker: args.broker.pair(),
        prefix: args.prefix.clone(),
        site: args.site.clone(),
        zone: args.zone.clone(),
        footer: footer(log),
        security: match security(&args.security) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("presence-gateway display: {e}");
                return exit_usage();
            }
        },
    };
    match display::run(rt.handle(), &opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("presence-gateway display: {e}");
            ExitCode::FAILURE
        }
    }
}
