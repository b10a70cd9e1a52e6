//! The command line (clap). Every command has `--help`. Defaults that the library also has (tuning,
//! limits) are taken from it, so they are defined once.

use crate::format::HumanDuration;
use clap::{Args, Parser, Subcommand};
use okta_ingest::{
    BulkAuth, BulkDocument, BulkOptions, Categories, DpopMode, Exclusions, S3Addressing, S3Options,
    SplunkHecOptions, SyslogOptions, Tuning, WebhookOptions,
};
use std::path::PathBuf;
use std::time::Duration;

/// Pull Okta's System Log (authentication, security, ITP and lifecycle events) into your own pipeline:
/// every event once, verbatim, every 5 minutes.
///
/// Quick start: `okta-ingest demo` runs everything against a built-in Okta emulator. For a real org,
/// `okta-ingest ui` (a local web console) or `okta-ingest setup` (the terminal) walks you through it and
/// tests every step. By hand: create an API Services app with public-key client authentication (DPoP on
/// or off: both work; `okta-ingest keygen` makes the key), grant it okta.logs.read and the Report
/// Administrator role, then `okta-ingest instance add`, `okta-ingest check`, and `okta-ingest run`.
#[derive(Debug, Parser)]
#[command(name = "okta-ingest", version, propagate_version = true)]
pub struct Cli {
    /// The state (instances, cursors, queued events): a SQLite file, created with mode 0600 by
    /// `instance add` and `run` (commands that only read refuse a path where none exists); or, for a
    /// fleet of hosts sharing one state, a PostgreSQL URL (postgres://USER@HOST/DB?sslmode=require;
    /// the password from the URL or PGPASSWORD; see "Running a fleet" in the README). Default:
    /// $XDG_DATA_HOME/okta-ingest/state.db, else ~/.local/share/okta-ingest/state.db.
    #[arg(long, global = true, env = "OKTA_INGEST_DB", value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub fleet: crate::state_location::FleetArgs,
    /// More log output on stderr (-v debug for okta-ingest, -vv also each request to Okta); RUST_LOG
    /// overrides. The default shows the start, each tick that fetched or failed, rate-limit waits, the
    /// stop.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr: text, or json (one object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "OKTA_INGEST_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line.
    Json,
}

/// The default state file, if the environment names a home for it.
pub fn default_db() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".local/share"))
        })
        .map(|base| base.join("okta-ingest").join("state.db"))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list, show, edit, pause, resume or remove Okta instances, or rotate their keys.
    #[command(subcommand)]
    Instance(InstanceCmd),
    /// Check that an instance can get a token and read the System Log; explains what to fix if not.
    /// Takes at most about 30 s; permanent errors (untrusted certificate, unknown name) fail at once.
    Check {
        /// Instance name.
        name: String,
    },
    /// Fetch new events for every instance and deliver them to a sink.
    ///
    /// Runs until SIGTERM or Ctrl-C, which stop it within about a second (a second signal exits at
    /// once; either way nothing is lost or doubled). SIGHUP reopens a file sink (log rotation).
    Run(RunArgs),
    /// Open the web console (guided setup, live status) and ingest in the same process.
    ///
    /// Prints a one-time login link for 127.0.0.1:8730 (change it with --ui); instances set up there
    /// start polling at once and deliver to --sink. Takes every `run` option. Loopback only: from
    /// another machine use an SSH tunnel (ssh -L 8730:127.0.0.1:8730 HOST).
    Ui(RunArgs),
    /// Set up one instance step by step: a wizard on the terminal, or from an answers file.
    ///
    /// On a terminal it asks for the Okta domain (the Admin Console address is corrected) and, behind a
    /// TLS-inspecting proxy, its CA file, and checks that the org answers; makes a key here (or takes
    /// your PEM file) and prints its public JWK and PEM with the steps to do in the Okta Admin Console;
    /// asks for the Client ID and runs the staged test connection (org, client, key, DPoP, scope,
    /// role, one page of the System Log), showing the fix for a stage that failed, as often as needed;
    /// then what to collect, the backfill and the name. Nothing is saved unless the test passed; Esc
    /// or Ctrl-C quits (a key made in that run is removed). It ends with the equivalent `instance add`
    /// line and what to run next.
    ///
    /// Without a terminal (scripts, CI) give the answers in a TOML file with --answers; the same test
    /// runs, its stages are printed, a failure exits non-zero naming the stage and its fix, and
    /// nothing is saved. `instance add` sets up an instance without any test.
    Setup {
        /// TOML answers instead of prompts. Keys: domain, client_id (required); private_key = "PEM
        /// file" or generate_key = true (a key made for the instance, its public JWK printed, kept
        /// when the test fails and used again by the next run); key_id (with private_key); name
        /// (default: the domain's first label); backfill_days (0 to 14, default 7); events (default
        /// ["authentication", "security", "itp"]; also "lifecycle"); ca_file; dpop (auto, required,
        /// off; default auto); silence_alert ("1h", or "off"; default 1h). Relative paths are the
        /// file's.
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Manage connector versions: add a .wasm, list, activate (all instances or a canary), roll back.
    #[command(subcommand)]
    Component(ComponentCmd),
    /// Move a state: `state migrate` copies one host's SQLite file into a fleet's PostgreSQL.
    #[command(subcommand)]
    State(StateCmd),
    /// Per instance: active connector version, last tick and outcome, events, queued events, last error.
    Status(StatusArgs),
    /// Run okta-ingest end to end against a built-in Okta emulator: nothing to configure.
    Demo(DemoArgs),
    /// Serve the Okta emulator standalone and print the `instance add` line to use with it.
    Emulator(EmulatorArgs),
    /// Make the RSA key pair an Okta app authenticates with, and print the public key to register.
    ///
    /// For an API Services app's Client Credentials › Public key / Private key: the private key goes to
    /// a new file (mode 0600) and never leaves this machine; the public key is printed as the JWK to
    /// paste into Okta's "Add key" dialog (and as PEM), with its key ID and the `instance add` line to
    /// run next. `instance add --generate-key` does the same for one instance.
    Keygen(KeygenArgs),
    /// Print a shell completion script, e.g. `okta-ingest completions bash > /etc/bash_completion.d/okta-ingest`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON object (instances, queue) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero (1) when any instance's last tick failed, or none succeeded within --stale (for
    /// monitoring scripts); the problems are printed on stderr.
    #[arg(long)]
    pub check: bool,
    /// With --check: how long without a tick that ended well counts as silent.
    #[arg(long, default_value = "15m", value_parser = parse_duration, requires = "check")]
    pub stale: Duration,
}

/// `instance ...`
#[derive(Debug, Subcommand)]
pub enum InstanceCmd {
    /// Add an instance (validates the domain, key and options; stores nothing if any is wrong).
    Add(AddArgs),
    /// List instances.
    List {
        /// JSON (an array of instances) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one instance.
    Show {
        /// Instance name.
        name: String,
    },
    /// Change an instance's settings (the backfill cannot change).
    Edit(EditArgs),
    /// Remove an instance (events already fetched are still delivered).
    Remove {
        /// Instance name.
        name: String,
    },
    /// Pause an instance: a running `run` stops polling it within 10 s (its queued events are still
    /// delivered; nothing is lost: resuming continues from its cursor).
    Pause {
        /// Instance name.
        name: String,
    },
    /// Resume a paused instance: a running `run` polls it again within 10 s.
    Resume {
        /// Instance name.
        name: String,
    },
    /// Rotate an instance's key without a gap: makes a new key (printed to add in Okta beside the old
    /// one; the instance keeps using the old key); then `--finish` switches once a check signed with the
    /// new key passes, and deletes the old key if okta-ingest made it. Okta: rotating keys of an app
    /// with granted scopes needs a Super Admin.
    RotateKey {
        /// Instance name.
        name: String,
        /// Check with the new key and, when Okta accepts it, switch to it.
        #[arg(long, conflicts_with = "cancel")]
        finish: bool,
        /// Abandon the rotation: delete the new key, keep the current one.
        #[arg(long)]
        cancel: bool,
    },
}

/// `state ...`
#[derive(Debug, Subcommand)]
pub enum StateCmd {
    /// Copy a SQLite state into an empty PostgreSQL one: instances with their cursors, the queued
    /// (undelivered) events, delivery progress, stored connector versions and their history. Refused
    /// while a host runs the source. Everything is written in one transaction and counted back; then
    /// the source's instances are paused and its queue handed over, so running the old file by mistake
    /// neither polls Okta nor delivers the moved events again. Ingestion continues where it stopped:
    /// start the hosts with --db pointing at the target.
    Migrate {
        /// The SQLite state file to move (it must exist).
        #[arg(long, value_name = "PATH")]
        from: PathBuf,
        /// The PostgreSQL state to move it into (postgres://…; TLS and password as for --db).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// `component ...`
#[derive(Debug, Subcommand)]
pub enum ComponentCmd {
    /// Validate a connector component (.wasm), store it by content hash and precompile it.
    Add {
        /// The component file (built for wasm32-wasip2 against wit/connector.wit).
        file: PathBuf,
    },
    /// List stored versions and which instances run them.
    List {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a version active at each instance's next tick (running hosts pick it up without a restart).
    Activate {
        /// Version (semver from the component), a hash prefix (8+ hex digits), or `embedded`.
        #[arg(value_name = "VERSION")]
        target: String,
        /// Only this instance (a canary); default: all instances.
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
    },
    /// Undo the newest activation (globally, or for one instance).
    Rollback {
        /// Only this instance.
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
    },
}

/// `instance add`
#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for this instance (letters, digits, '-', '_', '.').
    pub name: String,
    /// Okta domain, e.g. company.okta.com (or host:port); a pasted https:// or trailing / is fine.
    #[arg(long)]
    pub domain: String,
    /// Client ID of the API Services app.
    #[arg(long)]
    pub client_id: String,
    /// PEM file with the app's RSA private key (PKCS#1 or PKCS#8, unencrypted). Only its path is stored.
    /// Required unless --generate-key.
    #[arg(
        long,
        value_name = "PEM_FILE",
        required_unless_present = "generate_key"
    )]
    pub private_key: Option<PathBuf>,
    /// Make a new RSA key pair for this instance instead of --private-key: the private key is kept
    /// beside the state file (keys/NAME/KID.pem, mode 0600; removed again if the instance cannot be
    /// added), the instance signs with its KID, and the public key is printed as the JWK (and PEM) to
    /// add to the app in Okta (General › Client Credentials › Public key / Private key › Add key),
    /// before `okta-ingest check NAME`.
    #[arg(long, conflicts_with_all = ["private_key", "key_id"])]
    pub generate_key: bool,
    /// KID of the registered public key (needed when the app has several keys).
    #[arg(long, value_name = "KID")]
    pub key_id: Option<String>,
    /// Days of history to fetch on the first run, 0 to 14.
    #[arg(long, value_name = "DAYS", default_value = "0", value_parser = parse_backfill, allow_negative_numbers = true)]
    pub backfill_days: u8,
    /// Event categories: any of authentication, security, itp, lifecycle (comma-separated).
    #[arg(long, value_name = "LIST", default_value = "authentication,security,itp", value_parser = parse_categories)]
    pub events: Categories,
    /// Extra CA certificates (PEM) to trust for this domain, e.g. a TLS-inspecting proxy's CA.
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_file: Option<PathBuf>,
    /// DPoP-bound tokens (RFC 9449): auto sends a proof with each token request and uses the token Okta
    /// issues (DPoP where the app has "Require Demonstrating Proof of Possession" checked, Bearer where
    /// not); required refuses a Bearer token; off never sends a proof. The proof key is generated in
    /// memory by okta-ingest: nothing to register in Okta.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = dpop_modes())]
    pub dpop: DpopMode,
    /// Report the instance silent when no event has arrived for this long (e.g. 1h, 30m; at least
    /// 10m), or `off`: `status` says so, `/healthz` answers 503 naming it, and /metrics exports
    /// okta_ingest_seconds_since_last_event.
    #[arg(long, value_name = "DURATION|off", default_value = "1h", value_parser = parse_silence)]
    pub silence_alert: Silence,
    /// Event types to drop even inside the selected categories, comma-separated: exact types
    /// (policy.evaluate_sign_on) or prefixes ending in * (system.agent.*). Dropped events are never
    /// stored or delivered (the cursor still moves past them); `instance show` lists them.
    #[arg(long, value_name = "TYPES", default_value = "", value_parser = parse_exclusions)]
    pub exclude_event_types: Exclusions,
    /// Members to remove from every event before it is stored, comma-separated dotted paths
    /// (debugContext.debugData.requestUri), a last `*` for every member of an object
    /// (debugContext.debugData.*); a path through an array applies to each element. Everything else
    /// stays byte for byte; `instance show` lists them.
    #[arg(long, value_name = "PATHS", default_value = "")]
    pub redact: String,
    /// Members a `*` path of --redact keeps (debugContext.debugData.privilegeGranted).
    #[arg(long, value_name = "PATHS", default_value = "")]
    pub redact_keep: String,
}

/// `instance edit`
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Instance name.
    pub name: String,
    /// New Okta domain (resets the cursor: it is another org).
    #[arg(long)]
    pub domain: Option<String>,
    /// New client ID.
    #[arg(long)]
    pub client_id: Option<String>,
    /// New private key PEM file.
    #[arg(long, value_name = "PEM_FILE")]
    pub private_key: Option<PathBuf>,
    /// New KID.
    #[arg(long, value_name = "KID", conflicts_with = "no_key_id")]
    pub key_id: Option<String>,
    /// Stop sending a KID.
    #[arg(long)]
    pub no_key_id: bool,
    /// New event categories.
    #[arg(long, value_name = "LIST", value_parser = parse_categories)]
    pub events: Option<Categories>,
    /// New CA file.
    #[arg(long, value_name = "PEM_FILE", conflicts_with = "no_ca_file")]
    pub ca_file: Option<PathBuf>,
    /// Stop trusting the extra CA file.
    #[arg(long)]
    pub no_ca_file: bool,
    /// Refused: the backfill of an existing instance cannot be edited.
    #[arg(long, value_name = "DAYS", allow_negative_numbers = true)]
    pub backfill_days: Option<String>,
    /// New DPoP mode: auto, required or off (see `instance add --help`).
    #[arg(long, value_name = "MODE", value_parser = dpop_modes())]
    pub dpop: Option<DpopMode>,
    /// New silence alert: a duration (at least 10m) or `off` (see `instance add --help`).
    #[arg(long, value_name = "DURATION|off", value_parser = parse_silence)]
    pub silence_alert: Option<Silence>,
    /// New excluded event types, comma-separated, replacing the old list ("" drops none; see
    /// `instance add --help`).
    #[arg(long, value_name = "TYPES", value_parser = parse_exclusions)]
    pub exclude_event_types: Option<Exclusions>,
    /// New members to remove, replacing the old paths ("" removes none; see `instance add --help`).
    #[arg(long, value_name = "PATHS")]
    pub redact: Option<String>,
    /// New members a `*` path keeps, replacing the old ones.
    #[arg(long, value_name = "PATHS")]
    pub redact_keep: Option<String>,
}

/// `run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Tick every instance until caught up, deliver, and exit (non-zero if any instance failed).
    #[arg(long)]
    pub once: bool,
    /// Where events go: stdout, file:PATH (appended, one JSON event per line, synced to disk),
    /// https://HOST/PATH (a webhook: batches POSTed as JSON arrays; see the Webhook sink options), or
    /// splunk-hec+https://HOST:8088 (Splunk's HTTP Event Collector; see the Splunk HEC sink options), or
    /// elasticsearch+https://HOST:9200/INDEX (also opensearch+https://…; `_bulk` create actions with
    /// _id = the event's uuid; see the Elasticsearch sink options), or syslog+tls://HOST[:PORT]
    /// (RFC 5424 messages over TLS, port 6514 by default; see the Syslog sink options), or
    /// s3://BUCKET/PREFIX (gzip'd NDJSON objects, credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY; see the S3 sink options).
    #[arg(long, default_value = "stdout")]
    pub sink: String,
    /// TOML file with any of these options (keys are the option names without `--`, e.g.
    /// `sink = "file:/var/log/okta/events.jsonl"`, `interval = "5m"`, `admin = "127.0.0.1:9100"`, and
    /// `db`); options given on the command line win over it.
    #[arg(long, value_name = "FILE", env = "OKTA_INGEST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Time between ticks of an instance (e.g. 5m, 30s); ±10% jitter is added. At least 1m: each tick
    /// spends System Log requests from the org's rate limit, which every API client of the org shares,
    /// and polling faster finds no more events.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub interval: Duration,
    /// Allow an --interval under 1m (tests, the emulator).
    #[arg(long)]
    pub allow_short_interval: bool,
    /// Run this connector component (.wasm) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub component: Option<PathBuf>,
    /// Instances ticking at the same time.
    #[arg(long, default_value_t = okta_ingest::HostConfig::new("").concurrency)]
    pub concurrency: usize,
    /// Serve GET /healthz and GET /metrics (Prometheus) on this address, e.g. 127.0.0.1:9100 or
    /// localhost:9100. A non-loopback address needs --admin-token-env.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "once")]
    pub admin: Option<String>,
    /// Name of an environment variable holding a bearer token (16 characters or more) the admin
    /// endpoint requires (`Authorization: Bearer TOKEN`).
    #[arg(long, value_name = "VAR", requires = "admin")]
    pub admin_token_env: Option<String>,
    /// Let GET /healthz answer without the token (orchestrator probes); /metrics still needs it.
    #[arg(long, requires = "admin_token_env")]
    pub admin_open_healthz: bool,
    /// /healthz reports 503 "stalled" when no tick has ended well for this many intervals (at least
    /// the longest a tick may wait for rate limits plus one interval).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), requires = "admin")]
    pub stalled_after: u32,
    /// Serve the web console (guided setup, live status) on this loopback address, e.g.
    /// 127.0.0.1:8730; a one-time login link is printed at start. `okta-ingest ui` is `run --ui
    /// 127.0.0.1:8730`.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "once")]
    pub ui: Option<String>,
    #[command(flatten)]
    pub sinks: SinkArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
}

/// The options of every sink kind (`run` and `demo` take them all; `--sink` says which apply).
#[derive(Debug, Args, Clone)]
pub struct SinkArgs {
    #[command(flatten)]
    pub webhook: WebhookArgs,
    #[command(flatten)]
    pub hec: HecArgs,
    #[command(flatten)]
    pub es: ElasticsearchArgs,
    #[command(flatten)]
    pub syslog: SyslogArgs,
    #[command(flatten)]
    pub s3: S3Args,
}

impl SinkArgs {
    /// The sink options.
    pub fn options(&self) -> crate::sink_spec::SinkOptions {
        crate::sink_spec::SinkOptions {
            webhook: self.webhook.options(),
            hec: self.hec.options(),
            es: self.es.options(),
            syslog: self.syslog.options(),
            s3: self.s3.options(),
        }
    }
}

/// A silence alert as given: a duration, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence(pub Option<Duration>);

fn parse_exclusions(s: &str) -> Result<Exclusions, String> {
    Exclusions::parse(s)
}

fn parse_silence(s: &str) -> Result<Silence, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Silence(None));
    }
    crate::format::parse_duration(s).map(|d| Silence(Some(d)))
}

/// Where `okta-ingest ui` serves the console.
pub const DEFAULT_UI_ADDRESS: &str = "127.0.0.1:8730";

/// Options of the webhook sink (`--sink https://HOST/PATH`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Webhook sink (--sink https://HOST/PATH)")]
pub struct WebhookArgs {
    /// Most events per POST (a JSON array of the events as Okta sent them).
    #[arg(long, default_value_t = WebhookOptions::default().batch_events as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub webhook_batch_events: u64,
    /// Most bytes per POST body; a single larger event is still sent, alone.
    #[arg(long, default_value_t = WebhookOptions::default().batch_bytes as u64, value_parser = clap::value_parser!(u64).range(1024..))]
    pub webhook_batch_bytes: u64,
    /// Name of an environment variable holding the Authorization header value (e.g. `Bearer xyz`); the
    /// value is never logged.
    #[arg(long, value_name = "VAR")]
    pub webhook_auth_env: Option<String>,
    /// PEM file with CA certificates to trust for the receiver, besides the system roots.
    #[arg(long, value_name = "PEM")]
    pub webhook_ca_file: Option<PathBuf>,
    /// Timeout of one POST (connect, send, answer).
    #[arg(long, default_value_t = HumanDuration(WebhookOptions::default().timeout))]
    pub webhook_timeout: HumanDuration,
    /// Retries of a batch after 5xx, 408, 429, a timeout or a connection error, before delivery pauses
    /// (the events stay queued).
    #[arg(long, default_value_t = WebhookOptions::default().retries)]
    pub webhook_retries: u32,
    /// First back-off between those retries (doubles per retry, with jitter, at most 30s).
    #[arg(long, default_value_t = HumanDuration(WebhookOptions::default().retry_base))]
    pub webhook_retry_base: HumanDuration,
}

impl WebhookArgs {
    /// The sink options.
    pub fn options(&self) -> WebhookOptions {
        WebhookOptions {
            batch_events: self.webhook_batch_events as usize,
            batch_bytes: self.webhook_batch_bytes as usize,
            auth_env: self.webhook_auth_env.clone(),
            ca_file: self.webhook_ca_file.clone(),
            timeout: self.webhook_timeout.0,
            retries: self.webhook_retries,
            retry_base: self.webhook_retry_base.0,
        }
    }
}

/// Options of the Splunk HEC sink (`--sink splunk-hec+https://HOST:8088`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Splunk HEC sink (--sink splunk-hec+https://HOST:8088)")]
pub struct HecArgs {
    /// Name of the environment variable holding the HEC token (sent as `Authorization: Splunk TOKEN`;
    /// never logged).
    #[arg(long, value_name = "VAR", default_value = okta_ingest::DEFAULT_HEC_TOKEN_ENV)]
    pub hec_token_env: String,
    /// The events' sourcetype; OktaIM2:log is what the Splunk Add-on for Okta Identity Cloud maps.
    #[arg(long, default_value_t = SplunkHecOptions::default().sourcetype)]
    pub hec_sourcetype: String,
    /// The events' index (default: the token's default index).
    #[arg(long)]
    pub hec_index: Option<String>,
    /// The events' source (default: the token's).
    #[arg(long)]
    pub hec_source: Option<String>,
    /// The events' host field (default: the collector's).
    #[arg(long)]
    pub hec_host: Option<String>,
    /// Count a batch as delivered only once Splunk reports it indexed (indexer acknowledgement; the
    /// token must have it enabled). Without it, HTTP 200 only means the data looked valid.
    #[arg(long)]
    pub hec_ack: bool,
    /// With --hec-ack: how long to wait for a batch to be reported indexed before it is sent again.
    #[arg(long, default_value_t = HumanDuration(SplunkHecOptions::default().ack_timeout))]
    pub hec_ack_timeout: HumanDuration,
    /// With --hec-ack: time between acknowledgement queries.
    #[arg(long, default_value_t = HumanDuration(SplunkHecOptions::default().ack_poll))]
    pub hec_ack_poll: HumanDuration,
    /// Most events per POST.
    #[arg(long, default_value_t = SplunkHecOptions::default().batch_events as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub hec_batch_events: u64,
    /// Most bytes per POST body (HEC's default limit is 1 MB); a single larger event is still sent, alone.
    #[arg(long, default_value_t = SplunkHecOptions::default().batch_bytes as u64, value_parser = clap::value_parser!(u64).range(1024..))]
    pub hec_batch_bytes: u64,
    /// PEM file with CA certificates to trust for the collector, besides the system roots.
    #[arg(long, value_name = "PEM")]
    pub hec_ca_file: Option<PathBuf>,
    /// Timeout of one request (connect, send, answer).
    #[arg(long, default_value_t = HumanDuration(SplunkHecOptions::default().timeout))]
    pub hec_timeout: HumanDuration,
    /// Retries of a request after 5xx, 408, 429, a timeout or a connection error, before delivery
    /// pauses (the events stay queued).
    #[arg(long, default_value_t = SplunkHecOptions::default().retries)]
    pub hec_retries: u32,
    /// First back-off between those retries (doubles per retry, with jitter, at most 30s).
    #[arg(long, default_value_t = HumanDuration(SplunkHecOptions::default().retry_base))]
    pub hec_retry_base: HumanDuration,
}

impl HecArgs {
    /// The sink options.
    pub fn options(&self) -> SplunkHecOptions {
        SplunkHecOptions {
            token_env: self.hec_token_env.clone(),
            sourcetype: self.hec_sourcetype.clone(),
            index: self.hec_index.clone(),
            source: self.hec_source.clone(),
            host: self.hec_host.clone(),
            ack: self.hec_ack,
            ack_timeout: self.hec_ack_timeout.0,
            ack_poll: self.hec_ack_poll.0,
            batch_events: self.hec_batch_events as usize,
            batch_bytes: self.hec_batch_bytes as usize,
            ca_file: self.hec_ca_file.clone(),
            timeout: self.hec_timeout.0,
            retries: self.hec_retries,
            retry_base: self.hec_retry_base.0,
        }
    }
}

/// What each Elasticsearch document is (`--es-document`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EsDocument {
    /// The event's own fields, byte for byte, after an added @timestamp (its published).
    Event,
    /// {"@timestamp", "message": the event as a string}: for Elastic's Okta integration data stream
    /// (logs-okta.system-*), whose pipeline parses it into ECS.
    Message,
}

/// Options of the Elasticsearch / OpenSearch sink (`--sink elasticsearch+https://HOST:9200/INDEX`).
#[derive(Debug, Args, Clone)]
#[command(
    next_help_heading = "Elasticsearch / OpenSearch sink (--sink elasticsearch+https://HOST:9200/INDEX)"
)]
pub struct ElasticsearchArgs {
    /// Name of an environment variable holding an API key (sent as `Authorization: ApiKey VALUE`;
    /// never logged).
    #[arg(long, value_name = "VAR", conflicts_with = "es_basic_auth_env")]
    pub es_api_key_env: Option<String>,
    /// Name of an environment variable holding USER:PASSWORD for basic auth (never logged).
    #[arg(long, value_name = "VAR")]
    pub es_basic_auth_env: Option<String>,
    /// What each document is.
    #[arg(long, value_enum, default_value_t = EsDocument::Event)]
    pub es_document: EsDocument,
    /// Most events per _bulk request.
    #[arg(long, default_value_t = BulkOptions::default().batch_events as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub es_batch_events: u64,
    /// Most bytes per _bulk body; a single larger event is still sent, alone.
    #[arg(long, default_value_t = BulkOptions::default().batch_bytes as u64, value_parser = clap::value_parser!(u64).range(1024..))]
    pub es_batch_bytes: u64,
    /// PEM file with CA certificates to trust for the cluster, besides the system roots.
    #[arg(long, value_name = "PEM")]
    pub es_ca_file: Option<PathBuf>,
    /// Timeout of one request (connect, send, answer).
    #[arg(long, default_value_t = HumanDuration(BulkOptions::default().timeout))]
    pub es_timeout: HumanDuration,
    /// Retries of a request (5xx, 408, 429, timeouts, connection errors), and of the events the cluster
    /// refused for now (per-item 429 or 5xx), before delivery pauses (the events stay queued).
    #[arg(long, default_value_t = BulkOptions::default().retries)]
    pub es_retries: u32,
    /// First back-off between those retries (doubles per retry, with jitter, at most 30s).
    #[arg(long, default_value_t = HumanDuration(BulkOptions::default().retry_base))]
    pub es_retry_base: HumanDuration,
}

impl ElasticsearchArgs {
    /// The sink options.
    pub fn options(&self) -> BulkOptions {
        BulkOptions {
            auth: match (&self.es_api_key_env, &self.es_basic_auth_env) {
                (Some(v), _) => BulkAuth::ApiKeyEnv(v.clone()),
                (None, Some(v)) => BulkAuth::BasicEnv(v.clone()),
                (None, None) => BulkAuth::None,
            },
            document: match self.es_document {
                EsDocument::Event => BulkDocument::Event,
                EsDocument::Message => BulkDocument::Message,
            },
            batch_events: self.es_batch_events as usize,
            batch_bytes: self.es_batch_bytes as usize,
            ca_file: self.es_ca_file.clone(),
            timeout: self.es_timeout.0,
            retries: self.es_retries,
            retry_base: self.es_retry_base.0,
        }
    }
}

/// Options of the syslog sink (`--sink syslog+tls://HOST:6514`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Syslog sink (--sink syslog+tls://HOST[:PORT])")]
pub struct SyslogArgs {
    /// Facility of every message (kern, user, … auth, authpriv, … audit, … local0–local7); the
    /// severity comes from each event's severity (DEBUG 7, INFO 6, WARN 4, ERROR 3).
    #[arg(long, default_value_t = SyslogOptions::default().facility, value_parser = clap::builder::PossibleValuesParser::new(okta_ingest::SYSLOG_FACILITIES))]
    pub syslog_facility: String,
    /// HOSTNAME of every message (default: this machine's hostname).
    #[arg(long)]
    pub syslog_hostname: Option<String>,
    /// APP-NAME of every message.
    #[arg(long, default_value_t = SyslogOptions::default().app_name)]
    pub syslog_app_name: String,
    /// SD-ID of the structured data carrying uuid, eventType, instance and seq: NAME@PEN with your
    /// organisation's IANA private enterprise number (the default uses 32473, the number reserved for
    /// documentation).
    #[arg(long, default_value_t = SyslogOptions::default().sd_id)]
    pub syslog_sd_id: String,
    /// Most events per connection (each connection is acknowledged by the receiver closing it).
    #[arg(long, default_value_t = SyslogOptions::default().batch_events as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub syslog_batch_events: u64,
    /// Most bytes per connection; a single larger message still goes, alone.
    #[arg(long, default_value_t = SyslogOptions::default().batch_bytes as u64, value_parser = clap::value_parser!(u64).range(1024..))]
    pub syslog_batch_bytes: u64,
    /// PEM file with CA certificates to trust for the receiver, besides the system roots.
    #[arg(long, value_name = "PEM")]
    pub syslog_ca_file: Option<PathBuf>,
    /// PEM certificate chain to present to a receiver that authenticates senders (mutual TLS, e.g.
    /// rsyslog's x509/certvalid or x509/name); with --syslog-client-key.
    #[arg(long, value_name = "PEM", requires = "syslog_client_key")]
    pub syslog_client_cert: Option<PathBuf>,
    /// PEM private key of --syslog-client-cert (PKCS#8, PKCS#1 or SEC1; read at start, never stored
    /// or logged; keep it mode 600).
    #[arg(long, value_name = "PEM", requires = "syslog_client_cert")]
    pub syslog_client_key: Option<PathBuf>,
    /// Timeout of each step of a connection (connect, each write, the receiver's close).
    #[arg(long, default_value_t = HumanDuration(SyslogOptions::default().timeout))]
    pub syslog_timeout: HumanDuration,
    /// Retries of a connection that failed (not connected, reset, timed out), before delivery pauses
    /// (the events stay queued).
    #[arg(long, default_value_t = SyslogOptions::default().retries)]
    pub syslog_retries: u32,
    /// First back-off between those retries (doubles per retry, with jitter, at most 30s).
    #[arg(long, default_value_t = HumanDuration(SyslogOptions::default().retry_base))]
    pub syslog_retry_base: HumanDuration,
}

impl SyslogArgs {
    /// The sink options.
    pub fn options(&self) -> SyslogOptions {
        SyslogOptions {
            facility: self.syslog_facility.clone(),
            app_name: self.syslog_app_name.clone(),
            hostname: self.syslog_hostname.clone(),
            sd_id: self.syslog_sd_id.clone(),
            batch_events: self.syslog_batch_events as usize,
            batch_bytes: self.syslog_batch_bytes as usize,
            ca_file: self.syslog_ca_file.clone(),
            client_certificate: self
                .syslog_client_cert
                .clone()
                .zip(self.syslog_client_key.clone()),
            timeout: self.syslog_timeout.0,
            retries: self.syslog_retries,
            retry_base: self.syslog_retry_base.0,
        }
    }
}

/// How the S3 sink names the bucket in URLs (`--s3-addressing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum S3AddressingArg {
    /// Virtual-hosted on AWS (unless the bucket name has a dot), path style on any other endpoint.
    Auto,
    /// https://ENDPOINT/BUCKET/KEY (MinIO, Ceph and most S3-compatible stores).
    Path,
    /// https://BUCKET.ENDPOINT/KEY.
    VirtualHosted,
}

/// Options of the S3 sink (`--sink s3://BUCKET/PREFIX`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "S3 sink (--sink s3://BUCKET/PREFIX)")]
pub struct S3Args {
    /// Region requests are signed for (default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1).
    #[arg(long, value_name = "REGION", env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// An S3-compatible store, https://HOST[:PORT] (plain http:// only on this machine) (default:
    /// AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then AWS: https://s3.REGION.amazonaws.com).
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    /// How the bucket is named in URLs.
    #[arg(long, value_enum, default_value_t = S3AddressingArg::Auto)]
    pub s3_addressing: S3AddressingArg,
    /// Most events per delivery batch; each batch makes one object per instance in it
    /// (instance=ID/dt=DATE/FIRST-LAST-DIGEST.ndjson.gz under the prefix).
    #[arg(long, default_value_t = S3Options::default().batch_events as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub s3_batch_events: u64,
    /// Do not send If-None-Match: * (for stores that refuse it); a retried upload then rewrites the
    /// same bytes to the same key instead of being answered 412.
    #[arg(long)]
    pub s3_no_conditional_write: bool,
    /// PEM file with CA certificates to trust for the endpoint, besides the system roots.
    #[arg(long, value_name = "PEM")]
    pub s3_ca_file: Option<PathBuf>,
    /// Timeout of one upload (connect, send, response).
    #[arg(long, default_value_t = HumanDuration(S3Options::default().timeout))]
    pub s3_timeout: HumanDuration,
    /// Retries of an upload that failed (not connected, 5xx, 429, timed out), before delivery pauses
    /// (the events stay queued).
    #[arg(long, default_value_t = S3Options::default().retries)]
    pub s3_retries: u32,
    /// First back-off between those retries (doubles per retry, with jitter, at most 30s).
    #[arg(long, default_value_t = HumanDuration(S3Options::default().retry_base))]
    pub s3_retry_base: HumanDuration,
}

impl S3Args {
    /// The sink options.
    pub fn options(&self) -> S3Options {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        S3Options {
            region: self
                .s3_region
                .clone()
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| S3Options::default().region),
            endpoint: self.s3_endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")),
            addressing: match self.s3_addressing {
                S3AddressingArg::Auto => S3Addressing::Auto,
                S3AddressingArg::Path => S3Addressing::Path,
                S3AddressingArg::VirtualHosted => S3Addressing::VirtualHosted,
            },
            batch_events: self.s3_batch_events as usize,
            conditional_write: !self.s3_no_conditional_write,
            ca_file: self.s3_ca_file.clone(),
            timeout: self.s3_timeout.0,
            retries: self.s3_retries,
            retry_base: self.s3_retry_base.0,
        }
    }
}

/// Advanced pacing options.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Advanced")]
pub struct TuningArgs {
    /// Share of each Okta org's System Log rate limit (`X-Rate-Limit-Limit`) that this host's instances on
    /// that org may use together, percent; the rest stays free for the org's other API clients.
    #[arg(long, default_value_t = Tuning::default().rate_limit_share_percent, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub rate_limit_share: u8,
    /// Longest single wait for a rate-limit reset inside a tick (a tick waits at most 5x this in all)
    /// before giving up until the next tick.
    #[arg(long, default_value_t = HumanDuration(Tuning::default().max_wait))]
    pub max_wait: HumanDuration,
    /// First back-off after a 5xx or network error (doubles per retry).
    #[arg(long, default_value_t = HumanDuration(Tuning::default().retry_base))]
    pub retry_base: HumanDuration,
    /// Retries of one request before a tick gives up.
    #[arg(long, default_value_t = Tuning::default().max_retries)]
    pub max_retries: u32,
    /// Timeout for one request until Okta's response headers arrive.
    #[arg(long, default_value_t = HumanDuration(Tuning::default().request_timeout))]
    pub request_timeout: HumanDuration,
    /// Consecutive traps or non-transient failures of a stored connector version on an instance before
    /// that instance is rolled back to the previous version (0: never).
    #[arg(long, default_value_t = okta_ingest::HostConfig::new("").auto_rollback_after, value_name = "N")]
    pub auto_rollback_after: u32,
    /// Longest a tick may run before the sandbox stops it.
    #[arg(long, default_value_t = HumanDuration(okta_ingest::SandboxLimits::default().call_timeout))]
    pub tick_timeout: HumanDuration,
}

/// `keygen`
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600); an existing file is never overwritten.
    #[arg(long, value_name = "FILE", default_value = "okta-app-key.pem")]
    pub out: PathBuf,
    /// One JSON object (private_key, kid, jwk, public_pem) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Events the emulator generates over the 14-day backfill.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// Keep the demo directory (state, keys, events.jsonl) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// Deliver to this sink instead of the demo directory's events.jsonl, e.g. a receiver on this
    /// machine: s3://BUCKET/demo --s3-endpoint http://127.0.0.1:9000 (MinIO, moto),
    /// syslog+tls://127.0.0.1:6514, https://127.0.0.1:8686/okta (Vector); see `run --help` for each
    /// kind and its options.
    #[arg(long)]
    pub sink: Option<String>,
    #[command(flatten)]
    pub sinks: SinkArgs,
}

/// `emulator`
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    /// Directory for the client key, the CA (key and certificate) and the printed lines' state file;
    /// kept across restarts, so an instance added once keeps working.
    #[arg(long, default_value = "okta-emulator")]
    pub dir: PathBuf,
    /// Events to generate.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Spread the generated events over this many past days (0: all of them just now).
    #[arg(long, default_value_t = 13)]
    pub days: u32,
    /// Per-minute System Log rate limit (429s when exceeded); none by default.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Keep generating this many new events a minute while running (published now), so `run`
    /// finds new ones at every poll.
    #[arg(long, value_name = "PER_MINUTE", value_parser = clap::value_parser!(u32).range(1..=600_000))]
    pub live: Option<u32>,
    /// Emulate an app with "Require DPoP" unchecked (it issues Bearer tokens). By default the app requires
    /// DPoP, as new API Services apps in Okta's admin console do.
    #[arg(long)]
    pub no_dpop: bool,
}

fn parse_backfill(s: &str) -> Result<u8, String> {
    okta_ingest::parse_backfill(s).map_err(|e| e.to_string())
}

fn parse_categories(s: &str) -> Result<Categories, String> {
    okta_ingest::parse_categories(s).map_err(|e| e.to_string())
}

/// `auto`, `required`, `off`, listed in `--help` and completed by the shells.
fn dpop_modes() -> impl clap::builder::TypedValueParser<Value = DpopMode> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(DpopMode::NAMED.map(|(name, _)| name))
        .map(|s| DpopMode::parse(&s).unwrap_or_default())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::format::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tuning_defaults_are_the_librarys() {
        let cli = Cli::try_parse_from(["okta-ingest", "run"]).unwrap();
        assert_eq!(run_of(&cli).interval, Duration::from_secs(300));
        let Command::Run(run) = cli.command else {
            panic!("run")
        };
        let t = Tuning::default();
        assert_eq!(run.tuning.max_wait.0, t.max_wait);
        assert_eq!(run.tuning.retry_base.0, t.retry_base);
        assert_eq!(run.tuning.request_timeout.0, t.request_timeout);
        assert_eq!(run.tuning.max_retries, t.max_retries);
        assert_eq!(run.tuning.rate_limit_share, t.rate_limit_share_percent);
        let help = Cli::command()
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("[default: 2m]") && help.contains("[default: 15m]"),
            "{help}"
        );
    }

    fn run_of(cli: &Cli) -> &RunArgs {
        match &cli.command {
            Command::Run(r) => r,
            _ => panic!("run"),
        }
    }
}
