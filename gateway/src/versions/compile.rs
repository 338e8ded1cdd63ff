//! Compiling `version_data` and `definition` into a [`RouteVersions`] once, at definition load.

use super::*;

fn bad(field: String, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        field,
        message: message.into(),
    }
}

/// Names a definition may use for the single version of a `not_versioned` API when it has several.
const DEFAULT_NAMES: [&str; 3] = ["Default", "default", ""];

impl RouteVersions {
    /// Compile `version_data` and `definition`. Errors name the field at fault.
    pub fn compile(def: &ApiDefinition) -> Result<Self, DefinitionError> {
        let Some(vd) = &def.version_data else {
            return Ok(Self::default());
        };
        let no_definition = VersionDefinition::default();
        let vdef = def.definition.as_ref().unwrap_or(&no_definition);
        let lp = def.proxy.listen_path.as_str();
        if vd.not_versioned {
            let candidates: Vec<&String> = vd
                .versions
                .keys()
                .filter(|k| DEFAULT_NAMES.contains(&k.as_str()))
                .collect();
            let chosen = match (vd.versions.len(), candidates.as_slice()) {
                (0, _) => return Ok(Self::default()),
                (1, _) => vd.versions.keys().next(),
                (_, [one]) => Some(*one),
                (n, []) => {
                    return Err(bad(
                        "version_data.versions".into(),
                        format!("not_versioned with {n} versions and none named `Default`: Tyk answers 403 `No default API version for this non-versioned API found`"),
                    ))
                }
                (n, several) => {
                    return Err(bad(
                        "version_data.versions".into(),
                        format!("not_versioned with {n} versions, several of them default-named ({several:?}): Tyk answers 403 `Ambiguous default API version for this non-versioned API`"),
                    ))
                }
            };
            let mut lists = None;
            for (name, info) in &vd.versions {
                let l = compile_lists(def, name, info, lp, false)?;
                if chosen == Some(name) {
                    lists = l;
                }
            }
            return Ok(Self {
                mode: lists.map_or(Mode::Open, Mode::Single),
                strip: None,
            });
        }
        let location = match vdef.location.as_str() {
            "" => Location::Nowhere,
            "header" => Location::Header(vdef.key.to_ascii_lowercase().into()),
            "url-param" => Location::Param(vdef.key.as_str().into()),
            "url" => Location::Url,
            other => {
                return Err(bad(
                    "definition.location".into(),
                    format!("`{other}` is not one of `header`, `url-param`, `url`"),
                ))
            }
        };
        let strip_data = vdef.strip_versioning_data;
        let strip = match &location {
            Location::Header(h) if strip_data => {
                Some(Strip::Header(HeaderName::try_from(&**h).map_err(|e| {
                    bad("definition.key".into(), format!("`{h}`: {e}"))
                })?))
            }
            Location::Param(p) if strip_data => Some(Strip::Param(p.clone())),
            Location::Url if strip_data || vdef.strip_path => {
                let pattern = match vdef.url_versioning_pattern.as_str() {
                    "" => None,
                    p => Some(Regex::new(p).map_err(|e| {
                        bad(
                            "definition.url_versioning_pattern".into(),
                            format!("`{p}` is not a valid regular expression: {}", one_line(&e)),
                        )
                    })?),
                };
                Some(Strip::UrlSegment(pattern))
            }
            _ => None,
        };
        let strip_version = matches!(strip, Some(Strip::UrlSegment(_)));
        let mut versions = Vec::with_capacity(vd.versions.len());
        for (name, info) in &vd.versions {
            let expires = parse_expiry(&info.expires)
                .map_err(|m| bad(format!("version_data.versions.{name}.expires"), m))?;
            versions.push(VersionSpec {
                name: name.as_str().into(),
                expires,
                lists: compile_lists(def, name, info, lp, strip_version)?,
            });
        }
        Ok(Self {
            mode: Mode::Versioned(Box::new(Versioned {
                listen_path: lp.into(),
                location,
                default_name: Some(vd.default_version.as_str())
                    .filter(|d| !d.is_empty())
                    .map(Into::into),
                fallback: vdef.fallback_to_default,
                versions: versions.into(),
            })),
            strip,
        })
    }

    /// True when requests need no version or endpoint check at all.
    pub fn is_open(&self) -> bool {
        matches!(self.mode, Mode::Open)
    }
}

/// `expires` in Tyk's layout `2006-01-02 15:04` (UTC, as Go's `time.Parse`); empty or `-1` = never.
pub(super) fn parse_expiry(s: &str) -> Result<Option<i64>, String> {
    use time::macros::format_description;
    if s.is_empty() || s == "-1" {
        return Ok(None);
    }
    let layout = format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::PrimitiveDateTime::parse(s, layout)
        .map(|t| Some(t.assume_utc().unix_timestamp()))
        .map_err(|e| {
            format!(
                "`{s}` is not a date in Tyk's format `2006-01-02 15:04` (or empty / `-1` for never): {e}"
            )
        })
}

/// Extended-path sections this gateway does not implement (everything but the lists it enforces).
fn unsupported_middleware(info: &VersionInfo) -> Vec<&str> {
    let Some(ext) = &info.extended_paths else {
        return Vec::new();
    };
    ext.extra
        .iter()
        .filter(|(_, v)| match v {
            serde_json::Value::Null => false,
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
            _ => true,
        })
        .map(|(k, _)| k.as_str())
        .collect()
}

fn compile_lists(
    def: &ApiDefinition,
    name: &str,
    info: &VersionInfo,
    listen_path: &str,
    strip_version: bool,
) -> Result<Option<Box<Lists>>, DefinitionError> {
    let base = format!("version_data.versions.{name}");
    let mut internal = Vec::new();
    let mut entries = Vec::new();
    let mut white = 0;
    if info.use_extended_paths {
        let skipped = unsupported_middleware(info);
        if !skipped.is_empty() {
            tracing::warn!(api_id = %def.api_id, version = name, ignored = ?skipped,
                "extended_paths middleware not supported by this gateway; ignored");
        }
        if let Some(ext) = &info.extended_paths {
            let lists = [
                ("ignored", Kind::Ignored, &ext.ignored),
                ("black_list", Kind::Black, &ext.black_list),
                ("white_list", Kind::White, &ext.white_list),
            ];
            for (list, kind, metas) in lists {
                for (i, m) in metas.iter().enumerate() {
                    let field = format!("{base}.extended_paths.{list}[{i}]");
                    if let Some(e) = extended_entry(info, m, kind, &field)? {
                        white += usize::from(kind == Kind::White);
                        entries.push(e);
                    }
                }
            }
            for (i, m) in ext.internal.iter().enumerate() {
                if m.disabled {
                    continue;
                }
                let field = format!("{base}.extended_paths.internal[{i}]");
                internal.push(Entry {
                    matcher: matcher(&m.path, m.ignore_case || info.ignore_endpoint_case, &field)?,
                    kind: Kind::Black,
                    rule: MethodRule::Method(Some(m.method.as_str().into())),
                });
            }
        }
    } else if let Some(p) = &info.paths {
        let lists = [
            ("ignored", Kind::Ignored, &p.ignored),
            ("black_list", Kind::Black, &p.black_list),
            ("white_list", Kind::White, &p.white_list),
        ];
        for (list, kind, paths) in lists {
            for (i, path) in paths.iter().enumerate() {
                let field = format!("{base}.paths.{list}[{i}]");
                white += usize::from(kind == Kind::White);
                entries.push(Entry {
                    matcher: matcher(path, info.ignore_endpoint_case, &field)?,
                    kind,
                    rule: MethodRule::Method(None),
                });
            }
        }
    }
    if entries.is_empty() && internal.is_empty() {
        return Ok(None);
    }
    Ok(Some(Box::new(Lists {
        listen_path: listen_path.into(),
        strip_version,
        internal: internal.into(),
        entries: entries.into(),
        white_list: white > 0,
    })))
}

fn extended_entry(
    info: &VersionInfo,
    m: &EndpointMeta,
    kind: Kind,
    field: &str,
) -> Result<Option<Entry>, DefinitionError> {
    if m.disabled {
        return Ok(None);
    }
    let matcher = matcher(
        &m.path,
        m.ignore_case || info.ignore_endpoint_case,
        &format!("{field}.path"),
    )?;
    let rule = match &m.method_actions {
        None => MethodRule::Method(
            Some(m.method.as_str())
                .filter(|s| !s.is_empty())
                .map(Into::into),
        ),
        Some(actions) => {
            let mut out = Vec::with_capacity(actions.len());
            for (method, meta) in actions {
                let action = match meta.action.as_str() {
                    "no_action" => Action::Apply,
                    "reply" => {
                        let f = format!("{field}.method_actions.{method}");
                        Action::Reply(Arc::new(mock_reply(meta, &f)?))
                    }
                    other => {
                        tracing::warn!(field, method = %method, action = other,
                            "unknown method action; requests are refused, as Tyk does");
                        Action::Block
                    }
                };
                out.push((method.as_str().into(), action));
            }
            MethodRule::Actions(out.into())
        }
    };
    Ok(Some(Entry {
        matcher,
        kind,
        rule,
    }))
}

fn mock_reply(
    meta: &tyk_model::apidef::EndpointMethodMeta,
    field: &str,
) -> Result<MockReply, DefinitionError> {
    let status = match meta.code {
        0 => StatusCode::OK,
        c => StatusCode::from_u16(c)
            .map_err(|e| bad(format!("{field}.code"), format!("`{c}`: {e}")))?,
    };
    let mut headers = Vec::with_capacity(meta.headers.len());
    for (k, v) in &meta.headers {
        let name = HeaderName::try_from(k.as_str())
            .map_err(|e| bad(format!("{field}.headers"), format!("`{k}`: {e}")))?;
        let value = HeaderValue::try_from(v.as_str())
            .map_err(|e| bad(format!("{field}.headers.{k}"), format!("`{v}`: {e}")))?;
        headers.push((name, value));
    }
    Ok(MockReply {
        status,
        body: Bytes::from(meta.data.clone()),
        headers,
    })
}

/// Compile a Tyk endpoint pattern (`internal/httputil.PreparePathRegexp` without prefix/suffix matching).
fn matcher(path: &str, ignore_case: bool, field: &str) -> Result<Matcher, DefinitionError> {
    let mut pattern = String::with_capacity(path.len() + 8);
    let mut rest = path;
    // `{name}` (non-empty, no `}` inside) becomes one path segment.
    while let Some(open) = rest.find('{') {
        match rest[open + 1..].find('}') {
            Some(len) if len > 0 => {
                pattern.push_str(&rest[..open]);
                pattern.push_str("([^/]+)");
                rest = &rest[open + 1 + len + 1..];
            }
            _ => break,
        }
    }
    pattern.push_str(rest);
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
    ];
    if !ignore_case && !pattern.contains(META) {
        return Ok(Matcher::Contains(pattern.into()));
    }
    if ignore_case {
        pattern.insert_str(0, "(?i)");
    }
    Regex::new(&pattern).map(Matcher::Regex).map_err(|e| {
        bad(
            field.into(),
            format!("`{path}` is not a valid pattern: {}", one_line(&e)),
        )
    })
}

/// A regex error without the multi-line caret diagram (it ends up in one log line).
fn one_line(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().last().unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}
