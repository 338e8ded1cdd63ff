//! Problems found in `tyk-dr.toml`, with everything a person needs to fix them:
//! the file, line and column, the field, what was expected and a suggested fix.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use serde::Serialize;

use super::path::FieldPath;
use super::source::{Location, Source};

/// How bad a finding is: errors stop every command, warnings are shown and let it run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file cannot be used as written.
    Error,
    /// The file works but probably not as intended.
    Warning,
}

/// One finding about the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable identifier of the rule (`unknown-key`, `cidr-overlap`, ...), for scripts and docs.
    pub code: &'static str,
    /// The field the finding is about.
    #[serde(serialize_with = "as_display")]
    pub field: FieldPath,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What a valid value looks like.
    pub expected: String,
    /// How to fix it.
    pub help: String,
    /// Where the field is written; `None` when it is not in the file (a default is at fault).
    pub location: Option<Location>,
    /// A second field that takes part in the problem (the other CIDR of an overlap, ...), with a note.
    #[serde(skip)]
    pub related: Option<(FieldPath, String)>,
}

fn as_display<S: serde::Serializer>(v: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Diagnostic {
    /// An error about `field`.
    pub fn error(code: &'static str, field: FieldPath, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            field,
            message: message.into(),
            expected: String::new(),
            help: String::new(),
            location: None,
            related: None,
        }
    }

    /// A warning about `field`.
    pub fn warning(code: &'static str, field: FieldPath, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, field, message)
        }
    }

    /// Sets what a valid value looks like.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = expected.into();
        self
    }

    /// Sets the suggested fix.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    /// Points at a second field involved in the problem.
    pub fn related(mut self, field: FieldPath, note: impl Into<String>) -> Self {
        self.related = Some((field, note.into()));
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The one-line form: `file:line:col: error[code]: field: message (expected ...; help: ...)`.
    pub fn one_line(&self, file: &str) -> String {
        let pos = match &self.location {
            Some(l) => format!("{file}:{}:{}", l.line, l.column),
            None => file.to_owned(),
        };
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!(
            "{pos}: {severity}[{}]: `{}`: {}",
            self.code, self.field, self.message
        );
        if !self.expected.is_empty() {
            out.push_str(&format!("; expected {}", self.expected));
        }
        if !self.help.is_empty() {
            out.push_str(&format!("; help: {}", self.help));
        }
        out
    }
}

/// Renders diagnostics the way compilers do: a header, the source line with a caret, help notes.
pub fn render(source: &Source, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    let file = SimpleFile::new(source.name.as_str(), source.text.as_str());
    let config = term::Config::default();
    for d in diagnostics {
        let mut report = match d.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        }
        .with_code(d.code)
        .with_message(format!("`{}`: {}", d.field, d.message));
        let mut labels = Vec::new();
        if let Some(loc) = &d.location {
            let text = if d.expected.is_empty() {
                String::new()
            } else {
                format!("expected {}", d.expected)
            };
            let text = if loc.exact {
                text
            } else {
                format!("`{}` is not set here, its default applies; {text}", d.field)
            };
            labels.push(Label::primary((), loc.span.clone()).with_message(text));
        }
        if let Some(loc) = d.related.as_ref().and_then(|(f, _)| source.locate_value(f)) {
            let note = d
                .related
                .as_ref()
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            labels.push(Label::secondary((), loc.span).with_message(note));
        }
        let mut notes = Vec::new();
        if d.location.is_none() {
            notes.push(format!(
                "`{}` is not set in {}: its default value applies{}",
                d.field,
                source.name,
                if d.expected.is_empty() {
                    String::new()
                } else {
                    format!("; expected {}", d.expected)
                }
            ));
        }
        if !d.help.is_empty() {
            notes.push(format!("help: {}", d.help));
        }
        report = report.with_labels(labels).with_notes(notes);
        if term::emit_to_string(&mut out, &config, &file, &report).is_err() {
            // Only possible if a span lies outside the file: fall back to the one-line form.
            out.push_str(&d.one_line(&source.name));
            out.push('\n');
        }
    }
    out
}
