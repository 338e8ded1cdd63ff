//! Plans for people: one table per region (and one for global resources) listing every
//! resource with its action and changed fields, then a summary line.

use tabled::builder::Builder;
use tabled::settings::Style;

use super::diff::{Action, Change, Plan};
use super::model::Scope;
use crate::config::Config;

fn value(v: &Option<String>) -> String {
    match v {
        None => "(known after apply)".to_owned(),
        Some(s) if s.is_empty() => "\"\"".to_owned(),
        Some(s) if s.len() > 60 => format!("{}…", &s[..s.floor_char_boundary_compat(57)]),
        Some(s) => s.clone(),
    }
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

fn detail(c: &Change) -> String {
    match c.action {
        Action::Update | Action::Replace => c
            .fields
            .iter()
            .map(|f| format!("{}: {} → {}", f.field, value(&f.old), value(&f.new)))
            .collect::<Vec<_>>()
            .join("\n"),
        Action::Create => String::new(),
        Action::Delete => "not in tyk-dr.toml".to_owned(),
        Action::NoOp if c.observed.as_ref().is_some_and(|o| o.adopted) => {
            "existing zone, not managed (never deleted)".to_owned()
        }
        Action::NoOp => String::new(),
    }
}

/// Title of a scope's table, with the AWS region.
pub fn title(cfg: &Config, scope: Scope) -> String {
    match scope.side() {
        Some(side) => format!("{} region ({})", side.key(), cfg.region(side).name),
        None => "global (Route 53, Global Datastore)".to_owned(),
    }
}

/// The plan as text tables plus a summary line.
pub fn text(cfg: &Config, plan: &Plan) -> String {
    let mut out = String::new();
    for scope in Scope::ALL {
        let changes: Vec<&Change> = plan.scope(scope).collect();
        if changes.is_empty() {
            continue;
        }
        let mut b = Builder::default();
        b.push_record(["ACTION", "RESOURCE", "KEY", "ID", "CHANGES"]);
        for c in changes {
            b.push_record([
                c.action.label().to_owned(),
                c.kind.label().to_owned(),
                c.addr.key.clone(),
                c.id.clone().unwrap_or_default(),
                detail(c),
            ]);
        }
        out.push_str(&title(cfg, scope));
        out.push('\n');
        out.push_str(&b.build().with(Style::sharp()).to_string());
        out.push_str("\n\n");
    }
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

/// `Plan: 3 to create, 1 to update, ...` or `No changes.`
pub fn summary(plan: &Plan) -> String {
    if !plan.has_changes() {
        return "No changes: the infrastructure matches tyk-dr.toml.".to_owned();
    }
    let counts = plan.counts();
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
        n("create"),
        n("update"),
        n("replace"),
        n("delete"),
        n("no-op")
    )
}
