//! DNS probe: what a client really gets for a name (the CNAME chain and the
//! addresses), through the configured nameserver or the system resolver.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use serde::Serialize;

use super::PROBE_TIMEOUT;

/// What a name resolved to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resolution {
    /// The name asked for.
    pub name: String,
    /// CNAME targets followed, in order.
    pub cnames: Vec<String>,
    /// Final addresses.
    pub addresses: Vec<IpAddr>,
    /// Smallest TTL in the answer, seconds.
    pub ttl: Option<u32>,
    /// Why resolution failed.
    pub error: Option<String>,
}

/// A resolver that asks `nameserver`, or the system's resolvers when `None`. No caching:
/// every probe must see the answer as it is now.
pub fn resolver(nameserver: Option<SocketAddr>) -> TokioResolver {
    let mut opts = ResolverOpts::default();
    opts.timeout = PROBE_TIMEOUT;
    opts.attempts = 1;
    opts.cache_size = 0;
    let builder = match nameserver {
        Some(ns) => {
            let group = NameServerConfigGroup::from_ips_clear(&[ns.ip()], ns.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().unwrap_or_else(|_| {
            TokioResolver::builder_with_config(
                ResolverConfig::default(),
                TokioConnectionProvider::default(),
            )
        }),
    };
    builder.with_options(opts).build()
}

/// Resolves `name` to addresses, recording the CNAME chain on the way.
pub async fn resolve(resolver: &TokioResolver, name: &str) -> Resolution {
    let mut out = Resolution {
        name: name.to_owned(),
        ..Default::default()
    };
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    match resolver.lookup_ip(fqdn).await {
        Ok(lookup) => {
            for record in lookup.as_lookup().record_iter() {
                out.ttl = Some(out.ttl.map_or(record.ttl(), |t| t.min(record.ttl())));
                match record.data() {
                    RData::CNAME(c) => out
                        .cnames
                        .push(c.0.to_utf8().trim_end_matches('.').to_owned()),
                    RData::A(a) => out.addresses.push(IpAddr::V4(a.0)),
                    RData::AAAA(a) => out.addresses.push(IpAddr::V6(a.0)),
                    _ => {}
                }
            }
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

/// The first TXT string of `name`, or `None` when it has none (or does not resolve).
pub async fn txt(resolver: &TokioResolver, name: &str) -> Option<String> {
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    let answer = resolver.txt_lookup(fqdn).await.ok()?;
    let record = answer.iter().next()?;
    Some(
        record
            .txt_data()
            .iter()
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
    )
}
