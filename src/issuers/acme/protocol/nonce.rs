//! Anti-replay nonces (RFC 8555 §6.5): a pool of the `Replay-Nonce`s responses
//! brought, a HEAD to newNonce when it is empty, and another try of a request
//! the server refused with `badNonce`, signed with the nonce of that refusal.

use std::sync::Mutex;

use http::HeaderMap;

use super::http::{Response, Transport};
use super::problem::{Error, Problem};

/// The most nonces kept (cert-manager's client keeps as many).
const MAX_NONCES: usize = 100;

/// Nonces the server handed out and no request used yet.
#[derive(Debug, Default)]
pub struct NoncePool {
    nonces: Mutex<Vec<String>>,
}

impl NoncePool {
    /// The freshest nonce, if any.
    pub fn take(&self) -> Option<String> {
        self.nonces.lock().ok()?.pop()
    }

    /// Keeps a nonce; the oldest goes when the pool is full.
    pub fn put(&self, nonce: String) {
        if let Ok(mut n) = self.nonces.lock() {
            if n.len() >= MAX_NONCES {
                n.remove(0);
            }
            n.push(nonce);
        }
    }

    pub fn len(&self) -> usize {
        self.nonces.lock().map(|n| n.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `Replay-Nonce` of a response, when it is a valid one (base64url, §6.5.1).
pub fn replay_nonce(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("replay-nonce")?.to_str().ok()?.trim();
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| value.to_string())
}

/// A fresh nonce from the server's newNonce resource.
pub async fn fetch(
    transport: &Transport,
    op: &'static str,
    new_nonce_url: &str,
) -> Result<String, Error> {
    let response = transport.head(op, new_nonce_url).await?;
    if !response.is_success() {
        return Err(response.into_error());
    }
    replay_nonce(&response.headers).ok_or_else(|| Error::InvalidResponse {
        url: response.url.clone(),
        status: response.status,
        reason: "no Replay-Nonce header".into(),
    })
}

/// Whether a response is the server refusing the request's nonce.
pub fn is_bad_nonce(response: &Response) -> bool {
    !response.is_success() && Problem::from_response(response.status, &response.body).is("badNonce")
}

/// What to do after a signed request's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Done: the response is the answer (success or error).
    Done,
    /// The server refused the nonce: sign again with this one, from its refusal.
    RetryWith(String),
    /// The server refused the nonce without giving another: fetch one and retry.
    RetryWithFreshNonce,
}

/// Sends a request refused with `badNonce` again, up to `retries` more times,
/// with the nonce of the refusal (a fresh one when it brought none).
#[derive(Debug, Clone)]
pub struct BadNonceRetry {
    left: u32,
}

impl BadNonceRetry {
    pub fn new(retries: u32) -> BadNonceRetry {
        BadNonceRetry { left: retries }
    }

    /// What to do after `response`.
    pub fn next(&mut self, response: &Response) -> NextStep {
        if self.left == 0 || !is_bad_nonce(response) {
            return NextStep::Done;
        }
        self.left -= 1;
        match replay_nonce(&response.headers) {
            Some(n) => NextStep::RetryWith(n),
            None => NextStep::RetryWithFreshNonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const BAD_NONCE: &[u8] =
        br#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce","status":400}"#;

    fn response(status: u16, nonce: Option<&str>, body: &'static [u8]) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(n) = nonce {
            headers.insert("replay-nonce", n.parse().unwrap());
        }
        Response {
            url: "https://ca.test/x".into(),
            status,
            headers,
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn the_pool_hands_out_the_freshest_nonce_once() {
        let pool = NoncePool::default();
        assert_eq!(pool.take(), None);
        pool.put("a".into());
        pool.put("b".into());
        assert_eq!(pool.take().as_deref(), Some("b"));
        assert_eq!(pool.take().as_deref(), Some("a"));
        assert!(pool.is_empty());
        for i in 0..150 {
            pool.put(format!("n{i}"));
        }
        assert_eq!(pool.len(), MAX_NONCES);
        assert_eq!(pool.take().as_deref(), Some("n149"));
    }

    #[test]
    fn only_valid_replay_nonces_are_taken() {
        let r = response(200, Some("oFvnlFP1wIhRlYS2jTaXbA"), b"");
        assert_eq!(
            replay_nonce(&r.headers).as_deref(),
            Some("oFvnlFP1wIhRlYS2jTaXbA")
        );
        let r = response(200, Some("not a nonce!"), b"");
        assert_eq!(replay_nonce(&r.headers), None);
        let r = response(200, None, b"");
        assert_eq!(replay_nonce(&r.headers), None);
    }

    #[test]
    fn a_bad_nonce_is_retried_once_with_the_nonce_of_the_refusal() {
        let mut retry = BadNonceRetry::new(1);
        assert_eq!(
            retry.next(&response(400, Some("n2"), BAD_NONCE)),
            NextStep::RetryWith("n2".into()),
            "the refusal's nonce is used"
        );
        assert_eq!(
            retry.next(&response(400, Some("n3"), BAD_NONCE)),
            NextStep::Done,
            "a second refusal is the answer when one retry is allowed"
        );
        assert!(
            response(400, Some("n3"), BAD_NONCE)
                .into_error()
                .is_problem("badNonce")
        );
    }

    #[test]
    fn a_refusal_without_a_nonce_takes_a_fresh_one_and_other_answers_are_final() {
        let mut retry = BadNonceRetry::new(3);
        assert_eq!(
            retry.next(&response(400, None, BAD_NONCE)),
            NextStep::RetryWithFreshNonce
        );
        assert_eq!(retry.next(&response(201, Some("n"), b"{}")), NextStep::Done);
        let malformed: &[u8] = br#"{"type":"urn:ietf:params:acme:error:malformed","detail":"no"}"#;
        let mut retry = BadNonceRetry::new(3);
        assert_eq!(
            retry.next(&response(400, Some("n2"), malformed)),
            NextStep::Done,
            "only badNonce is retried"
        );
        let mut none = BadNonceRetry::new(0);
        assert_eq!(
            none.next(&response(400, Some("n2"), BAD_NONCE)),
            NextStep::Done
        );
        let mut three = BadNonceRetry::new(3);
        let steps: Vec<NextStep> = (0..4)
            .map(|_| three.next(&response(400, Some("n"), BAD_NONCE)))
            .collect();
        assert_eq!(
            steps.iter().filter(|s| **s != NextStep::Done).count(),
            3,
            "{steps:?}"
        );
    }
}
