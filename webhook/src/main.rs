//! `ferrovault-webhook`: thin entry point; everything lives in the library.

use clap::Parser as _;
use ferrovault_webhook::args::{Cli, Command};
use ferrovault_webhook::cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cli::install_panic_hook();
    match cli.command {
        Command::Inject(args) => std::process::ExitCode::from(cli::run_inject(&args) as u8),
        Command::Audit(args) => {
            std::process::ExitCode::from(ferrovault_webhook::missed::audit::run(&args) as u8)
        }
        Command::Serve(args) => {
            cli::init_logging(args.log_level, args.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match runtime.block_on(cli::run_serve(*args)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("ferrovault-webhook: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
