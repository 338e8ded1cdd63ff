//! tyk-dr: active-passive disaster recovery for Tyk-style API gateways on AWS.
//!
//! [`run`] is the whole program: parse the command line, set up logging,
//! dispatch to one of [`commands`], and turn the outcome into an exit status.
//! Errors are printed once, here.

pub mod cfn;
pub mod cli;
pub mod commands;
pub mod config;
pub mod drill;
pub mod error;
pub mod plan;
pub mod playbook;
pub mod probes;
pub mod prompt;
pub mod secrets;
pub mod state_dir;
pub mod status;
pub mod sync;

use std::ffi::OsString;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, OutputFormat};
use commands::CommandContext;
use error::{exit, Error};

/// Runs tyk-dr with the given arguments (the first is the program name) and returns the exit status.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    init_logging(&cli);
    let ctx = CommandContext {
        config_path: cli.config.clone(),
        output: cli.output,
    };
    let result = match &cli.command {
        Command::Validate(args) => commands::validate::run(&ctx, args),
        Command::Cfn(args) => commands::cfn::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Failover(args) => {
            commands::failover::run(&ctx, args, commands::failover::Direction::Failover)
        }
        Command::Failback(args) => {
            commands::failover::run(&ctx, args, commands::failover::Direction::Failback)
        }
        Command::Monitor(args) => commands::monitor::run(&ctx, args),
        Command::Sync(args) => commands::sync::run(&ctx, args),
        Command::Plan(args) => commands::plan::run(&ctx, args),
        Command::Apply(args) => commands::apply::run(&ctx, args),
        Command::Destroy(args) => commands::destroy::run(&ctx, args),
        Command::IamPolicy => commands::iam_policy::run(),
        Command::Drill(args) => commands::drill::run(&ctx, args),
        Command::Completions(args) => Ok(commands::completions::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report(&ctx, &e);
            e.code()
        }
    }
}

/// The async runtime for commands that do network I/O (two worker threads: probes are I/O-bound).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime {
            what: "starting the async runtime".into(),
            reason: e.to_string(),
        })
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("TYK_DR_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Prints an error once: as text with a hint on stderr, or as a JSON document on stdout.
fn report(ctx: &CommandContext, e: &Error) {
    match ctx.output {
        OutputFormat::Json => {
            let mut doc = serde_json::json!({
                "error": e.to_string(),
                "hint": e.hint(),
                "exit_code": e.code(),
            });
            match e {
                Error::ConfigInvalid(invalid) => {
                    doc["diagnostics"] =
                        commands::diagnostics_json(&invalid.file.name, &invalid.diagnostics);
                }
                Error::RunStopped {
                    report: Some(report),
                    ..
                } => doc["report"] = (**report).clone(),
                _ => {}
            }
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        }
        OutputFormat::Table => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("  hint: {hint}");
            }
        }
    }
}
