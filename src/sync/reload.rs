//! The signed group reload in the passive region: one passive gateway's `/tyk/reload/group` reloads
//! itself and publishes a `GroupReload` cluster notification signed with its node secret, so tyk-dr never
//! needs the node secret.

use reqwest::Client;

use crate::secrets::ManagementSecret;

/// Asks passive gateways, in order, until one publishes the reload.
#[derive(Clone)]
pub struct Reloader {
    client: Client,
    bases: Vec<String>,
    secret: String,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("bases", &self.bases)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for these passive gateway base URLs.
    pub fn new(client: Client, bases: &[String], secret: &str) -> Self {
        Self {
            client,
            bases: bases
                .iter()
                .map(|b| b.trim_end_matches('/').to_owned())
                .collect(),
            secret: secret.to_owned(),
        }
    }

    /// Whether any passive gateway is known.
    pub fn has_gateways(&self) -> bool {
        !self.bases.is_empty()
    }

    /// Also reloads every other known passive gateway directly: a gateway whose pub/sub
    /// subscription was being re-established would miss the group message and keep serving the
    /// old definitions. Returns a note for the report (failures included, never fatal: the group
    /// message went out).
    async fn direct_reloads(&self, publisher: &str) -> String {
        let mut missed = Vec::new();
        let others: Vec<&String> = self
            .bases
            .iter()
            .filter(|b| b.as_str() != publisher)
            .collect();
        for base in &others {
            let url = format!("{base}/tyk/reload");
            match self
                .client
                .post(&url)
                .management_secret(&self.secret)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => missed.push(format!("{url}: HTTP {}", r.status())),
                Err(e) => missed.push(format!("{url}: {e}")),
            }
        }
        match (others.len(), missed.is_empty()) {
            (0, _) => String::new(),
            (n, true) => format!("; {n} other gateway(s) reloaded directly"),
            (_, false) => format!("; direct reload failed: {}", missed.join("; ")),
        }
    }

    /// Publishes the reload through the first gateway that accepts it; `Err` names every failure.
    pub async fn group_reload(&self) -> Result<String, String> {
        let mut failures = Vec::new();
        for base in &self.bases {
            let url = format!("{base}/tyk/reload/group");
            match self
                .client
                .post(&url)
                .management_secret(&self.secret)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    let direct = self.direct_reloads(base).await;
                    return Ok(format!("signed group reload published by {base}{direct}"));
                }
                Ok(r) => failures.push(format!("{url}: HTTP {}", r.status())),
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        Err(failures.join("; "))
    }
}
