//! What keys each table of `tyk-dr.toml` accepts, derived from the model itself
//! (by serialising a fully populated config), so "did you mean" suggestions and
//! the type-error examples can never drift from the structs.

use super::model::{
    ApiSelection, Config, SelfManagedRedis, ShadowRedis, ShadowStack, SidePaths, UrlRewrite,
};
use super::path::{FieldPath, Segment};

/// A config with every optional section filled in, serialised to a TOML tree.
fn exemplar() -> toml::Value {
    let mut config = Config {
        project: "payments-gw".into(),
        regions: Default::default(),
        redis: Default::default(),
        mongo: Default::default(),
        gateway: Default::default(),
        dns: Default::default(),
        drills: Default::default(),
        sync: Default::default(),
    };
    config.regions.active.azs = config.regions.active.effective_azs();
    config.regions.passive.azs = config.regions.passive.effective_azs();
    config.redis.self_managed = Some(SelfManagedRedis {
        active: vec!["10.10.1.10:6379".into()],
        passive: vec!["10.20.1.10:6379".into()],
        sentinels: vec!["10.10.1.20:26379".into()],
        master_name: "tyk".into(),
        active_name: Some("redis-a.tyk-dr.internal".into()),
        passive_name: Some("redis-b.tyk-dr.internal".into()),
    });
    config.gateway.endpoints.active = vec!["http://10.10.1.21:8080".into()];
    config.gateway.endpoints.passive = vec!["http://10.20.1.21:8080".into()];
    config.mongo.endpoints.active = vec!["10.10.1.30:27017".into()];
    config.mongo.endpoints.passive = vec!["10.20.1.30:27017".into()];
    config.dns.nameserver = Some("127.0.0.1:5353".into());
    config.drills.shadow_stack = Some(ShadowStack {
        global_name: "drill-api.example.com".into(),
        redis_cname: "redis-drill.tyk-dr.internal".into(),
        gateways: config.gateway.endpoints.clone(),
        redis: ShadowRedis {
            active: "10.10.1.10:6379".into(),
            passive: "10.20.1.12:6379".into(),
            active_name: "redis-a.tyk-dr.internal".into(),
            passive_name: "redis-drill-b.tyk-dr.internal".into(),
        },
    });
    let both = |a: &str, p: &str| SidePaths {
        active: a.into(),
        passive: p.into(),
    };
    config.sync.app_path = Some(both("/opt/tyk/apps", "/mnt/passive/apps"));
    config.sync.policies_path = Some(both("/opt/tyk/policies.json", "/mnt/passive/policies.json"));
    config.sync.apis = ApiSelection {
        ids: vec!["orders".into()],
        tags: vec!["public".into()],
        exclude_ids: vec!["internal".into()],
        exclude_tags: vec!["region-local".into()],
    };
    config.sync.rewrites = vec![UrlRewrite {
        from: "http://orders.us-east-1.internal".into(),
        to: "http://orders.us-west-2.internal".into(),
    }];
    config.sync.keys.resident_org_ids = vec!["eu-org".into()];
    config.sync.keys.resident_tags = vec!["residency:eu".into()];
    config.sync.state_file = Some(".tyk-dr/sync-state.json".into());
    toml::Value::try_from(&config).expect("the model always serialises")
}

fn lookup<'a>(mut value: &'a toml::Value, path: &FieldPath) -> Option<&'a toml::Value> {
    for seg in &path.0 {
        value = match (value, seg) {
            (toml::Value::Table(t), Segment::Key(k)) => t.get(k)?,
            (toml::Value::Array(a), Segment::Index(_)) => a.first()?,
            _ => return None,
        };
    }
    Some(value)
}

/// The keys the table at `parent` accepts, sorted; empty when `parent` is not a table.
pub fn known_keys(parent: &FieldPath) -> Vec<String> {
    let tree = exemplar();
    match lookup(&tree, parent) {
        Some(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Paths where the file has a non-table value but the model expects a table (`regions = []`).
/// Serde would quietly read an empty array as an all-defaults struct, so these are caught here.
pub fn misshapen_tables(file: &toml::Value) -> Vec<FieldPath> {
    fn walk(file: &toml::Table, model: &toml::Table, at: &FieldPath, out: &mut Vec<FieldPath>) {
        for (key, value) in file {
            let Some(toml::Value::Table(expected)) = model.get(key) else {
                continue;
            };
            match value {
                toml::Value::Table(t) => walk(t, expected, &at.key(key), out),
                _ => out.push(at.key(key)),
            }
        }
    }
    let mut out = Vec::new();
    if let (toml::Value::Table(file), toml::Value::Table(model)) = (file, &exemplar()) {
        walk(file, model, &FieldPath::root(), &mut out);
    }
    out
}

/// The closest accepted key to a misspelt one, if any is close enough to be a likely typo.
pub fn suggest(unknown: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// An example line for a field (`replicas_per_az = 1`), taken from the defaults.
pub fn example_line(path: &FieldPath) -> Option<String> {
    let tree = exemplar();
    let value = lookup(&tree, path)?;
    if value.is_table() {
        return None;
    }
    Some(format!("{} = {}", path.last_key()?, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_nested_tables_and_suggests_typos() {
        let keys = known_keys(&FieldPath::parse("redis.elasticache"));
        assert!(keys.contains(&"replicas_per_az".to_string()));
        assert_eq!(
            suggest("replica_per_az", &keys).as_deref(),
            Some("replicas_per_az")
        );
        assert_eq!(suggest("zzz", &keys), None);
        assert!(known_keys(&FieldPath::parse("redis.self_managed")).contains(&"sentinels".into()));
        assert_eq!(
            example_line(&FieldPath::parse("mongo.votes")).as_deref(),
            Some("votes = 1")
        );
    }
}
