//! `mamori`: the command-line entry point. Glue only: parsing, logging, exit codes.

mod assessment;
mod catalog;
mod datadir;
mod demo;
mod disclose;
mod emergency;
mod init;
mod ledger;
mod master;
mod register;
mod serve;
mod terminal;
mod vendor;

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// mamori (守り): 医療情報システムの安全管理に関するガイドライン準拠の診療記録サービス /
/// clinical records built for Japan's medical information security guidelines.
#[derive(Debug, Parser)]
#[command(name = "mamori", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log format: `human` (default) or `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "MAMORI_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log level filter, e.g. `info`, `debug`, `mamori_server=debug`.
    #[arg(long, global = true, default_value = "info", env = "MAMORI_LOG")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: configuration, keys, TLS certificate, database, first
    /// institution and its administrator. Refuses to touch an existing directory.
    Init(InitArgs),
    /// Serve mamori over HTTPS (initializing the data directory first if it does not exist).
    Serve(ServeArgs),
    /// Show the effective configuration (file + MAMORI_* environment), secrets redacted.
    Config(ConfigArgs),
    /// Registered terminals (MDS 15): issue a client certificate (PKCS#12), list, revoke,
    /// require them for login.
    Terminal(TerminalArgs),
    /// Sealed emergency accounts for outages (MDS 11): create one (credentials printed once,
    /// for a sealed envelope), list them, and close them when normal operation returns
    /// (sessions ended, credentials re-keyed).
    Emergency(EmergencyArgs),
    /// The audit log's latest signed checkpoint (C2SP tlog-checkpoint in a signed note), or
    /// with --verifier-key the server's verifier key.
    Checkpoint(CheckpointArgs),
    /// Verify every institution's audit log: leaves, tree, stored nodes and the checkpoint
    /// files outside the database (exit 1 when anything was changed or truncated).
    Verify(VerifyArgs),
    /// Master data (drugs, diseases, lab items): import a CSV file as new entry versions.
    Master(MasterArgs),
    /// Fill an institution with synthetic Japanese patients and records (deterministic by
    /// seed), for trying mamori and for benchmarks. Creates the data directory if needed.
    Demo(DemoArgs),
    /// The guideline catalogs shipped as data (保守委託機関編 checklist, MDS and SDS rows):
    /// list their items.
    Catalog(CatalogArgs),
    /// mamori's own answer to each of the 99 MDS/SDS rows (はい / いいえ / 対象外), with the
    /// explanation and the tests that prove each はい.
    Disclose(DiscloseArgs),
    /// The compliance workbench's registers (台帳・一覧: system inventory, demarcation, assets,
    /// BYOD, IoT, contacts, BCP, third-party provision, patient notices): import a CSV or xlsx
    /// file whole, export as CSV or JSON.
    Register(RegisterArgs),
    /// Assessments (自己点検): write an assessment's self-inspection report as PDF, xlsx (the
    /// checklist layout: はい/いいえ, 確認日, 目標日) or OSCAL assessment-results.
    Assessment(AssessmentArgs),
    /// Vendors' MDS/SDS disclosures (保守委託機関編 10⑨): import a vendor's filled form (a risk
    /// record opens for every いいえ), or write the blank form.
    Vendor(VendorArgs),
}

#[derive(Debug, clap::Args)]
struct RegisterArgs {
    #[command(subcommand)]
    command: RegisterCommand,
}

#[derive(Debug, Subcommand)]
enum RegisterCommand {
    /// Import a CSV (UTF-8) or xlsx file into a register: the header is the register's field
    /// names in order. The whole file is checked first: a bad line is refused with its number
    /// and reason and nothing is imported.
    Import {
        #[command(flatten)]
        target: DataTarget,
        /// The register: system, demarcation, asset, byod, iot, contact, bcp, third_party,
        /// patient_notice.
        #[arg(long)]
        kind: String,
        /// The file.
        file: PathBuf,
    },
    /// Print a register: csv (its live entries, with the import's header) or json (every
    /// entry with its version, retired ones too).
    Export {
        #[command(flatten)]
        target: DataTarget,
        /// The register.
        #[arg(long)]
        kind: String,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

#[derive(Debug, clap::Args)]
struct AssessmentArgs {
    #[command(subcommand)]
    command: AssessmentCommand,
}

#[derive(Debug, Subcommand)]
enum AssessmentCommand {
    /// Write the report of an assessment to a file (recorded as `compliance.report` by the
    /// operator).
    Report {
        #[command(flatten)]
        target: DataTarget,
        /// The assessment's id.
        #[arg(long, value_name = "ID")]
        assessment: mamori_core::AssessmentId,
        /// pdf, xlsx or oscal.
        #[arg(long, value_parser = ["pdf", "xlsx", "oscal"])]
        format: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// IPAexGothic for the PDF (default: `[reports] gothic_font`, Debian's fonts-ipaexfont).
        #[arg(long, value_name = "FILE")]
        gothic_font: Option<PathBuf>,
        /// IPAexMincho for the PDF (default: `[reports] mincho_font`).
        #[arg(long, value_name = "FILE")]
        mincho_font: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct VendorArgs {
    #[command(subcommand)]
    command: VendorCommand,
}

#[derive(Debug, Subcommand)]
enum VendorCommand {
    /// Record a vendor's disclosure from a file (CSV in UTF-8, or xlsx; header `id,answer,remark`
    /// or the blank form's `id,number,text,answer,remark`). The whole file is checked first: a
    /// bad line is refused with its number and reason and nothing is recorded.
    Import {
        #[command(flatten)]
        target: DataTarget,
        /// The filled form.
        file: PathBuf,
        /// The vendor (製造業者・サービス事業者).
        #[arg(long)]
        vendor: String,
        /// The product or service.
        #[arg(long)]
        product: String,
        /// The product's version.
        #[arg(long, default_value = "")]
        product_version: String,
        /// mds-7.0 or sds-7.0.
        #[arg(long)]
        catalog: String,
        /// The JAHIS version of the vendor's form (e.g. "JAHIS 24-101").
        #[arg(long)]
        jahis_version: String,
        /// When it was received (YYYY-MM-DD).
        #[arg(long)]
        received_on: String,
        /// Notes.
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Write the blank form of a catalog (every row's id, number and text): CSV to stdout or
    /// --out, xlsx to --out.
    Template {
        /// mds-7.0 or sds-7.0.
        #[arg(long)]
        catalog: String,
        /// csv or xlsx.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct DiscloseArgs {
    /// json (rows with catalog, id, answer, explanation, tests), md, or xlsx (needs --out).
    #[arg(long, default_value = "json")]
    format: String,
    /// Write to this file (required for xlsx).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Instead of printing: check that every test a はい names ran and passed in this `cargo
    /// test` output (exit 1 naming the rows otherwise). CI runs it over the whole run.
    #[arg(long, value_name = "FILE")]
    verify_tests: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Every item of every shipped catalog (catalog, id, section, number, text).
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        /// Only this catalog (hoshu-7.0, mds-7.0, sds-7.0).
        #[arg(long)]
        catalog: Option<String>,
    },
    /// Write a catalog as OSCAL 1.1 catalog JSON (to stdout).
    Export {
        /// The format: oscal.
        #[arg(long, default_value = "oscal")]
        format: String,
        /// The catalog (hoshu-7.0, mds-7.0, sds-7.0).
        #[arg(long)]
        catalog: String,
    },
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    #[command(flatten)]
    target: DataTarget,
    /// How many patients (1 to 100000).
    #[arg(long, default_value_t = 100)]
    patients: usize,
    /// The seed: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct MasterArgs {
    #[command(subcommand)]
    command: MasterCommand,
}

#[derive(Debug, Subcommand)]
enum MasterCommand {
    /// Load a master CSV (UTF-8; header `master,code,name,unit,reference_range,valid_from,valid_to`).
    /// The whole file is checked first: a bad line is refused with its number and reason and
    /// nothing is loaded. Rows equal to the loaded version are skipped; others become new versions.
    Import {
        #[command(flatten)]
        target: DataTarget,
        /// The CSV file (or --sample for the small sample master shipped with mamori).
        #[arg(required_unless_present = "sample")]
        file: Option<PathBuf>,
        /// Load the sample master shipped with mamori.
        #[arg(long, conflicts_with = "file")]
        sample: bool,
    },
}

#[derive(Debug, clap::Args)]
struct CheckpointArgs {
    #[command(flatten)]
    target: DataTarget,
    /// Print the verifier key (`<name>+<key id>+<base64 key>`) instead.
    #[arg(long)]
    verifier_key: bool,
    /// Also write the checkpoint file now (as `serve` does periodically).
    #[arg(long)]
    write: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    target: DataTarget,
    /// Also prove that the log only grew since this (older) signed checkpoint file.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct EmergencyArgs {
    #[command(subcommand)]
    command: EmergencyCommand,
}

#[derive(Debug, Subcommand)]
enum EmergencyCommand {
    /// Create a sealed emergency account and print its password and TOTP secret once. It
    /// logs in only after a second person activates it (web page or API).
    Seal {
        #[command(flatten)]
        target: DataTarget,
        /// Its login ID (never used before, in any institution), e.g. kinkyu1.
        login_id: String,
        /// Its display name, e.g. 緊急用1.
        #[arg(long, value_name = "NAME")]
        display_name: String,
        /// A clinical role it holds (repeatable; default doctor).
        #[arg(long = "role", value_name = "ROLE", default_values_t = [String::from("doctor")])]
        roles: Vec<String>,
        /// Its job type (職種).
        #[arg(long, value_name = "JOB", default_value = "doctor")]
        job_type: String,
    },
    /// List the sealed accounts: sealed, in use (by whom, until when), or opened and awaiting close.
    List {
        #[command(flatten)]
        target: DataTarget,
    },
    /// End the emergency: close every activation, end the sessions and re-key each account
    /// opened since it was sealed (or LOGIN_ID, or --all); the new credentials are printed once.
    Close {
        #[command(flatten)]
        target: DataTarget,
        /// Only this account.
        login_id: Option<String>,
        /// Re-key every sealed account, opened or not.
        #[arg(long, conflicts_with = "login_id")]
        all: bool,
    },
}

#[derive(Debug, clap::Args)]
struct TerminalArgs {
    #[command(subcommand)]
    command: TerminalCommand,
}

/// What every subcommand that opens the data directory's database acts on (terminal, emergency).
#[derive(Debug, clap::Args)]
struct DataTarget {
    /// The data directory.
    #[arg(long, value_name = "DIR", env = "MAMORI_DATA")]
    data: PathBuf,
    /// The institution (needed only when the database holds several); `--institution` too.
    #[arg(long, value_name = "UUID", alias = "institution")]
    institution_id: Option<mamori_core::InstitutionId>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum TerminalCommand {
    /// Issue a client certificate for a terminal and write it as a password-protected PKCS#12
    /// file (the password is printed once). Creates the terminal CA on first use.
    Issue {
        #[command(flatten)]
        target: DataTarget,
        /// The terminal's name (letters, digits, '.', '_', '-'), never reused.
        name: String,
        /// Where to write the PKCS#12 file (default NAME.p12; never overwritten).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the terminals and whether they are required.
    List {
        #[command(flatten)]
        target: DataTarget,
    },
    /// Revoke a terminal: its certificate no longer logs in and its sessions end.
    Revoke {
        #[command(flatten)]
        target: DataTarget,
        /// The terminal's name.
        name: String,
    },
    /// Require registered terminals for every login (`on`) or not (`off`).
    Require {
        #[command(flatten)]
        target: DataTarget,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// The data directory to create (mode 0700).
    #[arg(long, value_name = "DIR", env = "MAMORI_DATA")]
    data: PathBuf,
    /// Name of the first institution (医療機関名).
    #[arg(long, value_name = "NAME", default_value = init::DEFAULT_INSTITUTION)]
    institution: String,
    /// Database URL: default SQLite in DIR/mamori.db, or postgres://user:pass@host/db.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Address `serve` will listen on (written to the configuration).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Use this PEM certificate chain instead of generating a self-signed one (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Print one JSON object (institution_id, admin_login_id, admin_password, url, …).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The data directory (created as by `init` if it does not exist yet).
    #[arg(long, value_name = "DIR", env = "MAMORI_DATA")]
    data: PathBuf,
    /// Address to listen on (default from the configuration: 127.0.0.1:8443).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS. Allowed only on a loopback address (development).
    #[arg(long)]
    insecure_http: bool,
    /// When the data directory is created first: name of the first institution.
    #[arg(long, value_name = "NAME", default_value = init::DEFAULT_INSTITUTION)]
    institution: String,
    /// When the data directory is created first: database URL.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// When the data directory is created first: print its credentials as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// The data directory.
    #[arg(long, value_name = "DIR", env = "MAMORI_DATA")]
    data: PathBuf,
}

/// A failure to report: one line, and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// 2: the input was refused (nothing changed); 1: something failed while running.
    pub code: u8,
    /// The one-line message (Japanese / English).
    pub message: String,
}

impl Failure {
    /// The input was refused; nothing changed.
    pub fn refused(message: impl std::fmt::Display) -> Self {
        Self { code: 2, message: message.to_string() }
    }

    /// Something failed while running.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self { code: 1, message: message.to_string() }
    }
}

fn init_logging(format: LogFormat, level: &str) -> Result<(), Failure> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|_| {
        Failure::refused(format!("ログレベル「{level}」が不正です / invalid log level '{level}' (e.g. info, debug)"))
    })?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    result.map_err(|e| Failure::failed(format!("ログを初期化できません / cannot start logging: {e}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(f) = init_logging(cli.log_format, &cli.log_level) {
        eprintln!("mamori: {}", f.message);
        return ExitCode::from(f.code);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mamori: 実行環境を起動できません / cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => init::command(args).await,
            Command::Serve(args) => serve::command(args).await,
            Command::Config(args) => datadir::show_config(&args.data),
            Command::Terminal(args) => terminal::command(args).await,
            Command::Emergency(args) => emergency::command(args).await,
            Command::Checkpoint(args) => ledger::checkpoint(args).await,
            Command::Verify(args) => ledger::verify(args).await,
            Command::Master(args) => master::command(args).await,
            Command::Demo(args) => demo::command(args).await,
            Command::Catalog(args) => catalog::command(&args),
            Command::Disclose(args) => disclose::command(&args),
            Command::Register(args) => register::command(args).await,
            Command::Assessment(args) => assessment::command(args).await,
            Command::Vendor(args) => vendor::command(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            tracing::debug!(code = f.code, "exiting with an error");
            eprintln!("mamori: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
