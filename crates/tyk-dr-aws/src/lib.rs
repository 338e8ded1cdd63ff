//! AWS adapters for tyk-dr, one module per service.
//!
//! Each module wraps one AWS SDK client behind plain Rust types so the rest of tyk-dr (the
//! failover engine, the monitor, the local DNS server) never depends on SDK types and can run
//! against AWS or the local emulator (`moto_server`) with the same code.

pub mod api_error;
pub mod calls;
pub mod ec2;
pub mod elasticache;
pub mod iam;
pub mod route53;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Region used when neither the caller nor the standard AWS configuration names one.
///
/// Route 53 is a global service signed for `us-east-1`, so this is the right fallback for it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Loads the standard AWS configuration (environment, profiles, credentials chain,
/// `AWS_ENDPOINT_URL`), with optional overrides for the endpoint and the region.
///
/// Exists so every tool in tyk-dr builds its SDK clients the same way; `endpoint` points them at
/// the local emulator. Falls back to [`DEFAULT_REGION`] when no region is configured anywhere.
pub async fn sdk_config(endpoint: Option<&str>, region: Option<&str>) -> SdkConfig {
    let region_chain = RegionProviderChain::first_try(region.map(|r| Region::new(r.to_owned())))
        .or_default_provider()
        .or_else(Region::new(DEFAULT_REGION));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region_chain);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Builds an SDK configuration for an emulator endpoint with static test credentials.
///
/// Exists for tests and the local environment: it does not read credentials from the
/// environment, so parallel tests cannot interfere with one another through env vars.
pub async fn emulator_config(endpoint: &str, region: &str) -> SdkConfig {
    let credentials = aws_sdk_route53::config::Credentials::new(
        "testing",
        "testing",
        None,
        None,
        "tyk-dr-emulator",
    );
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}
