//! Resolving the Redis name: a configured nameserver (hickory, TTL-honouring cache) or the system resolver.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

/// Resolves `host:port` each time it is asked; the answer may change (that is the point).
pub struct Dns {
    host: String,
    port: u16,
    resolver: Option<TokioResolver>,
}

impl Dns {
    /// A resolver for `host`, using `nameserver` when given.
    pub fn new(host: &str, port: u16, nameserver: Option<SocketAddr>, timeout: Duration) -> Self {
        let resolver = match (host.parse::<IpAddr>(), nameserver) {
            (Ok(_), _) | (_, None) => None,
            (Err(_), Some(ns)) => {
                let group = NameServerConfigGroup::from_ips_clear(&[ns.ip()], ns.port(), true);
                let mut opts = ResolverOpts::default();
                opts.timeout = timeout;
                opts.attempts = 1;
                opts.cache_size = 8;
                // Never trust an answer longer than a minute, whatever its TTL says.
                opts.positive_max_ttl = Some(Duration::from_secs(60));
                opts.negative_max_ttl = Some(Duration::from_secs(1));
                let cfg = ResolverConfig::from_parts(None, vec![], group);
                Some(
                    TokioResolver::builder_with_config(cfg, TokioConnectionProvider::default())
                        .with_options(opts)
                        .build(),
                )
            }
        };
        Self {
            host: host.to_string(),
            port,
            resolver,
        }
    }

    /// The host name being resolved (used as TLS server name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Forget cached answers: the next [`Dns::resolve`] asks the nameserver.
    pub fn forget(&self) {
        if let Some(r) = &self.resolver {
            r.clear_cache();
        }
    }

    /// Resolve to one socket address (the first IPv4 answer preferred).
    pub async fn resolve(&self) -> Result<SocketAddr, String> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        match &self.resolver {
            Some(r) => {
                let answer = r
                    .lookup_ip(self.host.as_str())
                    .await
                    .map_err(|e| format!("resolving `{}`: {e}", self.host))?;
                let mut ips: Vec<IpAddr> = answer.iter().collect();
                ips.sort_by_key(|ip| !ip.is_ipv4());
                ips.first()
                    .map(|ip| SocketAddr::new(*ip, self.port))
                    .ok_or_else(|| format!("`{}` has no address", self.host))
            }
            None => tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("resolving `{}`: {e}", self.host))?
                .min_by_key(|a| !a.is_ipv4())
                .ok_or_else(|| format!("`{}` has no address", self.host)),
        }
    }
}
