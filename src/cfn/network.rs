//! The regional network: VPC, a public and a private subnet per AZ, internet gateway,
//! one NAT gateway per AZ (so losing a zone never cuts the others' egress) and route tables.

use serde_json::{json, Value};

use super::intrinsics::{get_att, join, r};
use super::tags::{named, Component};
use super::{Ctx, Fragment};

/// Logical id of the private subnet in the `i`-th AZ (0-based index).
pub fn private_subnet(i: usize) -> String {
    format!("PrivateSubnet{}", i + 1)
}

/// Logical id of the public subnet in the `i`-th AZ (0-based index).
pub fn public_subnet(i: usize) -> String {
    format!("PublicSubnet{}", i + 1)
}

/// Logical id of the private default route in the `i`-th AZ: instances that download
/// software at boot depend on it so their user data never runs before egress exists.
pub fn private_route(i: usize) -> String {
    format!("PrivateDefaultRoute{}", i + 1)
}

/// `[Ref PrivateSubnet1, ...]`.
pub fn private_subnets(ctx: &Ctx) -> Value {
    Value::Array(
        (0..ctx.subnets.len())
            .map(|i| r(&private_subnet(i)))
            .collect(),
    )
}

/// `[Ref PublicSubnet1, ...]`.
pub fn public_subnets(ctx: &Ctx) -> Value {
    Value::Array(
        (0..ctx.subnets.len())
            .map(|i| r(&public_subnet(i)))
            .collect(),
    )
}

pub(crate) fn add(ctx: &Ctx, f: &mut Fragment) {
    let (cfg, side) = (ctx.cfg, ctx.side);
    let t = |name: &str| named(cfg, side, Component::Network, name);

    f.res(
        "Vpc",
        "AWS::EC2::VPC",
        json!({
            "CidrBlock": ctx.region.vpc_cidr.to_string(),
            "EnableDnsSupport": true,
            "EnableDnsHostnames": true,
            "Tags": t("vpc"),
        }),
    );
    f.res(
        "InternetGateway",
        "AWS::EC2::InternetGateway",
        json!({ "Tags": t("igw") }),
    );
    f.res(
        "InternetGatewayAttachment",
        "AWS::EC2::VPCGatewayAttachment",
        json!({ "VpcId": r("Vpc"), "InternetGatewayId": r("InternetGateway") }),
    );
    f.res(
        "PublicRouteTable",
        "AWS::EC2::RouteTable",
        json!({ "VpcId": r("Vpc"), "Tags": t("public") }),
    );
    f.raw(
        "PublicDefaultRoute",
        json!({
            "Type": "AWS::EC2::Route",
            "DependsOn": "InternetGatewayAttachment",
            "Properties": {
                "RouteTableId": r("PublicRouteTable"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": r("InternetGateway"),
            }
        }),
    );

    for (i, s) in ctx.subnets.iter().enumerate() {
        let n = i + 1;
        let (public, private) = (public_subnet(i), private_subnet(i));
        f.res(
            &public,
            "AWS::EC2::Subnet",
            json!({
                "VpcId": r("Vpc"),
                "AvailabilityZone": s.az,
                "CidrBlock": s.public.to_string(),
                "MapPublicIpOnLaunch": false,
                "Tags": t(&format!("public-{}", s.az)),
            }),
        );
        f.res(
            &private,
            "AWS::EC2::Subnet",
            json!({
                "VpcId": r("Vpc"),
                "AvailabilityZone": s.az,
                "CidrBlock": s.private.to_string(),
                "MapPublicIpOnLaunch": false,
                "Tags": t(&format!("private-{}", s.az)),
            }),
        );
        f.res(
            &format!("{public}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": r(&public), "RouteTableId": r("PublicRouteTable") }),
        );
        f.raw(
            &format!("NatEip{n}"),
            json!({
                "Type": "AWS::EC2::EIP",
                "DependsOn": "InternetGatewayAttachment",
                "Properties": { "Domain": "vpc", "Tags": t(&format!("nat-{}", s.az)) }
            }),
        );
        f.res(
            &format!("NatGateway{n}"),
            "AWS::EC2::NatGateway",
            json!({
                "AllocationId": get_att(&format!("NatEip{n}"), "AllocationId"),
                "SubnetId": r(&public),
                "Tags": t(&format!("nat-{}", s.az)),
            }),
        );
        f.res(
            &format!("PrivateRouteTable{n}"),
            "AWS::EC2::RouteTable",
            json!({ "VpcId": r("Vpc"), "Tags": t(&format!("private-{}", s.az)) }),
        );
        f.res(
            &private_route(i),
            "AWS::EC2::Route",
            json!({
                "RouteTableId": r(&format!("PrivateRouteTable{n}")),
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": r(&format!("NatGateway{n}")),
            }),
        );
        f.res(
            &format!("{private}RouteTableAssociation"),
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": r(&private), "RouteTableId": r(&format!("PrivateRouteTable{n}")) }),
        );
    }

    f.output("VpcId", "VPC id", r("Vpc"), Some(ctx.export("VpcId")));
    f.output(
        "VpcCidr",
        "VPC IPv4 CIDR (the other region allows MongoDB traffic from it)",
        get_att("Vpc", "CidrBlock"),
        Some(ctx.export("VpcCidr")),
    );
    f.output(
        "PublicSubnetIds",
        "Public subnet ids, AZ order",
        join(
            ",",
            public_subnets(ctx).as_array().cloned().unwrap_or_default(),
        ),
        Some(ctx.export("PublicSubnetIds")),
    );
    f.output(
        "PrivateSubnetIds",
        "Private subnet ids, AZ order",
        join(
            ",",
            private_subnets(ctx).as_array().cloned().unwrap_or_default(),
        ),
        Some(ctx.export("PrivateSubnetIds")),
    );
    let private_tables: Vec<Value> = (1..=ctx.subnets.len())
        .map(|n| r(&format!("PrivateRouteTable{n}")))
        .collect();
    f.output(
        "PrivateRouteTableIds",
        "Private route table ids, AZ order (add routes to the other region's VPC here: peering or transit gateway)",
        join(",", private_tables),
        Some(ctx.export("PrivateRouteTableIds")),
    );
}
