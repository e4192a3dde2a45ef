//! `socialdevs`: read the command line, then hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = socialdevs::cli::Cli::parse();
    match socialdevs::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "socialdevs stopped with an error");
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
