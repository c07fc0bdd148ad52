//! Command-line arguments. Every flag that has a config key overrides it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "flightdeck",
    version,
    about = "Flightdeck: a control center for AI agents. Headless node and CLI."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Data directory (database, and the secrets file with --secrets file).
    /// Default: $XDG_DATA_HOME/flightdeck.
    #[arg(long, global = true, env = "FLIGHTDECK_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file. Default: $XDG_CONFIG_HOME/flightdeck/flightdeck.toml (if it exists).
    #[arg(long, global = true, env = "FLIGHTDECK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the API token lives (overrides `secrets.backend`).
    #[arg(long, global = true, value_enum, value_name = "BACKEND")]
    pub secrets: Option<SecretsArg>,
    /// Log format (overrides `log.format`).
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
    /// Log filter, e.g. `debug` (overrides `log.level`; RUST_LOG wins over both).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SecretsArg {
    /// The OS keychain (Secret Service).
    Keychain,
    /// A 0600 file in the data dir (headless servers).
    File,
    /// Only FLIGHTDECK_API_TOKEN; nothing stored.
    Env,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the headless node: the engine plus the HTTP/WebSocket API.
    Serve(ServeArgs),
    /// Print the node's bootstrap API token (generating and storing one if there is none),
    /// or manage named tokens (`create`, `ls`, `revoke`).
    Token {
        /// Replace the stored bootstrap token with a new one (running nodes keep the old one
        /// until restarted).
        #[arg(long)]
        rotate: bool,
        #[command(subcommand)]
        action: Option<TokenAction>,
    },
    /// Named secrets (provider keys, webhooks...): write-only; values never printed.
    #[command(subcommand)]
    Secrets(SecretsAction),
    /// The usage ledger: every LLM call (gateway and agents).
    #[command(subcommand)]
    Calls(CallsAction),
    /// What the ledger adds up to: totals, top spenders, or a breakdown `--by` a dimension
    /// and `--bucket` (hour, day, week, month) over a period; `--export` writes the calls.
    Costs(CostsArgs),
    /// Budgets: list them with what is spent and reserved, set one, remove one.
    #[command(subcommand)]
    Budget(BudgetCommand),
    /// Import a provider's billing export (CSV: OpenAI, Anthropic or the generic
    /// `date,model,cost_usd`) and show it beside the ledger per UTC day and model, drift
    /// flagged. Exits 3 when a day drifts (with --fail-on-drift).
    Reconcile(ReconcileArgs),
    /// Recompute ledger costs with the price table as it is now (after a fix), each change
    /// recorded as a correction; lists the models without a price first. Try --dry-run.
    Reprice(RepriceArgs),
    /// Make a report (the last complete day or week: spend, budgets and their projected
    /// exhaustion, top agents, approvals, health incidents, KPIs and forecasts) as
    /// self-contained HTML or PDF; `--deliver` also mails it and posts it to the webhook.
    Report(ReportArgs),
    /// KPI series (revenue, orders, tickets...): import a CSV file, list them, remove one.
    #[command(subcommand)]
    Series(SeriesCommand),
    /// Forecast a series from a CSV file (`ds,y`), with 80 % and 95 % intervals whose
    /// coverage is measured on a rolling-origin backtest; no node or data dir needed.
    Forecast(ForecastArgs),
    /// The task queue: enqueue, list, show, cancel and retry tasks.
    #[command(subcommand)]
    Task(TaskAction),
    /// The configured agents.
    #[command(subcommand)]
    Agent(AgentAction),
    /// Multi-agent runs: start (or plan with --dry-run), list, show, cancel.
    #[command(subcommand)]
    Run(RunAction),
    /// Approval requests: list the inbox, show one, approve or reject.
    #[command(subcommand)]
    Approvals(ApprovalsAction),
    /// The audit log: verify its hash chain, export it, print its head.
    #[command(subcommand)]
    Audit(AuditAction),
    /// Database tools.
    #[command(subcommand)]
    Db(DbCommand),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a named token; prints it once (only its hash is stored).
    Create {
        /// 1 to 64 characters of a-z, 0-9, '.', '_', '-'.
        name: String,
        /// What it may do.
        #[arg(long, value_enum, default_value = "read")]
        scope: ScopeArg,
        /// When it stops working: 90m, 12h, 30d, a date (2027-01-31) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// List named tokens (never their values).
    Ls,
    /// Revoke a named token.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Store (or replace) a secret; the value comes from standard input or a silent prompt.
    Set {
        /// e.g. provider:openai
        name: String,
    },
    /// List secrets: names and times, never values.
    Ls,
    /// Remove a secret.
    Rm { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DimensionArg {
    Agent,
    Client,
    Route,
    Provider,
    Model,
    Node,
    Tag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BucketArg {
    Hour,
    Day,
    Week,
    Month,
    Total,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PeriodArg {
    Today,
    Yesterday,
    ThisWeek,
    LastWeek,
    ThisMonth,
    LastMonth,
    ThisYear,
    #[value(name = "last_24h", alias = "24h")]
    Last24h,
    #[value(name = "last_7d", alias = "7d")]
    Last7d,
    #[value(name = "last_30d", alias = "30d")]
    Last30d,
    #[value(name = "last_90d", alias = "90d")]
    Last90d,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportArg {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct CostsArgs {
    /// Break down by this dimension (without it: the summary, or one row per bucket).
    #[arg(long, value_enum)]
    pub by: Option<DimensionArg>,
    /// Calendar bucket of a breakdown, in the time zone.
    #[arg(long, value_enum)]
    pub bucket: Option<BucketArg>,
    /// A named period (default this_month); not with --from.
    #[arg(long, value_enum)]
    pub period: Option<PeriodArg>,
    /// Start: an RFC 3339 time or a date (2026-12-01, midnight UTC).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// End, exclusive (default now).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// IANA time zone of days, weeks and months (default `[costs] time_zone`).
    #[arg(long = "tz", value_name = "ZONE")]
    pub time_zone: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    /// `token:<name>`, `agent:<name>`, `desktop:<user>`.
    #[arg(long)]
    pub client: Option<String>,
    #[arg(long)]
    pub route: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// `provider/model` or a model name.
    #[arg(long)]
    pub model: Option<String>,
    /// A node id.
    #[arg(long)]
    pub node: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    /// Write the calls of the period to standard output (CSV or JSON Lines) instead.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["by", "bucket"])]
    pub export: Option<ExportArg>,
    /// JSON (the API's answer) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BillFormatArg {
    Openai,
    Anthropic,
    Generic,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The export (CSV with a header row).
    pub file: std::path::PathBuf,
    /// Its format (detected from the header by default).
    #[arg(long, value_enum)]
    pub format: Option<BillFormatArg>,
    /// A configured provider to compare with (repeatable; default: the file's `provider`
    /// column, else the providers on the vendor's API host).
    #[arg(long = "provider", value_name = "NAME")]
    pub providers: Vec<String>,
    /// Flag drift above this % (default `[costs] drift_pct`).
    #[arg(long, value_name = "PCT")]
    pub drift_pct: Option<f64>,
    /// Exit with status 3 when any day drifts.
    #[arg(long)]
    pub fail_on_drift: bool,
    /// JSON (the API's answer) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportPeriodArg {
    Day,
    Week,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    Html,
    Pdf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The last complete day or week (weeks start on `[costs] week_start`).
    #[arg(long, value_enum, default_value = "week")]
    pub period: ReportPeriodArg,
    /// The period running, up to now, instead.
    #[arg(long)]
    pub to_date: bool,
    /// Also write it here (`.html` or `.pdf`; the format follows the extension).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// The format(s) to make (default: the `--out` extension's, else `[reports] formats`).
    #[arg(long = "format", value_enum)]
    pub formats: Vec<ReportFormatArg>,
    /// Mail it to `[reports] email_to` and post it to `[reports] webhook`. Exits 4 when a
    /// delivery fails (the report is kept).
    #[arg(long)]
    pub deliver: bool,
    /// The report's record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SeriesCommand {
    /// Import a CSV file (`date,value` or `ds,y`, with a header) into a series, made if
    /// new: every row is checked first and nothing is written when one is bad (each bad
    /// line is named). Merges by default (the file's value wins on the same instant).
    Import {
        /// The series' name: 1-64 of a-z, 0-9, `.`, `_`, `-`.
        name: String,
        /// The CSV file.
        file: std::path::PathBuf,
        /// Check and preview only; nothing is written.
        #[arg(long)]
        dry_run: bool,
        /// Replace every point of the series with the file's.
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// JSON (the API's answer) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Every series (the built-in `cost.daily` first): points, last value, anomalies.
    Ls {
        /// JSON (the API's answer) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a series with its points and anomalies.
    Rm { name: String },
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The series: CSV with a header `ds,y` (dates, months or times; numbers).
    #[arg(long, value_name = "FILE")]
    pub csv: std::path::PathBuf,
    /// Steps ahead, in the series' own frequency.
    #[arg(long, value_name = "H")]
    pub horizon: usize,
    /// A seasonal period in steps (default: from the calendar: hourly 24 and 168, daily 7,
    /// weekly 52, monthly 12, quarterly 4); 1 for none.
    #[arg(long, value_name = "M")]
    pub season: Option<usize>,
    /// Where to write `ds,mean,lo80,hi80,lo95,hi95` (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Also print the chosen model, why, every candidate's backtest scores, the intervals'
    /// measured coverage and what was done to the series (to standard error when the
    /// forecast goes to standard output).
    #[arg(long)]
    pub explain: bool,
    /// The whole result as JSON instead of CSV.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RepriceArgs {
    /// Only this provider's calls.
    #[arg(long)]
    pub provider: Option<String>,
    /// Only this model's calls (as the ledger records it).
    #[arg(long)]
    pub model: Option<String>,
    /// Calls started at or after (RFC 3339 or a date).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Calls started before.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Recorded with each correction.
    #[arg(long)]
    pub reason: Option<String>,
    /// JSON (the API's answer) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Every budget: limit, spent, reserved by calls in flight, remaining, period.
    Ls {
        /// JSON (the API's answer) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create or replace `[budgets.<name>]` in the config file (checked first).
    Set(Box<BudgetSetArgs>),
    /// Remove `[budgets.<name>]` from the config file.
    Rm { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BudgetPeriodArg {
    Daily,
    Weekly,
    Monthly,
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BudgetActionArg {
    Alert,
    Block,
}

#[derive(Debug, Args)]
pub struct BudgetSetArgs {
    /// 1-128 of a-z, 0-9, - _ . : /
    pub name: String,
    /// USD per period, e.g. 100 or 12.50.
    #[arg(long = "limit", value_name = "USD", allow_hyphen_values = true)]
    pub limit_usd: String,
    #[arg(long, value_enum)]
    pub period: BudgetPeriodArg,
    /// At the limit: alert only (default), or block calls.
    #[arg(long, value_enum, default_value = "alert")]
    pub action: BudgetActionArg,
    /// Alert at these % of the limit.
    #[arg(long, value_delimiter = ',', default_value = "50,80,100")]
    pub thresholds: Vec<u32>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub client: Option<String>,
    #[arg(long)]
    pub route: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// `provider/model` or a model name.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    /// Also hold calls to free (local) models.
    #[arg(long)]
    pub include_free: bool,
    /// Start of a fixed window: an RFC 3339 time or a date.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// End of a fixed window.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// IANA zone of its days, weeks and months.
    #[arg(long = "tz", value_name = "ZONE")]
    pub time_zone: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CallsAction {
    /// List calls, newest first.
    Ls(CallsLsArgs),
}

#[derive(Debug, Args)]
pub struct CallsLsArgs {
    /// Only this client (`token:<name>`, `agent:<name>`, `desktop:<user>`).
    #[arg(long)]
    pub client: Option<String>,
    #[arg(long)]
    pub route: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, value_enum)]
    pub outcome: Option<OutcomeArg>,
    /// Started at or after: an RFC 3339 time or a date (2026-12-01).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// How many (newest first).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Enqueue a task for an agent (or, with --capability, for an agent that has it).
    Add(TaskAddArgs),
    /// List tasks, newest first.
    Ls(TaskLsArgs),
    /// One task with its attempts, steps and calls.
    Show {
        id: String,
        /// The task as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task (a running one stops at its next step).
    Cancel { id: String },
    /// Put dead, failed or cancelled tasks back on the queue: by id, or every dead one
    /// (--dead, of one agent with --agent).
    Retry(TaskRetryArgs),
}

#[derive(Debug, Args)]
pub struct TaskRetryArgs {
    /// The tasks' ids.
    #[arg(required_unless_present = "dead", conflicts_with = "dead")]
    pub ids: Vec<String>,
    /// Every dead-lettered task (newest first, at most 10,000).
    #[arg(long)]
    pub dead: bool,
    /// With --dead: only this agent's.
    #[arg(long, requires = "dead")]
    pub agent: Option<String>,
}

#[derive(Debug, Args)]
pub struct TaskAddArgs {
    /// The agent to run it.
    #[arg(required_unless_present = "capability", conflicts_with = "capability")]
    pub agent: Option<String>,
    /// A capability instead of an agent.
    #[arg(long)]
    pub capability: Option<String>,
    /// The input: JSON, or @FILE with JSON in it (default: {}).
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// The same key and input give the same task; another input with it is refused.
    #[arg(long = "key", value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Not before: an RFC 3339 time or a date.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Attempts before dead-letter (default: the agent's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: Option<u32>,
    /// A tag (repeat for more).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Follow the task until it ends, printing each state (needs a running node).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct TaskLsArgs {
    #[arg(long, value_enum)]
    pub state: Option<TaskStateArg>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    /// How many (newest first).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TaskStateArg {
    Queued,
    Scheduled,
    Running,
    WaitingForProvider,
    WaitingApproval,
    Succeeded,
    Failed,
    Dead,
    Cancelled,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApprovalStateArg {
    Pending,
    Approved,
    Rejected,
    Expired,
    Allowed,
    Denied,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsAction {
    /// The inbox: pending requests first (highest risk, soonest SLA), then decided ones.
    Ls {
        /// Only requests with this status (default: pending; see --all).
        #[arg(long, value_enum, alias = "state")]
        status: Option<ApprovalStateArg>,
        /// Every status, not only pending.
        #[arg(long, conflicts_with = "status")]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One request: arguments, rationale, the rule and why, votes, history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a request (as the OS user; through a running node, as its bootstrap token).
    Approve {
        id: String,
        /// Approve these arguments instead (JSON, or @file): re-validated, the diff kept.
        #[arg(long, value_name = "JSON")]
        arguments: Option<String>,
        /// A note kept with the decision.
        #[arg(long)]
        reason: Option<String>,
        /// Also allow exactly these arguments from the same proposer from now on.
        #[arg(long, conflicts_with = "always_hours")]
        always_exact: bool,
        /// Also allow this action from the same agent or client, any arguments, for N hours.
        #[arg(long, value_name = "N")]
        always_hours: Option<u32>,
    },
    /// Reject a request; the reason is given to the agent.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuditFormatArg {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chain; exit 1 naming the first altered, removed or reordered entry.
    Verify {
        /// A head saved earlier (`audit head` or `export --head-out`): also prove nothing
        /// after it was cut or rewritten.
        #[arg(long, value_name = "FILE")]
        head: Option<PathBuf>,
    },
    /// Export every entry, oldest first.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: AuditFormatArg,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also write the head the export ends at (JSON), to verify against later.
        #[arg(long, value_name = "FILE")]
        head_out: Option<PathBuf>,
    },
    /// Print the chain's head (JSON): keep it elsewhere and verify against it later.
    Head,
}

#[derive(Debug, Subcommand)]
pub enum RunAction {
    /// Start a run: a `[runs.<name>]` of the config, or a definition (--definition).
    Start(RunStartArgs),
    /// List runs, newest first.
    Ls {
        /// How many (newest first).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run with its steps, their tasks and the aggregate.
    Show {
        id: String,
        /// The run as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run (running steps stop at their next step).
    Cancel { id: String },
}

#[derive(Debug, Args)]
pub struct RunStartArgs {
    /// A run declared in the config (`[runs.<name>]`).
    #[arg(required_unless_present = "definition", conflicts_with = "definition")]
    pub name: Option<String>,
    /// The definition: JSON, or @FILE with JSON in it.
    #[arg(long, value_name = "JSON|@FILE")]
    pub definition: Option<String>,
    /// The run's input: a JSON object, or @FILE with one in it (default: {}).
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// The same key and request give the same run; another request with it is refused.
    #[arg(long = "key", value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Check the definition and print the plan (steps, calls, worst-case cost); run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Follow the run until it ends, printing each step's progress (needs a running node).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// List the configured agents.
    Ls {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One agent's definition.
    Show { name: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutcomeArg {
    Ok,
    Error,
    Cancelled,
    Unrecorded,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// Read everything.
    Read,
    /// Also act on tasks and approvals.
    Operate,
    /// Also tokens, config and secrets.
    Admin,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.listen`): an IP address with a port, or
    /// `localhost:PORT` (127.0.0.1). Port 0 picks a free port.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<String>,
    /// Accept a non-loopback address without TLS (plain HTTP; trusted networks only).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Serve the web dashboard (a built ui/dist) at `/`.
    #[arg(long, env = "FLIGHTDECK_UI_DIR", value_name = "DIR")]
    pub ui_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show the schema version and pending migrations (changes nothing).
    Status,
    /// Apply pending migrations.
    Migrate,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a config file (default: the one in use) and print every problem.
    Check {
        /// File to check.
        file: Option<PathBuf>,
    },
    /// Print the effective configuration (file, environment and flags merged) as JSON.
    Show,
}

/// `--listen`: `IP:PORT`, or `localhost:PORT` meaning `127.0.0.1:PORT`.
fn parse_listen(value: &str) -> Result<String, String> {
    flightdeck_engine::config::parse_listen(value)
        .map(|addr| addr.to_string())
        .ok_or_else(|| {
            format!(
                "`{value}` is not an IP address with a port or localhost:PORT (e.g. 127.0.0.1:7878)"
            )
        })
}

/// `--since`: an RFC 3339 time, or a date meaning its UTC midnight.
fn parse_since(value: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.to_utc());
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{value}` is not an RFC 3339 time or a date (2026-12-01)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        for (given, want) in [
            ("127.0.0.1:7878", Some("127.0.0.1:7878")),
            ("[::1]:0", Some("[::1]:0")),
            ("0.0.0.0:80", Some("0.0.0.0:80")),
            ("localhost:7878", Some("127.0.0.1:7878")),
            ("LocalHost:0", Some("127.0.0.1:0")),
            ("localhost", None),
            ("localhost:http", None),
            ("node.lan:7878", None),
            ("127.0.0.1", None),
        ] {
            assert_eq!(parse_listen(given).ok().as_deref(), want, "{given}");
        }
    }

    #[test]
    fn arguments_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
