//! The vocabulary of plans: where a resource lives ([`Scope`]), how it is named inside the
//! project ([`Addr`]), what tyk-dr wants ([`Desired`]) and what AWS has ([`Observed`]).
//!
//! Desired fields may refer to attributes of other resources (a subnet's VPC id); those
//! references are resolved against the observed [`World`] at plan time and again right before
//! each step runs, so a saved plan carries intent, not stale ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Side;

/// Which table a resource belongs to: one region, or global (Route 53 public names, the
/// Global Datastore).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The active region.
    Active,
    /// The passive region.
    Passive,
    /// Not tied to one region.
    Global,
}

impl Scope {
    /// All scopes, in output order.
    pub const ALL: [Scope; 3] = [Scope::Active, Scope::Passive, Scope::Global];

    /// The side, for regional scopes.
    pub fn side(self) -> Option<Side> {
        match self {
            Scope::Active => Some(Side::Active),
            Scope::Passive => Some(Side::Passive),
            Scope::Global => None,
        }
    }

    /// The `tyk-dr:region` tag value.
    pub fn key(self) -> &'static str {
        match self {
            Scope::Active => "active",
            Scope::Passive => "passive",
            Scope::Global => "global",
        }
    }

    /// Parses a `tyk-dr:region` tag value.
    pub fn from_key(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.key() == s)
    }
}

impl From<Side> for Scope {
    fn from(s: Side) -> Self {
        match s {
            Side::Active => Scope::Active,
            Side::Passive => Scope::Passive,
        }
    }
}

/// A resource's stable name inside the project: scope plus a key such as `subnet/private/a`.
/// Stored in the `tyk-dr:key` tag so the resource is found again without a state file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Addr {
    /// Where it lives.
    pub scope: Scope,
    /// Its key within the scope.
    pub key: String,
}

impl Addr {
    /// Builds an address.
    pub fn new(scope: impl Into<Scope>, key: impl Into<String>) -> Addr {
        Addr {
            scope: scope.into(),
            key: key.into(),
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.scope.key(), self.key)
    }
}

/// Resource types tyk-dr manages, in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// EC2 VPC.
    Vpc,
    /// EC2 subnet.
    Subnet,
    /// EC2 security group with its ingress rules.
    SecurityGroup,
    /// EC2 instance (gateway or MongoDB member).
    Instance,
    /// ElastiCache subnet group.
    CacheSubnetGroup,
    /// ElastiCache replication group.
    ReplicationGroup,
    /// ElastiCache Global Datastore.
    GlobalDatastore,
    /// Route 53 hosted zone.
    HostedZone,
    /// Route 53 health check.
    HealthCheck,
    /// Route 53 record set.
    Record,
}

impl Kind {
    /// Name shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::SecurityGroup => "security group",
            Kind::Instance => "instance",
            Kind::CacheSubnetGroup => "cache subnet group",
            Kind::ReplicationGroup => "replication group",
            Kind::GlobalDatastore => "global datastore",
            Kind::HostedZone => "hosted zone",
            Kind::HealthCheck => "health check",
            Kind::Record => "record",
        }
    }
}

/// One piece of a field value: literal text or another resource's attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// An attribute (`id` or an observed field) of another resource.
    Ref(Addr, String),
}

/// A desired field value: one string, or a set of strings compared order-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Val {
    /// Concatenation of parts.
    One(Vec<Part>),
    /// A set: each item a concatenation; resolved sorted and joined with `, `.
    Set(Vec<Vec<Part>>),
}

impl Val {
    /// A literal.
    pub fn lit(s: impl Into<String>) -> Val {
        Val::One(vec![Part::Lit(s.into())])
    }

    /// A reference to another resource's attribute.
    pub fn r(addr: &Addr, attr: &str) -> Val {
        Val::One(vec![Part::Ref(addr.clone(), attr.into())])
    }

    /// Every address this value refers to.
    pub fn refs(&self) -> Vec<&Addr> {
        let parts: Vec<&Part> = match self {
            Val::One(p) => p.iter().collect(),
            Val::Set(items) => items.iter().flatten().collect(),
        };
        parts
            .into_iter()
            .filter_map(|p| match p {
                Part::Ref(a, _) => Some(a),
                Part::Lit(_) => None,
            })
            .collect()
    }
}

/// Separator of set items in resolved values.
pub const SET_SEP: &str = ", ";

/// What tyk-dr wants to exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// Its address.
    pub addr: Addr,
    /// Its type.
    pub kind: Kind,
    /// Position in creation order (deletion runs in reverse).
    pub order: u32,
    /// Compared fields.
    pub fields: BTreeMap<String, Val>,
    /// Fields that cannot change in place: a difference means replace.
    pub force_new: Vec<String>,
    /// Fields used at creation but not compared, because AWS does not report them back
    /// (a replication group's security groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_only: Vec<String>,
    /// Creation inputs that are not compared (user data text, image id, node count).
    pub inputs: BTreeMap<String, String>,
}

/// What AWS has, found by tags (or by deterministic name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Its address (from the `tyk-dr:key` tag or the name).
    pub addr: Addr,
    /// Its type.
    pub kind: Kind,
    /// The AWS id (or name, for ElastiCache).
    pub id: String,
    /// Current values of the compared fields, plus attributes others refer to.
    pub fields: BTreeMap<String, String>,
    /// True for a resource used but not owned (a public zone without our tags): never deleted.
    #[serde(default)]
    pub adopted: bool,
}

/// Everything observed, keyed by address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    /// The resources.
    pub resources: BTreeMap<Addr, Observed>,
}

impl World {
    /// Resolves one reference: `None` when the resource or attribute is unknown.
    pub fn attr(&self, addr: &Addr, attr: &str) -> Option<String> {
        let o = self.resources.get(addr)?;
        if attr == "id" {
            Some(o.id.clone())
        } else {
            o.fields.get(attr).cloned().filter(|v| !v.is_empty())
        }
    }

    /// Resolves a value; `None` if any reference is unknown or listed in `pending`.
    pub fn resolve(&self, v: &Val, pending: &dyn Fn(&Addr) -> bool) -> Option<String> {
        let one = |parts: &[Part]| -> Option<String> {
            let mut s = String::new();
            for p in parts {
                match p {
                    Part::Lit(l) => s.push_str(l),
                    Part::Ref(a, attr) => {
                        if pending(a) {
                            return None;
                        }
                        s.push_str(&self.attr(a, attr)?);
                    }
                }
            }
            Some(s)
        };
        match v {
            Val::One(parts) => one(parts),
            Val::Set(items) => {
                let mut all = items
                    .iter()
                    .map(|p| one(p))
                    .collect::<Option<Vec<String>>>()?;
                all.sort();
                all.dedup();
                Some(all.join(SET_SEP))
            }
        }
    }

    /// A stable fingerprint of everything observed (FNV-1a over a canonical JSON form):
    /// a saved plan is applied only while the world still has this fingerprint.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_string(&self.resources.values().collect::<Vec<_>>())
            .expect("observed resources serialise");
        format!("{:016x}", fnv1a(canonical.as_bytes()))
    }
}

/// 64-bit FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Splits a resolved set value back into items.
pub fn set_items(v: &str) -> Vec<String> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(SET_SEP).map(str::to_owned).collect()
    }
}
