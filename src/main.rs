//! The `presence-gateway` binary: parse the command line, set up logging, build the runtime,
//! hand over to `app` (or `demo`), map errors to exit codes (64 = bad config). Nothing else.

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
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
        } => demo(agents, queues, rate),
    }
}

fn exit_usage() -> ExitCode {
    ExitCode::from(u8::try_from(EXIT_USAGE).unwrap_or(64))
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[cfg(feature = "demo")]
fn demo(agents: u32, queues: u32, rate: u32) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("presence-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(presence_gateway::demo::run(
        agents,
        queues,
        rate,
        presence_gateway::signal::shutdown(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("presence-gateway demo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "demo"))]
fn demo(_: u32, _: u32, _: u32) -> ExitCode {
    eprintln!(
        "presence-gateway: this firmware build has no demo (built without the `demo` feature)"
    );
    exit_usage()
}
