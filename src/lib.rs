//! tyk-dr: active-passive disaster recovery for Tyk-style API gateways on AWS.

pub mod cfn;
pub mod config;
