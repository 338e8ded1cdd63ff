//! The bundled gateway's configuration file, rendered in this ONE function so it stays in
//! line with the gateway's config format (`gateway/src/config.rs`: `deny_unknown_fields`, so
//! only keys it knows are written).
//!
//! Secrets are not in the rendered file (so not in any template): at boot the start script
//! reads them from Secrets Manager and writes the complete file to tmpfs, prepending the
//! top-level `secret` and `node_secret` and appending `password` to the `[redis]` table, which is therefore
//! always the last table here.

use crate::config::{Config, Side};

/// Where user data writes the secret-free config.
pub const BASE_CONFIG_PATH: &str = "/etc/tyk-dr-gateway/gateway.toml";
/// Where the start script writes the complete config (tmpfs, mode 0600, service user only).
pub const RUNTIME_CONFIG_PATH: &str = "/run/tyk-dr-gateway/gateway.toml";
/// The gateway's state directory (systemd `StateDirectory`, writable under `ProtectSystem=strict`).
pub const STATE_DIR: &str = "/var/lib/tyk-dr-gateway";
/// Directory of API definition files (`app_path`).
pub const APP_PATH: &str = "/var/lib/tyk-dr-gateway/apps";
/// File whose presence means "fenced"; keeps a fenced gateway fenced across restarts.
pub const FENCE_FILE: &str = "/var/lib/tyk-dr-gateway/fenced";

/// Secrets Manager secret holding the gateway's management API secret, by convention
/// (`<project>/gateway-api-secret`; the config has no field for it yet).
pub fn api_secret_name(cfg: &Config) -> String {
    format!("{}/gateway-api-secret", cfg.project)
}

/// Secrets Manager secret holding the key that signs cluster notifications (`node_secret`),
/// by convention (`<project>/gateway-node-secret`); without it the gateway ignores them all.
pub fn node_secret_name(cfg: &Config) -> String {
    format!("{}/gateway-node-secret", cfg.project)
}

/// A TOML basic string (JSON string escaping is valid TOML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The secret-free gateway config for one region's instances, as TOML.
pub fn render(cfg: &Config, side: Side) -> String {
    let region = cfg.region(side);
    let lines = [
        "# tyk-dr-gateway configuration written by CloudFormation user data (tyk-dr cfn)."
            .to_string(),
        format!(
            "# {} region. Secrets are added at boot from Secrets Manager, never stored here.",
            side.key()
        ),
        format!("listen = {}", q(&format!("0.0.0.0:{}", cfg.gateway.port))),
        format!("region = {}", q(&region.name)),
        format!("app_path = {}", q(APP_PATH)),
        format!("ready_path = {}", q(&cfg.dns.health_check_path)),
        format!("fence_file = {}", q(FENCE_FILE)),
        String::new(),
        "# Fencing: the gateway reads which region is active from this TXT record (through the VPC"
            .to_string(),
        "# resolver) and stays a fenced standby unless it names this region.".to_string(),
        "[epoch]".to_string(),
        format!(
            "record = {}",
            q(&crate::playbook::epoch::record_name(&cfg.dns.global_name))
        ),
        String::new(),
        "# Must stay the last table: the start script appends `password` to it.".to_string(),
        "[redis]".to_string(),
        "# A CNAME in the private hosted zone, re-resolved on READONLY or connection errors."
            .to_string(),
        format!("host = {}", q(&cfg.dns.redis_cname)),
        format!("port = {}", cfg.redis.port),
        format!("tls = {}", cfg.redis.tls),
    ];
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
