//! TLS with a private CA, against real servers: an `https` upstream (rustls in this test) and Redis with
//! `--tls-port` and an ACL user (ElastiCache's in-transit encryption and RBAC). Certificates come from the `openssl` CLI in a
//! temporary directory. Each case also runs without the CA, to show the certificate is really checked.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// A CA and a server certificate for 127.0.0.1 signed by it (PEM files).
struct Certs {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not on PATH (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_certs() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_args = [
        "req", "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
    ];
    let ca_ext = [
        "-subj",
        "/CN=tyk-dr test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    openssl(d, &[&ca_args[..], &ec[..], &ca_ext[..]].concat());
    let csr = [
        "req",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ];
    openssl(d, &[&csr[..], &ec[..]].concat());
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    Certs {
        ca: d.join("ca.pem"),
        cert: d.join("server.pem"),
        key: d.join("server.key"),
        _dir: dir,
    }
}

/// An https echo upstream (path and query as the body); counts TLS connections accepted.
async fn start_tls_upstream(certs: &Certs, accepted: Arc<AtomicUsize>) -> SocketAddr {
    let chain = CertificateDer::pem_file_iter(&certs.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return; // the gateway refused our certificate
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let pq = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        pq,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

fn api(apps: &Path, id: &str, keyless: bool, target: &str) {
    std::fs::write(
        apps.join(format!("{id}.json")),
        format!(r#"{{"api_id":"{id}","use_keyless":{keyless},"auth":{{"auth_header_name":"authorization"}},"proxy":{{"listen_path":"/{id}/","target_url":"{target}","strip_listen_path":true}}}}"#),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_signed_by_a_private_ca() {
    let certs = make_certs();
    let redis = Redis::start("127.0.0.1", free_port());
    let accepted = Arc::new(AtomicUsize::new(0));
    let up = start_tls_upstream(&certs, accepted.clone()).await;
    let target = format!("https://127.0.0.1:{}/base/", up.port());
    for trust_ca in [true, false] {
        // One worker: its pool is the only one, so reuse is exact to count.
        let mut extra = "workers = 1".to_string();
        if trust_ca {
            extra += &format!("\nupstream_tls_ca_file = \"{}\"", certs.ca.display());
        }
        let gw = start_gateway(&redis_at(redis.addr), &extra, |apps| {
            api(apps, "tls", true, &target)
        })
        .await;
        let before = accepted.load(Ordering::SeqCst);
        for i in 0..3 {
            let r = get(&gw.url(&format!("/tls/item?n={i}")), &[]).await;
            if trust_ca {
                assert_eq!(
                    (r.status, r.body.as_str()),
                    (200, &*format!("/base/item?n={i}"))
                );
            } else {
                // Only the WebPKI roots: the private CA's certificate is refused.
                assert_eq!(r.status, 502, "{}", r.body);
            }
        }
        let connections = accepted.load(Ordering::SeqCst) - before;
        // Trusted: one TLS connection carried all three requests (pooled); untrusted: none completed.
        assert_eq!(connections, usize::from(trust_ca), "trust_ca={trust_ca}");
    }
}

/// ACL user the TLS Redis requires (the `default` user is switched off, as on ElastiCache with RBAC).
const REDIS_USER: &str = "gw";
const REDIS_PASSWORD: &str = "s3cret-auth-token-0123456789";

/// `redis-server` serving only TLS on `port` with the test certificate, requiring [`REDIS_USER`].
struct TlsRedis(Child);

impl TlsRedis {
    fn start(certs: &Certs, port: u16) -> Self {
        let password = format!(">{REDIS_PASSWORD}");
        let path = |p: &Path| p.to_str().expect("temporary paths are UTF-8").to_string();
        let port_s = port.to_string();
        let child = spawn_redis([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--tls-port",
            &port_s,
            "--tls-cert-file",
            &path(&certs.cert),
            "--tls-key-file",
            &path(&certs.key),
            "--tls-ca-cert-file",
            &path(&certs.ca),
            "--tls-auth-clients",
            "no",
            // The `default` user off and one ACL user, as ElastiCache with RBAC.
            "--user",
            "default",
            "off",
            "--user",
            REDIS_USER,
            "on",
            &password,
            "~*",
            "&*",
            "+@all",
        ]);
        let redis = TlsRedis(child);
        for _ in 0..200 {
            if redis.cli(certs, port, &["PING"]) == "PONG" {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server with TLS did not answer on {port}");
    }

    fn cli(&self, certs: &Certs, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args([
                "--tls",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--cacert",
            ])
            .arg(&certs.ca)
            .args([
                "--user",
                REDIS_USER,
                "--pass",
                REDIS_PASSWORD,
                "--no-auth-warning",
            ])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_with_a_private_ca_and_an_acl_user() {
    let certs = make_certs();
    let port = free_port();
    let redis = TlsRedis::start(&certs, port);
    let token = "tls-key-0123456789";
    let session = r#"{"org_id":"default","access_rights":{}}"#;
    let key = format!("apikey-{}", tyk_model::hash_token(token));
    assert_eq!(redis.cli(&certs, port, &["SET", &key, session]), "OK");
    let up = start_upstream().await;
    // (trust the CA, password) → (readiness, the keyed request). The key exists only in this Redis, so a
    // 200 means the gateway read it there; every other case must refuse, never fall back.
    let cases = [
        (true, REDIS_PASSWORD, (200, 200)),
        (false, REDIS_PASSWORD, (503, 503)),
        (true, "wrong-password", (503, 503)),
    ];
    for (trust_ca, password, want) in cases {
        let mut section = format!(
            "host = \"127.0.0.1\"\nport = {port}\ntls = true\nusername = \"{REDIS_USER}\"\npassword = \"{password}\""
        );
        if trust_ca {
            section.push_str(&format!("\ntls_ca_file = \"{}\"", certs.ca.display()));
        }
        let gw = start_gateway(&section, "", |apps| {
            api(apps, "keyed", false, &format!("http://{up}"))
        })
        .await;
        let case = format!("trust_ca={trust_ca} password={password}");
        let got = eventually("readiness to settle", Duration::from_secs(10), || async {
            let ready = get(&gw.url("/ready"), &[]).await.status;
            let keyed = get(&gw.url("/keyed/x"), &[("authorization", token)])
                .await
                .status;
            ((ready, keyed) == want).then_some((ready, keyed))
        })
        .await;
        assert_eq!(got, want, "{case}");
        // The failed handshakes are logged at debug level, never with the password.
        assert!(!gw.log().contains(password), "{case}: password logged");
        if want.0 == 503 {
            // And it stays refused across health checks.
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(get(&gw.url("/ready"), &[]).await.status, 503, "{case}");
        }
    }
}
