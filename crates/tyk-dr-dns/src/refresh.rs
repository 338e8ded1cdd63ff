//! Polls Route 53 and swaps the zone table: one ListHostedZones, one ListResourceRecordSets
//! per zone (in parallel), and ListHealthChecks only when the referenced health checks change
//! or every [`HEALTH_CHECK_REFRESH`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, RecordType};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use tyk_dr_aws::route53::{HealthCheck, RecordSet, Route53, Zone};

use crate::zones::ZoneTable;
use crate::{Config, Shared};

/// Health check configurations are re-read at least this often (they rarely change).
pub const HEALTH_CHECK_REFRESH: Duration = Duration::from_secs(30);

/// Most change lines logged per refresh; the rest are summarised.
const MAX_CHANGE_LINES: usize = 50;

type Snapshot = BTreeMap<String, (Zone, Vec<RecordSet>)>;

/// Keeps the shared zone table in step with Route 53.
pub struct Refresher {
    route53: Route53,
    shared: Arc<Shared>,
    config: Config,
    previous: Option<Snapshot>,
    health_ids: BTreeSet<String>,
    health_fetched: Option<Instant>,
    failing: bool,
}

impl Refresher {
    /// A refresher writing into `shared`.
    pub fn new(route53: Route53, shared: Arc<Shared>, config: Config) -> Self {
        Refresher {
            route53,
            shared,
            config,
            previous: None,
            health_ids: BTreeSet::new(),
            health_fetched: None,
            failing: false,
        }
    }

    /// Polls every `config.refresh` until `shutdown` turns true.
    pub async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.refresh.max(Duration::from_millis(10))) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            self.refresh_once().await;
        }
    }

    /// One poll: fetch, log differences, swap the table, update health probers.
    pub async fn refresh_once(&mut self) {
        // The SDK has no read timeout by default: a hung endpoint (SIGSTOPped emulator) must
        // not stall the refresher forever. The last table keeps being served meanwhile.
        let fetched = tokio::time::timeout(self.call_timeout(), self.fetch())
            .await
            .unwrap_or_else(|_| {
                Err(tyk_dr_aws::route53::Error::Unexpected(format!(
                    "no answer within {:?}",
                    self.call_timeout()
                )))
            });
        let snapshot = match fetched {
            Ok(s) => s,
            Err(e) => {
                if !self.failing {
                    warn!(error = %e, "cannot read Route 53 zones; keeping the last table");
                }
                self.failing = true;
                return;
            }
        };
        if self.failing {
            info!("Route 53 reachable again");
            self.failing = false;
        }
        if self.previous.as_ref() != Some(&snapshot) {
            log_changes(self.previous.as_ref(), &snapshot);
            let table = ZoneTable::build(
                snapshot.values().cloned().collect(),
                self.config.prefer,
                self.config.max_negative_ttl,
            );
            self.shared.table.store(Arc::new(table));
            self.previous = Some(snapshot);
        }
        self.refresh_health().await;
    }

    /// Bound on one poll's Route 53 calls: five refresh periods, at least 5 s.
    fn call_timeout(&self) -> Duration {
        (self.config.refresh * 5).max(Duration::from_secs(5))
    }

    async fn fetch(&self) -> Result<Snapshot, tyk_dr_aws::route53::Error> {
        let zones = self.route53.list_zones().await?;
        let mut set = JoinSet::new();
        for zone in zones {
            let r53 = self.route53.clone();
            set.spawn(async move {
                let records = r53.list_record_sets(&zone.id).await;
                (zone, records)
            });
        }
        let mut snapshot = Snapshot::new();
        while let Some(joined) = set.join_next().await {
            let Ok((zone, records)) = joined else {
                continue;
            };
            let mut records = records?;
            records.sort_by(|a, b| {
                (&a.name, &a.rtype, &a.set_identifier).cmp(&(&b.name, &b.rtype, &b.set_identifier))
            });
            snapshot.insert(zone.id.clone(), (zone, records));
        }
        Ok(snapshot)
    }

    async fn refresh_health(&mut self) {
        let wanted: BTreeSet<String> = self
            .previous
            .iter()
            .flat_map(|s| s.values())
            .flat_map(|(_, records)| records.iter())
            .filter_map(|r| r.health_check_id.clone())
            .collect();
        let stale = self
            .health_fetched
            .is_none_or(|t| t.elapsed() >= HEALTH_CHECK_REFRESH);
        if wanted == self.health_ids && !stale {
            return;
        }
        let checks: Vec<HealthCheck> = if wanted.is_empty() {
            Vec::new()
        } else {
            let listed =
                tokio::time::timeout(self.call_timeout(), self.route53.list_health_checks())
                    .await
                    .unwrap_or_else(|_| {
                        Err(tyk_dr_aws::route53::Error::Unexpected(
                            "ListHealthChecks timed out".into(),
                        ))
                    });
            match listed {
                Ok(all) => all.into_iter().filter(|h| wanted.contains(&h.id)).collect(),
                Err(e) => {
                    warn!(error = %e, "cannot list health checks; keeping current probers");
                    return;
                }
            }
        };
        for id in &wanted {
            if !checks.iter().any(|h| &h.id == id) {
                warn!(health_check = %id, "record references an unknown health check; counted healthy");
            }
        }
        let mut timing = self.config.probe_timing();
        timing.local_resolver = Some(local_resolver(&self.shared));
        self.shared.health.reconcile(checks, timing);
        self.health_ids = wanted;
        self.health_fetched = Some(Instant::now());
    }
}

/// Resolves names from the served zones (A first, then AAAA), following CNAMEs and routing.
///
/// Holds a weak reference: the probers live inside `Shared`, so a strong one would be a cycle.
fn local_resolver(shared: &Arc<Shared>) -> crate::health::LocalResolver {
    let weak = Arc::downgrade(shared);
    Arc::new(move |host: &str| {
        let shared = weak.upgrade()?;
        let name = Name::from_ascii(host).ok()?;
        let table = shared.table.load();
        let health = |id: &str| shared.health.healthy(id);
        [RecordType::A, RecordType::AAAA]
            .into_iter()
            .find_map(|qtype| {
                table
                    .answer(&name, qtype, &health)
                    .answers
                    .iter()
                    .find_map(|r| match r.data() {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    })
            })
    })
}

fn key(r: &RecordSet) -> (String, String, String) {
    (
        r.name.clone(),
        r.rtype.clone(),
        r.set_identifier.clone().unwrap_or_default(),
    )
}

fn show(r: &RecordSet) -> String {
    let routing = match (&r.failover, r.weight, &r.set_identifier) {
        (Some(f), _, _) => format!(" {f:?}"),
        (None, Some(w), _) => format!(" weight={w}"),
        (None, None, Some(id)) => format!(" id={id}"),
        _ => String::new(),
    };
    let data = match &r.alias_target {
        Some(a) => format!("ALIAS {}", a.dns_name),
        None => r.values.join(","),
    };
    format!(
        "{} {} ttl={}{} {}",
        r.name,
        r.rtype,
        r.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
        routing,
        data
    )
}

fn log_changes(previous: Option<&Snapshot>, current: &Snapshot) {
    let Some(previous) = previous else {
        let records: usize = current.values().map(|(_, r)| r.len()).sum();
        info!(zones = current.len(), records, "zones loaded");
        for (zone, records) in current.values() {
            debug!(zone = %zone.name, id = %zone.id, private = zone.private, records = records.len(), "zone");
        }
        return;
    };
    let mut lines = Vec::new();
    for (id, (zone, records)) in current {
        let Some((_, old)) = previous.get(id) else {
            lines.push(format!(
                "zone added: {} ({id}, private={}, {} record sets)",
                zone.name,
                zone.private,
                records.len()
            ));
            continue;
        };
        let old: BTreeMap<_, _> = old.iter().map(|r| (key(r), r)).collect();
        let new: BTreeMap<_, _> = records.iter().map(|r| (key(r), r)).collect();
        for (k, r) in &new {
            match old.get(k) {
                None => lines.push(format!("added   {}", show(r))),
                Some(o) if o != r => lines.push(format!("changed {} -> {}", show(o), show(r))),
                _ => {}
            }
        }
        for (k, r) in &old {
            if !new.contains_key(k) {
                lines.push(format!("removed {}", show(r)));
            }
        }
    }
    for (id, (zone, _)) in previous {
        if !current.contains_key(id) {
            lines.push(format!("zone removed: {} ({id})", zone.name));
        }
    }
    let total = lines.len();
    for line in lines.into_iter().take(MAX_CHANGE_LINES) {
        info!("{line}");
    }
    if total > MAX_CHANGE_LINES {
        info!(
            more = total - MAX_CHANGE_LINES,
            "further record changes not logged"
        );
    }
}
