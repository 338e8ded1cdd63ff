//! The bundled gateway's configuration file, rendered in this ONE function so it can be kept
//! in line with the gateway's own config format (`gateway/README.md` once it exists).
//!
//! Secrets are never in the file: it names the environment variables that the start script
//! fills from Secrets Manager at boot (see `userdata.rs`).

use crate::config::{Config, Side};

/// Where user data writes the config file.
pub const CONFIG_PATH: &str = "/etc/tyk-dr-gateway/gateway.toml";
/// Directory of API definition files (`app_path`).
pub const APP_PATH: &str = "/etc/tyk-dr-gateway/apps";
/// Environment variable holding the Redis AUTH token (set only when `redis.auth`).
pub const REDIS_PASSWORD_ENV: &str = "TYK_DR_REDIS_PASSWORD";
/// Environment variable holding the management API secret (`X-Tyk-Authorization`).
pub const API_SECRET_ENV: &str = "TYK_DR_GATEWAY_SECRET";

/// Secrets Manager secret holding the gateway's management API secret, by convention
/// (`<project>/gateway-api-secret`; the config has no field for it yet).
pub fn api_secret_name(cfg: &Config) -> String {
    format!("{}/gateway-api-secret", cfg.project)
}

/// A TOML basic string (JSON string escaping is valid TOML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The gateway config for one region's instances, as TOML.
pub fn render(cfg: &Config, side: Side) -> String {
    let region = cfg.region(side);
    let mut out = String::new();
    out.push_str("# tyk-dr-gateway configuration, written at boot by CloudFormation user data (tyk-dr cfn).\n");
    out.push_str("# Secrets are not in this file: the start script reads them from Secrets Manager\n");
    out.push_str("# into the environment variables named by the *_env keys.\n");
    out.push_str(&format!("listen = {}\n", q(&format!("0.0.0.0:{}", cfg.gateway.port))));
    out.push_str(&format!("app_path = {}\n", q(APP_PATH)));
    out.push_str(&format!("ready_path = {}\n", q(&cfg.dns.health_check_path)));
    out.push_str(&format!("region = {}\n", q(&region.name)));
    out.push_str(&format!("side = {}\n", q(side.key())));
    out.push_str(&format!("secret_env = {}\n", q(API_SECRET_ENV)));
    out.push_str("\n[redis]\n");
    out.push_str("# A CNAME in the private hosted zone; re-resolved on READONLY or connection errors.\n");
    out.push_str(&format!(
        "addr = {}\n",
        q(&format!("{}:{}", cfg.dns.redis_cname, cfg.redis.port))
    ));
    out.push_str(&format!("tls = {}\n", cfg.redis.tls));
    if cfg.redis.auth {
        out.push_str(&format!("password_env = {}\n", q(REDIS_PASSWORD_ENV)));
    }
    out
}
