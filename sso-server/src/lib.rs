//! Cloakroom's SSO (`docs/SSO.md`): vouches for room owners without learning their rooms.
//!
//! A person on the Cloakroom page blinds a few random token messages and comes here
//! (`GET /login?return=…&key_id=…&blinded=…`). The SSO keeps the blinded messages with the
//! sign-in, sends the person to the organisation's OpenID provider, and when they return
//! (`GET /callback`) with a valid ID token whose groups carry a quota, signs as many of the
//! blinded messages as this month's quota still allows and sends the person back to the
//! page with the blind signatures in the URL fragment (which no server sees). The page
//! unblinds them into tokens that nobody, the SSO included, can link to this sign-in.
//!
//! - [`config`]: flags and the quota policy.
//! - [`oidc`]: the relying party (`openidconnect`).
//! - [`store`]: the little the SSO keeps.
//! - [`routes`]: `/login`, `/callback`, `/healthz`.

pub mod config;
pub mod oidc;
pub mod routes;
pub mod store;

use std::sync::Arc;

/// Runs the SSO until Ctrl-C or SIGTERM.
pub async fn serve(config: config::SsoConfig) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let origin = config.public_origin.clone().unwrap_or_else(|| format!("http://{bound}"));
    let provider = oidc::Provider::discover(
        &config.oidc_issuer,
        &config.client_id,
        &config.client_secret,
        &format!("{origin}/callback"),
        &config.groups_claim,
    )
    .await?;
    let store = store::Store::open(&config.data_dir)?;
    let state = routes::SsoState(Arc::new(routes::Inner { config, provider, store }));
    println!("listening on http://{bound}");
    tracing::info!(%origin, "SSO ready");
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        })
        .await
        .map_err(|e| e.to_string())
}
