//! `tyk-dr completions SHELL`: completion scripts generated from the clap definitions.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::exit;

/// Writes the completion script for the requested shell to stdout.
pub fn run(args: &CompletionsArgs) -> u8 {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "tyk-dr",
        &mut std::io::stdout(),
    );
    exit::OK
}
