//! The plan: desired − observed, as data. Each [`Change`] says what happens to one resource
//! and which fields differ; a saved plan (`plan --out`) is this structure as JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::model::{Addr, Desired, Kind, Observed, Scope, World};

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Does not exist yet.
    Create,
    /// Changed in place.
    Update,
    /// Deleted, then created again (a field that cannot change in place differs).
    Replace,
    /// Exists but is no longer wanted.
    Delete,
    /// Matches.
    NoOp,
}

impl Action {
    /// Word shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
        }
    }
}

/// One differing field; `new: None` means "known after apply".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Field name.
    pub field: String,
    /// Current value (`None` when the resource does not exist).
    pub old: Option<String>,
    /// Wanted value (`None` when it depends on a resource not created yet).
    pub new: Option<String>,
}

/// The plan for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Its address.
    pub addr: Addr,
    /// Its type.
    pub kind: Kind,
    /// What happens.
    pub action: Action,
    /// Position in creation order.
    pub order: u32,
    /// The AWS id of the existing resource.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// The differing fields.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fields: Vec<FieldChange>,
    /// The desired resource (absent for deletes).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub desired: Option<Desired>,
    /// The existing resource (absent for creates).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub observed: Option<Observed>,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Format version of saved plans.
    pub format: u32,
    /// The project the plan is for.
    pub project: String,
    /// Fingerprint of the observed world the plan was computed from.
    pub fingerprint: String,
    /// API requests made to compute it.
    pub api_calls: u64,
    /// Every resource, in creation order (no-ops included).
    pub changes: Vec<Change>,
}

/// Current format of saved plans.
pub const FORMAT: u32 = 1;

impl Plan {
    /// True when applying would change something.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// Count of each action, for the summary line.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for c in &self.changes {
            *m.entry(c.action.label()).or_default() += 1;
        }
        m
    }

    /// Changes of one scope.
    pub fn scope(&self, scope: Scope) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.addr.scope == scope)
    }
}

/// Compares one desired resource with what exists, given the resources that will be
/// (re)created before it (`pending`: their ids are not known yet).
pub fn compare(d: &Desired, world: &World, pending: &BTreeSet<Addr>) -> (Action, Vec<FieldChange>) {
    let is_pending = |a: &Addr| pending.contains(a);
    let Some(o) = world.resources.get(&d.addr) else {
        let fields = d
            .fields
            .iter()
            .map(|(k, v)| FieldChange {
                field: k.clone(),
                old: None,
                new: world.resolve(v, &is_pending),
            })
            .collect();
        return (Action::Create, fields);
    };
    let mut changes = Vec::new();
    for (k, v) in d.fields.iter().filter(|(k, _)| !d.create_only.contains(k)) {
        let new = world.resolve(v, &is_pending);
        let old = o.fields.get(k).cloned().unwrap_or_default();
        if new.as_deref() != Some(old.as_str()) {
            changes.push(FieldChange {
                field: k.clone(),
                old: Some(old),
                new,
            });
        }
    }
    let action = if changes.is_empty() {
        Action::NoOp
    } else if changes.iter().any(|c| d.force_new.contains(&c.field)) {
        Action::Replace
    } else {
        Action::Update
    };
    (action, changes)
}

/// Computes the plan: `desired` (in creation order) against `world`.
pub fn diff(project: &str, desired: &[Desired], world: &World, api_calls: u64) -> Plan {
    let mut pending = BTreeSet::new();
    let mut changes = Vec::new();
    for d in desired {
        let (action, fields) = compare(d, world, &pending);
        if matches!(action, Action::Create | Action::Replace) {
            pending.insert(d.addr.clone());
        }
        let observed = world.resources.get(&d.addr).cloned();
        changes.push(Change {
            addr: d.addr.clone(),
            kind: d.kind,
            action,
            order: d.order,
            id: observed.as_ref().map(|o| o.id.clone()),
            fields,
            desired: Some(d.clone()),
            observed,
        });
    }
    let wanted: BTreeSet<&Addr> = desired.iter().map(|d| &d.addr).collect();
    for o in world.resources.values() {
        if wanted.contains(&o.addr) {
            continue;
        }
        changes.push(Change {
            addr: o.addr.clone(),
            kind: o.kind,
            action: if o.adopted {
                Action::NoOp
            } else {
                Action::Delete
            },
            order: super::desired::order(o.kind, o.addr.scope),
            id: Some(o.id.clone()),
            fields: Vec::new(),
            desired: None,
            observed: Some(o.clone()),
        });
    }
    changes.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.addr.cmp(&b.addr)));
    Plan {
        format: FORMAT,
        project: project.to_owned(),
        fingerprint: world.fingerprint(),
        api_calls,
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::Val;

    fn desired(key: &str, fields: &[(&str, Val)], force_new: &[&str]) -> Desired {
        Desired {
            addr: Addr::new(Scope::Active, key),
            kind: Kind::Vpc,
            order: 1,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            force_new: force_new.iter().map(|s| (*s).to_owned()).collect(),
            create_only: Vec::new(),
            inputs: BTreeMap::new(),
        }
    }

    fn observed(key: &str, fields: &[(&str, &str)]) -> Observed {
        Observed {
            addr: Addr::new(Scope::Active, key),
            kind: Kind::Vpc,
            id: format!("id-{key}"),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            adopted: false,
        }
    }

    #[test]
    fn create_update_replace_delete_noop() {
        let mut world = World::default();
        for o in [
            observed("same", &[("a", "1")]),
            observed("upd", &[("a", "1"), ("b", "2")]),
            observed("rep", &[("a", "1")]),
            observed("gone", &[]),
        ] {
            world.resources.insert(o.addr.clone(), o);
        }
        let want = vec![
            desired("same", &[("a", Val::lit("1"))], &["a"]),
            desired("upd", &[("a", Val::lit("1")), ("b", Val::lit("3"))], &["a"]),
            desired("rep", &[("a", Val::lit("9"))], &["a"]),
            desired(
                "new",
                &[("x", Val::r(&Addr::new(Scope::Active, "rep"), "id"))],
                &[],
            ),
        ];
        let plan = diff("p", &want, &world, 0);
        let got: Vec<(String, Action)> = plan
            .changes
            .iter()
            .map(|c| (c.addr.key.clone(), c.action))
            .collect();
        assert_eq!(
            got,
            [
                ("new".to_owned(), Action::Create),
                ("rep".to_owned(), Action::Replace),
                ("same".to_owned(), Action::NoOp),
                ("upd".to_owned(), Action::Update),
                ("gone".to_owned(), Action::Delete),
            ]
        );
        let upd = plan.changes.iter().find(|c| c.addr.key == "upd").unwrap();
        assert_eq!(
            upd.fields,
            [FieldChange {
                field: "b".into(),
                old: Some("2".into()),
                new: Some("3".into())
            }]
        );
        // `new` refers to a resource being replaced: its id is known only after apply.
        let new = plan.changes.iter().find(|c| c.addr.key == "new").unwrap();
        assert_eq!(new.fields[0].new, None);
    }
}
