//! `tyk-dr cfn`: CloudFormation templates for the whole topology.
//!
//! [`generate`] turns a validated [`Config`] into three JSON templates: one per region
//! (network, Redis, MongoDB, gateways, private DNS) and a global one (public DNS, health
//! checks, fencing record). [`render`] serialises them byte-for-byte reproducibly, so the
//! committed examples under `cloudformation/examples/` can be checked for staleness.
//! `cloudformation/README.md` documents parameters, outputs and the deploy order.

use serde_json::{json, Map, Value};

use crate::config::{Config, Region, Side};

mod dns;
mod drill;
mod gateway;
pub mod gateway_config;
mod global;
mod intrinsics;
mod mongo;
mod network;
mod redis;
mod security;
mod shadow;
pub mod subnets;
pub mod tags;
mod userdata;

#[cfg(test)]
mod tests;

/// One CloudFormation template and the file name it is written under.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// File name, e.g. `payments-gw-active-eu-west-1.json`.
    pub file_name: String,
    /// The template document.
    pub body: Value,
}

/// One template per region plus a global one; deterministic order (active, passive, global).
pub fn generate(config: &Config) -> Vec<Template> {
    let mut out: Vec<Template> = Side::BOTH
        .iter()
        .map(|&side| Template {
            file_name: format!(
                "{}-{}-{}.json",
                config.project,
                side.key(),
                config.region(side).name
            ),
            body: regional(config, side),
        })
        .collect();
    out.push(Template {
        file_name: format!("{}-global.json", config.project),
        body: global::template(config),
    });
    out
}

/// Serialise exactly as written to disk (pretty JSON + trailing newline). Same input, same bytes.
pub fn render(t: &Template) -> String {
    let mut s = serde_json::to_string_pretty(&t.body).expect("a JSON value always serialises");
    s.push('\n');
    s
}

/// What one region's template is generated from: the config, the side, and derived facts.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a Config,
    pub side: Side,
    pub region: &'a Region,
    /// The other side's region (its VPC CIDR may reach MongoDB).
    pub other: &'a Region,
    pub subnets: Vec<subnets::AzSubnets>,
}

impl<'a> Ctx<'a> {
    fn new(cfg: &'a Config, side: Side) -> Self {
        let other_side = match side {
            Side::Active => Side::Passive,
            Side::Passive => Side::Active,
        };
        let region = cfg.region(side);
        Ctx {
            cfg,
            side,
            region,
            other: cfg.region(other_side),
            subnets: subnets::carve(region.vpc_cidr, &region.effective_azs()),
        }
    }

    /// Export name of an output: `<project>-<side>-<OutputId>`.
    pub fn export(&self, id: &str) -> String {
        format!("{}-{}-{id}", self.cfg.project, self.side.key())
    }

    /// Whether this region runs an ElastiCache replication group.
    pub fn elasticache(&self) -> bool {
        self.cfg.redis.backend == crate::config::RedisBackend::Elasticache
    }

    /// Whether the two regions' groups are joined in a Global Datastore.
    pub fn global_datastore(&self) -> bool {
        self.elasticache() && self.cfg.redis.elasticache.global_datastore
    }
}

/// The sections of a template under construction, each filled by one concern module.
#[derive(Default)]
pub(crate) struct Fragment {
    pub parameters: Map<String, Value>,
    pub conditions: Map<String, Value>,
    pub resources: Map<String, Value>,
    pub outputs: Map<String, Value>,
}

impl Fragment {
    /// Adds a resource with just a type and properties.
    pub fn res(&mut self, id: &str, ty: &str, props: Value) {
        self.raw(id, json!({ "Type": ty, "Properties": props }));
    }

    /// Adds a complete resource document (for DependsOn, Condition, UpdatePolicy...).
    pub fn raw(&mut self, id: &str, doc: Value) {
        let old = self.resources.insert(id.to_string(), doc);
        assert!(old.is_none(), "duplicate logical id {id}");
    }

    /// Adds a parameter.
    pub fn param(&mut self, id: &str, doc: Value) {
        self.parameters.insert(id.to_string(), doc);
    }

    /// Adds an output, exported under `export` when given.
    pub fn output(&mut self, id: &str, description: &str, value: Value, export: Option<String>) {
        let mut o = Map::new();
        o.insert("Description".into(), description.into());
        o.insert("Value".into(), value);
        if let Some(e) = export {
            o.insert("Export".into(), json!({ "Name": e }));
        }
        self.outputs.insert(id.to_string(), Value::Object(o));
    }

    /// The finished template, sections in conventional order, empty sections omitted.
    pub fn into_template(self, description: String, metadata: Value) -> Value {
        let mut t = Map::new();
        t.insert("AWSTemplateFormatVersion".into(), "2010-09-09".into());
        t.insert("Description".into(), description.into());
        t.insert("Metadata".into(), metadata);
        for (k, m) in [
            ("Parameters", self.parameters),
            ("Conditions", self.conditions),
            ("Resources", self.resources),
            ("Outputs", self.outputs),
        ] {
            if !m.is_empty() {
                t.insert(k.into(), Value::Object(m));
            }
        }
        Value::Object(t)
    }
}

fn regional(cfg: &Config, side: Side) -> Value {
    let ctx = Ctx::new(cfg, side);
    let mut f = Fragment::default();
    network::add(&ctx, &mut f);
    security::add(&ctx, &mut f);
    redis::add(&ctx, &mut f);
    mongo::add(&ctx, &mut f);
    gateway::add(&ctx, &mut f);
    dns::add(&ctx, &mut f);
    shadow::add_regional(&ctx, &mut f);
    let description = format!(
        "tyk-dr {}: {} region {} (network, Redis, MongoDB, gateways, private DNS). Generated by `tyk-dr cfn`; do not edit.",
        cfg.project,
        side.key(),
        ctx.region.name
    );
    let metadata = json!({
        "tyk-dr": {
            "project": cfg.project,
            "side": side.key(),
            "region": ctx.region.name,
            "generated_by": "tyk-dr cfn",
        }
    });
    f.into_template(description, metadata)
}
