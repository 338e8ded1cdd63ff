//! The `tyk-dr` binary as a user meets it: exit codes, what lands on stdout
//! and stderr, and the files `cfn` writes.

use std::path::Path;
use std::process::{Command, Output};

fn tyk_dr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args(args)
        .env_remove("TYK_DR_CONFIG")
        .output()
        .expect("run tyk-dr")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn validate_summarises_a_valid_file() {
    let o = tyk_dr(&["-c", "examples/full.toml", "validate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("examples/full.toml is valid (0 warning(s))\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "passive   eu-central-1 (eu-central-1a, eu-central-1b, eu-central-1c; 10.50.0.0/16)"
        ),
        "{out}"
    );
    assert!(
        out.contains("replica set `tyk` (MongoDB 7.0): 3 active + 2 passive members, 5 votes"),
        "{out}"
    );
}

#[test]
fn invalid_file_exits_65_and_points_at_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "tyk-dr.toml",
        "project = \"acme\"\n\n[dns]\nglobal_ttl = 300\nhealth_check_intervall = 10\n",
    );
    let o = tyk_dr(&["-c", &file, "validate"]);
    assert_eq!(o.status.code(), Some(65));
    let err = stderr(&o);
    assert!(err.contains(&format!("{file}:4:14")), "{err}");
    assert!(
        err.contains("error[ttl-above-window]: `dns.global_ttl`"),
        "{err}"
    );
    assert!(err.contains(&format!("{file}:5:1")), "{err}");
    assert!(
        err.contains("did you mean `health_check_interval`?"),
        "{err}"
    );
    assert!(err.contains("has 2 error(s)"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn json_output_lists_diagnostics_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "project = \"acme\"\n[mongo]\nvotes = 3\n",
    );
    let o = tyk_dr(&["-c", &file, "-o", "json", "validate"]);
    assert_eq!(o.status.code(), Some(65));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(doc["exit_code"], 65);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "votes");
    assert_eq!(d["field"], "mongo.votes");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(9))
    );
    assert_eq!(d["file"], file.as_str());
    assert!(d["help"].as_str().unwrap().contains("votes = 1"));
}

#[test]
fn json_validate_includes_the_effective_config() {
    let o = tyk_dr(&["-c", "examples/minimal.toml", "-o", "json", "validate"]);
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["config"]["redis"]["elasticache"]["replicas_per_az"], 1);
    assert_eq!(doc["config"]["dns"]["global_name"], "api.acme.example");
}

#[test]
fn strict_turns_warnings_into_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "project = \"acme\"\n[gateway]\nport = 80\n",
    );
    assert_eq!(tyk_dr(&["-c", &file, "validate"]).status.code(), Some(0));
    let o = tyk_dr(&["-c", &file, "validate", "--strict"]);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        stderr(&o).contains("warning[privileged-port]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_config_exits_66_with_a_hint() {
    let o = tyk_dr(&["-c", "/nonexistent/tyk-dr.toml", "validate"]);
    assert_eq!(o.status.code(), Some(66));
    let err = stderr(&o);
    assert!(
        err.contains("cannot read `/nonexistent/tyk-dr.toml`"),
        "{err}"
    );
    assert!(
        err.contains("hint: pass the file with `--config FILE`"),
        "{err}"
    );
}

#[test]
fn bad_command_line_exits_64() {
    assert_eq!(
        tyk_dr(&["validate", "--frobnicate"]).status.code(),
        Some(64)
    );
    assert_eq!(tyk_dr(&["-o", "yaml", "validate"]).status.code(), Some(64));
    assert_eq!(tyk_dr(&["cfn"]).status.code(), Some(64));
}

#[test]
fn help_lists_only_implemented_commands_and_exit_codes() {
    let o = tyk_dr(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let commands: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        // Command lines are indented by two spaces; wrapped descriptions by more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "validate",
            "cfn",
            "status",
            "monitor",
            "sync",
            "failover",
            "failback",
            "plan",
            "apply",
            "destroy",
            "iam-policy",
            "drill",
            "completions",
            "help"
        ]
    );
    assert!(out.contains("65 invalid tyk-dr.toml"), "{out}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let o = tyk_dr(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("validate"), "{shell}");
    }
}

#[test]
fn cfn_writes_templates_then_reports_them_unchanged_and_checks_drift() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stacks");
    let out_s = out.display().to_string();
    let first = tyk_dr(&["-c", "examples/full.toml", "cfn", "--out", &out_s]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    assert!(
        files.iter().all(|f| f.ends_with(".json")),
        "no temporary files left: {files:?}"
    );
    assert_eq!(stdout(&first).matches("created").count(), files.len());

    let second = tyk_dr(&["-c", "examples/full.toml", "cfn", "--out", &out_s]);
    assert_eq!(stdout(&second).matches("unchanged").count(), files.len());
    assert_eq!(
        tyk_dr(&[
            "-c",
            "examples/full.toml",
            "cfn",
            "--out",
            &out_s,
            "--check"
        ])
        .status
        .code(),
        Some(0)
    );

    std::fs::write(out.join(&files[0]), "{}\n").unwrap();
    let check = tyk_dr(&[
        "-c",
        "examples/full.toml",
        "cfn",
        "--out",
        &out_s,
        "--check",
    ]);
    assert_eq!(check.status.code(), Some(2));
    assert!(stdout(&check).contains("differs"), "{}", stdout(&check));
    assert_eq!(
        std::fs::read_to_string(out.join(&files[0])).unwrap(),
        "{}\n",
        "--check must not write"
    );
}

#[test]
fn cfn_refuses_an_invalid_config_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "project = \"acme\"\n[dns]\nhealth_check_interval = 5\n",
    );
    let out = dir.path().join("stacks");
    let o = tyk_dr(&["-c", &file, "cfn", "--out", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(65));
    assert!(!out.exists());
}

/// A topology whose passive region cannot take over: every address refuses connections and
/// the nameserver does not answer. Valid, with no warnings.
const UNREACHABLE: &str = r#"project = "acme"

[redis]
backend = "self-managed"
auth = false

[redis.self_managed]
active = ["127.0.0.1:9"]
passive = ["127.0.0.1:9"]
active_name = "redis-a.acme.internal"
passive_name = "redis-b.acme.internal"

[mongo]
enabled = false

[gateway.endpoints]
active = ["http://127.0.0.1:9"]
passive = ["http://127.0.0.1:9"]

[dns]
public_zone = "acme.example"
global_name = "api.acme.example"
nameserver = "127.0.0.1:9"
"#;

const FAILED_AT_REASON: &str = "timestamp format is invalid; give milliseconds since the epoch or an RFC 3339 time such as 2026-11-21T03:04:05Z";

#[test]
fn a_bad_failed_at_is_a_usage_error_in_both_output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tyk-dr.toml", UNREACHABLE);
    let o = tyk_dr(&[
        "-c",
        &config,
        "failover",
        "--yes",
        "--failed-at",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(64));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!("error: --failed-at `yesterday`: {FAILED_AT_REASON}\n")
    );

    let o = tyk_dr(&[
        "-c",
        &config,
        "-o",
        "json",
        "failback",
        "--failed-at",
        "2026-13-01",
    ]);
    assert_eq!(o.status.code(), Some(64));
    assert_eq!(
        stdout(&o),
        format!(
            "{{\n  \"error\": \"--failed-at `2026-13-01`: {FAILED_AT_REASON}\",\n  \"hint\": null,\n  \"exit_code\": 64\n}}\n"
        )
    );
    assert_eq!(stderr(&o), "");
}

#[test]
fn failover_and_drill_without_yes_and_without_a_terminal_exit_64_like_apply() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tyk-dr.toml", UNREACHABLE);
    for command in ["failover", "failback", "drill"] {
        let o = tyk_dr(&["-c", &config, command]);
        assert_eq!(o.status.code(), Some(64), "{command}");
        assert_eq!(stdout(&o), "", "{command}");
        assert_eq!(
            stderr(&o),
            format!(
                "error: `{command}` moves traffic and stdin is not a terminal, so it cannot ask\n  hint: pass `--yes` to run without asking\n"
            )
        );
    }
}

#[test]
fn declining_a_failover_exits_64_like_apply() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tyk-dr.toml", UNREACHABLE);
    // `script` gives tyk-dr a terminal; the answer comes once the question is asked.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 2; printf 'n\\n') | script -qec '{} -c {config} failover' /dev/null",
            env!("CARGO_BIN_EXE_tyk-dr")
        ))
        .env_remove("TYK_DR_CONFIG")
        .output()
        .expect("script (util-linux)");
    assert_eq!(o.status.code(), Some(64));
    // Everything arrives through the terminal: the question, the echoed answer, the error.
    assert_eq!(
        stdout(&o),
        "failover us-east-1 → us-west-2: 9 steps; go ahead? [y/N] n\r\n\
         error: `failover` cancelled: nothing was changed\r\n  \
         hint: pass `--yes` to run without asking\r\n"
    );
}

#[test]
fn a_drill_finding_the_passive_region_not_ready_prints_json_with_output_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tyk-dr.toml", UNREACHABLE);
    let o = tyk_dr(&["-c", &config, "-o", "json", "drill", "--yes"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stdout(&o),
        r#"{
  "error": "the passive region is not ready, no drill ran: no passive gateway is ready (http://127.0.0.1:9: Connection refused (os error 111)); passive Redis primary 127.0.0.1:9 is unreachable: Connection refused (os error 111); the Redis CNAME redis.tyk-dr.internal does not resolve: proto error: request timed out; the global name api.acme.example does not resolve: proto error: request timed out",
  "hint": "`tyk-dr status` shows the details; --force drills anyway",
  "exit_code": 3
}
"#
    );
    assert_eq!(stderr(&o), "==> preflight: is the passive region ready?\n");

    // The same as text: the error line and the hint on stderr, nothing on stdout.
    let o = tyk_dr(&["-c", &config, "drill", "--yes"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "==> preflight: is the passive region ready?\n\
         error: the passive region is not ready, no drill ran: no passive gateway is ready (http://127.0.0.1:9: Connection refused (os error 111)); passive Redis primary 127.0.0.1:9 is unreachable: Connection refused (os error 111); the Redis CNAME redis.tyk-dr.internal does not resolve: proto error: request timed out; the global name api.acme.example does not resolve: proto error: request timed out\n  \
         hint: `tyk-dr status` shows the details; --force drills anyway\n"
    );
}
