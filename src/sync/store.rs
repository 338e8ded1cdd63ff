//! Where API definitions live: an `app_path` directory or a gateway's management API (`/tyk/apis`).
//! Both are read into `api_id → JSON` and written one definition at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tyk_model::ApiDefinition;

use crate::secrets::ManagementSecret;

/// Attempts for one write or delete that failed in transit (a rejection is never retried).
const ATTEMPTS: u32 = 3;

/// One side's definitions.
#[derive(Debug, Clone)]
pub enum Store {
    /// `*.json` files in a directory.
    Dir(PathBuf),
    /// A gateway's `/tyk/apis`.
    Gateway {
        /// HTTP client with timeouts.
        client: reqwest::Client,
        /// Base URL, e.g. `http://127.0.2.21:8080`.
        base: String,
        /// `X-Tyk-Authorization` value; never printed.
        secret: String,
    },
}

/// What a store holds.
#[derive(Debug, Default)]
pub struct Listing {
    /// Valid definitions by `api_id`.
    pub defs: BTreeMap<String, serde_json::Value>,
    /// The file each definition came from (directories only).
    pub files: BTreeMap<String, PathBuf>,
    /// Files that are not valid definitions: `(file, problem)`. Never copied, never taken as deletions.
    pub invalid: Vec<(String, String)>,
    /// `api_id`s of invalid definitions whose id could be read: their passive copies are kept.
    pub invalid_ids: Vec<String>,
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The target refused the definition as invalid (reported; not retried).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Transport or I/O failure after every retry.
    #[error("failed: {0}")]
    Failed(String),
}

impl Store {
    /// How the store is named in reports.
    pub fn name(&self) -> String {
        match self {
            Store::Dir(p) => format!("files:{}", p.display()),
            Store::Gateway { base, .. } => format!("api:{base}"),
        }
    }

    /// Reads every definition; an error means nothing may be inferred (in particular no deletion).
    pub async fn list(&self) -> Result<Listing, String> {
        match self {
            Store::Dir(dir) => list_dir(dir),
            Store::Gateway {
                client,
                base,
                secret,
            } => {
                let resp = client
                    .get(format!("{base}/tyk/apis"))
                    .management_secret(secret)
                    .send()
                    .await
                    .map_err(|e| format!("GET {base}/tyk/apis: {e}"))?;
                let status = resp.status();
                if !status.is_success() {
                    return Err(format!("GET {base}/tyk/apis: HTTP {status}"));
                }
                let defs: Vec<serde_json::Value> = resp
                    .json()
                    .await
                    .map_err(|e| format!("GET {base}/tyk/apis: {e}"))?;
                let mut out = Listing::default();
                for d in defs {
                    if let Some(id) = d.get("api_id").and_then(|v| v.as_str()) {
                        out.defs.insert(id.to_owned(), d);
                    }
                }
                // A definition the gateway rejected is missing from /tyk/apis: without the list of
                // rejections a broken file would look deleted. Unknown → every deletion held back.
                match rejected(client, base, secret).await {
                    Ok(list) => {
                        for (file, id, reason) in list {
                            out.invalid_ids.extend(id);
                            out.invalid.push((file, reason));
                        }
                    }
                    Err(e) => out.invalid.push((
                        format!("{base}/tyk/dr/apis/rejected"),
                        format!("{e}: cannot tell broken definitions from deleted ones; deletions held back"),
                    )),
                }
                Ok(out)
            }
        }
    }

    /// Creates or replaces one definition (`existing`: its current file, for directories).
    pub async fn put(
        &self,
        id: &str,
        def: &serde_json::Value,
        existing: Option<&Path>,
    ) -> Result<(), WriteError> {
        let body = serde_json::to_vec_pretty(def).expect("JSON values serialise");
        match self {
            Store::Dir(dir) => {
                ApiDefinition::from_json(&body).map_err(|e| WriteError::Rejected(e.to_string()))?;
                let path = existing
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.join(format!("{id}.json")));
                let (path, body) = (&path, &body[..]);
                retry(|| async move {
                    write_atomic(path, body).map_err(|e| format!("{}: {e}", path.display()))
                })
                .await
            }
            Store::Gateway {
                client,
                base,
                secret,
            } => {
                let body = &body;
                retry(|| async move {
                    let url = format!("{base}/tyk/apis/{id}");
                    let put = |req: reqwest::RequestBuilder| {
                        req.management_secret(secret)
                            .header("Content-Type", "application/json")
                            .body(body.clone())
                            .send()
                    };
                    let r = put(client.put(&url)).await.map_err(|e| e.to_string())?;
                    let r = if r.status() == reqwest::StatusCode::NOT_FOUND {
                        put(client.post(format!("{base}/tyk/apis")))
                            .await
                            .map_err(|e| e.to_string())?
                    } else {
                        r
                    };
                    answer(r).await
                })
                .await
            }
        }
    }

    /// Deletes one definition; already gone counts as done.
    pub async fn delete(&self, id: &str, existing: Option<&Path>) -> Result<(), WriteError> {
        match self {
            Store::Dir(dir) => {
                let path = existing
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.join(format!("{id}.json")));
                let path = &path;
                retry(|| async move {
                    match std::fs::remove_file(path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            Err(format!("{}: {e}", path.display()))
                        }
                        _ => Ok(()),
                    }
                })
                .await
            }
            Store::Gateway {
                client,
                base,
                secret,
            } => {
                retry(|| async move {
                    let r = client
                        .delete(format!("{base}/tyk/apis/{id}"))
                        .management_secret(secret)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if r.status() == reqwest::StatusCode::NOT_FOUND {
                        return Ok(Ok(()));
                    }
                    answer(r).await
                })
                .await
            }
        }
    }
}

/// Ok for 2xx; a 4xx is a rejection (not retried), anything else a failure (retried).
async fn answer(r: reqwest::Response) -> Result<Result<(), String>, String> {
    let status = r.status();
    if status.is_success() {
        return Ok(Ok(()));
    }
    let text = r.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or(text);
    if status.is_client_error() {
        Ok(Err(format!("HTTP {status}: {msg}")))
    } else {
        Err(format!("HTTP {status}: {msg}"))
    }
}

/// Runs `op` up to [`ATTEMPTS`] times with a short backoff.
/// `op` returns `Err` for retryable failures and `Ok(Err)` for rejections.
async fn retry<F, Fut, R>(op: F) -> Result<(), WriteError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<R, String>>,
    R: IntoOutcome,
{
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match op().await {
            Ok(r) => return r.outcome(),
            Err(e) => {
                tracing::debug!(attempt, error = %e, "retrying");
                last = e;
            }
        }
    }
    Err(WriteError::Failed(last))
}

/// Lets [`retry`] take both plain and "maybe rejected" results.
trait IntoOutcome {
    fn outcome(self) -> Result<(), WriteError>;
}

impl IntoOutcome for () {
    fn outcome(self) -> Result<(), WriteError> {
        Ok(())
    }
}

impl IntoOutcome for Result<(), String> {
    fn outcome(self) -> Result<(), WriteError> {
        self.map_err(WriteError::Rejected)
    }
}

/// Writes through a temporary file and a rename, so a gateway reloading at the same time never reads half a file.
pub fn write_atomic(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tyk-dr-tmp");
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

/// The definition files a gateway failed to load: `(file, api_id, reason)`.
async fn rejected(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
) -> Result<Vec<(String, Option<String>, String)>, String> {
    let url = format!("{base}/tyk/dr/apis/rejected");
    let resp = client
        .get(&url)
        .management_secret(secret)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status()));
    }
    let body: serde_json::Value = resp.json().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok(body["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["file"].as_str().unwrap_or("?").to_owned(),
                r["api_id"].as_str().map(str::to_owned),
                r["reason"].as_str().unwrap_or("rejected").to_owned(),
            )
        })
        .collect())
}

fn list_dir(dir: &Path) -> Result<Listing, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Listing::default();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.display().to_string();
        let value: serde_json::Value = match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(e) => {
                out.invalid.push((name, format!("invalid JSON: {e}")));
                continue;
            }
        };
        let id = value
            .get("api_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        match (ApiDefinition::from_json(&raw), id) {
            (Ok(def), _) => {
                if let Some(first) = out.files.get(&def.api_id) {
                    out.invalid.push((
                        name,
                        format!(
                            "duplicate api_id `{}` (also in {})",
                            def.api_id,
                            first.display()
                        ),
                    ));
                    continue;
                }
                out.files.insert(def.api_id.clone(), path);
                out.defs.insert(def.api_id, value);
            }
            (Err(e), id) => {
                out.invalid.push((name, e.to_string()));
                out.invalid_ids.extend(id);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn directory_listing_reports_invalid_files_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("a.json"),
            r#"{"api_id":"a","proxy":{"listen_path":"/a/","target_url":"http://x/"}}"#,
        )
        .unwrap();
        std::fs::write(
            d.join("b.json"),
            r#"{"api_id":"b","proxy":{"listen_path":"nope","target_url":"http://x/"}}"#,
        )
        .unwrap();
        std::fs::write(d.join("c.json"), "{half").unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let store = Store::Dir(d.to_path_buf());
        let l = store.list().await.unwrap();
        assert_eq!(l.defs.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(l.invalid.len(), 2);
        assert_eq!(l.invalid_ids, vec!["b"]);
        let bad = serde_json::json!({"api_id": "z", "proxy": {"listen_path": "/z/", "target_url": "ftp://x"}});
        assert!(matches!(
            store.put("z", &bad, None).await,
            Err(WriteError::Rejected(_))
        ));
        let good = serde_json::json!({"api_id": "n", "proxy": {"listen_path": "/n/", "target_url": "http://x/"}});
        store.put("n", &good, None).await.unwrap();
        assert!(d.join("n.json").exists());
        store.delete("n", None).await.unwrap();
        store.delete("n", None).await.unwrap();
        assert!(!d.join("n.json").exists());
        assert!(Store::Dir(d.join("missing")).list().await.is_err());
    }
}
