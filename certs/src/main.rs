use std::process::ExitCode;

use clap::Parser as _;
use ferrovault_certs::cli::{self, Cli};

fn main() -> ExitCode {
    match cli::run(Cli::parse()) {
        Ok(generated) => {
            let files = &generated.files;
            eprintln!(
                "wrote {}, {} and {} (mode 0600); the caBundle follows on stdout",
                files.ca_cert.display(),
                files.tls_cert.display(),
                files.tls_key.display()
            );
            println!("{}", generated.ca_bundle);
            ExitCode::SUCCESS
        }
        Err(err) => {
            let mut message = format!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
