//! `tyk-dr.toml`: parsing, defaults and validation.
//!
//! [`load`] turns a file into a checked [`Config`] or a list of
//! [`Diagnostic`]s, each naming the file, line, column and field.

pub mod model;

pub use model::*;
