//! `tyk-dr cfn`: write the CloudFormation templates for the topology, or check them.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::CommandContext;
use crate::cfn;
use crate::cli::{CfnArgs, OutputFormat};
use crate::error::{exit, Error};

/// What happened to one template file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum FileState {
    Created,
    Updated,
    Unchanged,
    /// `--check` only: the file on disk differs or is missing.
    Differs,
}

/// Generates every template and writes (or, with `--check`, compares) them under `--out`.
pub fn run(ctx: &CommandContext, args: &CfnArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let templates = cfn::generate(&loaded.config);
    if !args.check {
        fs::create_dir_all(&args.out).map_err(|e| write_error(&args.out, e))?;
    }
    let mut rows = Vec::new();
    for t in &templates {
        let path = args.out.join(&t.file_name);
        let body = cfn::render(t);
        let existing = fs::read_to_string(&path).ok();
        let state = match (&existing, args.check) {
            (Some(old), _) if *old == body => FileState::Unchanged,
            (_, true) => FileState::Differs,
            (old, false) => {
                write_atomically(&path, &body)?;
                if old.is_some() {
                    FileState::Updated
                } else {
                    FileState::Created
                }
            }
        };
        let resources = t.body["Resources"].as_object().map_or(0, |r| r.len());
        rows.push((path, state, resources, body.len()));
    }
    let differs = rows.iter().any(|r| r.1 == FileState::Differs);
    match ctx.output {
        OutputFormat::Json => {
            let files: Vec<_> = rows
                .iter()
                .map(|(p, s, n, b)| json!({"path": p, "state": s, "resources": n, "bytes": b}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"templates": files})).expect("JSON")
            );
        }
        OutputFormat::Table => {
            println!("{:<10} {:>9} {:>8}  PATH", "STATE", "RESOURCES", "BYTES");
            for (p, s, n, b) in &rows {
                let state = serde_json::to_value(s).expect("JSON");
                println!(
                    "{:<10} {n:>9} {b:>8}  {}",
                    state.as_str().unwrap_or(""),
                    p.display()
                );
            }
            if differs {
                eprintln!(
                    "templates in {} are out of date: run `tyk-dr cfn --out {}`",
                    args.out.display(),
                    args.out.display()
                );
            }
        }
    }
    Ok(if differs { exit::DIFFERENCES } else { exit::OK })
}

/// Writes through a temporary file and a rename, so a crash never leaves half a template.
fn write_atomically(path: &Path, body: &str) -> Result<(), Error> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    fs::write(&tmp, body).map_err(|e| write_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
