//! `tyk-dr.toml`: parsing, defaults and validation.
//!
//! [`parse`] turns a file's text into a checked [`Config`] or an [`Invalid`]
//! listing every problem at once, each naming the file, line, column and field:
//! syntax errors first, then every unknown key and every wrongly typed value
//! (decoding resumes after each), then the semantic rules of [`validate`].

pub mod diagnostic;
pub mod model;
pub mod path;
mod regions;
pub mod schema;
pub mod source;
pub mod validate;

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

pub use diagnostic::{Diagnostic, Severity};
pub use model::*;
pub use path::FieldPath;
pub use source::Source;

/// A configuration that passed every check, with the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The checked topology.
    pub config: Config,
    /// Findings that do not stop a command.
    pub warnings: Vec<Diagnostic>,
    /// The file it came from, for rendering the warnings.
    pub source: Source,
}

/// A configuration file that cannot be used, with every problem found in it.
#[derive(thiserror::Error)]
#[error("{} has {} error(s)", file.name, diagnostics.iter().filter(|d| d.is_error()).count())]
pub struct Invalid {
    /// The file, for rendering the diagnostics against it.
    pub file: Source,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Debug for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalid")
            .field("file", &self.file.name)
            .field("diagnostics", &self.diagnostics)
            .finish()
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid topology.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: name.clone(),
        source,
    })?;
    Ok(parse(name, text)?)
}

/// Checks a file's text; `name` is what messages call the file.
pub fn parse(name: impl Into<String>, text: impl Into<String>) -> Result<Loaded, Invalid> {
    let source = Source::new(name, text);
    let Decoded {
        config,
        mut diagnostics,
        removed,
    } = decode(&source);
    if let Some(config) = &config {
        // Values removed for type errors were replaced by defaults: findings about them would mislead.
        let involves_removed = |d: &Diagnostic| {
            let related = d.related.as_ref().map(|(f, _)| f);
            removed
                .iter()
                .any(|r| d.field.starts_with(r) || related.is_some_and(|f| f.starts_with(r)))
        };
        diagnostics.extend(
            validate::validate(config)
                .into_iter()
                .filter(|d| !involves_removed(d)),
        );
    }
    for d in &mut diagnostics {
        if d.location.is_none() {
            d.location = source.locate_value(&d.field);
        }
    }
    diagnostics.sort_by_key(|d| d.location.as_ref().map_or(0, |l| l.span.start));
    match config {
        Some(config) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            config,
            warnings: diagnostics,
            source,
        }),
        _ => Err(Invalid {
            file: source,
            diagnostics,
        }),
    }
}

/// The outcome of decoding: a config (with defaults in place of removed values), findings so far,
/// and the fields removed because their values had the wrong type.
struct Decoded {
    config: Option<Config>,
    diagnostics: Vec<Diagnostic>,
    removed: Vec<FieldPath>,
}

/// Syntax, unknown keys and types. Decoding is retried after removing each wrongly typed value,
/// so one run reports all of them.
fn decode(source: &Source) -> Decoded {
    let failed = |diagnostics| Decoded {
        config: None,
        diagnostics,
        removed: Vec::new(),
    };
    if source.text.trim().is_empty() {
        let d = Diagnostic::error(
            "empty-file",
            FieldPath::parse("project"),
            "the file is empty",
        )
        .expected("at least `project = \"<name>\"`")
        .help("start from examples/minimal.toml (three lines) or examples/full.toml (every field)");
        return failed(vec![d]);
    }
    let mut value = match source.text.parse::<toml::Table>() {
        Ok(table) => toml::Value::Table(table),
        Err(e) => return failed(vec![syntax_error(source, &e)]),
    };
    let mut diagnostics = Vec::new();
    let mut unknown = BTreeSet::new();
    let mut removed = Vec::new();
    for path in schema::misshapen_tables(&value) {
        diagnostics.push(
            Diagnostic::error("type", path.clone(), "this must be a table")
                .expected(format!("a `[{path}]` section"))
                .help(format!(
                    "write `[{path}]` on its own line and the fields below it"
                )),
        );
        remove(&mut value, &path);
        removed.push(path);
    }
    // Each pass removes one bad value; the bound only guards against a decoder that keeps failing.
    for _ in 0..64 {
        let mut track = serde_path_to_error::Track::new();
        let result = {
            let de = serde_path_to_error::Deserializer::new(value.clone(), &mut track);
            Config::deserialize(serde_ignored::Deserializer::new(
                de,
                &mut |p: serde_ignored::Path| {
                    unknown.insert(FieldPath::from(&p));
                },
            ))
        };
        let error = match result {
            Ok(config) => {
                diagnostics.extend(unknown_keys(source, &unknown));
                return Decoded {
                    config: Some(config),
                    diagnostics,
                    removed,
                };
            }
            Err(e) => e,
        };
        let at = FieldPath::from(&track.path());
        let message = error.message().trim().to_owned();
        if let Some(field) = quoted_after(&message, "missing field ") {
            let field_path = at.key(&field);
            if !removed.contains(&field_path) {
                diagnostics.push(missing_field(&field_path));
            }
            break;
        }
        diagnostics.push(type_error(&at, &message));
        if at.0.is_empty() || !remove(&mut value, &at) {
            break;
        }
        removed.push(at);
    }
    diagnostics.extend(unknown_keys(source, &unknown));
    Decoded {
        config: None,
        diagnostics,
        removed,
    }
}

fn syntax_error(source: &Source, e: &toml::de::Error) -> Diagnostic {
    let mut d = Diagnostic::error("syntax", FieldPath::root(), e.message().trim().to_owned())
        .expected("valid TOML")
        .help("check quoting and brackets on this line; strings need double quotes, tables are written `[name]`");
    if let Some(span) = e.span() {
        d.location = Some(source.location(span, true));
    }
    d
}

fn missing_field(path: &FieldPath) -> Diagnostic {
    let example = schema::example_line(path)
        .unwrap_or_else(|| format!("{} = ...", path.last_key().unwrap_or("?")));
    Diagnostic::error(
        "missing-field",
        path.clone(),
        "this required field is missing",
    )
    .expected(format!("a value for `{path}`"))
    .help(format!(
        "add `{example}` to the `{}` table",
        path.parent().unwrap_or_default()
    ))
}

fn type_error(path: &FieldPath, message: &str) -> Diagnostic {
    let mut help = match schema::example_line(path) {
        Some(example) => format!("write it like `{example}`"),
        None => "see examples/full.toml for the expected form".to_owned(),
    };
    if let Some(bad) = quoted_after(message, "unknown variant ") {
        let choices = backticked(message.split_once("expected").map_or("", |(_, rest)| rest));
        if let Some(s) = schema::suggest(&bad, &choices) {
            help = format!("did you mean `\"{s}\"`?");
        }
    }
    let (what, expected) = match message.split_once(", expected ") {
        Some((what, expected)) => (what.to_owned(), plain_type(expected)),
        None => (message.to_owned(), String::new()),
    };
    Diagnostic::error("type", path.clone(), what)
        .expected(expected)
        .help(help)
}

fn unknown_keys(source: &Source, unknown: &BTreeSet<FieldPath>) -> Vec<Diagnostic> {
    unknown
        .iter()
        .map(|path| {
            let key = path.last_key().unwrap_or("?").to_owned();
            let parent = path.parent().unwrap_or_default();
            let known = schema::known_keys(&parent);
            let help = match schema::suggest(&key, &known) {
                Some(s) => format!("did you mean `{s}`?"),
                None if known.is_empty() => "remove it".to_owned(),
                None => format!("remove it; `{parent}` accepts: {}", known.join(", ")),
            };
            let mut d =
                Diagnostic::error("unknown-key", path.clone(), format!("unknown key `{key}`"))
                    .expected(format!("one of the keys `{parent}` accepts"))
                    .help(help);
            d.location = source.locate_key(path);
            d
        })
        .collect()
}

/// Rust type names in serde messages, said in words.
fn plain_type(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i32" | "i64" => "a whole number".into(),
        "a boolean" => "true or false".into(),
        other => other.into(),
    }
}

/// Removes the value at `path` from a TOML tree, so decoding can go on past a bad value.
fn remove(value: &mut toml::Value, path: &FieldPath) -> bool {
    let Some((last, parents)) = path.0.split_last() else {
        return false;
    };
    let mut node = value;
    for seg in parents {
        node = match (node, seg) {
            (toml::Value::Table(t), path::Segment::Key(k)) => match t.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (toml::Value::Array(a), path::Segment::Index(i)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (node, last) {
        (toml::Value::Table(t), path::Segment::Key(k)) => t.remove(k).is_some(),
        (toml::Value::Array(a), path::Segment::Index(i)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// The first back-quoted word after `prefix` in a serde message (`missing field `x``).
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.split_once(prefix)?.1;
    backticked(rest).into_iter().next()
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}
