//! MongoDB replica set members as EC2 instances with fixed private IPs.
//!
//! Member addressing: every member's private IP is computed from the config (private subnet
//! of its AZ, host offset 10 + its index in that AZ), so both regions' templates know every
//! member's address without DNS, cross-region zone associations or a deploy-order dependency.
//! The first active member initiates the set with the active members and then adds the
//! passive ones (see `userdata.rs`).

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::intrinsics::{base64, get_att, managed_policy, r, secret_arn};
use super::network::{private_route, private_subnet};
use super::security::{MONGO_PORT, MONGO_SG};
use super::subnets::{carve, host};
use super::tags::{named, tags, Component};
use super::userdata;
use super::{Ctx, Fragment};
use crate::config::{Config, Side};

/// First host offset used for members in a private subnet (gateways and ElastiCache use
/// DHCP-assigned addresses, which AWS never hands out when they are taken).
const FIRST_OFFSET: u32 = 10;

/// One replica set member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Replica set `_id`: position in [`members`] (active members first).
    pub id: usize,
    /// Region the member runs in.
    pub side: Side,
    /// 1-based index among its side's members (logical id `MongoMember<n>`).
    pub n: usize,
    /// AZ index in its region.
    pub az_index: usize,
    /// Fixed private IP.
    pub ip: Ipv4Addr,
    /// Election priority (0 when it has no vote, as MongoDB requires).
    pub priority: f64,
    /// Votes (0 or 1).
    pub votes: u32,
}

impl Member {
    /// `ip:27017`, the replica set host string.
    pub fn host(&self) -> String {
        format!("{}:{MONGO_PORT}", self.ip)
    }
}

/// Secrets Manager secret holding the replica set key file, by convention
/// (`<project>/mongo-keyfile`; the config has no field for it yet).
pub fn keyfile_secret_name(cfg: &Config) -> String {
    format!("{}/mongo-keyfile", cfg.project)
}

/// Every member of the set: `members_per_az` in each active AZ, then `passive_members`
/// spread round-robin over the passive AZs.
pub fn members(cfg: &Config) -> Vec<Member> {
    let m = &cfg.mongo;
    let mut out = Vec::new();
    if !m.enabled {
        return out;
    }
    let mut push = |side: Side, az_index: usize, slot: u32, priority: f64, votes: u32, n: usize| {
        let region = cfg.region(side);
        let nets = carve(region.vpc_cidr, &region.effective_azs());
        let id = out.len();
        out.push(Member {
            id,
            side,
            n,
            az_index,
            ip: host(nets[az_index].private, FIRST_OFFSET + slot),
            priority: if votes == 0 { 0.0 } else { priority },
            votes,
        });
    };
    let active_azs = cfg.regions.active.effective_azs().len();
    let mut n = 0;
    for az in 0..active_azs {
        for slot in 0..m.members_per_az {
            n += 1;
            push(Side::Active, az, slot, m.priority, m.votes, n);
        }
    }
    let passive_azs = cfg.regions.passive.effective_azs().len().max(1);
    for k in 0..m.passive_members as usize {
        push(
            Side::Passive,
            k % passive_azs,
            (k / passive_azs) as u32,
            m.passive_priority,
            m.passive_votes,
            k + 1,
        );
    }
    out
}

pub(crate) fn add(ctx: &Ctx, f: &mut Fragment) {
    let cfg = ctx.cfg;
    if !cfg.mongo.enabled {
        return;
    }
    let side = ctx.side;
    let all = members(cfg);

    f.param(
        "MongoAmiId",
        json!({
            "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            "Default": "/aws/service/debian/release/12/latest/amd64",
            "Description": "AMI of MongoDB members (Debian 12 x86_64: MongoDB publishes Debian packages for amd64 only)",
        }),
    );
    f.res(
        "MongoRole",
        "AWS::IAM::Role",
        json!({
            "Description": "tyk-dr MongoDB members: SSM management and the replica set key file",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{ "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" }]
            },
            "ManagedPolicyArns": [managed_policy("AmazonSSMManagedInstanceCore")],
            "Policies": [{
                "PolicyName": "read-mongo-keyfile",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn(&keyfile_secret_name(cfg)) }]
                }
            }],
            "Tags": tags(cfg, side, Component::Mongo),
        }),
    );
    f.res(
        "MongoInstanceProfile",
        "AWS::IAM::InstanceProfile",
        json!({ "Roles": [r("MongoRole")] }),
    );

    let mut ips: Vec<String> = Vec::new();
    for m in all.iter().filter(|m| m.side == side) {
        let az = &ctx.subnets[m.az_index].az;
        ips.push(m.host());
        f.raw(
            &format!("MongoMember{}", m.n),
            json!({
                "Type": "AWS::EC2::Instance",
                "DependsOn": private_route(m.az_index),
                "Properties": {
                    "ImageId": r("MongoAmiId"),
                    "InstanceType": cfg.mongo.instance_type,
                    "SubnetId": r(&private_subnet(m.az_index)),
                    "PrivateIpAddress": m.ip.to_string(),
                    "SecurityGroupIds": [get_att(MONGO_SG, "GroupId")],
                    "IamInstanceProfile": r("MongoInstanceProfile"),
                    "MetadataOptions": { "HttpTokens": "required", "HttpEndpoint": "enabled" },
                    "BlockDeviceMappings": [{
                        "DeviceName": "/dev/sdf",
                        "Ebs": {
                            "VolumeSize": cfg.mongo.volume_gb,
                            "VolumeType": "gp3",
                            "Encrypted": true,
                            "DeleteOnTermination": false,
                        }
                    }],
                    "PropagateTagsToVolumeOnCreation": true,
                    "UserData": base64(userdata::mongo(cfg, m, &all)),
                    "Tags": named(cfg, side, Component::Mongo, &format!("mongo-{}-{az}", m.n)),
                }
            }),
        );
    }
    f.output(
        "MongoMemberHosts",
        "Replica set members in this region (fixed private IPs)",
        Value::from(ips.join(",")),
        Some(ctx.export("MongoMemberHosts")),
    );
}
