//! The gateway fleet: IAM role, launch template, one Auto Scaling group per AZ, and an
//! internet-facing Application Load Balancer with a target group health-checked on the
//! readiness path.
//!
//! Why an ALB: the gateway speaks HTTP, and an ALB health-checks a path with a status
//! matcher (the readiness path answers 503 when fenced), terminates TLS with an ACM
//! certificate, spreads requests (not connections) across AZs and can carry AWS WAF.
//! Auto Scaling groups use EC2 health checks, not ELB ones: a fenced region's gateways
//! answer 503 on purpose and must not be replaced for it.

use serde_json::{json, Value};

use super::intrinsics::{base64, get_att, managed_policy, r, secret_arn};
use super::network::{private_route, private_subnet, public_subnets};
use super::security::{GATEWAY_SG, LB_SG};
use super::tags::{asg, named, tags, Component};
use super::{gateway_config, userdata, Ctx, Fragment};

/// Logical id of the load balancer.
pub const LOAD_BALANCER: &str = "LoadBalancer";
/// Condition: an ACM certificate was given, so an HTTPS listener is created.
pub const HAS_CERTIFICATE: &str = "HasCertificate";

pub(crate) fn add(ctx: &Ctx, f: &mut Fragment) {
    let (cfg, side) = (ctx.cfg, ctx.side);
    let gw = &cfg.gateway;

    f.param(
        "GatewayAmiId",
        json!({
            "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            "Default": gw.ami_parameter,
            "Description": "SSM parameter holding the gateway AMI (its architecture must match gateway.instance_type)",
        }),
    );
    f.param(
        "CertificateArn",
        json!({
            "Type": "String",
            "Default": "",
            "Description": "ACM certificate for an HTTPS listener on 443 (empty: HTTP on 80 only)",
        }),
    );
    f.conditions.insert(
        HAS_CERTIFICATE.into(),
        json!({ "Fn::Not": [{ "Fn::Equals": [r("CertificateArn"), ""] }] }),
    );

    let mut secrets: Vec<Value> = vec![
        secret_arn(&gateway_config::api_secret_name(cfg)),
        secret_arn(&gateway_config::node_secret_name(cfg)),
    ];
    if cfg.redis.auth {
        secrets.push(secret_arn(&cfg.redis.auth_token_secret));
    }
    f.res(
        "GatewayRole",
        "AWS::IAM::Role",
        json!({
            "Description": "tyk-dr gateways: SSM management and reading their own secrets",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{ "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" }]
            },
            "ManagedPolicyArns": [managed_policy("AmazonSSMManagedInstanceCore")],
            "Policies": [{
                "PolicyName": "read-gateway-secrets",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets }]
                }
            }],
            "Tags": tags(cfg, side, Component::Gateway),
        }),
    );
    f.res(
        "GatewayInstanceProfile",
        "AWS::IAM::InstanceProfile",
        json!({ "Roles": [r("GatewayRole")] }),
    );
    let instance_tags = named(cfg, side, Component::Gateway, "gateway");
    f.res(
        "GatewayLaunchTemplate",
        "AWS::EC2::LaunchTemplate",
        json!({
            "LaunchTemplateData": {
                "ImageId": r("GatewayAmiId"),
                "InstanceType": gw.instance_type,
                "IamInstanceProfile": { "Arn": get_att("GatewayInstanceProfile", "Arn") },
                "SecurityGroupIds": [get_att(GATEWAY_SG, "GroupId")],
                "MetadataOptions": { "HttpTokens": "required", "HttpEndpoint": "enabled" },
                "UserData": base64(userdata::gateway(cfg, side)),
                "TagSpecifications": [
                    { "ResourceType": "instance", "Tags": instance_tags },
                    { "ResourceType": "volume", "Tags": instance_tags },
                ],
            },
            "TagSpecifications": [{ "ResourceType": "launch-template", "Tags": tags(cfg, side, Component::Gateway) }],
        }),
    );

    f.res(
        LOAD_BALANCER,
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({
            "Type": "application",
            "Scheme": "internet-facing",
            "Subnets": public_subnets(ctx),
            "SecurityGroups": [get_att(LB_SG, "GroupId")],
            "LoadBalancerAttributes": [
                { "Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true" },
            ],
            "Tags": tags(cfg, side, Component::Gateway),
        }),
    );
    f.res(
        "GatewayTargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        json!({
            "VpcId": r("Vpc"),
            "TargetType": "instance",
            "Protocol": "HTTP",
            "Port": gw.port,
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPath": cfg.dns.health_check_path,
            "HealthCheckIntervalSeconds": 10,
            "HealthCheckTimeoutSeconds": 5,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 2,
            "Matcher": { "HttpCode": "200" },
            "TargetGroupAttributes": [{ "Key": "deregistration_delay.timeout_seconds", "Value": "30" }],
            "Tags": tags(cfg, side, Component::Gateway),
        }),
    );
    f.res(
        "HttpListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({
            "LoadBalancerArn": r(LOAD_BALANCER),
            "Protocol": "HTTP",
            "Port": 80,
            "DefaultActions": [{ "Type": "forward", "TargetGroupArn": r("GatewayTargetGroup") }],
        }),
    );
    f.raw(
        "HttpsListener",
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Condition": HAS_CERTIFICATE,
            "Properties": {
                "LoadBalancerArn": r(LOAD_BALANCER),
                "Protocol": "HTTPS",
                "Port": 443,
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "Certificates": [{ "CertificateArn": r("CertificateArn") }],
                "DefaultActions": [{ "Type": "forward", "TargetGroupArn": r("GatewayTargetGroup") }],
            }
        }),
    );

    let n = gw.instances_per_az;
    let mut groups = Vec::new();
    for (i, s) in ctx.subnets.iter().enumerate() {
        let id = format!("GatewayGroup{}", i + 1);
        groups.push(r(&id));
        f.raw(
            &id,
            json!({
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                "DependsOn": private_route(i),
                "UpdatePolicy": {
                    "AutoScalingRollingUpdate": { "MinInstancesInService": n, "MaxBatchSize": 1, "PauseTime": "PT2M" }
                },
                "Properties": {
                    "VPCZoneIdentifier": [r(&private_subnet(i))],
                    "LaunchTemplate": {
                        "LaunchTemplateId": r("GatewayLaunchTemplate"),
                        "Version": get_att("GatewayLaunchTemplate", "LatestVersionNumber"),
                    },
                    "MinSize": n.to_string(),
                    "MaxSize": (2 * n).max(1).to_string(),
                    "DesiredCapacity": n.to_string(),
                    "TargetGroupARNs": [r("GatewayTargetGroup")],
                    "HealthCheckType": "EC2",
                    "HealthCheckGracePeriod": 300,
                    "Tags": asg(cfg, side, Component::Gateway, &format!("gateway-{}", s.az)),
                }
            }),
        );
    }

    f.output(
        "LoadBalancerDnsName",
        "Load balancer DNS name (the global stack's ingress parameter)",
        get_att(LOAD_BALANCER, "DNSName"),
        Some(ctx.export("LoadBalancerDnsName")),
    );
    f.output(
        "LoadBalancerCanonicalHostedZoneId",
        "Load balancer's canonical hosted zone id (for alias records)",
        get_att(LOAD_BALANCER, "CanonicalHostedZoneID"),
        Some(ctx.export("LoadBalancerCanonicalHostedZoneId")),
    );
    f.output(
        "GatewayAutoScalingGroups",
        "Gateway Auto Scaling groups, AZ order (recycled on failover)",
        super::intrinsics::join(",", groups),
        Some(ctx.export("GatewayAutoScalingGroups")),
    );
}
