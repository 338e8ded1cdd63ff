//! The AWS clients a plan needs: EC2 and ElastiCache in each region, Route 53 once.
//!
//! Built from the standard AWS configuration (profiles, `AWS_REGION`, the credential chain,
//! `AWS_ENDPOINT_URL`), with more retries for throttling and every request counted.

use aws_config::retry::RetryConfig;
use tyk_dr_aws::calls::{counted, CallCounter};
use tyk_dr_aws::ec2::Ec2;
use tyk_dr_aws::elasticache::ElastiCache;
use tyk_dr_aws::route53::Route53;

use crate::config::{Config, Side};

/// Attempts per call: throttling and transient errors are retried with backoff by the SDK.
const MAX_ATTEMPTS: u32 = 8;

/// One region's clients.
#[derive(Debug, Clone)]
pub struct Regional {
    /// AWS region name.
    pub region: String,
    /// EC2.
    pub ec2: Ec2,
    /// ElastiCache.
    pub cache: ElastiCache,
}

/// Every client, plus the request counter they share.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Active region.
    pub active: Regional,
    /// Passive region.
    pub passive: Regional,
    /// Route 53 (a global service).
    pub route53: Route53,
    /// Requests sent so far.
    pub calls: CallCounter,
}

impl Clients {
    /// Builds the clients for both regions of `cfg`.
    pub async fn new(cfg: &Config) -> Clients {
        let calls = CallCounter::default();
        let make = |region: Option<String>| {
            let calls = calls.clone();
            async move {
                let base = tyk_dr_aws::sdk_config(None, region.as_deref()).await;
                // More attempts than the SDK's 3 against throttling, unless the user chose
                // (AWS_MAX_ATTEMPTS or `max_attempts` in the profile).
                let base = if std::env::var_os("AWS_MAX_ATTEMPTS").is_some()
                    || base.retry_config().is_some_and(|r| r.max_attempts() != 3)
                {
                    base
                } else {
                    base.to_builder()
                        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
                        .build()
                };
                counted(&base, &calls)
            }
        };
        let (a, p, g) = tokio::join!(
            make(Some(cfg.regions.active.name.clone())),
            make(Some(cfg.regions.passive.name.clone())),
            make(Some(tyk_dr_aws::DEFAULT_REGION.to_owned())),
        );
        let regional = |conf: &aws_config::SdkConfig, region: &str| Regional {
            region: region.to_owned(),
            ec2: Ec2::new(conf),
            cache: ElastiCache::new(conf),
        };
        Clients {
            active: regional(&a, &cfg.regions.active.name),
            passive: regional(&p, &cfg.regions.passive.name),
            route53: Route53::new(&g),
            calls,
        }
    }

    /// The clients of one side.
    pub fn side(&self, side: Side) -> &Regional {
        match side {
            Side::Active => &self.active,
            Side::Passive => &self.passive,
        }
    }
}
