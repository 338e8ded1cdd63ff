//! The local two-region environment for end-to-end tests: started with this
//! build's binaries through `localstack/env`, stopped (by PID) when dropped,
//! and `tyk-dr` run against it with the emulator's settings and the secret.
// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding this build's binaries (target/debug), found from the test executable.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// A running environment; dropping it runs `localstack/env down`.
pub struct LocalEnv {
    run_dir: &'static str,
}

impl LocalEnv {
    /// Starts a fresh environment in `run_dir` (the fixed loopback addresses allow one at a time).
    pub fn up(run_dir: &'static str) -> Self {
        let _ = std::fs::remove_dir_all(run_dir);
        let env = Self { run_dir };
        assert!(env.run(&["up"]).status.success(), "localstack/env up");
        env
    }

    /// Runs `localstack/env ARGS` against this environment.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("bash")
            .arg("localstack/env")
            .args(args)
            .env("TYK_DR_LOCAL_DIR", self.run_dir)
            .env("TYK_DR_BIN_DIR", bin_dir())
            .output()
            .expect("run localstack/env");
        eprintln!(
            "localstack/env {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        out
    }

    /// The gateways' management secret.
    pub fn secret(&self) -> String {
        std::fs::read_to_string(format!("{}/gateway-secret", self.run_dir))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// A file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        Path::new(self.run_dir).join(name)
    }

    /// `tyk-dr -c CONFIG ARGS` with the emulator's settings and the secret, as an operator would run it.
    pub fn tyk_dr(&self, config: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tyk-dr"));
        cmd.args(["-c", config.to_str().unwrap()])
            .args(args)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("TYK_DR_GATEWAY_SECRET", self.secret());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run tyk-dr");
        eprintln!(
            "tyk-dr {args:?} → {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for LocalEnv {
    fn drop(&mut self) {
        self.run(&["down"]);
    }
}
