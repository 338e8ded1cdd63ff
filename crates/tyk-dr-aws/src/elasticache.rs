//! ElastiCache adapter: the cache subnet group, the replication group of each region and the
//! Global Datastore joining them, as plain Rust types.
//!
//! Names are deterministic (`<project>-<side>`), so lookups are by name; tags are read too so
//! `destroy` only touches groups carrying this project's tag. No emulator implements the
//! Global Datastore calls: their exact requests are tested with the SDK's capture client.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_elasticache::types as sdk;

pub use crate::api_error::{ApiError, Result};

/// IAM actions this adapter calls (checked against this file by a unit test).
pub const IAM_ACTIONS: &[&str] = &[
    "elasticache:CreateCacheSubnetGroup",
    "elasticache:CreateGlobalReplicationGroup",
    "elasticache:CreateReplicationGroup",
    "elasticache:DeleteCacheSubnetGroup",
    "elasticache:DeleteGlobalReplicationGroup",
    "elasticache:DeleteReplicationGroup",
    "elasticache:DescribeCacheSubnetGroups",
    "elasticache:DescribeGlobalReplicationGroups",
    "elasticache:DescribeReplicationGroups",
    "elasticache:DisassociateGlobalReplicationGroup",
    "elasticache:FailoverGlobalReplicationGroup",
    "elasticache:ListTagsForResource",
    "elasticache:ModifyCacheSubnetGroup",
    "elasticache:ModifyReplicationGroup",
];

const SVC: &str = "elasticache";
const MAX_PAGES: usize = 1_000;

/// Tags as a sorted map.
pub type Tags = BTreeMap<String, String>;

/// A cache subnet group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetGroup {
    /// Its name.
    pub name: String,
    /// Subnet ids, sorted.
    pub subnet_ids: Vec<String>,
    /// ARN (for tags).
    pub arn: String,
}

/// A replication group (cluster mode disabled: one shard, primary + replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationGroup {
    /// Its id.
    pub id: String,
    /// `creating`, `available`, `modifying`, `deleting`...
    pub status: String,
    /// Node type.
    pub node_type: String,
    /// Member cache clusters (nodes).
    pub members: usize,
    /// Primary endpoint host name, once available.
    pub primary_endpoint: Option<String>,
    /// Days of snapshots kept.
    pub snapshot_retention: u32,
    /// Automatic failover enabled (or enabling).
    pub automatic_failover: bool,
    /// In-transit encryption.
    pub transit_encryption: bool,
    /// Global Datastore id and this group's role in it (`primary`/`secondary`).
    pub global: Option<(String, String)>,
    /// ARN (for tags).
    pub arn: String,
}

/// A Global Datastore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalGroup {
    /// Full id (AWS prefixes the suffix given at creation).
    pub id: String,
    /// `creating`, `primary-only`, `available`, `modifying`, `deleting`...
    pub status: String,
    /// Members: (replication group id, region, role).
    pub members: Vec<(String, String, String)>,
}

/// What [`ElastiCache::create_replication_group`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationGroupSpec {
    /// Group id.
    pub id: String,
    /// Description shown in the console.
    pub description: String,
    /// Node type (ignored for a Global Datastore secondary, which inherits it).
    pub node_type: String,
    /// Redis engine version (ignored for a secondary).
    pub engine_version: String,
    /// Nodes: primary + replicas.
    pub nodes: u32,
    /// AZ of each node, primary first.
    pub azs: Vec<String>,
    /// Cache subnet group name.
    pub subnet_group: String,
    /// Security group ids.
    pub security_group_ids: Vec<String>,
    /// Port.
    pub port: u16,
    /// In-transit encryption.
    pub transit_encryption: bool,
    /// Days of snapshots kept.
    pub snapshot_retention: u32,
    /// Join this Global Datastore as a secondary.
    pub global_group_id: Option<String>,
    /// Tags.
    pub tags: Tags,
}

fn sdk_tags(tags: &Tags) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
        .collect()
}

fn rg_of(g: &sdk::ReplicationGroup) -> ReplicationGroup {
    ReplicationGroup {
        id: g.replication_group_id().unwrap_or_default().to_owned(),
        status: g.status().unwrap_or_default().to_owned(),
        node_type: g.cache_node_type().unwrap_or_default().to_owned(),
        members: g.member_clusters().len(),
        primary_endpoint: g
            .node_groups()
            .first()
            .and_then(|n| n.primary_endpoint())
            .and_then(|e| e.address())
            .map(str::to_owned),
        snapshot_retention: g.snapshot_retention_limit().unwrap_or(0).max(0) as u32,
        automatic_failover: matches!(
            g.automatic_failover(),
            Some(sdk::AutomaticFailoverStatus::Enabled | sdk::AutomaticFailoverStatus::Enabling)
        ),
        transit_encryption: g.transit_encryption_enabled().unwrap_or(false),
        global: g.global_replication_group_info().and_then(|i| {
            Some((
                i.global_replication_group_id()?.to_owned(),
                i.global_replication_group_member_role()
                    .unwrap_or_default()
                    .to_owned(),
            ))
        }),
        arn: g.arn().unwrap_or_default().to_owned(),
    }
}

/// ElastiCache client wrapper for one region; cheap to clone.
#[derive(Debug, Clone)]
pub struct ElastiCache {
    client: aws_sdk_elasticache::Client,
}

impl ElastiCache {
    /// Builds the adapter from an SDK configuration (its region is the region acted on).
    pub fn new(config: &SdkConfig) -> Self {
        ElastiCache {
            client: aws_sdk_elasticache::Client::new(config),
        }
    }

    /// Lists cache subnet groups whose name starts with `prefix`.
    pub async fn subnet_groups(&self, prefix: &str) -> Result<Vec<SubnetGroup>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .describe_cache_subnet_groups()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(ApiError::map(SVC, "DescribeCacheSubnetGroups", prefix))?;
            for g in page.cache_subnet_groups() {
                let name = g.cache_subnet_group_name().unwrap_or_default();
                if name.starts_with(prefix) {
                    let mut subnet_ids: Vec<String> = g
                        .subnets()
                        .iter()
                        .filter_map(|s| s.subnet_identifier().map(str::to_owned))
                        .collect();
                    subnet_ids.sort();
                    out.push(SubnetGroup {
                        name: name.to_owned(),
                        subnet_ids,
                        arn: g.arn().unwrap_or_default().to_owned(),
                    });
                }
            }
            match page.marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                _ => return Ok(out),
            }
        }
        Err(ApiError::unexpected(
            SVC,
            "DescribeCacheSubnetGroups",
            "too many pages",
        ))
    }

    /// Lists replication groups whose id starts with `prefix`.
    pub async fn replication_groups(&self, prefix: &str) -> Result<Vec<ReplicationGroup>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .describe_replication_groups()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(ApiError::map(SVC, "DescribeReplicationGroups", prefix))?;
            out.extend(
                page.replication_groups()
                    .iter()
                    .filter(|g| {
                        g.replication_group_id()
                            .unwrap_or_default()
                            .starts_with(prefix)
                    })
                    .map(rg_of),
            );
            match page.marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                _ => return Ok(out),
            }
        }
        Err(ApiError::unexpected(
            SVC,
            "DescribeReplicationGroups",
            "too many pages",
        ))
    }

    /// One replication group by id, `None` when it does not exist.
    pub async fn replication_group(&self, id: &str) -> Result<Option<ReplicationGroup>> {
        match self
            .client
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.replication_groups().first().map(rg_of)),
            Err(e) => {
                let e = ApiError::map(SVC, "DescribeReplicationGroups", id)(e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Tags of a resource by ARN.
    pub async fn tags(&self, arn: &str) -> Result<Tags> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(ApiError::map(SVC, "ListTagsForResource", arn))?;
        Ok(out
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
            .collect())
    }

    /// Creates a cache subnet group.
    pub async fn create_subnet_group(
        &self,
        name: &str,
        subnet_ids: &[String],
        tags: &Tags,
    ) -> Result<()> {
        self.client
            .create_cache_subnet_group()
            .cache_subnet_group_name(name)
            .cache_subnet_group_description("tyk-dr Redis subnets")
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(ApiError::map(SVC, "CreateCacheSubnetGroup", name))?;
        Ok(())
    }

    /// Replaces the subnets of a cache subnet group.
    pub async fn modify_subnet_group(&self, name: &str, subnet_ids: &[String]) -> Result<()> {
        self.client
            .modify_cache_subnet_group()
            .cache_subnet_group_name(name)
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .send()
            .await
            .map_err(ApiError::map(SVC, "ModifyCacheSubnetGroup", name))?;
        Ok(())
    }

    /// Deletes a cache subnet group.
    pub async fn delete_subnet_group(&self, name: &str) -> Result<()> {
        self.client
            .delete_cache_subnet_group()
            .cache_subnet_group_name(name)
            .send()
            .await
            .map_err(ApiError::map(SVC, "DeleteCacheSubnetGroup", name))?;
        Ok(())
    }

    /// Creates a replication group (or a Global Datastore secondary).
    pub async fn create_replication_group(&self, spec: &ReplicationGroupSpec) -> Result<()> {
        let mut req = self
            .client
            .create_replication_group()
            .replication_group_id(&spec.id)
            .replication_group_description(&spec.description)
            .num_cache_clusters(spec.nodes as i32)
            .set_preferred_cache_cluster_azs(Some(spec.azs.clone()))
            .automatic_failover_enabled(spec.nodes > 1)
            .multi_az_enabled(spec.nodes > 1)
            .cache_subnet_group_name(&spec.subnet_group)
            .set_security_group_ids(Some(spec.security_group_ids.clone()))
            .port(i32::from(spec.port))
            .snapshot_retention_limit(spec.snapshot_retention as i32)
            .set_tags(Some(sdk_tags(&spec.tags)));
        req = match &spec.global_group_id {
            // A secondary inherits engine, version, node type and encryption from the primary.
            Some(global) => req.global_replication_group_id(global),
            None => req
                .engine("redis")
                .engine_version(&spec.engine_version)
                .cache_node_type(&spec.node_type)
                .transit_encryption_enabled(spec.transit_encryption)
                .at_rest_encryption_enabled(true),
        };
        req.send()
            .await
            .map_err(ApiError::map(SVC, "CreateReplicationGroup", &spec.id))?;
        Ok(())
    }

    /// Changes node type and snapshot retention, applied immediately.
    pub async fn modify_replication_group(
        &self,
        id: &str,
        node_type: Option<&str>,
        snapshot_retention: Option<u32>,
    ) -> Result<()> {
        self.client
            .modify_replication_group()
            .replication_group_id(id)
            .set_cache_node_type(node_type.map(str::to_owned))
            .set_snapshot_retention_limit(snapshot_retention.map(|d| d as i32))
            .apply_immediately(true)
            .send()
            .await
            .map_err(ApiError::map(SVC, "ModifyReplicationGroup", id))?;
        Ok(())
    }

    /// Deletes a replication group without a final snapshot.
    pub async fn delete_replication_group(&self, id: &str) -> Result<()> {
        self.client
            .delete_replication_group()
            .replication_group_id(id)
            .retain_primary_cluster(false)
            .send()
            .await
            .map_err(ApiError::map(SVC, "DeleteReplicationGroup", id))?;
        Ok(())
    }

    /// Lists Global Datastores whose id ends with `suffix`, with their members.
    pub async fn global_groups(&self, suffix: &str) -> Result<Vec<GlobalGroup>> {
        let out = self
            .client
            .describe_global_replication_groups()
            .show_member_info(true)
            .send()
            .await
            .map_err(ApiError::map(
                SVC,
                "DescribeGlobalReplicationGroups",
                suffix,
            ))?;
        Ok(out
            .global_replication_groups()
            .iter()
            .filter(|g| {
                g.global_replication_group_id()
                    .unwrap_or_default()
                    .ends_with(suffix)
            })
            .map(|g| GlobalGroup {
                id: g
                    .global_replication_group_id()
                    .unwrap_or_default()
                    .to_owned(),
                status: g.status().unwrap_or_default().to_owned(),
                members: g
                    .members()
                    .iter()
                    .map(|m| {
                        (
                            m.replication_group_id().unwrap_or_default().to_owned(),
                            m.replication_group_region().unwrap_or_default().to_owned(),
                            m.role().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            })
            .collect())
    }

    /// Creates a Global Datastore around an existing primary group; returns its full id.
    pub async fn create_global_group(&self, suffix: &str, primary_id: &str) -> Result<String> {
        let out = self
            .client
            .create_global_replication_group()
            .global_replication_group_id_suffix(suffix)
            .primary_replication_group_id(primary_id)
            .global_replication_group_description("tyk-dr cross-region Redis")
            .send()
            .await
            .map_err(ApiError::map(SVC, "CreateGlobalReplicationGroup", suffix))?;
        out.global_replication_group()
            .and_then(|g| g.global_replication_group_id())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unexpected(SVC, "CreateGlobalReplicationGroup", "no id"))
    }

    /// Removes a secondary group (in `region`) from a Global Datastore.
    pub async fn disassociate_global_group(
        &self,
        global_id: &str,
        group_id: &str,
        region: &str,
    ) -> Result<()> {
        self.client
            .disassociate_global_replication_group()
            .global_replication_group_id(global_id)
            .replication_group_id(group_id)
            .replication_group_region(region)
            .send()
            .await
            .map_err(ApiError::map(
                SVC,
                "DisassociateGlobalReplicationGroup",
                global_id,
            ))?;
        Ok(())
    }

    /// Makes the member group `group_id` in `region` the Global Datastore's primary (a planned
    /// promotion: AWS demotes the old primary to a secondary and keeps replicating). Returns the
    /// datastore's status right after the call (`modifying` while AWS works).
    pub async fn failover_global_group(
        &self,
        global_id: &str,
        region: &str,
        group_id: &str,
    ) -> Result<String> {
        let out = self
            .client
            .failover_global_replication_group()
            .global_replication_group_id(global_id)
            .primary_region(region)
            .primary_replication_group_id(group_id)
            .send()
            .await
            .map_err(ApiError::map(
                SVC,
                "FailoverGlobalReplicationGroup",
                global_id,
            ))?;
        Ok(out
            .global_replication_group()
            .and_then(|g| g.status())
            .unwrap_or_default()
            .to_owned())
    }

    /// Deletes a Global Datastore, keeping its primary group as a regional group.
    pub async fn delete_global_group(&self, global_id: &str) -> Result<()> {
        self.client
            .delete_global_replication_group()
            .global_replication_group_id(global_id)
            .retain_primary_replication_group(true)
            .send()
            .await
            .map_err(ApiError::map(
                SVC,
                "DeleteGlobalReplicationGroup",
                global_id,
            ))?;
        Ok(())
    }
}

// === Global Datastore requests ===
//
// No emulator implements the Global Datastore calls (moto has none), so these tests capture the
// exact HTTP request the SDK sends, with the SDK's own test client, and parse a canned response.
#[cfg(test)]
mod global_datastore_requests {
    use aws_sdk_elasticache::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{capture_request, CaptureRequestReceiver};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn client(response_xml: &str) -> (ElastiCache, CaptureRequestReceiver) {
        client_answering(200, response_xml)
    }

    fn client_answering(status: u16, response_xml: &str) -> (ElastiCache, CaptureRequestReceiver) {
        let (http, rx) = capture_request(Some(
            http::Response::builder()
                .status(status)
                .body(SdkBody::from(response_xml.to_owned()))
                .unwrap(),
        ));
        let conf = aws_sdk_elasticache::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .http_client(http)
            .build();
        (
            ElastiCache {
                client: aws_sdk_elasticache::Client::from_conf(conf),
            },
            rx,
        )
    }

    /// The form parameters of a Query-protocol request, sorted.
    fn params(rx: CaptureRequestReceiver) -> Vec<String> {
        let req = rx.expect_request();
        assert_eq!(req.method(), "POST");
        let body = std::str::from_utf8(req.body().bytes().unwrap())
            .unwrap()
            .to_owned();
        let mut v: Vec<String> = body.split('&').map(str::to_owned).collect();
        v.sort();
        v
    }

    fn wrap(op: &str, inner: &str) -> String {
        format!(
            "<{op}Response xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><{op}Result>{inner}</{op}Result></{op}Response>"
        )
    }

    #[tokio::test]
    async fn create_global_group_sends_suffix_and_primary() {
        let (ec, rx) = client(&wrap(
            "CreateGlobalReplicationGroup",
            "<GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-payments</GlobalReplicationGroupId><Status>creating</Status></GlobalReplicationGroup>",
        ));
        let id = ec
            .create_global_group("payments", "payments-active")
            .await
            .unwrap();
        assert_eq!(id, "ldgnf-payments");
        assert_eq!(
            params(rx),
            [
                "Action=CreateGlobalReplicationGroup",
                "GlobalReplicationGroupDescription=tyk-dr%20cross-region%20Redis",
                "GlobalReplicationGroupIdSuffix=payments",
                "PrimaryReplicationGroupId=payments-active",
                "Version=2015-02-02",
            ]
        );
    }

    #[tokio::test]
    async fn secondary_group_joins_the_datastore_and_inherits_engine_settings() {
        let (ec, rx) = client(&wrap("CreateReplicationGroup", "<ReplicationGroup><ReplicationGroupId>payments-passive</ReplicationGroupId></ReplicationGroup>"));
        let spec = ReplicationGroupSpec {
            id: "payments-passive".into(),
            description: "d".into(),
            node_type: "cache.r7g.large".into(),
            engine_version: "7.1".into(),
            nodes: 2,
            azs: vec!["eu-central-1a".into(), "eu-central-1b".into()],
            subnet_group: "payments-passive".into(),
            security_group_ids: vec!["sg-1".into()],
            port: 6379,
            transit_encryption: true,
            snapshot_retention: 3,
            global_group_id: Some("ldgnf-payments".into()),
            tags: Tags::from([("tyk-dr:project".into(), "payments".into())]),
        };
        ec.create_replication_group(&spec).await.unwrap();
        let p = params(rx);
        assert!(
            p.contains(&"GlobalReplicationGroupId=ldgnf-payments".to_owned()),
            "{p:?}"
        );
        assert!(p.contains(&"NumCacheClusters=2".to_owned()), "{p:?}");
        assert!(
            p.contains(&"AutomaticFailoverEnabled=true".to_owned()),
            "{p:?}"
        );
        for inherited in [
            "Engine=",
            "EngineVersion=",
            "CacheNodeType=",
            "TransitEncryptionEnabled=",
        ] {
            assert!(
                !p.iter().any(|x| x.starts_with(inherited)),
                "{inherited} must not be sent: {p:?}"
            );
        }
    }

    #[tokio::test]
    async fn disassociate_names_the_secondary_and_its_region() {
        let (ec, rx) = client(&wrap("DisassociateGlobalReplicationGroup", "<GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-payments</GlobalReplicationGroupId></GlobalReplicationGroup>"));
        ec.disassociate_global_group("ldgnf-payments", "payments-passive", "eu-central-1")
            .await
            .unwrap();
        assert_eq!(
            params(rx),
            [
                "Action=DisassociateGlobalReplicationGroup",
                "GlobalReplicationGroupId=ldgnf-payments",
                "ReplicationGroupId=payments-passive",
                "ReplicationGroupRegion=eu-central-1",
                "Version=2015-02-02",
            ]
        );
    }

    #[tokio::test]
    async fn failover_names_the_new_primary_group_and_its_region() {
        let (ec, rx) = client(&wrap("FailoverGlobalReplicationGroup", "<GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-payments</GlobalReplicationGroupId><Status>modifying</Status></GlobalReplicationGroup>"));
        let status = ec
            .failover_global_group("ldgnf-payments", "eu-central-1", "payments-passive")
            .await
            .unwrap();
        assert_eq!(status, "modifying");
        assert_eq!(
            params(rx),
            [
                "Action=FailoverGlobalReplicationGroup",
                "GlobalReplicationGroupId=ldgnf-payments",
                "PrimaryRegion=eu-central-1",
                "PrimaryReplicationGroupId=payments-passive",
                "Version=2015-02-02",
            ]
        );
    }

    #[tokio::test]
    async fn failover_refusal_is_an_error_naming_the_datastore() {
        let (ec, _rx) = client_answering(
            400,
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidGlobalReplicationGroupState</Code><Message>Global replication group ldgnf-payments is not in available state.</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        );
        let err = ec
            .failover_global_group("ldgnf-payments", "eu-central-1", "payments-passive")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("FailoverGlobalReplicationGroup")
                && err.contains("ldgnf-payments")
                && err.contains("InvalidGlobalReplicationGroupState"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn delete_keeps_the_primary_group() {
        let (ec, rx) = client(&wrap("DeleteGlobalReplicationGroup", "<GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-payments</GlobalReplicationGroupId></GlobalReplicationGroup>"));
        ec.delete_global_group("ldgnf-payments").await.unwrap();
        assert_eq!(
            params(rx),
            [
                "Action=DeleteGlobalReplicationGroup",
                "GlobalReplicationGroupId=ldgnf-payments",
                "RetainPrimaryReplicationGroup=true",
                "Version=2015-02-02",
            ]
        );
    }

    #[tokio::test]
    async fn describe_reads_members_and_roles() {
        let (ec, rx) = client(&wrap(
            "DescribeGlobalReplicationGroups",
            "<GlobalReplicationGroups><GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-payments</GlobalReplicationGroupId><Status>available</Status><Members>\
             <GlobalReplicationGroupMember><ReplicationGroupId>payments-active</ReplicationGroupId><ReplicationGroupRegion>eu-west-1</ReplicationGroupRegion><Role>primary</Role></GlobalReplicationGroupMember>\
             <GlobalReplicationGroupMember><ReplicationGroupId>payments-passive</ReplicationGroupId><ReplicationGroupRegion>eu-central-1</ReplicationGroupRegion><Role>secondary</Role></GlobalReplicationGroupMember>\
             </Members></GlobalReplicationGroup><GlobalReplicationGroup><GlobalReplicationGroupId>other</GlobalReplicationGroupId></GlobalReplicationGroup></GlobalReplicationGroups>",
        ));
        let groups = ec.global_groups("payments").await.unwrap();
        assert_eq!(
            groups,
            [GlobalGroup {
                id: "ldgnf-payments".into(),
                status: "available".into(),
                members: vec![
                    (
                        "payments-active".into(),
                        "eu-west-1".into(),
                        "primary".into()
                    ),
                    (
                        "payments-passive".into(),
                        "eu-central-1".into(),
                        "secondary".into()
                    ),
                ],
            }]
        );
        assert!(params(rx).contains(&"ShowMemberInfo=true".to_owned()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iam_actions_match_the_calls_in_this_file() {
        crate::iam::assert_actions_match(
            include_str!("elasticache.rs"),
            "elasticache",
            super::IAM_ACTIONS,
        );
    }
}
