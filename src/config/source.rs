//! The text of `tyk-dr.toml` with its syntax tree, so any field path can be
//! turned back into a byte range, a line and a column for diagnostics.

use std::ops::Range;

use toml_edit::{Array, ArrayOfTables, Document, InlineTable, Item, Table, Value};

use super::path::{FieldPath, Segment};

/// A configuration file's name, text and span-carrying syntax tree.
#[derive(Debug)]
pub struct Source {
    /// The name shown in messages (the path as the user gave it).
    pub name: String,
    /// The file's text.
    pub text: String,
    doc: Option<Box<Document<String>>>,
}

/// Where a field sits in the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Byte range of the value (or of the key, for unknown keys).
    pub span: Range<usize>,
    /// 1-based line of the span's start.
    pub line: usize,
    /// 1-based column (in characters) of the span's start.
    pub column: usize,
    /// False when the field is not in the file and the span points at its closest written ancestor.
    pub exact: bool,
}

/// A node of the syntax tree, whatever TOML spelling produced it.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Inline(&'a InlineTable),
    Array(&'a Array),
    Tables(&'a ArrayOfTables),
    Scalar,
}

/// A child node with the spans of its key and of its value.
type Step<'a> = (Node<'a>, Option<Range<usize>>, Option<Range<usize>>);

impl<'a> Node<'a> {
    fn of_item(item: &'a Item) -> Self {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::of_value(v),
            Item::None => Node::Scalar,
        }
    }

    fn of_value(value: &'a Value) -> Self {
        match value {
            Value::InlineTable(t) => Node::Inline(t),
            Value::Array(a) => Node::Array(a),
            _ => Node::Scalar,
        }
    }

    /// Steps into a child: returns the child node, the key's span and the value's span.
    fn child(self, seg: &Segment) -> Option<Step<'a>> {
        match (self, seg) {
            (Node::Table(t), Segment::Key(k)) => {
                let item = t.get(k)?;
                let key_span = t.key(k).and_then(|k| k.span());
                Some((Node::of_item(item), key_span, item.span()))
            }
            (Node::Inline(t), Segment::Key(k)) => {
                let value = t.get(k)?;
                let key_span = t.key(k).and_then(|k| k.span());
                Some((Node::of_value(value), key_span, value.span()))
            }
            (Node::Array(a), Segment::Index(i)) => {
                let value = a.get(*i)?;
                Some((Node::of_value(value), None, value.span()))
            }
            (Node::Tables(a), Segment::Index(i)) => {
                let table = a.get(*i)?;
                Some((Node::Table(table), None, table.span()))
            }
            _ => None,
        }
    }
}

impl Source {
    /// Wraps a file's text; the syntax tree is parsed here and may be absent when the TOML is malformed.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let doc = Document::parse(text.clone()).ok().map(Box::new);
        Self {
            name: name.into(),
            text,
            doc,
        }
    }

    /// Where the value at `path` is written, or its closest written ancestor when it is not.
    pub fn locate_value(&self, path: &FieldPath) -> Option<Location> {
        self.locate(path, false)
    }

    /// Where the key at the end of `path` is written (for unknown keys).
    pub fn locate_key(&self, path: &FieldPath) -> Option<Location> {
        self.locate(path, true)
    }

    fn locate(&self, path: &FieldPath, prefer_key: bool) -> Option<Location> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best: Option<Range<usize>> = None;
        let last = path.0.len().saturating_sub(1);
        for (i, seg) in path.0.iter().enumerate() {
            let Some((child, key_span, value_span)) = node.child(seg) else {
                return best.map(|span| self.location(span, false));
            };
            let span = if prefer_key && i == last {
                key_span.or(value_span)
            } else {
                // Implicit tables (`[a.b]` without `[a]`) carry no span of their own: keep the key's.
                value_span.or(key_span)
            };
            if span.is_some() {
                best = span;
            }
            node = child;
        }
        best.map(|span| self.location(span, !path.0.is_empty()))
    }

    /// Turns a byte range into a [`Location`] with 1-based line and column.
    pub fn location(&self, span: Range<usize>, exact: bool) -> Location {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..start].chars().count() + 1;
        Location {
            span,
            line,
            column,
            exact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "project = \"x\"\n\n[regions.active]\nname = \"us-east-1\"\nazs = [\"a\", \"b\"]\n\n[dns]\nttl = { a = 1 }\n";

    #[test]
    fn locates_values_keys_and_array_items() {
        let src = Source::new("t.toml", TEXT);
        let loc = src
            .locate_value(&FieldPath::parse("regions.active.name"))
            .unwrap();
        assert_eq!((loc.line, loc.column, loc.exact), (4, 8, true));
        let loc = src
            .locate_value(&FieldPath::parse("regions.active.azs").index(1))
            .unwrap();
        assert_eq!((loc.line, loc.column), (5, 13));
        let loc = src.locate_key(&FieldPath::parse("dns.ttl.a")).unwrap();
        assert_eq!((loc.line, loc.column), (8, 9));
    }

    #[test]
    fn missing_fields_fall_back_to_the_closest_ancestor() {
        let src = Source::new("t.toml", TEXT);
        let loc = src
            .locate_value(&FieldPath::parse("regions.active.vpc_cidr"))
            .unwrap();
        assert!(!loc.exact);
        assert_eq!(loc.line, 3);
        assert!(src.locate_value(&FieldPath::parse("mongo.votes")).is_none());
    }
}
