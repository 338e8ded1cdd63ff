//! Security groups with the fewest open ports: only the load balancer listens on 0.0.0.0/0;
//! the gateway port is open only to the load balancer, Redis only to gateways, MongoDB only
//! to gateways, other members and the other region's VPC CIDR. SG-to-SG rules are separate
//! ingress resources so no two groups reference each other inline (no dependency cycles).

use serde_json::json;

use super::intrinsics::{get_att, r};
use super::tags::{named, Component};
use super::{Ctx, Fragment};

/// Logical id of the load balancer's security group.
pub const LB_SG: &str = "LoadBalancerSecurityGroup";
/// Logical id of the gateway instances' security group.
pub const GATEWAY_SG: &str = "GatewaySecurityGroup";
/// Logical id of the ElastiCache security group.
pub const REDIS_SG: &str = "RedisSecurityGroup";
/// Logical id of the MongoDB members' security group.
pub const MONGO_SG: &str = "MongoSecurityGroup";
/// MongoDB's port.
pub const MONGO_PORT: u16 = 27017;
/// Ports the internet-facing load balancer listens on (HTTP, and HTTPS when a certificate is given).
pub const LB_PORTS: [u16; 2] = [80, 443];

fn sg_to_sg(f: &mut Fragment, id: &str, to: &str, from: &str, port: u16, what: &str) {
    f.res(
        id,
        "AWS::EC2::SecurityGroupIngress",
        json!({
            "GroupId": get_att(to, "GroupId"),
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "SourceSecurityGroupId": get_att(from, "GroupId"),
            "Description": what,
        }),
    );
}

pub(crate) fn add(ctx: &Ctx, f: &mut Fragment) {
    let (cfg, side) = (ctx.cfg, ctx.side);
    let gw_port = cfg.gateway.port;

    let lb_ingress: Vec<_> = LB_PORTS
        .iter()
        .map(|p| {
            json!({
                "IpProtocol": "tcp", "FromPort": p, "ToPort": p, "CidrIp": "0.0.0.0/0",
                "Description": format!("Clients to the load balancer listener on {p}"),
            })
        })
        .collect();
    f.res(
        LB_SG,
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "tyk-dr load balancer: public listeners; egress only to gateways",
            "VpcId": r("Vpc"),
            "SecurityGroupIngress": lb_ingress,
            "SecurityGroupEgress": [{
                "IpProtocol": "tcp", "FromPort": gw_port, "ToPort": gw_port,
                "DestinationSecurityGroupId": get_att(GATEWAY_SG, "GroupId"),
                "Description": "Load balancer to gateways",
            }],
            "Tags": named(cfg, side, Component::Gateway, "lb"),
        }),
    );
    f.res(
        GATEWAY_SG,
        "AWS::EC2::SecurityGroup",
        json!({
            "GroupDescription": "tyk-dr gateways: gateway port from the load balancer only",
            "VpcId": r("Vpc"),
            "Tags": named(cfg, side, Component::Gateway, "gateway"),
        }),
    );
    sg_to_sg(
        f,
        "GatewayIngressFromLoadBalancer",
        GATEWAY_SG,
        LB_SG,
        gw_port,
        "Load balancer to gateways",
    );

    if ctx.elasticache() {
        let port = cfg.redis.port;
        f.res(
            REDIS_SG,
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": "tyk-dr ElastiCache: Redis port from gateways only",
                "VpcId": r("Vpc"),
                "Tags": named(cfg, side, Component::Redis, "redis"),
            }),
        );
        sg_to_sg(
            f,
            "RedisIngressFromGateways",
            REDIS_SG,
            GATEWAY_SG,
            port,
            "Gateways to Redis",
        );
    }

    if cfg.mongo.enabled {
        f.res(
            MONGO_SG,
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": "tyk-dr MongoDB: 27017 from gateways, members and the other region VPC",
                "VpcId": r("Vpc"),
                "SecurityGroupIngress": [{
                    "IpProtocol": "tcp", "FromPort": MONGO_PORT, "ToPort": MONGO_PORT,
                    "CidrIp": ctx.other.vpc_cidr.to_string(),
                    "Description": format!("Replica set members in {}", ctx.other.name),
                }],
                "Tags": named(cfg, side, Component::Mongo, "mongo"),
            }),
        );
        sg_to_sg(
            f,
            "MongoIngressFromGateways",
            MONGO_SG,
            GATEWAY_SG,
            MONGO_PORT,
            "Gateways to MongoDB",
        );
        sg_to_sg(
            f,
            "MongoIngressFromMembers",
            MONGO_SG,
            MONGO_SG,
            MONGO_PORT,
            "Replica set members in this region",
        );
    }

    f.output(
        "GatewaySecurityGroupId",
        "Security group of the gateway instances",
        get_att(GATEWAY_SG, "GroupId"),
        Some(ctx.export("GatewaySecurityGroupId")),
    );
}
