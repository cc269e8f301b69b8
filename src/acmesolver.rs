//! `certgate acmesolver`: the standalone solver process. It answers HTTP-01
//! requests ([`crate::http01::server`]) and, when asked, TLS-ALPN-01 handshakes
//! ([`crate::tlsalpn01::server`]), filling both from one watch of every Challenge
//! its ServiceAccount can see. It reads Challenges and writes nothing.

use std::collections::HashMap;
use std::net::SocketAddr;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::Challenge;
use crate::api::challenge::AcmeChallengeType;
use crate::http01::server::{SolverTokens, serve};

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
