//! The topology described by `tyk-dr.toml`, as typed Rust values.
//!
//! Every section has defaults so that a minimal file is a few lines (see
//! `examples/minimal.toml`). The types only describe shape; the semantic rules
//! (overlapping CIDRs, vote parity, TTL vs health-check window, ...) live in
//! [`super::validate`], which reports all violations at once with positions.

use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The whole topology: two regions and everything tyk-dr provisions in them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Short project name; prefixes resource names and is the `tyk-dr:project` tag value.
    pub project: String,
    /// The active and the passive region.
    #[serde(default)]
    pub regions: Regions,
    /// The Redis key store in each region and how the regions are joined.
    #[serde(default)]
    pub redis: Redis,
    /// The MongoDB replica set that spans both regions.
    #[serde(default)]
    pub mongo: Mongo,
    /// The bundled gateway fleet in each region.
    #[serde(default)]
    pub gateway: Gateway,
    /// Route 53 names: the global name clients use and the Redis CNAME gateways use.
    #[serde(default)]
    pub dns: Dns,
    /// Scheduled failover drills and the thresholds they are judged against.
    #[serde(default)]
    pub drills: Drills,
    /// What `tyk-dr sync` copies to the passive region, and what must never leave the active one.
    #[serde(default)]
    pub sync: SyncSettings,
}

/// Which region serves traffic and which stands by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regions {
    /// The region that serves traffic in normal operation.
    #[serde(default = "Region::default_active")]
    pub active: Region,
    /// The region that takes over on failover.
    #[serde(default = "Region::default_passive")]
    pub passive: Region,
}

impl Default for Regions {
    fn default() -> Self {
        Self {
            active: Region::default_active(),
            passive: Region::default_passive(),
        }
    }
}

/// Identifies one side of the pair, for code that treats both regions alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The region serving traffic in normal operation.
    Active,
    /// The standby region.
    Passive,
}

impl Side {
    /// Both sides, active first: the order in which output lists them.
    pub const BOTH: [Side; 2] = [Side::Active, Side::Passive];

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Active => Side::Passive,
            Side::Passive => Side::Active,
        }
    }

    /// The config key of this side (`active` / `passive`).
    pub fn key(self) -> &'static str {
        match self {
            Side::Active => "active",
            Side::Passive => "passive",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// One AWS region and the network tyk-dr builds in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// AWS region code, e.g. `us-east-1`.
    pub name: String,
    /// Availability zones to spread across; defaults to the region's `a`, `b` and `c` zones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub azs: Vec<String>,
    /// The VPC's IPv4 CIDR; subnets are carved from it (one public and one private per AZ).
    pub vpc_cidr: Ipv4Net,
}

impl Region {
    fn default_active() -> Self {
        Self {
            name: "us-east-1".into(),
            azs: Vec::new(),
            vpc_cidr: "10.10.0.0/16".parse().expect("literal CIDR"),
        }
    }

    fn default_passive() -> Self {
        Self {
            name: "us-west-2".into(),
            azs: Vec::new(),
            vpc_cidr: "10.20.0.0/16".parse().expect("literal CIDR"),
        }
    }

    /// The AZs to use: the configured list, or the region's `a`, `b`, `c` zones.
    pub fn effective_azs(&self) -> Vec<String> {
        if self.azs.is_empty() {
            ["a", "b", "c"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect()
        } else {
            self.azs.clone()
        }
    }
}

/// Where Redis lives and how it is secured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redis {
    /// ElastiCache (provisioned by tyk-dr) or servers you run yourself.
    #[serde(default)]
    pub backend: RedisBackend,
    /// Require Redis AUTH. The token itself never goes in this file (see `auth_token_secret`).
    #[serde(default = "yes")]
    pub auth: bool,
    /// AWS Secrets Manager secret name holding the AUTH token.
    #[serde(default = "Redis::default_auth_secret")]
    pub auth_token_secret: String,
    /// Encrypt client connections (ElastiCache in-transit encryption; required with AUTH).
    #[serde(default = "yes")]
    pub tls: bool,
    /// The port clients connect to.
    #[serde(default = "Redis::default_port")]
    pub port: u16,
    /// Settings used when `backend = "elasticache"`.
    #[serde(default)]
    pub elasticache: ElastiCache,
    /// Addresses used when `backend = "self-managed"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_managed: Option<SelfManagedRedis>,
}

impl Redis {
    /// `host:port` of every server of one side, primary first (self-managed backends only).
    pub fn self_managed_addresses(&self, side: Side) -> &[String] {
        match (&self.self_managed, side) {
            (Some(sm), Side::Active) => &sm.active,
            (Some(sm), Side::Passive) => &sm.passive,
            (None, _) => &[],
        }
    }

    fn default_auth_secret() -> String {
        "tyk-dr/redis-auth-token".into()
    }
    fn default_port() -> u16 {
        6379
    }
}

impl Default for Redis {
    fn default() -> Self {
        Self {
            backend: RedisBackend::default(),
            auth: true,
            auth_token_secret: Self::default_auth_secret(),
            tls: true,
            port: Self::default_port(),
            elasticache: ElastiCache::default(),
            self_managed: None,
        }
    }
}

/// The kind of Redis deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedisBackend {
    /// A multi-AZ ElastiCache replication group per region.
    #[default]
    Elasticache,
    /// `redis-server` processes you run (a primary and replicas per region).
    SelfManaged,
}

/// ElastiCache replication group settings, the same in both regions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElastiCache {
    /// Node type, e.g. `cache.r7g.large`.
    #[serde(default = "ElastiCache::default_node_type")]
    pub node_type: String,
    /// Redis engine version.
    #[serde(default = "ElastiCache::default_engine_version")]
    pub engine_version: String,
    /// Read replicas per AZ beyond the primary's AZ (at least one for automatic failover).
    #[serde(default = "one")]
    pub replicas_per_az: u32,
    /// Join the two regions' groups in a Global Datastore (cross-region replication by AWS).
    #[serde(default = "yes")]
    pub global_datastore: bool,
    /// Days of automatic snapshots to keep (0 disables them).
    #[serde(default = "ElastiCache::default_snapshot_days")]
    pub snapshot_retention_days: u32,
}

impl ElastiCache {
    fn default_node_type() -> String {
        "cache.r7g.large".into()
    }
    fn default_engine_version() -> String {
        "7.1".into()
    }
    fn default_snapshot_days() -> u32 {
        3
    }

    /// Nodes in one region's replication group: one primary plus `replicas_per_az`
    /// replicas in every AZ, so losing any one zone still leaves a promotable copy.
    pub fn nodes_per_region(&self, az_count: usize) -> u32 {
        1 + self.replicas_per_az * az_count as u32
    }
}

impl Default for ElastiCache {
    fn default() -> Self {
        Self {
            node_type: Self::default_node_type(),
            engine_version: Self::default_engine_version(),
            replicas_per_az: 1,
            global_datastore: true,
            snapshot_retention_days: Self::default_snapshot_days(),
        }
    }
}

/// Addresses of Redis servers you run yourself, per region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfManagedRedis {
    /// `host:port` of the active region's servers, primary first.
    pub active: Vec<String>,
    /// `host:port` of the passive region's servers; the first replicates from the active primary.
    pub passive: Vec<String>,
    /// Optional Sentinel `host:port` list; promotion then uses `SENTINEL FAILOVER`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinels: Vec<String>,
    /// Sentinel master name.
    #[serde(default = "SelfManagedRedis::default_master_name")]
    pub master_name: String,
    /// DNS name of the active side's primary: the Redis CNAME's target while active serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_name: Option<String>,
    /// DNS name of the passive side's primary: the CNAME's target after a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_name: Option<String>,
}

impl SelfManagedRedis {
    /// The CNAME target for one side, when configured.
    pub fn name(&self, side: Side) -> Option<&str> {
        match side {
            Side::Active => self.active_name.as_deref(),
            Side::Passive => self.passive_name.as_deref(),
        }
    }

    fn default_master_name() -> String {
        "tyk".into()
    }
}

/// The MongoDB replica set used by the dashboard and analytics side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mongo {
    /// Provision the replica set at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Replica set name.
    #[serde(default = "Mongo::default_replica_set")]
    pub replica_set: String,
    /// MongoDB major.minor version installed by the user data.
    #[serde(default = "Mongo::default_version")]
    pub version: String,
    /// EC2 instance type of each member.
    #[serde(default = "Mongo::default_instance_type")]
    pub instance_type: String,
    /// Data volume size (GiB, gp3).
    #[serde(default = "Mongo::default_volume_gb")]
    pub volume_gb: u32,
    /// Members in each AZ of the active region.
    #[serde(default = "one")]
    pub members_per_az: u32,
    /// Election priority of active-region members.
    #[serde(default = "Mongo::default_priority")]
    pub priority: f64,
    /// Votes of each active-region member (0 or 1).
    #[serde(default = "one")]
    pub votes: u32,
    /// Members in the passive region (lower priority; promoted on failover).
    #[serde(default = "Mongo::default_passive_members")]
    pub passive_members: u32,
    /// Election priority of passive-region members (below `priority`).
    #[serde(default = "Mongo::default_passive_priority")]
    pub passive_priority: f64,
    /// Votes of each passive-region member (0 or 1).
    #[serde(default = "one")]
    pub passive_votes: u32,
    /// The members' `host:port`, as the replica set config names them, per region. The
    /// `mongo` playbook step reaches them there (discovery through EC2 tags is future work).
    #[serde(default, skip_serializing_if = "MongoEndpoints::is_empty")]
    pub endpoints: MongoEndpoints,
}

/// Replica set members per region, e.g. `10.10.1.30:27017`, exactly as `rs.conf()` lists
/// their `host` (the step matches config members by this name).
pub type MongoEndpoints = Endpoints;

impl Mongo {
    fn default_replica_set() -> String {
        "tyk".into()
    }
    fn default_version() -> String {
        "7.0".into()
    }
    fn default_instance_type() -> String {
        "r6i.large".into()
    }
    fn default_volume_gb() -> u32 {
        100
    }
    fn default_priority() -> f64 {
        2.0
    }
    fn default_passive_members() -> u32 {
        2
    }
    fn default_passive_priority() -> f64 {
        1.0
    }

    /// Voting members across both regions, given the active region's AZ count.
    pub fn voting_members(&self, active_az_count: usize) -> u32 {
        self.members_per_az * active_az_count as u32 * self.votes
            + self.passive_members * self.passive_votes
    }
}

impl Default for Mongo {
    fn default() -> Self {
        Self {
            enabled: true,
            replica_set: Self::default_replica_set(),
            version: Self::default_version(),
            instance_type: Self::default_instance_type(),
            volume_gb: Self::default_volume_gb(),
            members_per_az: 1,
            priority: Self::default_priority(),
            votes: 1,
            passive_members: Self::default_passive_members(),
            passive_priority: Self::default_passive_priority(),
            passive_votes: 1,
            endpoints: MongoEndpoints::default(),
        }
    }
}

/// The gateway fleet, the same shape in both regions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    /// Instances in each AZ (the auto scaling group's desired size).
    #[serde(default = "one")]
    pub instances_per_az: u32,
    /// EC2 instance type.
    #[serde(default = "Gateway::default_instance_type")]
    pub instance_type: String,
    /// Version of the bundled gateway (`tyk-dr-gateway`) to install.
    #[serde(default = "Gateway::default_version")]
    pub version: String,
    /// Where user data downloads the gateway binary from; `{version}` is substituted.
    #[serde(default = "Gateway::default_artifact_url")]
    pub artifact_url: String,
    /// TCP port the gateway listens on behind the load balancer.
    #[serde(default = "Gateway::default_port")]
    pub port: u16,
    /// SSM parameter holding the AMI id to launch (Debian 12 by default).
    #[serde(default = "Gateway::default_ami_parameter")]
    pub ami_parameter: String,
    /// A path behind token auth that `verify` requests through the global name after a failover.
    #[serde(default = "Gateway::default_verify_path")]
    pub verify_path: String,
    /// Base URLs of gateways that tyk-dr does not discover through AWS (self-managed or local runs).
    #[serde(default, skip_serializing_if = "Endpoints::is_empty")]
    pub endpoints: Endpoints,
}

/// Addresses per region: gateway base URLs (`http://127.0.1.21:8080`) or MongoDB members
/// (`10.10.1.30:27017`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The active region's addresses.
    #[serde(default)]
    pub active: Vec<String>,
    /// The passive region's addresses.
    #[serde(default)]
    pub passive: Vec<String>,
}

impl Endpoints {
    /// True when no address is listed (AWS discovery applies).
    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.passive.is_empty()
    }

    /// The addresses of one side.
    pub fn of(&self, side: Side) -> &[String] {
        match side {
            Side::Active => &self.active,
            Side::Passive => &self.passive,
        }
    }
}

impl Gateway {
    fn default_instance_type() -> String {
        "c7g.large".into()
    }
    fn default_version() -> String {
        env!("CARGO_PKG_VERSION").into()
    }
    fn default_artifact_url() -> String {
        "https://github.com/tyk-dr/tyk-dr/releases/download/v{version}/tyk-dr-gateway-{arch}-linux"
            .into()
    }
    fn default_port() -> u16 {
        8080
    }
    fn default_verify_path() -> String {
        "/hello".into()
    }
    fn default_ami_parameter() -> String {
        "/aws/service/debian/release/12/latest/arm64".into()
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            instances_per_az: 1,
            instance_type: Self::default_instance_type(),
            version: Self::default_version(),
            artifact_url: Self::default_artifact_url(),
            port: Self::default_port(),
            ami_parameter: Self::default_ami_parameter(),
            verify_path: Self::default_verify_path(),
            endpoints: Endpoints::default(),
        }
    }
}

/// Route 53 names and how the global name is flipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    /// Public hosted zone holding the global name, e.g. `example.com`.
    #[serde(default = "Dns::default_public_zone")]
    pub public_zone: String,
    /// The name clients use, inside `public_zone`, e.g. `api.example.com`.
    #[serde(default = "Dns::default_global_name")]
    pub global_name: String,
    /// TTL of the global record, seconds.
    #[serde(default = "Dns::default_global_ttl")]
    pub global_ttl: u32,
    /// Private hosted zone name; each region gets its own zone of this name, attached to its VPC.
    #[serde(default = "Dns::default_private_zone")]
    pub private_zone: String,
    /// The CNAME gateways use to reach Redis, inside `private_zone`.
    #[serde(default = "Dns::default_redis_cname")]
    pub redis_cname: String,
    /// TTL of the Redis CNAME, seconds.
    #[serde(default = "Dns::default_redis_ttl")]
    pub redis_ttl: u32,
    /// How failover moves the global name.
    #[serde(default)]
    pub flip_mode: FlipMode,
    /// Route 53 health check request interval, seconds (10 or 30).
    #[serde(default = "Dns::default_hc_interval")]
    pub health_check_interval: u32,
    /// Failed checks in a row before Route 53 marks a region unhealthy (1 to 10).
    #[serde(default = "Dns::default_hc_threshold")]
    pub health_check_failure_threshold: u32,
    /// Gateway path Route 53 probes; answers 503 when fenced or not ready.
    #[serde(default = "Dns::default_hc_path")]
    pub health_check_path: String,
    /// Resolve names through this DNS server (`ip:port`) instead of the system resolver,
    /// e.g. the local environment's `127.0.0.1:5353`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<String>,
}

impl Dns {
    fn default_public_zone() -> String {
        "example.com".into()
    }
    fn default_global_name() -> String {
        "api.example.com".into()
    }
    fn default_global_ttl() -> u32 {
        30
    }
    fn default_private_zone() -> String {
        "tyk-dr.internal".into()
    }
    fn default_redis_cname() -> String {
        "redis.tyk-dr.internal".into()
    }
    fn default_redis_ttl() -> u32 {
        5
    }
    fn default_hc_interval() -> u32 {
        10
    }
    fn default_hc_threshold() -> u32 {
        3
    }
    fn default_hc_path() -> String {
        "/ready".into()
    }

    /// Seconds Route 53 needs to declare a region down: interval × threshold.
    pub fn health_check_window(&self) -> u32 {
        self.health_check_interval * self.health_check_failure_threshold
    }
}

impl Default for Dns {
    fn default() -> Self {
        Self {
            public_zone: Self::default_public_zone(),
            global_name: Self::default_global_name(),
            global_ttl: Self::default_global_ttl(),
            private_zone: Self::default_private_zone(),
            redis_cname: Self::default_redis_cname(),
            redis_ttl: Self::default_redis_ttl(),
            flip_mode: FlipMode::default(),
            health_check_interval: Self::default_hc_interval(),
            health_check_failure_threshold: Self::default_hc_threshold(),
            health_check_path: Self::default_hc_path(),
            nameserver: None,
        }
    }
}

/// How the global name moves to the passive region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlipMode {
    /// Route 53 failover records with health checks; fencing the active gateways flips it
    /// through Route 53's data plane (no control-plane call needed during recovery).
    #[default]
    Health,
    /// An UPSERT of the global record through the Route 53 API.
    Upsert,
}

/// Scheduled drills: when they run, what load they send, what they must achieve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drills {
    /// Cron expression (5 fields, UTC) for scheduled drills; empty disables scheduling.
    #[serde(default = "Drills::default_schedule")]
    pub schedule: String,
    /// Run drills against shadow names so customer traffic is untouched.
    #[serde(default)]
    pub shadow: bool,
    /// Synthetic requests per second sent through the global name during a drill.
    #[serde(default = "Drills::default_load_rps")]
    pub load_rps: u32,
    /// Distinct API keys the synthetic load uses.
    #[serde(default = "Drills::default_load_keys")]
    pub load_keys: u32,
    /// Longest acceptable recovery time (failure to first verified request in the passive region).
    #[serde(default = "Drills::default_max_rto", with = "humantime_serde")]
    pub max_rto: Duration,
    /// Largest acceptable window of lost writes.
    #[serde(default = "Drills::default_max_rpo", with = "humantime_serde")]
    pub max_rpo: Duration,
    /// Most failed requests tolerated during the failover window.
    #[serde(default = "Drills::default_max_failed")]
    pub max_failed_requests: u64,
    /// What a shadow drill fails over instead of the customers' names (needed when `shadow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_stack: Option<ShadowStack>,
}

/// A second, drill-only path through both regions: its own global name, Redis CNAME and
/// gateways, and a Redis copy in the passive region that the drill may promote. A shadow drill
/// fails this path over and back; the customers' names, gateways and Redis servers are only read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowStack {
    /// The drill's global name, in `dns.public_zone`, e.g. `drill-api.example.com`.
    pub global_name: String,
    /// The Redis CNAME the shadow gateways use, in `dns.private_zone`.
    pub redis_cname: String,
    /// The shadow gateways of each region; they resolve `redis_cname`.
    pub gateways: Endpoints,
    /// The Redis servers behind `redis_cname`.
    pub redis: ShadowRedis,
}

/// The shadow stack's Redis: where it writes in the active region, and the passive copy the
/// drill promotes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRedis {
    /// `host:port` of the active side's primary. Usually the customers' own primary, which a
    /// shadow drill never pauses or demotes: it only replicates from it (real lag, real RPO).
    pub active: String,
    /// `host:port` of the passive region's copy: a replica of `active` that is not the customers'
    /// passive primary, so promoting it leaves customer replication alone.
    pub passive: String,
    /// DNS name of `active`: the shadow CNAME's target while the active side serves.
    pub active_name: String,
    /// DNS name of `passive`: the shadow CNAME's target during the drill.
    pub passive_name: String,
}

impl Drills {
    fn default_schedule() -> String {
        "0 4 * * 2".into()
    }
    fn default_load_rps() -> u32 {
        50
    }
    fn default_load_keys() -> u32 {
        20
    }
    fn default_max_rto() -> Duration {
        Duration::from_secs(60)
    }
    fn default_max_rpo() -> Duration {
        Duration::from_secs(1)
    }
    fn default_max_failed() -> u64 {
        500
    }
}

impl Default for Drills {
    fn default() -> Self {
        Self {
            schedule: Self::default_schedule(),
            shadow: false,
            load_rps: Self::default_load_rps(),
            load_keys: Self::default_load_keys(),
            max_rto: Self::default_max_rto(),
            max_rpo: Self::default_max_rpo(),
            max_failed_requests: Self::default_max_failed(),
            shadow_stack: None,
        }
    }
}

impl Config {
    /// The region settings for one side.
    pub fn region(&self, side: Side) -> &Region {
        match side {
            Side::Active => &self.regions.active,
            Side::Passive => &self.regions.passive,
        }
    }

    /// The topology a shadow drill runs against: this config with the shadow stack's names,
    /// gateways and Redis in place of the customers' ones, and MongoDB left out (the replica set
    /// is shared with customers). `None` when no `[drills.shadow_stack]` is configured.
    pub fn shadow_view(&self) -> Option<Config> {
        let s = self.drills.shadow_stack.as_ref()?;
        let mut view = self.clone();
        view.dns.global_name = s.global_name.clone();
        view.dns.redis_cname = s.redis_cname.clone();
        view.gateway.endpoints = s.gateways.clone();
        view.redis.backend = RedisBackend::SelfManaged;
        view.redis.self_managed = Some(SelfManagedRedis {
            active: vec![s.redis.active.clone()],
            passive: vec![s.redis.passive.clone()],
            sentinels: Vec::new(),
            master_name: SelfManagedRedis::default_master_name(),
            active_name: Some(s.redis.active_name.clone()),
            passive_name: Some(s.redis.passive_name.clone()),
        });
        view.mongo.enabled = false;
        Some(view)
    }

    /// Redis servers the customers' traffic depends on: a shadow drill may read them and
    /// replicate from them, never pause, promote or demote them.
    pub fn customer_redis(&self) -> Vec<String> {
        Side::BOTH
            .iter()
            .flat_map(|s| self.redis.self_managed_addresses(*s).iter().cloned())
            .collect()
    }
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

/// `tyk-dr sync`: how definitions, policies and keys reach the passive region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncSettings {
    /// How API definitions are read and written: through the gateways' management API or `app_path` files.
    #[serde(default)]
    pub definitions: DefinitionTransport,
    /// Each side's `app_path` directory (required with `definitions = "files"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_path: Option<SidePaths>,
    /// Each side's `policies.json` file; policies are not synced when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies_path: Option<SidePaths>,
    /// Which API definitions go to the passive region (default: all).
    #[serde(default)]
    pub apis: ApiSelection,
    /// Region-specific `proxy.target_url` prefixes rewritten on the way to the passive region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrites: Vec<UrlRewrite>,
    /// How keys are synced and which must stay in the active region.
    #[serde(default)]
    pub keys: KeySync,
    /// Where the last result is recorded for `status`/`monitor` (default `.tyk-dr/sync-state.json`
    /// next to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<std::path::PathBuf>,
}

/// How `sync` moves API definitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefinitionTransport {
    /// `GET/POST/PUT/DELETE /tyk/apis` on `gateway.endpoints` (every passive gateway is written).
    #[default]
    Api,
    /// `*.json` files in `sync.app_path` directories.
    Files,
}

/// A path on each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SidePaths {
    /// The active region's path.
    pub active: std::path::PathBuf,
    /// The passive region's path.
    pub passive: std::path::PathBuf,
}

impl SidePaths {
    /// The path of one side.
    pub fn of(&self, side: Side) -> &std::path::Path {
        match side {
            Side::Active => &self.active,
            Side::Passive => &self.passive,
        }
    }
}

/// API selection: empty `ids` and `tags` select every API; excludes win over includes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiSelection {
    /// `api_id`s to sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Definition `tags` to sync (any match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `api_id`s never synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_ids: Vec<String>,
    /// Definition `tags` never synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tags: Vec<String>,
}

/// A `proxy.target_url` prefix replaced in definitions written to the passive region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlRewrite {
    /// Prefix in the active region's definitions, e.g. `http://orders.us-east-1.internal`.
    pub from: String,
    /// Its replacement for the passive region.
    pub to: String,
}

/// Key sync mode and data-residency rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySync {
    /// `auto` verifies when Redis replicates across regions and copies otherwise.
    #[serde(default)]
    pub mode: KeySyncMode,
    /// Keys per pipelined batch.
    #[serde(default = "KeySync::default_batch_size")]
    pub batch_size: u32,
    /// Keys of these `org_id`s never leave the active region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resident_org_ids: Vec<String>,
    /// Keys with any of these session `tags` never leave the active region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resident_tags: Vec<String>,
}

impl KeySync {
    fn default_batch_size() -> u32 {
        1000
    }
}

impl Default for KeySync {
    fn default() -> Self {
        Self {
            mode: KeySyncMode::default(),
            batch_size: Self::default_batch_size(),
            resident_org_ids: Vec::new(),
            resident_tags: Vec::new(),
        }
    }
}

/// What `sync` does with keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySyncMode {
    /// Verify when the passive Redis replicates from the active one, copy otherwise.
    #[default]
    Auto,
    /// Always copy `apikey-*` sessions with their TTLs.
    Copy,
    /// Only compare; never write keys.
    Verify,
    /// Leave keys alone.
    Off,
}
