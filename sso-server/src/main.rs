//! `sso-server serve …`: see `cloakroom_sso_server::config::Args` and docs/SSO.md.

use clap::Parser;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sso_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cloakroom_sso_server::config::Cli::Serve(args) = cloakroom_sso_server::config::Cli::parse();
    let config = match cloakroom_sso_server::config::SsoConfig::from_args(*args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sso-server: {e}");
            return std::process::ExitCode::from(5);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sso-server: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cloakroom_sso_server::serve(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sso-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
