//! The `ferrovault-certs` command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::files::{self, WrittenFiles};
use crate::{Result, generate_ca, issue_leaf, service_dns_names, validate_dns_label, validate_dns_name};

/// Common name of the CA `generate` creates.
pub const CA_COMMON_NAME: &str = "ferrovault webhook CA";

/// Generates the CA and serving certificate of ferrovault's admission webhook.
#[derive(Debug, Parser)]
#[command(name = "ferrovault-certs", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write ca.crt, tls.crt and tls.key for the webhook Service and print the base64 caBundle.
    ///
    /// The CA's private key is not kept: to rotate, generate a new set and update the caBundle.
    Generate(GenerateArgs),
}

/// Arguments of `generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Name of the webhook's Service.
    #[arg(long, env = "FERROVAULT_CERTS_SERVICE")]
    pub service: String,
    /// Namespace of the webhook's Service.
    #[arg(long, env = "FERROVAULT_CERTS_NAMESPACE")]
    pub namespace: String,
    /// Directory to write ca.crt, tls.crt and tls.key into (created with mode 0700 if missing).
    #[arg(long, env = "FERROVAULT_CERTS_OUT")]
    pub out: PathBuf,
    /// Extra IP address subjectAltName (repeatable; comma-separated in the env var).
    #[arg(long = "ip", env = "FERROVAULT_CERTS_IP", value_delimiter = ',')]
    pub ips: Vec<IpAddr>,
    /// Extra DNS subjectAltName (repeatable; comma-separated in the env var).
    #[arg(long = "dns", env = "FERROVAULT_CERTS_DNS", value_delimiter = ',')]
    pub dns: Vec<String>,
    /// Validity of the CA and the serving certificate, in days.
    #[arg(
        long,
        env = "FERROVAULT_CERTS_DAYS",
        default_value_t = 365,
        value_parser = clap::value_parser!(u64).range(1..=36_500)
    )]
    pub days: u64,
    /// Replace existing files (including an existing tls.key).
    #[arg(long, env = "FERROVAULT_CERTS_FORCE")]
    pub force: bool,
}

/// What `generate` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The files written.
    pub files: WrittenFiles,
    /// Base64 of `ca.crt`, the MutatingWebhookConfiguration's `caBundle`.
    pub ca_bundle: String,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Generated> {
    match cli.command {
        Command::Generate(args) => generate(&args),
    }
}

/// `ferrovault-certs generate`: a fresh CA and a serving certificate for the Service's DNS names
/// plus `--dns`/`--ip`, written into `--out`.
pub fn generate(args: &GenerateArgs) -> Result<Generated> {
    validate_dns_label("--service", &args.service)?;
    validate_dns_label("--namespace", &args.namespace)?;
    for name in &args.dns {
        validate_dns_name("--dns", name)?;
    }
    let mut dns = service_dns_names(&args.service, &args.namespace);
    for name in &args.dns {
        if !dns.contains(name) {
            dns.push(name.clone());
        }
    }
    let validity = Duration::from_secs(args.days.saturating_mul(86_400));
    let ca = generate_ca(CA_COMMON_NAME, validity)?;
    let leaf = issue_leaf(&ca, &dns, &args.ips, validity)?;
    let files = files::write_bundle(&args.out, &ca.cert_pem, &leaf, args.force)?;
    Ok(Generated {
        files,
        ca_bundle: ca.ca_bundle(),
    })
}
