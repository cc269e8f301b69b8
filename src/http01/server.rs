//! The HTTP-01 solver: answers `/.well-known/acme-challenge/<token>` with the key
//! authorization of the Challenge holding that token, for that Challenge's host
//! only. One server for all Challenges (no pod per challenge).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;

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
