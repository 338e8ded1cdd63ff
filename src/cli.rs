//! The command line, as clap derive structs only: raw values, no behaviour.
//! [`crate::run`] turns them into work.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  tyk-dr validate                          check ./tyk-dr.toml, list every problem
  tyk-dr -c prod.toml validate -o json     the same, machine-readable
  tyk-dr cfn --out stacks/                 write one CloudFormation template per region + global
  tyk-dr cfn --out stacks/ --check         exit 2 if stacks/ is out of date (for CI)
  tyk-dr status                            can the passive region take over now? (exit 3 if not)
  tyk-dr failover --dry-run                what a failover would change, step by step
  tyk-dr monitor --interval 5s --listen 127.0.0.1:9464   the same continuously, with /metrics
  tyk-dr plan --detailed-exitcode          what apply would change (exit 2 if anything)
  tyk-dr apply                             provision both regions (asks first; resumable)
  tyk-dr completions bash > /etc/bash_completion.d/tyk-dr

Exit codes: 0 ok, 1 failure, 2 differences found (--check), 3 passive not ready (status,
failover preflight, drill), 4 another failover holds the epoch, 5 drill failed its thresholds,
64 bad command line, 65 invalid tyk-dr.toml, 66 tyk-dr.toml not found.";

/// tyk-dr: active-passive disaster recovery for Tyk-style API gateways on AWS.
#[derive(Debug, Parser)]
#[command(name = "tyk-dr", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// The topology file.
    #[arg(
        short,
        long,
        global = true,
        env = "TYK_DR_CONFIG",
        default_value = "tyk-dr.toml"
    )]
    pub config: PathBuf,
    /// How results are printed on stdout.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// More log detail on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of every command's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people.
    Table,
    /// One JSON document for scripts.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check tyk-dr.toml and report every problem with file, line, column, field and fix.
    #[command(after_help = "Example:\n  tyk-dr validate --strict   (warnings fail too)")]
    Validate(ValidateArgs),
    /// Generate CloudFormation templates: one per region and a global one.
    #[command(after_help = "Example:\n  tyk-dr cfn --out stacks/ && cfn-lint stacks/*.json")]
    Cfn(CfnArgs),
    /// Probe both regions once and say whether the passive one could take over now.
    #[command(
        after_help = "Exit 0 when the passive region is ready, 3 when not (reasons printed).\n\nExample:\n  tyk-dr -c examples/local.toml status -o json\n  tyk-dr -c examples/local.toml status --shadow   # is the shadow stack ready for a drill?"
    )]
    Status(StatusArgs),
    /// Probe both regions at an interval; print each pass and serve Prometheus metrics.
    #[command(
        after_help = "Example:\n  tyk-dr monitor --interval 5s --listen 127.0.0.1:9464\n  curl -s 127.0.0.1:9464/metrics | grep tyk_dr_passive_ready"
    )]
    Monitor(MonitorArgs),
    /// Keep the passive region's definitions, policies and keys in sync.
    #[command(
        after_help = "Exit 0 in sync, 1 something could not be synced (reported), 2 drift found (--check).\n\nExamples:\n  tyk-dr sync                         one pass: definitions, policies, group reload, keys\n  tyk-dr sync --check                 drift report (missing, extra, different); changes nothing\n  tyk-dr sync --watch --interval 30s  continuous, following cluster notifications"
    )]
    Sync(SyncArgs),
    /// Move traffic to the passive region: run the failover playbook (journaled, resumable).
    #[command(
        after_help = "Examples:\n  tyk-dr failover --dry-run\n  tyk-dr failover --yes --failed-at 2026-11-21T03:04:05Z\n  tyk-dr failover --resume failover-1763694245123-1a2b --yes\n\nExit 0 done, 1 a step failed (resume with --resume), 3 preflight refused (use --force), 4 another run holds the epoch."
    )]
    Failover(PlaybookArgs),
    /// Move traffic back to the original active region: resync it, then run the failback playbook.
    #[command(after_help = "Example:\n  tyk-dr failback --dry-run && tyk-dr failback --yes")]
    Failback(PlaybookArgs),
    /// Show what `apply` would create, change or delete in both regions (read-only).
    #[command(
        after_help = "Exit 0 on success; with --detailed-exitcode 0 no changes, 2 changes, 1 error.\n\nExamples:\n  tyk-dr plan\n  tyk-dr plan --out plan.json && tyk-dr apply --plan plan.json\n  tyk-dr plan --detailed-exitcode -q   (drift check for cron/CI)"
    )]
    Plan(PlanArgs),
    /// Create or change the AWS resources of both regions to match tyk-dr.toml (asks first).
    #[command(
        after_help = "Interrupted (Ctrl-C, crash)? Run it again: it reads the world and resumes.\n\nExamples:\n  tyk-dr apply\n  tyk-dr apply --plan plan.json --yes"
    )]
    Apply(ApplyArgs),
    /// Delete every AWS resource tagged with this project (asks first).
    #[command(after_help = "Example:\n  tyk-dr destroy --yes")]
    Destroy(DestroyArgs),
    /// Print the least-privilege IAM policy that plan, apply and destroy need.
    #[command(after_help = "Example:\n  tyk-dr iam-policy > tyk-dr-policy.json")]
    IamPolicy,
    /// Rehearse: failover and failback under load, checked against [drills] thresholds, with reports.
    #[command(
        after_help = "Examples:\n  tyk-dr drill --yes                  run one (exit 0 passed, 5 failed, 3 passive not ready)\n  tyk-dr drill history                past drills and the RTO/RPO trend\n  tyk-dr drill schedule               crontab line for drills.schedule\n  tyk-dr drill schedule --systemd /etc/systemd/system"
    )]
    Drill(DrillArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  tyk-dr completions zsh > ~/.zfunc/_tyk-dr")]
    Completions(CompletionsArgs),
}

/// Options of `tyk-dr validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

/// Options of `tyk-dr cfn`.
#[derive(Debug, Args)]
pub struct CfnArgs {
    /// Directory the templates are written to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write nothing; exit 2 if DIR's templates differ from what would be generated.
    #[arg(long)]
    pub check: bool,
}

/// Options of `tyk-dr monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Time between passes (e.g. `5s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Stop after this many passes (default: run until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
}

/// Options of `tyk-dr failover` and `tyk-dr failback`.
#[derive(Debug, Args)]
pub struct PlaybookArgs {
    /// Print what each step would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Answer yes to the confirmation and to `pause`/`approval` steps.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Continue an interrupted run from its journal.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Run a playbook file instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,
    /// Go on even when preflight finds the target unfit.
    #[arg(long)]
    pub force: bool,
    /// Allow a forced MongoDB replica set reconfig (never unattended).
    #[arg(long)]
    pub confirm_force_reconfig: bool,
    /// When the failure happened (ms since epoch or RFC 3339): the origin of RTO and RPO.
    #[arg(long, value_name = "TIME")]
    pub failed_at: Option<String>,
    /// Where journals and reports go (default: .tyk-dr/runs next to the config file).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Options of `tyk-dr plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan as JSON, for `tyk-dr apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when none, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Options of `tyk-dr apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply this saved plan exactly; refused if the infrastructure changed since.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Where journals go (default: .tyk-dr next to the config file).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Options of `tyk-dr destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Where journals go (default: .tyk-dr next to the config file).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Options of `tyk-dr drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// History or scheduling instead of running a drill.
    #[command(subcommand)]
    pub action: Option<DrillAction>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Time spent in the passive region between failover and failback.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub hold: std::time::Duration,
    /// Where the JSON, Markdown and HTML reports go (default: .tyk-dr/drills/ID next to the config).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Where the playbook journals go (default: .tyk-dr/runs next to the config).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Drill even when `status` says the passive region is not ready.
    #[arg(long)]
    pub force: bool,
    /// Fail over the shadow stack ([drills.shadow_stack]) instead of the customers' names.
    #[arg(long, conflicts_with = "full")]
    pub shadow: bool,
    /// Fail over the customers' global name and Redis CNAME, even when drills.shadow is set.
    #[arg(long)]
    pub full: bool,
}

/// Options of `tyk-dr status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Probe the shadow stack ([drills.shadow_stack]) that shadow drills fail over, not the customers' path.
    #[arg(long)]
    pub shadow: bool,
}

/// `tyk-dr drill` subcommands.
#[derive(Debug, Subcommand)]
pub enum DrillAction {
    /// Past drills and the trend of their RTO and RPO.
    History,
    /// Schedule drills from drills.schedule: a crontab line, or systemd units.
    Schedule(ScheduleArgs),
}

/// Options of `tyk-dr drill schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Write tyk-dr-drill.service and tyk-dr-drill.timer into DIR instead of printing a crontab line.
    #[arg(long, value_name = "DIR")]
    pub systemd: Option<PathBuf>,
}

/// Options of `tyk-dr completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `tyk-dr sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Change nothing; exit 2 when the passive region differs.
    #[arg(long, conflicts_with = "watch")]
    pub check: bool,
    /// Keep syncing: a full pass every --interval, and changes as cluster notifications announce them.
    #[arg(long)]
    pub watch: bool,
    /// Time between full passes with --watch (e.g. `30s`, `5m`).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
    /// With --watch, stop after this many full passes (default: until Ctrl-C).
    #[arg(long, requires = "watch")]
    pub count: Option<u64>,
}
