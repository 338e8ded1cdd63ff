//! Route 53 adapter: hosted zones, record sets, health checks and change batches as plain Rust
//! types.
//!
//! The failover engine, the monitor and the local DNS server all read and change Route 53
//! through this module so none of them depends on SDK types, and so names are normalised the
//! same way everywhere: lowercase, always with a trailing dot, Route 53's `\NNN` octal escapes
//! (notably `\052` for `*`) decoded.

use std::net::IpAddr;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_route53::types as sdk;

/// Upper bound on pages fetched by one listing, so a misbehaving endpoint cannot loop us forever.
const MAX_PAGES: usize = 10_000;

/// Errors from the Route 53 adapter; SDK errors are flattened to text so callers never see SDK
/// types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Route 53 API failed (network, throttling, validation, not found...).
    #[error("route53 {operation} failed: {message}")]
    Api {
        /// The API operation, e.g. `ListResourceRecordSets`.
        operation: &'static str,
        /// The SDK error with its full source chain.
        message: String,
    },
    /// A request could not be built from the values given (missing required field...).
    #[error("invalid route53 request: {0}")]
    Invalid(String),
    /// The API answered with something this adapter cannot interpret.
    #[error("unexpected route53 response: {0}")]
    Unexpected(String),
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn api_err<E>(operation: &'static str) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    // Service errors carry a code and message; anything else (timeouts, connection refused)
    // is described by its full source chain.
    move |e| Error::Api {
        operation,
        message: match (e.code(), e.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(e).to_string(),
        },
    }
}

fn build_err(e: impl std::fmt::Display) -> Error {
    Error::Invalid(e.to_string())
}

/// Normalises a DNS name the way this crate compares names: lowercase, trailing dot, Route 53
/// octal escapes (`\052` → `*`, `\100` → `@`...) decoded.
///
/// Route 53 returns `*.example.com.` as `\052.example.com.`; callers give names with or without
/// the trailing dot. Normalising once makes every lookup a plain string comparison.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            if let Some(c) = char::from_u32(code) {
                out.push(c.to_ascii_lowercase());
                i += 4;
                continue;
            }
        }
        // Names are ASCII in Route 53; push chars to stay correct for anything else.
        let c = name[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c.to_ascii_lowercase());
        i += c.len_utf8();
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Strips the `/hostedzone/` or `/healthcheck/` prefix some responses put on ids.
pub fn short_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A hosted zone, public or private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Zone id without the `/hostedzone/` prefix.
    pub id: String,
    /// Apex name, normalised (lowercase, trailing dot).
    pub name: String,
    /// True for a private hosted zone (served only inside associated VPCs on AWS).
    pub private: bool,
}

/// Failover role of a record set in a failover routing pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failover {
    /// Answered while its health check is healthy.
    Primary,
    /// Answered while the primary is unhealthy.
    Secondary,
}

/// Target of an alias record: another record set Route 53 resolves on the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    /// Hosted zone id of the target.
    pub hosted_zone_id: String,
    /// Target name, normalised.
    pub dns_name: String,
    /// Whether the alias inherits the health of its target.
    pub evaluate_target_health: bool,
}

/// One resource record set, with the routing fields tyk-dr uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordSet {
    /// Owner name, normalised (`\052` decoded to `*`).
    pub name: String,
    /// Record type in upper case (`A`, `AAAA`, `CNAME`, `TXT`, `SOA`...).
    pub rtype: String,
    /// TTL in seconds; `None` for alias records (they take the target's TTL).
    pub ttl: Option<u32>,
    /// Record values in Route 53 text form (TXT values keep their quotes).
    pub values: Vec<String>,
    /// Set identifier of a record with a routing policy (failover, weighted...).
    pub set_identifier: Option<String>,
    /// Failover role, for failover routing.
    pub failover: Option<Failover>,
    /// Health check deciding whether this record may be answered.
    pub health_check_id: Option<String>,
    /// Alias target, for alias records (then `values` is empty).
    pub alias_target: Option<AliasTarget>,
    /// Weight, for weighted routing.
    pub weight: Option<u64>,
    /// True for multivalue answer routing.
    pub multi_value_answer: bool,
    /// True when the record uses a routing policy this adapter does not model (latency,
    /// geolocation, geoproximity, CIDR); the record is still listed so callers can decide.
    pub other_routing: bool,
}

impl RecordSet {
    /// A simple-routing record set; the common case for tests and for `upsert` flips.
    pub fn simple(name: &str, rtype: &str, ttl: u32, values: &[&str]) -> Self {
        RecordSet {
            name: normalize_name(name),
            rtype: rtype.to_ascii_uppercase(),
            ttl: Some(ttl),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            ..Default::default()
        }
    }
}

/// Protocol of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckProtocol {
    /// HTTP GET, healthy on 2xx/3xx.
    Http,
    /// HTTPS GET (certificate not validated), healthy on 2xx/3xx.
    Https,
    /// HTTP GET whose body must contain the search string.
    HttpStrMatch,
    /// HTTPS GET whose body must contain the search string.
    HttpsStrMatch,
    /// TCP connect.
    Tcp,
    /// Any other type (calculated, CloudWatch alarm, recovery control), kept by name.
    Other(String),
}

/// A Route 53 health check's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Health check id.
    pub id: String,
    /// What the checker does.
    pub protocol: HealthCheckProtocol,
    /// Target address, if given by IP.
    pub ip: Option<IpAddr>,
    /// Target host name (also the Host header when `ip` is set).
    pub fqdn: Option<String>,
    /// Target port (Route 53 defaults: 80 for HTTP, 443 for HTTPS).
    pub port: Option<u16>,
    /// Path requested by HTTP(S) checks, starting with `/`.
    pub path: Option<String>,
    /// String the body must contain, for `*_STR_MATCH` checks.
    pub search_string: Option<String>,
    /// Time between checks (Route 53: 10 or 30 seconds, default 30).
    pub interval: Duration,
    /// Consecutive results needed to change status (Route 53: 1-10, default 3).
    pub failure_threshold: u32,
    /// Report healthy when the target is unhealthy and vice versa.
    pub inverted: bool,
    /// A disabled health check is always considered healthy by Route 53.
    pub disabled: bool,
}

impl HealthCheck {
    /// An HTTP health check on `ip:port` + `path`, for tests and the local environment.
    pub fn http(
        ip: IpAddr,
        port: u16,
        path: &str,
        interval_s: u64,
        failure_threshold: u32,
    ) -> Self {
        HealthCheck {
            id: String::new(),
            protocol: HealthCheckProtocol::Http,
            ip: Some(ip),
            fqdn: None,
            port: Some(port),
            path: Some(path.to_owned()),
            search_string: None,
            interval: Duration::from_secs(interval_s),
            failure_threshold,
            inverted: false,
            disabled: false,
        }
    }
}

/// One change in a change batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create; fails if the record set exists.
    Create(RecordSet),
    /// Create or replace.
    Upsert(RecordSet),
    /// Delete; fails unless the record set matches exactly (used for compare-and-swap).
    Delete(RecordSet),
}

/// Route 53 client wrapper; cheap to clone.
#[derive(Debug, Clone)]
pub struct Route53 {
    client: aws_sdk_route53::Client,
}

impl Route53 {
    /// Builds the adapter from an SDK configuration (see [`crate::sdk_config`]).
    pub fn new(config: &SdkConfig) -> Self {
        Route53 {
            client: aws_sdk_route53::Client::new(config),
        }
    }

    /// Lists every hosted zone (all pages).
    pub async fn list_zones(&self) -> Result<Vec<Zone>> {
        let mut zones = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .list_hosted_zones()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(api_err("ListHostedZones"))?;
            zones.extend(out.hosted_zones().iter().map(zone_from_sdk));
            match (out.is_truncated(), out.next_marker()) {
                (true, Some(next)) => marker = Some(next.to_owned()),
                _ => return Ok(zones),
            }
        }
        Err(Error::Unexpected("ListHostedZones: too many pages".into()))
    }

    /// Creates a hosted zone; `vpc` = `(vpc_id, vpc_region)` makes it private.
    pub async fn create_zone(&self, name: &str, vpc: Option<(&str, &str)>) -> Result<Zone> {
        let caller_reference = format!("tyk-dr-{}-{}", normalize_name(name), unique_suffix());
        let mut req = self
            .client
            .create_hosted_zone()
            .name(name)
            .caller_reference(caller_reference);
        if let Some((vpc_id, vpc_region)) = vpc {
            req = req
                .vpc(
                    sdk::Vpc::builder()
                        .vpc_id(vpc_id)
                        .vpc_region(sdk::VpcRegion::from(vpc_region))
                        .build(),
                )
                .hosted_zone_config(sdk::HostedZoneConfig::builder().private_zone(true).build());
        }
        let out = req.send().await.map_err(api_err("CreateHostedZone"))?;
        out.hosted_zone()
            .map(zone_from_sdk)
            .ok_or_else(|| Error::Unexpected("CreateHostedZone returned no zone".into()))
    }

    /// Lists every record set of a zone, following `NextRecordName/Type/Identifier` pagination.
    pub async fn list_record_sets(&self, zone_id: &str) -> Result<Vec<RecordSet>> {
        self.list_record_sets_paged(zone_id, None).await
    }

    /// [`Route53::list_record_sets`] with an explicit page size (Route 53's default and maximum
    /// is 300); exists so pagination can be exercised against small zones.
    pub async fn list_record_sets_paged(
        &self,
        zone_id: &str,
        page_size: Option<u16>,
    ) -> Result<Vec<RecordSet>> {
        let mut records = Vec::new();
        let mut start: Option<(String, sdk::RrType, Option<String>)> = None;
        for _ in 0..MAX_PAGES {
            let mut req = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(short_id(zone_id))
                .set_max_items(page_size.map(i32::from));
            if let Some((name, rtype, ident)) = start.take() {
                req = req
                    .start_record_name(name)
                    .start_record_type(rtype)
                    .set_start_record_identifier(ident);
            }
            let out = req
                .send()
                .await
                .map_err(api_err("ListResourceRecordSets"))?;
            records.extend(out.resource_record_sets().iter().map(record_from_sdk));
            match (
                out.is_truncated(),
                out.next_record_name(),
                out.next_record_type(),
            ) {
                (true, Some(name), Some(rtype)) => {
                    start = Some((
                        name.to_owned(),
                        rtype.clone(),
                        out.next_record_identifier().map(str::to_owned),
                    ))
                }
                _ => return Ok(records),
            }
        }
        Err(Error::Unexpected(
            "ListResourceRecordSets: too many pages".into(),
        ))
    }

    /// Reads one record set by name and type: `ListResourceRecordSets` starting at
    /// (`name`, `rtype`) with `MaxItems` 1, so the answer is one item whatever the zone's size.
    /// `None` when no record set has that name and type (Route 53 then returns the next one in
    /// its order, which is checked and discarded). Record sets with a set identifier (routing
    /// policies) are not looked up this way: only the first of them would be returned.
    pub async fn get_record_set(
        &self,
        zone_id: &str,
        name: &str,
        rtype: &str,
    ) -> Result<Option<RecordSet>> {
        let want_name = normalize_name(name);
        let want_type = rtype.to_ascii_uppercase();
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(short_id(zone_id))
            .start_record_name(&want_name)
            .start_record_type(sdk::RrType::from(want_type.as_str()))
            .max_items(1)
            .send()
            .await
            .map_err(api_err("ListResourceRecordSets"))?;
        Ok(out
            .resource_record_sets()
            .first()
            .map(record_from_sdk)
            .filter(|r| r.name == want_name && r.rtype == want_type))
    }

    /// Fetches one health check's configuration.
    pub async fn get_health_check(&self, id: &str) -> Result<HealthCheck> {
        let out = self
            .client
            .get_health_check()
            .health_check_id(short_id(id))
            .send()
            .await
            .map_err(api_err("GetHealthCheck"))?;
        out.health_check()
            .ok_or_else(|| Error::Unexpected(format!("GetHealthCheck {id}: no health check")))
            .and_then(health_check_from_sdk)
    }

    /// Lists every health check (all pages); one call per page instead of one per check.
    pub async fn list_health_checks(&self) -> Result<Vec<HealthCheck>> {
        let mut checks = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .list_health_checks()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(api_err("ListHealthChecks"))?;
            for hc in out.health_checks() {
                checks.push(health_check_from_sdk(hc)?);
            }
            match (out.is_truncated(), out.next_marker()) {
                (true, Some(next)) => marker = Some(next.to_owned()),
                _ => return Ok(checks),
            }
        }
        Err(Error::Unexpected("ListHealthChecks: too many pages".into()))
    }

    /// Creates a health check from `spec` (its `id` is ignored) and returns the new id.
    pub async fn create_health_check(&self, spec: &HealthCheck) -> Result<String> {
        let kind = match &spec.protocol {
            HealthCheckProtocol::Http => sdk::HealthCheckType::Http,
            HealthCheckProtocol::Https => sdk::HealthCheckType::Https,
            HealthCheckProtocol::HttpStrMatch => sdk::HealthCheckType::HttpStrMatch,
            HealthCheckProtocol::HttpsStrMatch => sdk::HealthCheckType::HttpsStrMatch,
            HealthCheckProtocol::Tcp => sdk::HealthCheckType::Tcp,
            HealthCheckProtocol::Other(name) => sdk::HealthCheckType::from(name.as_str()),
        };
        let config = sdk::HealthCheckConfig::builder()
            .r#type(kind)
            .set_ip_address(spec.ip.map(|ip| ip.to_string()))
            .set_fully_qualified_domain_name(spec.fqdn.clone())
            .set_port(spec.port.map(i32::from))
            .set_resource_path(spec.path.clone())
            .set_search_string(spec.search_string.clone())
            .request_interval(spec.interval.as_secs() as i32)
            .failure_threshold(spec.failure_threshold as i32)
            .inverted(spec.inverted)
            .disabled(spec.disabled)
            .build()
            .map_err(build_err)?;
        let out = self
            .client
            .create_health_check()
            .caller_reference(format!("tyk-dr-hc-{}", unique_suffix()))
            .health_check_config(config)
            .send()
            .await
            .map_err(api_err("CreateHealthCheck"))?;
        out.health_check()
            .map(|hc| short_id(hc.id()).to_owned())
            .ok_or_else(|| Error::Unexpected("CreateHealthCheck returned no health check".into()))
    }

    /// Applies a change batch atomically; returns the change id.
    ///
    /// Route 53 applies all changes or none, which is what the fencing TXT compare-and-swap
    /// (DELETE old + CREATE new) relies on.
    pub async fn change_batch(
        &self,
        zone_id: &str,
        changes: &[Change],
        comment: Option<&str>,
    ) -> Result<String> {
        let mut batch = sdk::ChangeBatch::builder().set_comment(comment.map(str::to_owned));
        for change in changes {
            let (action, rs) = match change {
                Change::Create(rs) => (sdk::ChangeAction::Create, rs),
                Change::Upsert(rs) => (sdk::ChangeAction::Upsert, rs),
                Change::Delete(rs) => (sdk::ChangeAction::Delete, rs),
            };
            batch = batch.changes(
                sdk::Change::builder()
                    .action(action)
                    .resource_record_set(record_to_sdk(rs)?)
                    .build()
                    .map_err(build_err)?,
            );
        }
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(short_id(zone_id))
            .change_batch(batch.build().map_err(build_err)?)
            .send()
            .await
            .map_err(api_err("ChangeResourceRecordSets"))?;
        Ok(out
            .change_info()
            .map(|ci| short_id(ci.id()).to_owned())
            .unwrap_or_default())
    }

    /// UPSERTs one record set; returns the change id.
    pub async fn upsert_record(&self, zone_id: &str, record: &RecordSet) -> Result<String> {
        self.change_batch(zone_id, &[Change::Upsert(record.clone())], None)
            .await
    }

    /// True once a change has propagated (`INSYNC`).
    pub async fn change_in_sync(&self, change_id: &str) -> Result<bool> {
        let out = self
            .client
            .get_change()
            .id(short_id(change_id))
            .send()
            .await
            .map_err(api_err("GetChange"))?;
        Ok(out
            .change_info()
            .is_some_and(|ci| *ci.status() == sdk::ChangeStatus::Insync))
    }
}

/// IAM actions this adapter calls (checked against this file by a unit test).
pub const IAM_ACTIONS: &[&str] = &[
    "route53:ChangeResourceRecordSets",
    "route53:ChangeTagsForResource",
    "route53:CreateHealthCheck",
    "route53:CreateHostedZone",
    "route53:DeleteHealthCheck",
    "route53:DeleteHostedZone",
    "route53:GetChange",
    "route53:GetHealthCheck",
    "route53:ListHealthChecks",
    "route53:ListHostedZones",
    "route53:ListResourceRecordSets",
    "route53:ListTagsForResources",
    "route53:UpdateHealthCheck",
];

/// Which kind of Route 53 resource a tag call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagTarget {
    /// A hosted zone.
    Zone,
    /// A health check.
    HealthCheck,
}

impl TagTarget {
    fn sdk(self) -> sdk::TagResourceType {
        match self {
            TagTarget::Zone => sdk::TagResourceType::Hostedzone,
            TagTarget::HealthCheck => sdk::TagResourceType::Healthcheck,
        }
    }
}

// === impl Route53: tags, deletes, updates (used by `tyk-dr plan/apply/destroy`) ===

impl Route53 {
    /// Tags of many zones or health checks, ten ids per call (Route 53's limit), as
    /// `id -> (key -> value)`; resources without tags are absent.
    pub async fn tags(
        &self,
        target: TagTarget,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>
    {
        let mut out = std::collections::BTreeMap::new();
        for chunk in ids.chunks(10) {
            let resp = self
                .client
                .list_tags_for_resources()
                .resource_type(target.sdk())
                .set_resource_ids(Some(chunk.iter().map(|i| short_id(i).to_owned()).collect()))
                .send()
                .await
                .map_err(api_err("ListTagsForResources"))?;
            for set in resp.resource_tag_sets() {
                let tags: std::collections::BTreeMap<String, String> = set
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                    .collect();
                if let Some(id) = set.resource_id() {
                    out.insert(short_id(id).to_owned(), tags);
                }
            }
        }
        Ok(out)
    }

    /// Adds or overwrites tags on a zone or health check.
    pub async fn tag(&self, target: TagTarget, id: &str, tags: &[(String, String)]) -> Result<()> {
        self.client
            .change_tags_for_resource()
            .resource_type(target.sdk())
            .resource_id(short_id(id))
            .set_add_tags(Some(
                tags.iter()
                    .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(api_err("ChangeTagsForResource"))?;
        Ok(())
    }

    /// Deletes a hosted zone (it must hold only its SOA and NS records).
    pub async fn delete_zone(&self, id: &str) -> Result<()> {
        self.client
            .delete_hosted_zone()
            .id(short_id(id))
            .send()
            .await
            .map_err(api_err("DeleteHostedZone"))?;
        Ok(())
    }

    /// Deletes a health check.
    pub async fn delete_health_check(&self, id: &str) -> Result<()> {
        self.client
            .delete_health_check()
            .health_check_id(short_id(id))
            .send()
            .await
            .map_err(api_err("DeleteHealthCheck"))?;
        Ok(())
    }

    /// Changes the target, path and failure threshold of a health check in place (the request
    /// interval and type cannot change; recreate the check for those).
    pub async fn update_health_check(&self, id: &str, spec: &HealthCheck) -> Result<()> {
        self.client
            .update_health_check()
            .health_check_id(short_id(id))
            .set_ip_address(spec.ip.map(|ip| ip.to_string()))
            .set_port(spec.port.map(i32::from))
            .set_resource_path(spec.path.clone())
            .failure_threshold(spec.failure_threshold as i32)
            .send()
            .await
            .map_err(api_err("UpdateHealthCheck"))?;
        Ok(())
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn zone_from_sdk(z: &sdk::HostedZone) -> Zone {
    Zone {
        id: short_id(z.id()).to_owned(),
        name: normalize_name(z.name()),
        private: z.config().is_some_and(|c| c.private_zone()),
    }
}

fn record_from_sdk(r: &sdk::ResourceRecordSet) -> RecordSet {
    RecordSet {
        name: normalize_name(r.name()),
        rtype: r.r#type().as_str().to_ascii_uppercase(),
        ttl: r.ttl().and_then(|t| u32::try_from(t).ok()),
        values: r
            .resource_records()
            .iter()
            .map(|v| v.value().to_owned())
            .collect(),
        set_identifier: r.set_identifier().map(str::to_owned),
        failover: r.failover().and_then(|f| match f {
            sdk::ResourceRecordSetFailover::Primary => Some(Failover::Primary),
            sdk::ResourceRecordSetFailover::Secondary => Some(Failover::Secondary),
            _ => None,
        }),
        health_check_id: r.health_check_id().map(|id| short_id(id).to_owned()),
        alias_target: r.alias_target().map(|a| AliasTarget {
            hosted_zone_id: short_id(a.hosted_zone_id()).to_owned(),
            dns_name: normalize_name(a.dns_name()),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        weight: r.weight().and_then(|w| u64::try_from(w).ok()),
        multi_value_answer: r.multi_value_answer().unwrap_or(false),
        other_routing: r.region().is_some()
            || r.geo_location().is_some()
            || r.geo_proximity_location().is_some()
            || r.cidr_routing_config().is_some(),
    }
}

fn record_to_sdk(r: &RecordSet) -> Result<sdk::ResourceRecordSet> {
    let mut b = sdk::ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(sdk::RrType::from(r.rtype.as_str()))
        .set_ttl(r.ttl.map(i64::from))
        .set_set_identifier(r.set_identifier.clone())
        .set_health_check_id(r.health_check_id.clone())
        .set_weight(r.weight.map(|w| w as i64));
    if r.multi_value_answer {
        b = b.multi_value_answer(true);
    }
    if let Some(f) = r.failover {
        b = b.failover(match f {
            Failover::Primary => sdk::ResourceRecordSetFailover::Primary,
            Failover::Secondary => sdk::ResourceRecordSetFailover::Secondary,
        });
    }
    if let Some(a) = &r.alias_target {
        b = b.alias_target(
            sdk::AliasTarget::builder()
                .hosted_zone_id(&a.hosted_zone_id)
                .dns_name(&a.dns_name)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(build_err)?,
        );
    }
    for v in &r.values {
        b = b.resource_records(
            sdk::ResourceRecord::builder()
                .value(v)
                .build()
                .map_err(build_err)?,
        );
    }
    b.build().map_err(build_err)
}

fn health_check_from_sdk(hc: &sdk::HealthCheck) -> Result<HealthCheck> {
    let id = short_id(hc.id()).to_owned();
    let cfg = hc
        .health_check_config()
        .ok_or_else(|| Error::Unexpected(format!("health check {id} has no config")))?;
    let protocol = match cfg.r#type() {
        sdk::HealthCheckType::Http => HealthCheckProtocol::Http,
        sdk::HealthCheckType::Https => HealthCheckProtocol::Https,
        sdk::HealthCheckType::HttpStrMatch => HealthCheckProtocol::HttpStrMatch,
        sdk::HealthCheckType::HttpsStrMatch => HealthCheckProtocol::HttpsStrMatch,
        sdk::HealthCheckType::Tcp => HealthCheckProtocol::Tcp,
        other => HealthCheckProtocol::Other(other.as_str().to_owned()),
    };
    Ok(HealthCheck {
        id,
        protocol,
        ip: cfg.ip_address().and_then(|ip| ip.parse().ok()),
        fqdn: cfg
            .fully_qualified_domain_name()
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase()),
        port: cfg.port().and_then(|p| u16::try_from(p).ok()),
        path: cfg
            .resource_path()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        search_string: cfg.search_string().map(str::to_owned),
        interval: Duration::from_secs(
            cfg.request_interval()
                .and_then(|i| u64::try_from(i).ok())
                .filter(|i| *i > 0)
                .unwrap_or(30),
        ),
        failure_threshold: cfg
            .failure_threshold()
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(3),
        inverted: cfg.inverted().unwrap_or(false),
        disabled: cfg.disabled().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalize_name("Example.COM"), "example.com.");
        assert_eq!(normalize_name("example.com."), "example.com.");
        assert_eq!(normalize_name("\\052.example.com."), "*.example.com.");
        assert_eq!(normalize_name("a\\100b.example.com"), "a@b.example.com.");
        assert_eq!(normalize_name("trailing\\05"), "trailing\\05.");
    }

    #[test]
    fn iam_actions_match_the_calls_in_this_file() {
        crate::iam::assert_actions_match(include_str!("route53.rs"), "route53", IAM_ACTIONS);
    }

    #[test]
    fn ids_lose_their_prefix() {
        assert_eq!(short_id("/hostedzone/Z123"), "Z123");
        assert_eq!(short_id("Z123"), "Z123");
    }

    #[test]
    fn records_round_trip_through_sdk_types() {
        let rs = RecordSet {
            name: "www.example.com.".into(),
            rtype: "A".into(),
            ttl: Some(1),
            values: vec!["127.0.0.1".into()],
            set_identifier: Some("a".into()),
            failover: Some(Failover::Secondary),
            health_check_id: Some("hc".into()),
            weight: None,
            ..Default::default()
        };
        let sdk = record_to_sdk(&rs).unwrap();
        assert_eq!(record_from_sdk(&sdk), rs);
    }
}
