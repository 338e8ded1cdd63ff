//! Applying a plan: deletions (and the first half of replacements) in reverse dependency
//! order, then creations and updates in dependency order, one journal line per step.
//!
//! Each step looks at the world before acting (kept current in memory from the observation at
//! the start of the run) and does nothing if its work is already done; creations are tagged
//! at creation and EC2 launches carry a client token, so re-running after a crash converges.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tyk_dr_aws::ec2::{IngressRule, InstanceSpec, Source};
use tyk_dr_aws::elasticache::ReplicationGroupSpec;
use tyk_dr_aws::route53::{Change as DnsChange, Failover, HealthCheck, RecordSet, TagTarget};

use super::clients::{Clients, Regional};
use super::desired::{cache_name, component, tags, USER_DATA_TAG};
use super::diff::{compare, Action, Change, Plan};
use super::journal::ApplyJournal;
use super::model::{fnv1a, set_items, Addr, Desired, Kind, Observed, Scope, World};
use crate::config::{Config, Side};
use crate::error::Error;

/// Longest wait for one resource to become available or to go away
/// (`TYK_DR_WAIT_TIMEOUT`, seconds; ElastiCache can take 15 minutes or more).
fn wait_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("TYK_DR_WAIT_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600),
    )
}

/// One unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Delete,
    Create,
    Update,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::Delete => "delete",
            Op::Create => "create",
            Op::Update => "update",
        }
    }
}

/// The ordered steps of a plan: deletions newest-first, then creations and updates.
fn steps(plan: &Plan) -> Vec<(Op, &Change)> {
    let mut dels: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .collect();
    dels.sort_by(|a, b| b.order.cmp(&a.order).then_with(|| b.addr.cmp(&a.addr)));
    let mut out: Vec<(Op, &Change)> = dels.into_iter().map(|c| (Op::Delete, c)).collect();
    out.extend(plan.changes.iter().filter_map(|c| match c.action {
        Action::Create | Action::Replace => Some((Op::Create, c)),
        Action::Update => Some((Op::Update, c)),
        _ => None,
    }));
    out
}

/// Number of steps applying `plan` takes.
pub fn step_count(plan: &Plan) -> usize {
    steps(plan).len()
}

/// Runs the plan. `world` is the observation the plan was checked against.
pub struct Executor<'a> {
    /// Topology (for regions and tags).
    pub cfg: &'a Config,
    /// AWS clients.
    pub clients: &'a Clients,
    /// What exists, kept current as steps complete.
    pub world: World,
    /// Set by Ctrl-C; checked between steps.
    pub interrupted: Arc<AtomicBool>,
    /// Progress display (hidden when stderr is not a terminal).
    pub progress: ProgressBar,
}

/// A progress bar on stderr, hidden when stderr is not a terminal or `quiet`.
pub fn progress_bar(len: usize, quiet: bool) -> ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

fn missing(d: &Desired, field: &str) -> Error {
    Error::Runtime {
        what: format!("creating `{}`", d.addr),
        reason: format!("field `{field}` depends on a resource that does not exist yet"),
    }
}

impl Executor<'_> {
    /// Applies every step of `plan`, journaling each; stops at the first failure or Ctrl-C.
    pub async fn run(&mut self, plan: &Plan, journal: &mut ApplyJournal) -> Result<usize, Error> {
        let all = steps(plan);
        let total = all.len();
        self.progress.set_length(total as u64);
        for (n, (op, change)) in all.into_iter().enumerate() {
            if self.interrupted.load(Ordering::SeqCst) {
                journal.finish("interrupted")?;
                return Err(Error::Interrupted { done: n, total });
            }
            self.progress.set_message(format!(
                "{} {} {}",
                op.label(),
                change.kind.label(),
                change.addr
            ));
            let result = match op {
                Op::Delete => self.delete(change).await,
                Op::Create | Op::Update => match &change.desired {
                    Some(d) => self.converge(d).await,
                    None => Ok(Some("skipped".into())),
                },
            };
            let id = self
                .world
                .resources
                .get(&change.addr)
                .map(|o| o.id.clone())
                .or_else(|| change.id.clone())
                .unwrap_or_default();
            match result {
                Ok(note) => {
                    let status = note.as_deref().unwrap_or("done");
                    journal.step(op.label(), &change.addr.to_string(), &id, status, None)?;
                    let line = format!(
                        "{:>7} {} {} {}",
                        op.label(),
                        change.kind.label(),
                        change.addr,
                        id
                    );
                    let line = if status == "done" {
                        line
                    } else {
                        format!("{line} ({status})")
                    };
                    if self.progress.is_hidden() {
                        // Without a terminal, one line per step, unless `-q` (errors only).
                        if tracing::enabled!(tracing::Level::WARN) {
                            eprintln!("{line}");
                        }
                    } else {
                        self.progress.println(line);
                    }
                }
                Err(e) => {
                    journal.step(
                        op.label(),
                        &change.addr.to_string(),
                        &id,
                        "failed",
                        Some(&e.to_string()),
                    )?;
                    journal.finish("failed")?;
                    return Err(e);
                }
            }
            self.progress.inc(1);
        }
        journal.finish("ok")?;
        self.progress.finish_and_clear();
        Ok(total)
    }

    fn regional(&self, scope: Scope) -> &Regional {
        self.clients.side(scope.side().unwrap_or(Side::Active))
    }

    fn resolve(&self, d: &Desired, field: &str) -> Result<String, Error> {
        let v = d.fields.get(field).ok_or_else(|| missing(d, field))?;
        self.world
            .resolve(v, &|_| false)
            .ok_or_else(|| missing(d, field))
    }

    fn record(&mut self, d: &Desired, id: String) {
        let fields = d
            .fields
            .keys()
            .filter_map(|k| Some((k.clone(), self.world.resolve(&d.fields[k], &|_| false)?)))
            .collect();
        self.world.resources.insert(
            d.addr.clone(),
            Observed {
                addr: d.addr.clone(),
                kind: d.kind,
                id,
                fields,
                adopted: false,
            },
        );
    }

    /// Creates or updates `d` as needed; `Some(note)` when nothing had to be done.
    async fn converge(&mut self, d: &Desired) -> Result<Option<String>, Error> {
        // A replication group left `creating` by an interrupted run has no endpoint yet:
        // wait for the groups this resource refers to before resolving its fields.
        let groups: Vec<(Scope, String)> = d
            .fields
            .values()
            .flat_map(|v| v.refs())
            .filter_map(|a| self.world.resources.get(a))
            .filter(|o| {
                o.kind == Kind::ReplicationGroup
                    && o.fields.get("status").is_some_and(|s| s != "available")
            })
            .map(|o| (o.addr.scope, o.id.clone()))
            .collect();
        for (scope, id) in groups {
            let r = self.regional(scope).clone();
            self.wait_group_available(&r, &id).await?;
        }
        let (action, changed) = compare(d, &self.world, &BTreeSet::new());
        match action {
            Action::NoOp => Ok(Some("already done".into())),
            Action::Create => self.create(d).await.map(|_| None),
            Action::Update => {
                self.update(d, changed.iter().map(|c| c.field.as_str()).collect())
                    .await?;
                Ok(None)
            }
            Action::Replace | Action::Delete => {
                let observed = self.world.resources.get(&d.addr).cloned();
                if let Some(o) = observed {
                    self.delete_observed(&o).await?;
                }
                self.create(d).await.map(|_| None)
            }
        }
    }

    async fn create(&mut self, d: &Desired) -> Result<(), Error> {
        let cfg = self.cfg;
        let mut tags = tags(cfg, &d.addr, component(d.kind, &d.addr.key));
        let r = self.regional(d.addr.scope).clone();
        let id = match d.kind {
            Kind::Vpc => r.ec2.create_vpc(&self.resolve(d, "cidr")?, &tags).await?,
            Kind::Subnet => {
                r.ec2
                    .create_subnet(
                        &self.resolve(d, "vpc")?,
                        &self.resolve(d, "cidr")?,
                        &self.resolve(d, "az")?,
                        &tags,
                    )
                    .await?
            }
            Kind::SecurityGroup => {
                let name = self.resolve(d, "name")?;
                let id = r
                    .ec2
                    .create_security_group(
                        &self.resolve(d, "vpc")?,
                        &name,
                        &format!("tyk-dr {}", d.addr),
                        &tags,
                    )
                    .await?;
                // Record the group first: its rules may refer to itself.
                self.world.resources.insert(
                    d.addr.clone(),
                    Observed {
                        addr: d.addr.clone(),
                        kind: d.kind,
                        id: id.clone(),
                        fields: Default::default(),
                        adopted: false,
                    },
                );
                let rules = parse_rules(&self.resolve(d, "rules")?);
                r.ec2.authorize_ingress(&id, &rules).await?;
                id
            }
            Kind::Instance => {
                let user_data = d.inputs.get("user_data").cloned().unwrap_or_default();
                tags.insert(USER_DATA_TAG.into(), self.resolve(d, "user_data")?);
                let token_src = format!("{}|{}|{}", cfg.project, d.addr, self.world.fingerprint());
                let spec = InstanceSpec {
                    image_id: d.inputs.get("image_id").cloned().unwrap_or_default(),
                    instance_type: self.resolve(d, "instance_type")?,
                    subnet_id: self.resolve(d, "subnet")?,
                    security_group_ids: set_items(&self.resolve(d, "security_groups")?),
                    user_data,
                    private_ip: d
                        .fields
                        .get("private_ip")
                        .map(|_| self.resolve(d, "private_ip"))
                        .transpose()?,
                    client_token: format!("tyk-dr-{:016x}", fnv1a(token_src.as_bytes())),
                    tags,
                };
                let (id, ip) = r.ec2.run_instance(&spec).await?;
                self.record(d, id.clone());
                if let (Some(o), Some(ip)) = (self.world.resources.get_mut(&d.addr), ip) {
                    o.fields.insert("private_ip".into(), ip);
                }
                return Ok(());
            }
            Kind::CacheSubnetGroup => {
                let name = d.inputs.get("name").cloned().unwrap_or_default();
                r.cache
                    .create_subnet_group(&name, &set_items(&self.resolve(d, "subnets")?), &tags)
                    .await?;
                name
            }
            Kind::ReplicationGroup => {
                let side = d.addr.scope.side().unwrap_or(Side::Active);
                let input = |k: &str| d.inputs.get(k).cloned().unwrap_or_default();
                let spec = ReplicationGroupSpec {
                    id: cache_name(cfg, side),
                    description: format!("tyk-dr {} Redis ({})", cfg.project, side.key()),
                    node_type: cfg.redis.elasticache.node_type.clone(),
                    engine_version: input("engine_version"),
                    nodes: input("nodes").parse().unwrap_or(2),
                    azs: input("azs")
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    subnet_group: self.resolve(d, "subnet_group")?,
                    security_group_ids: set_items(&self.resolve(d, "security_groups")?),
                    port: input("port").parse().unwrap_or(6379),
                    transit_encryption: cfg.redis.tls,
                    snapshot_retention: self.resolve(d, "snapshot_retention")?.parse().unwrap_or(0),
                    global_group_id: d
                        .fields
                        .get("global")
                        .map(|_| self.resolve(d, "global"))
                        .transpose()?,
                    tags,
                };
                r.cache.create_replication_group(&spec).await?;
                self.wait_group_available(&r, &spec.id).await?;
                return Ok(());
            }
            Kind::GlobalDatastore => {
                let suffix = d.inputs.get("suffix").cloned().unwrap_or_default();
                let id = self
                    .clients
                    .active
                    .cache
                    .create_global_group(&suffix, &self.resolve(d, "primary")?)
                    .await?;
                self.wait_global(&suffix, |s| s == "primary-only" || s == "available")
                    .await?;
                id
            }
            Kind::HostedZone => {
                let name = self.resolve(d, "name")?;
                let vpc = match d.addr.scope.side() {
                    Some(side) => Some((self.resolve(d, "vpc")?, cfg.region(side).name.clone())),
                    None => None,
                };
                let zone = self
                    .clients
                    .route53
                    .create_zone(&name, vpc.as_ref().map(|(v, r)| (v.as_str(), r.as_str())))
                    .await?;
                self.clients
                    .route53
                    .tag(
                        TagTarget::Zone,
                        &zone.id,
                        &tags.into_iter().collect::<Vec<_>>(),
                    )
                    .await?;
                zone.id
            }
            Kind::HealthCheck => {
                let spec = self.health_check(d)?;
                let id = self.clients.route53.create_health_check(&spec).await?;
                self.clients
                    .route53
                    .tag(
                        TagTarget::HealthCheck,
                        &id,
                        &tags.into_iter().collect::<Vec<_>>(),
                    )
                    .await?;
                id
            }
            Kind::Record => {
                let rs = self.record_set(d)?;
                let zone = self.resolve(d, "zone")?;
                self.clients
                    .route53
                    .change_batch(
                        &zone,
                        &[DnsChange::Upsert(rs.clone())],
                        Some("tyk-dr apply"),
                    )
                    .await?;
                format!(
                    "{}|{}|{}",
                    rs.name,
                    rs.rtype,
                    rs.set_identifier.unwrap_or_default()
                )
            }
        };
        self.record(d, id);
        Ok(())
    }

    async fn update(&mut self, d: &Desired, changed: Vec<&str>) -> Result<(), Error> {
        let o = self
            .world
            .resources
            .get(&d.addr)
            .cloned()
            .ok_or_else(|| missing(d, "id"))?;
        let r = self.regional(d.addr.scope).clone();
        match d.kind {
            Kind::SecurityGroup => {
                let want: BTreeSet<IngressRule> = parse_rules(&self.resolve(d, "rules")?)
                    .into_iter()
                    .collect();
                let have: BTreeSet<IngressRule> =
                    parse_rules(o.fields.get("rules").map(String::as_str).unwrap_or(""))
                        .into_iter()
                        .collect();
                r.ec2
                    .revoke_ingress(&o.id, &have.difference(&want).cloned().collect::<Vec<_>>())
                    .await?;
                r.ec2
                    .authorize_ingress(&o.id, &want.difference(&have).cloned().collect::<Vec<_>>())
                    .await?;
            }
            Kind::CacheSubnetGroup => {
                r.cache
                    .modify_subnet_group(&o.id, &set_items(&self.resolve(d, "subnets")?))
                    .await?;
            }
            Kind::ReplicationGroup => {
                let node_type = if changed.contains(&"node_type") {
                    Some(self.resolve(d, "node_type")?)
                } else {
                    None
                };
                let retention = if changed.contains(&"snapshot_retention") {
                    Some(self.resolve(d, "snapshot_retention")?.parse().unwrap_or(0))
                } else {
                    None
                };
                r.cache
                    .modify_replication_group(&o.id, node_type.as_deref(), retention)
                    .await?;
                self.wait_group_available(&r, &o.id).await?;
                return Ok(());
            }
            Kind::HealthCheck => {
                let spec = self.health_check(d)?;
                self.clients
                    .route53
                    .update_health_check(&o.id, &spec)
                    .await?;
            }
            Kind::Record => {
                let rs = self.record_set(d)?;
                self.clients
                    .route53
                    .change_batch(
                        &self.resolve(d, "zone")?,
                        &[DnsChange::Upsert(rs)],
                        Some("tyk-dr apply"),
                    )
                    .await?;
            }
            other => {
                return Err(Error::Runtime {
                    what: format!("updating `{}`", d.addr),
                    reason: format!("a {} cannot change in place", other.label()),
                })
            }
        }
        self.record(d, o.id);
        Ok(())
    }

    async fn delete(&mut self, change: &Change) -> Result<Option<String>, Error> {
        // Read from the world, not the plan: an earlier step or run may have removed it.
        let Some(o) = self.world.resources.get(&change.addr).cloned() else {
            return Ok(Some("already gone".into()));
        };
        if o.adopted {
            return Ok(Some("not managed".into()));
        }
        self.delete_observed(&o).await
    }

    /// Deletes one resource, retrying with backoff (bounded by the wait timeout) while AWS says
    /// something still depends on it (a group still being deleted, an instance terminating).
    async fn delete_observed(&mut self, o: &Observed) -> Result<Option<String>, Error> {
        let start = Instant::now();
        let mut delay = Duration::from_secs(1);
        for _ in 0..1_000 {
            match self.delete_once(o).await {
                Err(Error::Aws {
                    dependency: true,
                    message,
                    ..
                }) if start.elapsed() < wait_timeout() => {
                    self.progress.set_message(format!(
                        "waiting for dependents of {} to go: {message}",
                        o.addr
                    ));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                other => return other,
            }
        }
        self.delete_once(o).await
    }

    async fn delete_once(&mut self, o: &Observed) -> Result<Option<String>, Error> {
        let r = self.regional(o.addr.scope).clone();
        let result: Result<(), Error> = async {
            match o.kind {
                Kind::Instance => {
                    r.ec2.terminate_instance(&o.id).await?;
                    let ec2 = r.ec2.clone();
                    let id = o.id.clone();
                    self.wait("instance terminated", move || {
                        let (ec2, id) = (ec2.clone(), id.clone());
                        async move { Ok(!ec2.instance_exists(&id).await?) }
                    })
                    .await?;
                }
                Kind::SecurityGroup => {
                    // Drop its rules first: other groups' rules may name it, and it may name them.
                    let rules =
                        parse_rules(o.fields.get("rules").map(String::as_str).unwrap_or(""));
                    r.ec2.revoke_ingress(&o.id, &rules).await?;
                    r.ec2.delete_security_group(&o.id).await?;
                }
                Kind::Subnet => r.ec2.delete_subnet(&o.id).await?,
                Kind::Vpc => r.ec2.delete_vpc(&o.id).await?,
                Kind::CacheSubnetGroup => r.cache.delete_subnet_group(&o.id).await?,
                Kind::ReplicationGroup => {
                    if o.fields
                        .get("global_role")
                        .is_some_and(|role| role == "secondary")
                    {
                        let gid = o.fields.get("global").cloned().unwrap_or_default();
                        self.clients
                            .active
                            .cache
                            .disassociate_global_group(&gid, &o.id, &r.region)
                            .await?;
                        let (cache, id) = (r.cache.clone(), o.id.clone());
                        self.wait("replication group leaves the Global Datastore", move || {
                            let (cache, id) = (cache.clone(), id.clone());
                            async move {
                                Ok(cache
                                    .replication_group(&id)
                                    .await?
                                    .is_none_or(|g| g.global.is_none() && g.status == "available"))
                            }
                        })
                        .await?;
                    }
                    // Not waited for: the subnet group and security group deletions that
                    // follow retry until the group is gone.
                    r.cache.delete_replication_group(&o.id).await?;
                }
                Kind::GlobalDatastore => {
                    let cache = self.clients.active.cache.clone();
                    let suffix = self.cfg.project.clone();
                    for g in cache.global_groups(&suffix).await? {
                        for (rg, region, role) in &g.members {
                            if role == "secondary" {
                                cache.disassociate_global_group(&g.id, rg, region).await?;
                            }
                        }
                        self.wait_global(&suffix, |s| s == "primary-only").await?;
                        cache.delete_global_group(&g.id).await?;
                    }
                    self.wait_global(&suffix, |_| false).await?;
                }
                Kind::HostedZone => self.clients.route53.delete_zone(&o.id).await?,
                Kind::HealthCheck => self.clients.route53.delete_health_check(&o.id).await?,
                Kind::Record => {
                    let zone = o.fields.get("zone").cloned().unwrap_or_default();
                    let rs = record_from_fields(&|k| o.fields.get(k).cloned());
                    self.clients
                        .route53
                        .change_batch(&zone, &[DnsChange::Delete(rs)], Some("tyk-dr"))
                        .await?;
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                self.world.resources.remove(&o.addr);
                Ok(None)
            }
            Err(Error::Aws {
                not_implemented: true,
                message,
                ..
            }) => {
                // Only emulators lack calls; AWS itself implements every call used here.
                tracing::warn!("{message}; skipped (the endpoint does not implement it)");
                self.world.resources.remove(&o.addr);
                Ok(Some("skipped: not implemented by the endpoint".into()))
            }
            Err(Error::Aws {
                not_found: true, ..
            }) => {
                self.world.resources.remove(&o.addr);
                Ok(Some("already gone".into()))
            }
            Err(e) => Err(e),
        }
    }

    fn health_check(&self, d: &Desired) -> Result<HealthCheck, Error> {
        let ip = self
            .resolve(d, "ip")?
            .parse()
            .map_err(|_| missing(d, "ip"))?;
        Ok(HealthCheck::http(
            ip,
            self.resolve(d, "port")?.parse().unwrap_or(80),
            &self.resolve(d, "path")?,
            self.resolve(d, "interval")?.parse().unwrap_or(30),
            self.resolve(d, "failure_threshold")?.parse().unwrap_or(3),
        ))
    }

    fn record_set(&self, d: &Desired) -> Result<RecordSet, Error> {
        let mut resolved = std::collections::BTreeMap::new();
        for k in d.fields.keys() {
            resolved.insert(k.clone(), self.resolve(d, k)?);
        }
        Ok(record_from_fields(&|k| resolved.get(k).cloned()))
    }

    async fn wait_group_available(&mut self, r: &Regional, id: &str) -> Result<(), Error> {
        let (cache, gid) = (r.cache.clone(), id.to_owned());
        self.wait("replication group available", move || {
            let (cache, gid) = (cache.clone(), gid.clone());
            async move {
                Ok(cache
                    .replication_group(&gid)
                    .await?
                    .is_some_and(|g| g.status == "available"))
            }
        })
        .await?;
        // Record the endpoint the Redis CNAME points at.
        if let Some(g) = r.cache.replication_group(id).await? {
            let addr = self
                .world
                .resources
                .iter()
                .find(|(_, o)| o.kind == Kind::ReplicationGroup && o.id == id)
                .map(|(a, _)| a.clone());
            let addr = addr.unwrap_or_else(|| {
                Addr::new(
                    Scope::from(if r.region == self.cfg.regions.active.name {
                        Side::Active
                    } else {
                        Side::Passive
                    }),
                    "replication-group",
                )
            });
            let entry = self
                .world
                .resources
                .entry(addr.clone())
                .or_insert_with(|| Observed {
                    addr,
                    kind: Kind::ReplicationGroup,
                    id: id.to_owned(),
                    fields: Default::default(),
                    adopted: false,
                });
            entry
                .fields
                .insert("endpoint".into(), g.primary_endpoint.unwrap_or_default());
            entry.fields.insert("node_type".into(), g.node_type);
            entry.fields.insert(
                "snapshot_retention".into(),
                g.snapshot_retention.to_string(),
            );
            entry.fields.insert(
                "transit_encryption".into(),
                g.transit_encryption.to_string(),
            );
            if let Some((gid, role)) = g.global {
                entry.fields.insert("global".into(), gid);
                entry.fields.insert("global_role".into(), role);
            }
        }
        Ok(())
    }

    async fn wait_global(&mut self, suffix: &str, done: fn(&str) -> bool) -> Result<(), Error> {
        let (cache, suffix) = (self.clients.active.cache.clone(), suffix.to_owned());
        self.wait("global datastore", move || {
            let (cache, suffix) = (cache.clone(), suffix.clone());
            async move {
                let groups = cache.global_groups(&suffix).await?;
                Ok(match groups.first() {
                    Some(g) => done(&g.status),
                    None => !done("available") || done("gone"),
                })
            }
        })
        .await
    }

    /// Polls `check` with exponential backoff (1 s doubling to 30 s) until it is true, the
    /// timeout passes, or 1,000 polls were made.
    async fn wait<F, Fut>(&self, what: &str, check: F) -> Result<(), Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, Error>>,
    {
        let start = Instant::now();
        let timeout = wait_timeout();
        let mut delay = Duration::from_millis(250);
        for _ in 0..1_000 {
            if check().await? {
                return Ok(());
            }
            if self.interrupted.load(Ordering::SeqCst) {
                return Err(Error::Runtime {
                    what: format!("waiting for {what}"),
                    reason: "interrupted (Ctrl-C); run the command again to resume".into(),
                });
            }
            if start.elapsed() > timeout {
                break;
            }
            self.progress
                .set_message(format!("waiting: {what} ({}s)", start.elapsed().as_secs()));
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        Err(Error::Runtime {
            what: format!("waiting for {what}"),
            reason: format!(
                "not done after {}s; run the command again to resume",
                start.elapsed().as_secs()
            ),
        })
    }
}

/// Parses `tcp/PORT from SOURCE, ...` back into rules.
fn parse_rules(s: &str) -> Vec<IngressRule> {
    set_items(s)
        .iter()
        .filter_map(|item| {
            let rest = item.strip_prefix("tcp/")?;
            let (port, src) = rest.split_once(" from ")?;
            Some(IngressRule {
                port: port.parse().ok()?,
                source: if src.starts_with("sg-") {
                    Source::Group(src.to_owned())
                } else {
                    Source::Cidr(src.to_owned())
                },
            })
        })
        .collect()
}

fn record_from_fields(get: &dyn Fn(&str) -> Option<String>) -> RecordSet {
    RecordSet {
        name: get("name").unwrap_or_default(),
        rtype: get("type").unwrap_or_default(),
        ttl: get("ttl").and_then(|t| t.parse().ok()),
        values: get("values").map(|v| set_items(&v)).unwrap_or_default(),
        set_identifier: get("set_id").filter(|s| !s.is_empty()),
        failover: get("failover").and_then(|f| match f.as_str() {
            "PRIMARY" => Some(Failover::Primary),
            "SECONDARY" => Some(Failover::Secondary),
            _ => None,
        }),
        health_check_id: get("health_check").filter(|s| !s.is_empty()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_through_text() {
        let rules = parse_rules("tcp/6379 from sg-123, tcp/8080 from 10.0.0.0/16");
        assert_eq!(
            rules,
            [
                IngressRule {
                    port: 6379,
                    source: Source::Group("sg-123".into())
                },
                IngressRule {
                    port: 8080,
                    source: Source::Cidr("10.0.0.0/16".into())
                },
            ]
        );
        assert_eq!(
            rules
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            "tcp/6379 from sg-123, tcp/8080 from 10.0.0.0/16"
        );
    }
}
