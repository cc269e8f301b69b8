//! The HTTP-01 solver: answers `/.well-known/acme-challenge/<token>` with the key
//! authorization of the Challenge holding that token, for that Challenge's host
//! only. One server for all Challenges (no pod per challenge).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::Challenge;
use crate::api::challenge::AcmeChallengeType;

/// What the solver answers: token → (host, key authorization).
#[derive(Clone, Default)]
pub struct SolverTokens {
    inner: Arc<RwLock<HashMap<String, (String, String)>>>,
}

impl SolverTokens {
    pub fn insert(&self, token: &str, host: &str, key: &str) {
        if let Ok(mut m) = self.inner.write() {
            m.insert(
                token.to_string(),
                (host.to_ascii_lowercase(), key.to_string()),
            );
        }
    }

    pub fn remove(&self, token: &str) {
        if let Ok(mut m) = self.inner.write() {
            m.remove(token);
        }
    }

    pub fn contains(&self, token: &str) -> bool {
        self.inner
            .read()
            .map(|m| m.contains_key(token))
            .unwrap_or(false)
    }

    /// The key for `token` when asked for `host` (any host when none was sent).
    pub fn answer(&self, token: &str, host: Option<&str>) -> Option<String> {
        let m = self.inner.read().ok()?;
        let (want, key) = m.get(token)?;
        match host {
            Some(h) => {
                let h = h.rsplit_once(':').map_or(h, |(name, port)| {
                    if port.chars().all(|c| c.is_ascii_digit()) {
                        name
                    } else {
                        h
                    }
                });
                (h.eq_ignore_ascii_case(want)).then(|| key.clone())
            }
            None => Some(key.clone()),
        }
    }

    /// Replaces the whole set from the Challenges that are being solved.
    pub fn replace_from(&self, challenges: &[Challenge]) {
        let next: HashMap<String, (String, String)> = challenges
            .iter()
            .filter(|c| c.spec.type_ == AcmeChallengeType::Http01)
            .filter(|c| {
                !c.status
                    .as_ref()
                    .and_then(|s| s.state)
                    .is_some_and(|s| s.is_final())
            })
            .map(|c| {
                (
                    c.spec.token.clone(),
                    (c.spec.dns_name.to_ascii_lowercase(), c.spec.key.clone()),
                )
            })
            .collect();
        if let Ok(mut m) = self.inner.write() {
            *m = next;
        }
    }
}

async fn answer(
    State(tokens): State<SolverTokens>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    match tokens.answer(&token, host) {
        Some(key) => (StatusCode::OK, key),
        None => (StatusCode::NOT_FOUND, "404 page not found\n".into()),
    }
}

/// The solver's routes.
pub fn router(tokens: SolverTokens) -> axum::Router {
    axum::Router::new()
        .route("/.well-known/acme-challenge/{token}", get(answer))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(tokens)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tokens: SolverTokens,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(tokens))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The TLS-ALPN-01 Challenges being solved: name → key authorization.
fn tls_alpn01_wanted(challenges: &[Challenge]) -> HashMap<String, String> {
    challenges
        .iter()
        .filter(|c| c.spec.type_ == AcmeChallengeType::TlsAlpn01)
        .filter(|c| {
            !c.status
                .as_ref()
                .and_then(|s| s.state)
                .is_some_and(|s| s.is_final())
        })
        .map(|c| (c.spec.dns_name.to_ascii_lowercase(), c.spec.key.clone()))
        .collect()
}

/// Keeps `tokens` (and, when given, the TLS-ALPN-01 solver's certificates) equal to
/// the Challenges being solved, from a watch of every Challenge the client can see
/// (list and watch on `challenges`, nothing else). Runs until dropped.
pub async fn watch_challenges(
    client: kube::Client,
    tokens: SolverTokens,
    tls_alpn: Option<crate::tlsalpn01::server::TlsAlpnSolver>,
) {
    let mut presented = HashMap::new();
    let (reader, writer) = kube::runtime::reflector::store::<Challenge>();
    let stream = kube::runtime::reflector(
        writer,
        watcher(Api::<Challenge>::all(client), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    futures::pin_mut!(stream);
    while stream.next().await.is_some() {
        let all: Vec<Challenge> = reader.state().iter().map(|c| (**c).clone()).collect();
        tokens.replace_from(&all);
        if let Some(solver) = &tls_alpn {
            for name in solver.sync_to(&tls_alpn01_wanted(&all), &mut presented) {
                tracing::warn!(name, "TLS-ALPN-01 solver cannot answer for this name");
            }
        }
    }
}

/// `certgate acmesolver`: the standalone solver, filling its answers from a watch
/// of every Challenge the ServiceAccount can see; with `tls_listen`, it answers
/// TLS-ALPN-01 handshakes there too.
pub async fn run_standalone(
    client: kube::Client,
    listen: SocketAddr,
    tls_listen: Option<SocketAddr>,
) -> std::io::Result<()> {
    let tokens = SolverTokens::default();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "HTTP-01 solver listening");
    let tls_alpn = match tls_listen {
        Some(addr) => {
            let solver = crate::tlsalpn01::server::TlsAlpnSolver::default();
            let tls_listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(listen = %addr, "TLS-ALPN-01 solver listening");
            let serving = solver.clone();
            tokio::spawn(async move {
                let forever = std::future::pending::<()>();
                if let Err(e) = serving.serve(tls_listener, forever).await {
                    tracing::error!(error = %e, "TLS-ALPN-01 solver stopped");
                }
            });
            Some(solver)
        }
        None => None,
    };
    tokio::spawn(watch_challenges(client, tokens.clone(), tls_alpn));
    serve(listener, tokens, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_for_the_challenge_host() {
        let t = SolverTokens::default();
        t.insert("tok", "App.Example.com", "tok.thumb");
        assert_eq!(
            t.answer("tok", Some("app.example.com")).as_deref(),
            Some("tok.thumb")
        );
        assert_eq!(
            t.answer("tok", Some("app.example.com:5002")).as_deref(),
            Some("tok.thumb")
        );
        assert_eq!(t.answer("tok", None).as_deref(), Some("tok.thumb"));
        assert_eq!(t.answer("tok", Some("other.example.com")), None);
        assert_eq!(t.answer("nope", Some("app.example.com")), None);
        t.remove("tok");
        assert!(!t.contains("tok"));
    }
}
