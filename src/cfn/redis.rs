//! ElastiCache: a subnet group and a Multi-AZ replication group per region with automatic
//! failover and encryption; the active region also creates the Global Datastore.
//!
//! Nothing is generated when `redis.backend = "self-managed"`.
//!
//! Global Datastore placement: `AWS::ElastiCache::GlobalReplicationGroup` must be created in
//! the primary's region from an existing replication group, and the passive group joins it
//! through `GlobalReplicationGroupId`. So the active stack owns it and outputs its id, and the
//! passive stack takes that id as a parameter: deploy active first, then passive.

use serde_json::{json, Map, Value};

use super::intrinsics::{get_att, r};
use super::network::private_subnets;
use super::security::REDIS_SG;
use super::tags::{tags, Component};
use super::{Ctx, Fragment};
use crate::config::Side;

/// Logical id of the replication group.
pub const REPLICATION_GROUP: &str = "RedisReplicationGroup";
/// Logical id of the Global Datastore (active stack only).
pub const GLOBAL_GROUP: &str = "RedisGlobalReplicationGroup";
/// Parameter of the passive stack naming the Global Datastore to join.
pub const GLOBAL_GROUP_PARAM: &str = "GlobalReplicationGroupId";

/// The `AuthToken` value: a Secrets Manager dynamic reference, resolved by CloudFormation at
/// deploy time, so the token never appears in a template, parameter or stack event.
pub fn auth_token_reference(secret: &str) -> String {
    format!("{{{{resolve:secretsmanager:{secret}}}}}")
}

/// Node AZs: the primary in the first AZ, then replicas round-robin over all AZs.
fn node_azs(ctx: &Ctx, nodes: u32) -> Vec<Value> {
    let azs: Vec<&str> = ctx.subnets.iter().map(|s| s.az.as_str()).collect();
    (0..nodes as usize)
        .map(|i| Value::from(azs[i % azs.len()]))
        .collect()
}

pub(crate) fn add(ctx: &Ctx, f: &mut Fragment) {
    if !ctx.elasticache() {
        return;
    }
    let (cfg, side) = (ctx.cfg, ctx.side);
    let ec = &cfg.redis.elasticache;
    let nodes = ec.nodes_per_region(ctx.subnets.len());
    let secondary = ctx.global_datastore() && side == Side::Passive;

    f.res(
        "RedisSubnetGroup",
        "AWS::ElastiCache::SubnetGroup",
        json!({
            "Description": format!("tyk-dr {} {} Redis private subnets", cfg.project, side.key()),
            "SubnetIds": private_subnets(ctx),
            "Tags": tags(cfg, side, Component::Redis),
        }),
    );

    let mut p = Map::new();
    p.insert(
        "ReplicationGroupDescription".into(),
        format!("tyk-dr {} {} key store", cfg.project, side.key()).into(),
    );
    if secondary {
        // Engine, version and node type are inherited from the Global Datastore's primary.
        p.insert(GLOBAL_GROUP_PARAM.into(), r(GLOBAL_GROUP_PARAM));
    } else {
        p.insert("Engine".into(), "redis".into());
        p.insert("EngineVersion".into(), ec.engine_version.clone().into());
        p.insert("CacheNodeType".into(), ec.node_type.clone().into());
    }
    p.insert("NumCacheClusters".into(), nodes.into());
    p.insert(
        "PreferredCacheClusterAZs".into(),
        node_azs(ctx, nodes).into(),
    );
    p.insert("AutomaticFailoverEnabled".into(), true.into());
    p.insert("MultiAZEnabled".into(), true.into());
    p.insert("AtRestEncryptionEnabled".into(), true.into());
    p.insert(
        "TransitEncryptionEnabled".into(),
        (cfg.redis.tls || cfg.redis.auth).into(),
    );
    if cfg.redis.auth {
        p.insert(
            "AuthToken".into(),
            auth_token_reference(&cfg.redis.auth_token_secret).into(),
        );
    }
    p.insert("Port".into(), cfg.redis.port.into());
    p.insert("CacheSubnetGroupName".into(), r("RedisSubnetGroup"));
    p.insert(
        "SecurityGroupIds".into(),
        json!([get_att(REDIS_SG, "GroupId")]),
    );
    p.insert(
        "SnapshotRetentionLimit".into(),
        ec.snapshot_retention_days.into(),
    );
    p.insert("Tags".into(), tags(cfg, side, Component::Redis));
    f.raw(
        REPLICATION_GROUP,
        json!({
            "Type": "AWS::ElastiCache::ReplicationGroup",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": p,
        }),
    );

    if secondary {
        f.param(
            GLOBAL_GROUP_PARAM,
            json!({
                "Type": "String",
                "Description": "Global Datastore to join as secondary: the active stack's GlobalReplicationGroupId output",
                "MinLength": 1,
            }),
        );
    }
    if ctx.global_datastore() && side == Side::Active {
        f.res(
            GLOBAL_GROUP,
            "AWS::ElastiCache::GlobalReplicationGroup",
            json!({
                "GlobalReplicationGroupIdSuffix": cfg.project,
                "GlobalReplicationGroupDescription": format!("tyk-dr {} cross-region key store", cfg.project),
                "AutomaticFailoverEnabled": true,
                "Members": [{
                    "ReplicationGroupId": r(REPLICATION_GROUP),
                    "ReplicationGroupRegion": r("AWS::Region"),
                    "Role": "PRIMARY",
                }],
            }),
        );
        f.output(
            "GlobalReplicationGroupId",
            "Global Datastore id; pass it to the passive stack's GlobalReplicationGroupId parameter",
            r(GLOBAL_GROUP),
            Some(ctx.export("GlobalReplicationGroupId")),
        );
    }

    f.output(
        "ReplicationGroupId",
        "ElastiCache replication group id",
        r(REPLICATION_GROUP),
        Some(ctx.export("ReplicationGroupId")),
    );
    f.output(
        "RedisPrimaryEndpoint",
        "Primary endpoint of this region's replication group (the Redis CNAME's target)",
        get_att(REPLICATION_GROUP, "PrimaryEndPoint.Address"),
        Some(ctx.export("RedisPrimaryEndpoint")),
    );
}
