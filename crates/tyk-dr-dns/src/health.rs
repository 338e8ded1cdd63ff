//! Health checking the way Route 53 does it: one prober per health check, probing the target
//! at its request interval, flipping status after `FailureThreshold` consecutive results.
//!
//! The emulator reports every health check as "Success", so the DNS server probes targets
//! itself; that is what makes failover records fail over in the local environment.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use tyk_dr_aws::route53::{HealthCheck, HealthCheckProtocol};

/// Route 53 searches the first 5,120 bytes of the body for `*_STR_MATCH` checks.
const STR_MATCH_BYTES: usize = 5120;

/// Resolves a health check's FullyQualifiedDomainName from the served zones, if it is there.
pub type LocalResolver = Arc<dyn Fn(&str) -> Option<IpAddr> + Send + Sync>;

/// How probes are timed, and how target names are resolved.
#[derive(Clone)]
pub struct ProbeTiming {
    /// Replaces every health check's RequestInterval (local runs and tests).
    pub interval_override: Option<Duration>,
    /// Time allowed for one probe (connect + response).
    pub timeout: Duration,
    /// Tried before the system resolver for FQDN targets: in the local environment the
    /// gateways' names live in the emulator's zones, which only this server answers.
    pub local_resolver: Option<LocalResolver>,
}

impl std::fmt::Debug for ProbeTiming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeTiming")
            .field("interval_override", &self.interval_override)
            .field("timeout", &self.timeout)
            .field("local_resolver", &self.local_resolver.is_some())
            .finish()
    }
}

struct Prober {
    config: HealthCheck,
    healthy: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// Shared health status of every probed health check.
///
/// Read on every DNS query (a read lock and an atomic load), written by the refresher when the
/// set of referenced health checks changes.
#[derive(Default)]
pub struct HealthBook {
    probers: RwLock<HashMap<String, Prober>>,
}

impl std::fmt::Debug for HealthBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthBook")
            .field("status", &self.snapshot())
            .finish()
    }
}

impl HealthBook {
    /// Current status; ids without a prober (unknown, not yet fetched) count as healthy.
    pub fn healthy(&self, id: &str) -> bool {
        self.probers
            .read()
            .map(|p| p.get(id).is_none_or(|p| p.healthy.load(Ordering::Relaxed)))
            .unwrap_or(true)
    }

    /// Status of every probed health check, for logs and tests.
    pub fn snapshot(&self) -> HashMap<String, bool> {
        self.probers
            .read()
            .map(|p| {
                p.iter()
                    .map(|(id, p)| (id.clone(), p.healthy.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ids currently probed.
    pub fn ids(&self) -> Vec<String> {
        self.probers
            .read()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Makes the probers match `wanted`: starts new ones, restarts changed ones (keeping their
    /// current status), stops the ones no record references any more.
    pub fn reconcile(&self, wanted: Vec<HealthCheck>, timing: ProbeTiming) {
        let Ok(mut probers) = self.probers.write() else {
            return;
        };
        let wanted: HashMap<String, HealthCheck> =
            wanted.into_iter().map(|h| (h.id.clone(), h)).collect();
        let mut carried: HashMap<String, bool> = HashMap::new();
        probers.retain(|id, p| {
            let keep = wanted.get(id).is_some_and(|w| *w == p.config);
            if !keep {
                p.task.abort();
                if wanted.contains_key(id) {
                    // Changed configuration: restart the prober, keep the status it reached.
                    carried.insert(id.clone(), p.healthy.load(Ordering::Relaxed));
                } else {
                    info!(health_check = %id, "stopped probing (no longer referenced)");
                }
            }
            keep
        });
        for (id, config) in wanted {
            if probers.contains_key(&id) {
                continue;
            }
            // Route 53 considers a new health check healthy until it has enough data.
            let healthy = Arc::new(AtomicBool::new(carried.get(&id).copied().unwrap_or(true)));
            info!(
                health_check = %id,
                target = %describe(&config),
                interval = ?timing.interval_override.unwrap_or(config.interval),
                failure_threshold = config.failure_threshold,
                "probing"
            );
            let task = tokio::spawn(probe_loop(config.clone(), healthy.clone(), timing.clone()));
            probers.insert(
                id,
                Prober {
                    config,
                    healthy,
                    task,
                },
            );
        }
    }

    /// Stops every prober.
    pub fn stop(&self) {
        if let Ok(mut probers) = self.probers.write() {
            for (_, p) in probers.drain() {
                p.task.abort();
            }
        }
    }
}

impl Drop for HealthBook {
    fn drop(&mut self) {
        self.stop();
    }
}

fn describe(hc: &HealthCheck) -> String {
    let host = hc
        .ip
        .map(|ip| ip.to_string())
        .or_else(|| hc.fqdn.clone())
        .unwrap_or_default();
    format!(
        "{:?} {}:{}{}",
        hc.protocol,
        host,
        port_of(hc),
        hc.path.as_deref().unwrap_or("")
    )
}

fn port_of(hc: &HealthCheck) -> u16 {
    hc.port.unwrap_or(match hc.protocol {
        HealthCheckProtocol::Https | HealthCheckProtocol::HttpsStrMatch => 443,
        _ => 80,
    })
}

async fn probe_loop(hc: HealthCheck, healthy: Arc<AtomicBool>, timing: ProbeTiming) {
    let interval = timing.interval_override.unwrap_or(hc.interval);
    let threshold = hc.failure_threshold.max(1);
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut streak = 0u32;
    loop {
        ticker.tick().await;
        let result = if hc.disabled {
            Ok(())
        } else {
            match tokio::time::timeout(timing.timeout, probe(&hc, &timing)).await {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {:?}", timing.timeout)),
            }
        };
        let ok = result.is_ok() != hc.inverted;
        let current = healthy.load(Ordering::Relaxed);
        if ok == current {
            streak = 0;
            continue;
        }
        streak += 1;
        debug!(health_check = %hc.id, ok, streak, threshold, error = ?result.err(), "probe disagrees with status");
        if streak >= threshold {
            healthy.store(ok, Ordering::Relaxed);
            streak = 0;
            if ok {
                info!(health_check = %hc.id, target = %describe(&hc), "health check is now HEALTHY");
            } else {
                warn!(health_check = %hc.id, target = %describe(&hc), "health check is now UNHEALTHY");
            }
        }
    }
}

/// One probe: `Ok` when the target passes (TCP connect; HTTP(S) 2xx/3xx; string found).
async fn probe(hc: &HealthCheck, timing: &ProbeTiming) -> Result<(), String> {
    let port = port_of(hc);
    let local = match (&hc.ip, &hc.fqdn, &timing.local_resolver) {
        (None, Some(host), Some(resolve)) => resolve(host),
        _ => None,
    };
    let addr: SocketAddr = match (hc.ip.or(local), &hc.fqdn) {
        (Some(ip), _) => SocketAddr::new(ip, port),
        (None, Some(host)) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("resolve {host}: no address"))?,
        (None, None) => return Err("health check has neither IP nor FQDN".into()),
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let host = hc.fqdn.clone().unwrap_or_else(|| addr.ip().to_string());
    match &hc.protocol {
        HealthCheckProtocol::Tcp => Ok(()),
        HealthCheckProtocol::Http | HealthCheckProtocol::HttpStrMatch => {
            http_get(stream, hc, &host, port).await
        }
        HealthCheckProtocol::Https | HealthCheckProtocol::HttpsStrMatch => {
            let server_name = match hc.fqdn.as_deref() {
                Some(h) => rustls::pki_types::ServerName::try_from(h.to_owned())
                    .map_err(|e| format!("bad server name {h}: {e}"))?,
                None => rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
            };
            let tls = tls::connector()?
                .connect(server_name, stream)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            http_get(tls, hc, &host, port).await
        }
        HealthCheckProtocol::Other(kind) => {
            // Calculated / CloudWatch / recovery-control checks have no target to probe.
            debug!(health_check = %hc.id, %kind, "type not probed; counted healthy");
            Ok(())
        }
    }
}

async fn http_get<S>(stream: S, hc: &HealthCheck, host: &str, port: u16) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = hc.path.as_deref().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let default_port = matches!(
        hc.protocol,
        HealthCheckProtocol::Https | HealthCheckProtocol::HttpsStrMatch
    )
    .then_some(443)
    .unwrap_or(80);
    let host_header = if port == default_port {
        host.to_owned()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let req = http::Request::get(path)
        .header(http::header::HOST, host_header)
        .header(
            http::header::USER_AGENT,
            "Amazon Route 53 Health Check Service; ref:tyk-dr-dns",
        )
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP request: {e}"))?;
        let status = resp.status();
        if !(status.is_success() || status.is_redirection()) {
            return Err(format!("HTTP status {status}"));
        }
        if let Some(needle) = hc.search_string.as_deref().filter(|_| {
            matches!(
                hc.protocol,
                HealthCheckProtocol::HttpStrMatch | HealthCheckProtocol::HttpsStrMatch
            )
        }) {
            let mut body = resp.into_body();
            let mut seen = Vec::new();
            while seen.len() < STR_MATCH_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            seen.extend_from_slice(data);
                        }
                    }
                    Some(Err(e)) => return Err(format!("HTTP body: {e}")),
                    None => break,
                }
            }
            seen.truncate(STR_MATCH_BYTES);
            let needle = needle.as_bytes();
            if needle.is_empty() || seen.windows(needle.len()).any(|w| w == needle) {
                return Ok(());
            }
            return Err("search string not found".into());
        }
        Ok(())
    }
    .await;
    conn.abort();
    result
}

/// TLS for HTTPS health checks. Route 53 does not validate the target's certificate, so
/// neither do we (signatures of the handshake itself are still verified).
mod tls {
    use std::sync::{Arc, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AnyCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A shared connector; built once (an explicit provider, since several may be compiled in).
    pub(super) fn connector() -> Result<tokio_rustls::TlsConnector, String> {
        static CONNECTOR: OnceLock<Result<tokio_rustls::TlsConnector, String>> = OnceLock::new();
        CONNECTOR
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                    .with_no_client_auth();
                Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
            })
            .clone()
    }
}
