//! Command-line arguments (raw values only; [`crate::config`] validates).

use std::path::PathBuf;

use clap::Parser;

/// tyk-dr-gateway: Tyk-compatible gateway that rides out Redis failover.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// Path to the TOML configuration file.
    #[arg(short, long, default_value = "/etc/tyk-dr/gateway.toml")]
    pub config: PathBuf,
    /// Validate the configuration and exit (0 = valid, 64 = invalid).
    #[arg(long)]
    pub check_config: bool,
}
