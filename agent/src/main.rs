//! `ferrovault-agent`: parse arguments, load the config, set up logging, run.

use std::process::ExitCode;

use clap::Parser as _;
use ferrovault_agent::args::{Args, Command};
use ferrovault_agent::{Mode, Settings};

fn main() -> ExitCode {
    ferrovault_agent::harden_process();
    let args = Args::parse();
    ferrovault_agent::install_panic_hook();
    let mut mode = match &args.command {
        Command::Ready => return ExitCode::from(u8::from(!args.ready_path().exists())),
        Command::Check { file } => {
            return match ferrovault_agent::check_config_file(file) {
                Ok(read) => {
                    for warning in read.listeners.iter().filter_map(|l| l.exposure_warning(false)) {
                        eprintln!("ferrovault-agent: warning: {}: {warning}", file.display());
                    }
                    println!("{}: accepted", file.display());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("ferrovault-agent: error: {err}");
                    ExitCode::from(err.exit_code() as u8)
                }
            };
        }
        Command::Init => Mode::Init,
        Command::Sidecar => Mode::Sidecar,
        Command::Native => Mode::Native,
    };
    let env_config = std::env::var(ferrovault_contract::AGENT_CONFIG_ENV).ok();
    let settings = ferrovault_agent::load_config(args.config.as_deref(), env_config.as_deref())
        .and_then(|cfg| ferrovault_agent::resolve_config(cfg, mode))
        .and_then(|cfg| {
            if cfg.exit_after_auth {
                // Vault Agent's exit_after_auth: render once and exit, whatever the container
                mode = Mode::Init;
            }
            Ok((Settings::new(&cfg, &args.overrides())?, cfg.log))
        });
    let (settings, log) = match settings {
        Ok(ok) => ok,
        Err(err) => {
            eprintln!("ferrovault-agent: error: {err}");
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    ferrovault_agent::init_logging(&log);
    ferrovault_agent::vault::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ferrovault-agent: error: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = ferrovault_agent::shutdown_signal();
        ferrovault_agent::run(settings, mode, args.init_timeout, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
