use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = pecdesk::cli::Cli::parse();
    match pecdesk::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pecdesk: {}", pecdesk::headless::error_message(&error));
            std::process::ExitCode::from(pecdesk::headless::exit_code(&error))
        }
    }
}
