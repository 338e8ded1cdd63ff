//! The three tags every taggable resource carries, in the shapes the resource types expect.
//!
//! `tyk-dr plan` / `apply` find resources by these tags, so they are built in one place.

use serde_json::{json, Value};

use crate::config::{Config, Side};

/// Tag key holding the project name.
pub const PROJECT: &str = "tyk-dr:project";
/// Tag key holding `active` or `passive`.
pub const REGION: &str = "tyk-dr:region";
/// Tag key holding the [`Component`].
pub const COMPONENT: &str = "tyk-dr:component";

/// Which part of the topology a resource belongs to (the `tyk-dr:component` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// VPC, subnets, gateways, routes, NAT.
    Network,
    /// ElastiCache and its security group.
    Redis,
    /// MongoDB members.
    Mongo,
    /// Gateway fleet and its load balancer.
    Gateway,
    /// Route 53 zones, records and health checks.
    Dns,
    /// The scheduled drill (EventBridge Scheduler and its role).
    Drill,
}

impl Component {
    /// The tag value.
    pub fn key(self) -> &'static str {
        match self {
            Component::Network => "network",
            Component::Redis => "redis",
            Component::Mongo => "mongo",
            Component::Gateway => "gateway",
            Component::Dns => "dns",
            Component::Drill => "drill",
        }
    }
}

fn pairs(cfg: &Config, side: Side, c: Component, name: Option<&str>) -> Vec<(String, String)> {
    let mut v = vec![
        (PROJECT.to_string(), cfg.project.clone()),
        (REGION.to_string(), side.key().to_string()),
        (COMPONENT.to_string(), c.key().to_string()),
    ];
    if let Some(n) = name {
        v.push((
            "Name".to_string(),
            format!("{}-{}-{n}", cfg.project, side.key()),
        ));
    }
    v
}

/// `[{Key, Value}]` with the three tags.
pub fn tags(cfg: &Config, side: Side, c: Component) -> Value {
    to_list(pairs(cfg, side, c, None), None)
}

/// `[{Key, Value}]` with the three tags plus a `Name` tag (`<project>-<side>-<name>`) for the console.
pub fn named(cfg: &Config, side: Side, c: Component, name: &str) -> Value {
    to_list(pairs(cfg, side, c, Some(name)), None)
}

/// Auto Scaling group tags (`PropagateAtLaunch` is false: the launch template tags instances).
pub fn asg(cfg: &Config, side: Side, c: Component, name: &str) -> Value {
    to_list(pairs(cfg, side, c, Some(name)), Some(false))
}

fn to_list(pairs: Vec<(String, String)>, propagate: Option<bool>) -> Value {
    Value::Array(
        pairs
            .into_iter()
            .map(|(k, v)| match propagate {
                Some(p) => json!({ "Key": k, "Value": v, "PropagateAtLaunch": p }),
                None => json!({ "Key": k, "Value": v }),
            })
            .collect(),
    )
}
