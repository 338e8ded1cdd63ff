//! CloudFormation generation.
