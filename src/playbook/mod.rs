//! Playbooks: the YAML runbooks that `failover` and `failback` execute.
//!
//! A playbook is compiled before anything runs ([`model`]), its steps observe
//! before they act ([`steps`]) and hand what they learn to later steps as typed
//! [`facts`], every step is journaled ([`journal`]) so a run can be resumed, the
//! epoch in Route 53 makes concurrent runs exclusive ([`epoch`]), and every run
//! ends with a [`report`] built from its journaled events.

pub mod context;
pub mod engine;
pub mod epoch;
pub mod facts;
pub mod journal;
pub mod model;
pub mod report;
pub mod runner;
pub mod steps;

pub use model::{compile, load, Playbook};

/// The failover playbook shipped with tyk-dr (`playbooks/failover.yaml`).
pub const FAILOVER: &str = include_str!("../../playbooks/failover.yaml");
/// The failback playbook shipped with tyk-dr (`playbooks/failback.yaml`).
pub const FAILBACK: &str = include_str!("../../playbooks/failback.yaml");
