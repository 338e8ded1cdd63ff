//! The real [`MongoAdmin`]: the official driver, one direct connection per member.

use std::collections::HashMap;
use std::time::Duration;

use mongodb::bson::Document;
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, Credential};
use mongodb::Client;
use tokio::sync::Mutex;

use crate::{command_name, MongoAdmin, MongoError};

/// How to authenticate, read from the environment; never printed (`Debug` hides it).
#[derive(Clone, Default)]
pub struct Secrets {
    /// Extra connection string options, e.g. `tls=true&authSource=admin`
    /// (`TYK_DR_MONGO_URI_OPTIONS`).
    pub uri_options: Option<String>,
    /// User name (`TYK_DR_MONGO_USER`).
    pub user: Option<String>,
    /// Password (`TYK_DR_MONGO_PASSWORD`).
    pub password: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("uri_options", &self.uri_options.as_ref().map(|_| "<set>"))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Secrets {
    /// `TYK_DR_MONGO_URI_OPTIONS`, `TYK_DR_MONGO_USER` and `TYK_DR_MONGO_PASSWORD`; unset or
    /// empty variables count as absent.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            uri_options: var("TYK_DR_MONGO_URI_OPTIONS"),
            user: var("TYK_DR_MONGO_USER"),
            password: var("TYK_DR_MONGO_PASSWORD"),
        }
    }

    /// Replaces the secrets in a driver message, in case it echoes them.
    fn scrub(&self, message: String) -> String {
        let mut out = message;
        for secret in [&self.password, &self.uri_options].into_iter().flatten() {
            out = out.replace(secret.as_str(), "<hidden>");
        }
        out
    }
}

/// Runs commands through the official driver, with `directConnection=true` to the one
/// member named: replica set discovery would route to the primary, and this client must
/// reach secondaries and members of a set with no primary.
pub struct DriverAdmin {
    secrets: Secrets,
    timeout: Duration,
    clients: Mutex<HashMap<String, Client>>,
}

impl DriverAdmin {
    /// A client using `secrets`; each connection attempt gives up after `timeout`.
    pub fn new(secrets: Secrets, timeout: Duration) -> Self {
        Self {
            secrets,
            timeout,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// A client with the secrets from the environment and a 3 s connection timeout.
    pub fn from_env() -> Self {
        Self::new(Secrets::from_env(), Duration::from_secs(3))
    }

    async fn client(&self, host: &str) -> Result<Client, MongoError> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        let unreachable = |message: String| MongoError::Unreachable {
            host: host.to_owned(),
            message: self.secrets.scrub(message),
        };
        let mut uri = format!("mongodb://{host}/?directConnection=true");
        if let Some(extra) = &self.secrets.uri_options {
            uri.push('&');
            uri.push_str(extra.trim_start_matches(['?', '&']));
        }
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| unreachable(format!("bad connection options: {e}")))?;
        options.connect_timeout = Some(self.timeout);
        options.server_selection_timeout = Some(self.timeout);
        options.app_name = Some("tyk-dr".into());
        if let Some(user) = &self.secrets.user {
            let mut credential = Credential::default();
            credential.username = Some(user.clone());
            credential.password = self.secrets.password.clone();
            options.credential = Some(credential);
        }
        let client = Client::with_options(options).map_err(|e| unreachable(e.to_string()))?;
        clients.insert(host.to_owned(), client.clone());
        Ok(client)
    }
}

#[async_trait::async_trait]
impl MongoAdmin for DriverAdmin {
    async fn run_command(
        &self,
        host: &str,
        db: &str,
        cmd: Document,
    ) -> Result<Document, MongoError> {
        let name = command_name(&cmd).to_owned();
        let client = self.client(host).await?;
        client
            .database(db)
            .run_command(cmd)
            .await
            .map_err(|e| match e.kind.as_ref() {
                ErrorKind::Command(c) => MongoError::Command {
                    host: host.to_owned(),
                    command: name,
                    code: Some(c.code),
                    message: self
                        .secrets
                        .scrub(format!("{} ({})", c.message, c.code_name)),
                },
                _ => MongoError::Unreachable {
                    host: host.to_owned(),
                    message: self.secrets.scrub(e.to_string()),
                },
            })
    }
}
