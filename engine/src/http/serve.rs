//! Putting the API on the network: the address checked against `[auth]` (an open API only on
//! loopback, unless `--insecure`), identities and the audit trail added to the state, and
//! HTTP or HTTPS (`[http] tls_cert`) served until shutdown.

use super::tls::{TlsListener, acceptor};
use super::{AppState, app};
use crate::audit::Audit;
use crate::auth::Auth;
use anyhow::Context;
use axum::serve::ListenerExt;
use itscam_sinks::Lake;
use itscam_types::config::{AuthConfig, HttpConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How the API is served.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// `[http]` (TLS, body limit, CORS).
    pub http: HttpConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `--insecure`: serve an open API (auth off) beyond loopback.
    pub insecure: bool,
    /// `[lake.retention] audit_days`.
    pub audit_days: Option<u32>,
    /// `[model]`: thresholds and the runtime library for validating uploaded models.
    pub model: itscam_types::config::ModelConfig,
    /// `[models]`: the registry's cache, validation video and upload limit.
    pub models: itscam_types::config::ModelsConfig,
}

impl ServeOptions {
    /// The options of `config` (`[http]`, `[auth]`, `[lake.retention] audit_days`).
    pub fn of(config: &itscam_types::config::PipelineConfig, insecure: bool) -> ServeOptions {
        ServeOptions { http: config.http.clone(), auth: config.auth.clone(), insecure, audit_days: config.lake.retention.audit_days, model: config.model.clone(), models: config.models.clone() }
    }
}

/// Refuses to expose an API without authentication: with `[auth] enabled = false` anyone who
/// reaches the port may change rules and cameras, so only a loopback address is allowed
/// unless `insecure`, which is then announced loudly.
pub fn check_exposure(addr: SocketAddr, options: &ServeOptions) -> anyhow::Result<()> {
    if options.auth.enabled || addr.ip().is_loopback() {
        return Ok(());
    }
    anyhow::ensure!(
        options.insecure,
        "refusing to listen on {addr} with [auth] enabled = false: anyone who reaches that address could change rules, cameras and alerts. \
         Turn authentication on ([auth] enabled = true, then `itscam users add`), listen on 127.0.0.1, or pass --insecure"
    );
    eprintln!("WARNING: --insecure: the API on {addr} asks nobody for credentials; anyone who reaches it is an administrator");
    Ok(())
}

/// `state` with the lake's identities (when `[auth] enabled`), the audit trail and the
/// `[http]` limits; spawns the tasks that keep them current on the current runtime.
pub async fn secure(state: AppState, lake: &Lake, options: &ServeOptions) -> anyhow::Result<AppState> {
    let auth = if options.auth.enabled {
        let auth = Auth::open(lake, &options.auth).await.context("[auth]: the users in the lake")?;
        auth.spawn_sync(&tokio::runtime::Handle::current());
        if auth.users().is_empty() {
            eprintln!("itscam: [auth] is on and there is no user yet: add one with `itscam users add NAME --role admin`");
        }
        auth
    } else {
        Auth::off()
    };
    let audit = Audit::new(lake.clone()).keeping(options.audit_days);
    audit.spawn_flush(&tokio::runtime::Handle::current());
    let mut state = state.with_security(lake, auth, audit)?;
    state.max_body_bytes = options.http.max_body_bytes;
    state.cors_origins = Arc::from(options.http.cors_origins.clone());
    state.registry = crate::models::Registry::new(lake.clone(), &options.models.cache_dir);
    state.models = Arc::new((options.model.clone(), options.models.clone()));
    Ok(state)
}

/// A bound address, plain or TLS.
pub struct Bound {
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The address bound.
    pub local: SocketAddr,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bound({}://{})", self.scheme(), self.local)
    }
}

impl Bound {
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Binds `addr` (checked with [`check_exposure`]), with TLS when configured.
pub async fn bind(addr: &str, options: &ServeOptions) -> anyhow::Result<Bound> {
    let tls = match (&options.http.tls_cert, &options.http.tls_key) {
        (Some(cert), Some(key)) => Some(acceptor(cert, key)?),
        _ => None,
    };
    let tcp = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = tcp.local_addr()?;
    check_exposure(local, options)?;
    Ok(Bound { tcp, tls, local })
}

/// Serves `state`'s API on `bound` until `shutdown` resolves.
pub async fn serve(bound: Bound, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    match bound.tls {
        Some(acceptor) => {
            // `tap_io` only makes axum hand the peer's address over (ConnectInfo).
            let listener = TlsListener::new(bound.tcp, acceptor)?.tap_io(|_| {});
            axum::serve(listener, service).with_graceful_shutdown(shutdown).await
        }
        None => axum::serve(bound.tcp, service).with_graceful_shutdown(shutdown).await,
    }
}
