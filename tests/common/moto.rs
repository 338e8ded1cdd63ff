//! A private `moto_server` (the AWS emulator) on a free loopback port, killed by PID on drop.
//! The one emulator harness of the workspace: the root crate's tests, the Route 53 adapter's
//! and the DNS server's include this file with `#[path]`.
// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tyk_dr_aws::route53::Route53;

/// Where the venv from `scripts/dev setup` puts moto_server.
const VENV_MOTO: &str = "/var/tmp/tyk-dr-venv/bin/moto_server";

/// A running emulator; its process is killed when this is dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds moto_server (venv first, then PATH) or panics with the fix.
pub fn moto_path() -> PathBuf {
    let venv = PathBuf::from(VENV_MOTO);
    if venv.is_file() {
        return venv;
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("moto_server"))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "moto_server not found ({VENV_MOTO} or PATH): run `scripts/dev setup` to install \
                 the AWS emulator"
            )
        })
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// The emulator answers HTTP (a listening socket alone can precede a working server).
fn ready(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 12];
    s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .and_then(|()| s.read_exact(&mut buf))
        .is_ok()
        && buf.starts_with(b"HTTP/1")
}

impl Moto {
    /// Starts one and waits until it answers: up to three attempts (a port taken in between, an
    /// early exit), 30 s each.
    pub fn start() -> Moto {
        let path = moto_path();
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            last_err = "moto_server did not answer within 30 s".into();
            while Instant::now() < deadline {
                if let Ok(Some(status)) = moto.child.try_wait() {
                    last_err = format!("moto_server exited with {status}");
                    break;
                }
                if ready(port) {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("cannot start moto_server: {last_err}");
    }

    /// Sends a signal (`STOP`, `CONT`) to the emulator process, to simulate a hang.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// A Route 53 adapter pointed at this emulator.
    pub async fn route53(&self) -> Route53 {
        Route53::new(&tyk_dr_aws::emulator_config(&self.endpoint, "us-east-1").await)
    }
}
