//! Counting of HTTP requests made to AWS, for `plan -v` and the benchmark.
//!
//! The counter wraps the SDK's HTTP client, so it sees every request of every service
//! (including retries and pagination) without each adapter having to remember to count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// A shared count of HTTP requests; clone it to read it while clients use it.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    /// Requests sent so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct CountingClient {
    inner: SharedHttpClient,
    counter: CallCounter,
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    counter: CallCounter,
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.counter.0.fetch_add(1, Ordering::Relaxed);
        self.inner.call(request)
    }
}

impl HttpClient for CountingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            counter: self.counter.clone(),
        })
    }
}

/// The HTTPS client the SDK builds when none is configured (rustls with aws-lc, proxy from the
/// environment), built here so it can be wrapped.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        b.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            b.set_sleep_impl(components.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    })
}

/// Returns `config` with its HTTP client wrapped so every request increments `counter`.
///
/// Exists so `plan` can report how many API calls it made. When the configuration names no
/// HTTP client (the usual case), the SDK's default one is built and wrapped.
pub fn counted(config: &SdkConfig, counter: &CallCounter) -> SdkConfig {
    let inner = config.http_client().unwrap_or_else(default_https_client);
    config
        .to_builder()
        .http_client(CountingClient {
            inner,
            counter: counter.clone(),
        })
        .build()
}
