//! tyk-dr-dns: answers DNS queries (A, AAAA, CNAME, TXT, MX, NS, PTR, SRV, SOA) from the
//! Route 53 hosted zones of an AWS endpoint, probing failover health checks itself.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use tyk_dr_aws::route53::Route53;
use tyk_dr_dns::{Config, Prefer};

/// DNS server fed by Route 53 (for the local two-region environment).
///
/// AWS settings come from the standard configuration (AWS_ENDPOINT_URL, AWS_REGION, the
/// credentials chain); --endpoint-url and --region override them.
#[derive(Debug, Parser)]
#[command(name = "tyk-dr-dns", version)]
struct Args {
    /// Address to answer on, UDP and TCP.
    #[arg(long, default_value = "127.0.0.1:5353", env = "TYK_DR_DNS_LISTEN")]
    listen: SocketAddr,
    /// Route 53 endpoint (e.g. http://127.0.0.1:4566 for the emulator); default: AWS config.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region for signing; default: AWS config, else us-east-1.
    #[arg(long)]
    region: Option<String>,
    /// How often zones are re-read (one ListResourceRecordSets per zone).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    refresh: Duration,
    /// Probe every health check at this interval instead of its RequestInterval (10 s / 30 s).
    /// FailureThreshold still applies. For local runs and tests, e.g. 200ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    health_interval_override: Option<Duration>,
    /// Time allowed for one health probe [default: 2s, or 2x the interval override, >= 200ms].
    #[arg(long, value_parser = humantime::parse_duration)]
    health_timeout: Option<Duration>,
    /// Which zone answers when a private and a public zone have the same apex.
    #[arg(long, value_enum, default_value_t = Prefer::Private)]
    prefer: Prefer,
    /// Cap on the TTL of negative answers (NXDOMAIN / NODATA SOA).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    max_negative_ttl: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(
                // hickory logs every query at info; aws_config repeats credential-chain
                // warnings on every poll (our own warning already carries the error).
                "info,hickory_server=warn,aws_config=error",
            )
        }))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let sdk = tyk_dr_aws::sdk_config(args.endpoint_url.as_deref(), args.region.as_deref()).await;
    let config = Config {
        listen: args.listen,
        refresh: args.refresh,
        health_interval_override: args.health_interval_override,
        health_timeout: args.health_timeout,
        prefer: args.prefer,
        max_negative_ttl: args.max_negative_ttl,
        ..Config::default()
    };
    let handle = tyk_dr_dns::serve(Route53::new(&sdk), config)
        .await
        .context("starting the DNS server")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}
