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

/// Returns `config` with its HTTP client wrapped so every request increments `counter`.
///
/// Exists so `plan` can report how many API calls it made. A config without an HTTP client
/// (not produced by `aws_config::load`) is returned unchanged.
pub fn counted(config: &SdkConfig, counter: &CallCounter) -> SdkConfig {
    match config.http_client() {
        Some(inner) => config
            .to_builder()
            .http_client(CountingClient {
                inner,
                counter: counter.clone(),
            })
            .build(),
        None => config.clone(),
    }
}
