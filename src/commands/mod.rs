//! One module per subcommand; each returns an exit status or an [`crate::error::Error`].

pub mod apply;
pub mod cfn;
pub mod completions;
pub mod destroy;
pub mod drill;
pub mod failover;
pub mod iam_policy;
pub mod monitor;
pub mod plan;
pub mod status;
pub mod sync;
pub mod validate;

use crate::cli::OutputFormat;
use crate::config::{self, diagnostic, Diagnostic, Loaded};
use crate::error::Error;

/// What every command receives besides its own arguments.
pub struct CommandContext {
    /// The `--config` path.
    pub config_path: std::path::PathBuf,
    /// The `--output` format.
    pub output: OutputFormat,
}

impl CommandContext {
    /// Loads and checks the topology; on errors prints them (in the chosen format) and fails.
    pub fn load_config(&self) -> Result<Loaded, Error> {
        match config::load(&self.config_path) {
            Ok(loaded) => {
                print_warnings(&loaded);
                Ok(loaded)
            }
            Err(config::LoadError::Invalid(invalid)) => {
                if self.output == OutputFormat::Table {
                    eprint!(
                        "{}",
                        diagnostic::render(&invalid.file, &invalid.diagnostics)
                    );
                }
                Err(Error::ConfigInvalid(Box::new(invalid)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn print_warnings(loaded: &Loaded) {
    if !loaded.warnings.is_empty() {
        eprint!("{}", diagnostic::render(&loaded.source, &loaded.warnings));
    }
}

/// Diagnostics as JSON objects with file, line and column, for `--output json`.
pub fn diagnostics_json(file: &str, diagnostics: &[Diagnostic]) -> serde_json::Value {
    diagnostics
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).expect("diagnostics serialise");
            v["file"] = file.into();
            v["line"] = d.location.as_ref().map(|l| l.line).into();
            v["column"] = d.location.as_ref().map(|l| l.column).into();
            if let Some(obj) = v.as_object_mut() {
                obj.remove("location");
            }
            v
        })
        .collect()
}
