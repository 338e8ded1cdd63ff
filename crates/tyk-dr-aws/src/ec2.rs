//! EC2 adapter: the VPC, subnets, security groups and instances tyk-dr provisions, found by
//! their `tyk-dr:project` tag, as plain Rust types.
//!
//! `plan` reads a region with four describe calls ([`Ec2::snapshot`]); `apply` and `destroy`
//! create and delete one resource per call, always tagging at creation so nothing is left
//! untagged if the process dies between two calls.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_ec2::types as sdk;

pub use crate::api_error::{ApiError, Result};

/// IAM actions this adapter calls; `tyk-dr iam-policy` prints them, and a unit test checks the
/// list against the calls in this file so the two cannot drift apart.
pub const IAM_ACTIONS: &[&str] = &[
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateTags",
    "ec2:CreateVpc",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSubnet",
    "ec2:DeleteVpc",
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:ModifyVpcAttribute",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:TerminateInstances",
];

const MAX_PAGES: usize = 1_000;

/// Tags as a sorted map.
pub type Tags = BTreeMap<String, String>;

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// `vpc-...`
    pub id: String,
    /// Primary IPv4 CIDR.
    pub cidr: String,
    /// All tags.
    pub tags: Tags,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-...`
    pub id: String,
    /// The VPC it belongs to.
    pub vpc_id: String,
    /// IPv4 CIDR.
    pub cidr: String,
    /// Availability zone name.
    pub az: String,
    /// All tags.
    pub tags: Tags,
}

/// Where a TCP ingress rule admits traffic from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// An IPv4 CIDR.
    Cidr(String),
    /// Another security group (by id).
    Group(String),
}

/// One TCP ingress rule on one port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngressRule {
    /// TCP port (from = to).
    pub port: u16,
    /// Who may connect.
    pub source: Source,
}

impl std::fmt::Display for IngressRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Cidr(c) => write!(f, "tcp/{} from {c}", self.port),
            Source::Group(g) => write!(f, "tcp/{} from {g}", self.port),
        }
    }
}

/// A security group and its TCP ingress rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// `sg-...`
    pub id: String,
    /// Group name.
    pub name: String,
    /// The VPC it belongs to.
    pub vpc_id: String,
    /// Single-port TCP ingress rules (others are ignored).
    pub rules: Vec<IngressRule>,
    /// All tags.
    pub tags: Tags,
}

/// An instance that is not terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `i-...`
    pub id: String,
    /// Instance type, e.g. `c7g.large`.
    pub instance_type: String,
    /// Subnet it runs in.
    pub subnet_id: String,
    /// Primary private IPv4 address.
    pub private_ip: Option<String>,
    /// `pending`, `running`, `stopping`, `stopped` or `shutting-down`.
    pub state: String,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// All tags.
    pub tags: Tags,
}

/// Everything tagged with one project in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// VPCs.
    pub vpcs: Vec<Vpc>,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Security groups.
    pub security_groups: Vec<SecurityGroup>,
    /// Instances not terminated (nor shutting down).
    pub instances: Vec<Instance>,
}

/// What [`Ec2::run_instance`] launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// AMI id, or `resolve:ssm:<parameter>` (EC2 resolves SSM parameters itself).
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Subnet to launch into.
    pub subnet_id: String,
    /// Security group ids.
    pub security_group_ids: Vec<String>,
    /// User data as plain text (encoded here).
    pub user_data: String,
    /// Fixed private IPv4 address (MongoDB members), or `None` to let EC2 pick.
    pub private_ip: Option<String>,
    /// Idempotency token: the same token never launches a second instance.
    pub client_token: String,
    /// Tags applied at launch.
    pub tags: Tags,
}

fn tags_of(tags: &[sdk::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
        .collect()
}

fn tag_spec(kind: sdk::ResourceType, tags: &Tags) -> sdk::TagSpecification {
    sdk::TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn permission(rule: &IngressRule) -> sdk::IpPermission {
    let b = sdk::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(rule.port))
        .to_port(i32::from(rule.port));
    match &rule.source {
        Source::Cidr(c) => b.ip_ranges(sdk::IpRange::builder().cidr_ip(c).build()),
        Source::Group(g) => {
            b.user_id_group_pairs(sdk::UserIdGroupPair::builder().group_id(g).build())
        }
    }
    .build()
}

fn rules_of(perms: &[sdk::IpPermission]) -> Vec<IngressRule> {
    let mut out = Vec::new();
    for p in perms {
        let (Some("tcp"), Some(from), Some(to)) = (p.ip_protocol(), p.from_port(), p.to_port())
        else {
            continue;
        };
        if from != to {
            continue;
        }
        let port = from as u16;
        out.extend(p.ip_ranges().iter().filter_map(|r| {
            Some(IngressRule {
                port,
                source: Source::Cidr(r.cidr_ip()?.to_owned()),
            })
        }));
        out.extend(p.user_id_group_pairs().iter().filter_map(|g| {
            Some(IngressRule {
                port,
                source: Source::Group(g.group_id()?.to_owned()),
            })
        }));
    }
    out.sort();
    out.dedup();
    out
}

/// EC2 client wrapper for one region; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: aws_sdk_ec2::Client,
}

const EC2: &str = "ec2";

impl Ec2 {
    /// Builds the adapter from an SDK configuration (its region is the region acted on).
    pub fn new(config: &SdkConfig) -> Self {
        Ec2 {
            client: aws_sdk_ec2::Client::new(config),
        }
    }

    /// Reads every VPC, subnet, security group and live instance tagged `tag_key=tag_value`,
    /// with the four describe calls in parallel.
    pub async fn snapshot(&self, tag_key: &str, tag_value: &str) -> Result<Snapshot> {
        let filter = sdk::Filter::builder()
            .name(format!("tag:{tag_key}"))
            .values(tag_value)
            .build();
        let (vpcs, subnets, security_groups, instances) = tokio::try_join!(
            self.vpcs(&filter),
            self.subnets(&filter),
            self.security_groups(&filter),
            self.instances(&filter),
        )?;
        Ok(Snapshot {
            vpcs,
            subnets,
            security_groups,
            instances,
        })
    }

    async fn vpcs(&self, filter: &sdk::Filter) -> Result<Vec<Vpc>> {
        let out = self
            .client
            .describe_vpcs()
            .filters(filter.clone())
            .send()
            .await
            .map_err(ApiError::map(EC2, "DescribeVpcs", "tagged VPCs"))?;
        Ok(out
            .vpcs()
            .iter()
            .map(|v| Vpc {
                id: v.vpc_id().unwrap_or_default().to_owned(),
                cidr: v.cidr_block().unwrap_or_default().to_owned(),
                tags: tags_of(v.tags()),
            })
            .collect())
    }

    async fn subnets(&self, filter: &sdk::Filter) -> Result<Vec<Subnet>> {
        let out = self
            .client
            .describe_subnets()
            .filters(filter.clone())
            .send()
            .await
            .map_err(ApiError::map(EC2, "DescribeSubnets", "tagged subnets"))?;
        Ok(out
            .subnets()
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_owned(),
                vpc_id: s.vpc_id().unwrap_or_default().to_owned(),
                cidr: s.cidr_block().unwrap_or_default().to_owned(),
                az: s.availability_zone().unwrap_or_default().to_owned(),
                tags: tags_of(s.tags()),
            })
            .collect())
    }

    async fn security_groups(&self, filter: &sdk::Filter) -> Result<Vec<SecurityGroup>> {
        let out = self
            .client
            .describe_security_groups()
            .filters(filter.clone())
            .send()
            .await
            .map_err(ApiError::map(
                EC2,
                "DescribeSecurityGroups",
                "tagged groups",
            ))?;
        Ok(out
            .security_groups()
            .iter()
            .map(|g| SecurityGroup {
                id: g.group_id().unwrap_or_default().to_owned(),
                name: g.group_name().unwrap_or_default().to_owned(),
                vpc_id: g.vpc_id().unwrap_or_default().to_owned(),
                rules: rules_of(g.ip_permissions()),
                tags: tags_of(g.tags()),
            })
            .collect())
    }

    async fn instances(&self, filter: &sdk::Filter) -> Result<Vec<Instance>> {
        let live = sdk::Filter::builder()
            .name("instance-state-name")
            .set_values(Some(
                ["pending", "running", "stopping", "stopped"]
                    .map(String::from)
                    .to_vec(),
            ))
            .build();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .describe_instances()
                .filters(filter.clone())
                .filters(live.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(ApiError::map(EC2, "DescribeInstances", "tagged instances"))?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                out.push(Instance {
                    id: i.instance_id().unwrap_or_default().to_owned(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    subnet_id: i.subnet_id().unwrap_or_default().to_owned(),
                    private_ip: i.private_ip_address().map(str::to_owned),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    security_groups: i
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_owned))
                        .collect(),
                    tags: tags_of(i.tags()),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
        Err(ApiError::unexpected(
            EC2,
            "DescribeInstances",
            "too many pages",
        ))
    }

    /// Creates a VPC with DNS hostnames on (private hosted zones need them); returns its id.
    pub async fn create_vpc(&self, cidr: &str, tags: &Tags) -> Result<String> {
        let out = self
            .client
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_spec(sdk::ResourceType::Vpc, tags))
            .send()
            .await
            .map_err(ApiError::map(EC2, "CreateVpc", cidr))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| ApiError::unexpected(EC2, "CreateVpc", "no VPC id"))?
            .to_owned();
        let on = || sdk::AttributeBooleanValue::builder().value(true).build();
        self.client
            .modify_vpc_attribute()
            .vpc_id(&id)
            .enable_dns_support(on())
            .send()
            .await
            .map_err(ApiError::map(EC2, "ModifyVpcAttribute", &id))?;
        self.client
            .modify_vpc_attribute()
            .vpc_id(&id)
            .enable_dns_hostnames(on())
            .send()
            .await
            .map_err(ApiError::map(EC2, "ModifyVpcAttribute", &id))?;
        Ok(id)
    }

    /// Creates a subnet; returns its id.
    pub async fn create_subnet(
        &self,
        vpc_id: &str,
        cidr: &str,
        az: &str,
        tags: &Tags,
    ) -> Result<String> {
        let out = self
            .client
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(cidr)
            .availability_zone(az)
            .tag_specifications(tag_spec(sdk::ResourceType::Subnet, tags))
            .send()
            .await
            .map_err(ApiError::map(EC2, "CreateSubnet", cidr))?;
        out.subnet()
            .and_then(|s| s.subnet_id())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unexpected(EC2, "CreateSubnet", "no subnet id"))
    }

    /// Creates a security group (no ingress yet); returns its id.
    pub async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<String> {
        let out = self
            .client
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(sdk::ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(ApiError::map(EC2, "CreateSecurityGroup", name))?;
        out.group_id()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unexpected(EC2, "CreateSecurityGroup", "no group id"))
    }

    /// Adds ingress rules to a group.
    pub async fn authorize_ingress(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        self.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .map_err(ApiError::map(
                EC2,
                "AuthorizeSecurityGroupIngress",
                group_id,
            ))?;
        Ok(())
    }

    /// Removes ingress rules from a group.
    pub async fn revoke_ingress(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        self.client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .map_err(ApiError::map(EC2, "RevokeSecurityGroupIngress", group_id))?;
        Ok(())
    }

    /// Launches one instance (idempotent through `client_token`); returns its id and private IP.
    pub async fn run_instance(&self, spec: &InstanceSpec) -> Result<(String, Option<String>)> {
        let out = self
            .client
            .run_instances()
            .image_id(&spec.image_id)
            .instance_type(sdk::InstanceType::from(spec.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .subnet_id(&spec.subnet_id)
            .set_security_group_ids(Some(spec.security_group_ids.clone()))
            .user_data(aws_smithy_types::base64::encode(spec.user_data.as_bytes()))
            .set_private_ip_address(spec.private_ip.clone())
            .client_token(&spec.client_token)
            .tag_specifications(tag_spec(sdk::ResourceType::Instance, &spec.tags))
            .send()
            .await
            .map_err(ApiError::map(EC2, "RunInstances", &spec.client_token))?;
        let i = out
            .instances()
            .first()
            .ok_or_else(|| ApiError::unexpected(EC2, "RunInstances", "no instance"))?;
        Ok((
            i.instance_id().unwrap_or_default().to_owned(),
            i.private_ip_address().map(str::to_owned),
        ))
    }

    /// Adds or overwrites tags on any EC2 resource.
    pub async fn create_tags(&self, resource_id: &str, tags: &Tags) -> Result<()> {
        self.client
            .create_tags()
            .resources(resource_id)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(ApiError::map(EC2, "CreateTags", resource_id))?;
        Ok(())
    }

    /// Terminates an instance.
    pub async fn terminate_instance(&self, id: &str) -> Result<()> {
        self.client
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(ApiError::map(EC2, "TerminateInstances", id))?;
        Ok(())
    }

    /// True while the instance is not yet `terminated` (for waiting before deleting its subnet).
    pub async fn instance_exists(&self, id: &str) -> Result<bool> {
        let out = self
            .client
            .describe_instances()
            .instance_ids(id)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .any(|i| {
                    i.state().and_then(|s| s.name()) != Some(&sdk::InstanceStateName::Terminated)
                })),
            Err(e) => {
                let e = ApiError::map(EC2, "DescribeInstances", id)(e);
                if e.is_not_found() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Deletes a security group.
    pub async fn delete_security_group(&self, id: &str) -> Result<()> {
        self.client
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(ApiError::map(EC2, "DeleteSecurityGroup", id))?;
        Ok(())
    }

    /// Deletes a subnet.
    pub async fn delete_subnet(&self, id: &str) -> Result<()> {
        self.client
            .delete_subnet()
            .subnet_id(id)
            .send()
            .await
            .map_err(ApiError::map(EC2, "DeleteSubnet", id))?;
        Ok(())
    }

    /// Deletes a VPC.
    pub async fn delete_vpc(&self, id: &str) -> Result<()> {
        self.client
            .delete_vpc()
            .vpc_id(id)
            .send()
            .await
            .map_err(ApiError::map(EC2, "DeleteVpc", id))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iam_actions_match_the_calls_in_this_file() {
        crate::iam::assert_actions_match(include_str!("ec2.rs"), "ec2", super::IAM_ACTIONS);
    }
}
