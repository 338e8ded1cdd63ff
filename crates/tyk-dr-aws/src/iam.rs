//! The least-privilege IAM policy: one action list per adapter, checked against the adapter's
//! source so a new call cannot be added without its permission.

/// Every IAM action tyk-dr's adapters call, sorted and deduplicated.
pub fn all_actions() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = crate::ec2::IAM_ACTIONS
        .iter()
        .chain(crate::elasticache::IAM_ACTIONS)
        .chain(crate::route53::IAM_ACTIONS)
        .copied()
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The IAM actions a source file calls: every `.client.<snake_case>(` turned into
/// `<service>:<PascalCase>`. Exists for the per-adapter drift tests.
pub fn calls_in(source: &str, service: &str) -> Vec<String> {
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out: Vec<String> = compact
        .split(".client.")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            rest[name.len()..].starts_with('(').then_some(name)
        })
        .map(|name| {
            let pascal: String = name
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            format!("{service}:{pascal}")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Panics unless `actions` is exactly the set of calls made in `source`.
#[cfg(test)]
pub(crate) fn assert_actions_match(source: &str, service: &str, actions: &[&str]) {
    let mut listed: Vec<String> = actions.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        calls_in(source, service),
        listed,
        "IAM_ACTIONS of the {service} adapter differs from the calls it makes"
    );
}
