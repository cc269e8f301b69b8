//! The RFC 8555 client: a [`Client`] for one ACME server (its directory, its
//! nonces, its transport) and an [`Account`] on it that places and follows orders.
//!
//! Each operation labels its requests with cert-manager's action name (used when
//! the calling task set none, see [`super::http::HttpOptions::task_action`]):
//! `discover`, `register_account`, `get_registration`, `update_registration`,
//! `authorize_order`, `get_order`, `get_authorization`, `get_challenge`,
//! `accept_challenge`, `create_order_cert`, `fetch_cert`, `get_renewal_info`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::de::DeserializeOwned;

use super::chains;
use super::directory::Directory;
use super::http::{HttpOptions, Response, Transport};
use super::jws::{self, EabKey, KeyId};
use super::keys::AccountKey;
use super::nonce::{self, NoncePool};
use super::problem::Error;
use super::renewal::RenewalInfo;
use super::resources::{AccountResource, Authorization, Challenge, NewAccount, NewOrder, Order};

/// How to talk to the server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub http: HttpOptions,
    /// How many times a request the server refused with `badNonce` is sent again
    /// (with the nonce of the refusal).
    pub bad_nonce_retries: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            http: HttpOptions::default(),
            bad_nonce_retries: 1,
        }
    }
}

struct Inner {
    transport: Transport,
    directory: Directory,
    directory_url: String,
    nonces: NoncePool,
    bad_nonce_retries: u32,
}

/// A client of one ACME server. Cheap to clone; clones share nonces and connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("directory_url", &self.inner.directory_url)
            .finish_non_exhaustive()
    }
}

/// An account as newAccount answered: the account, whether it was created now
/// (201) or existed (200), and the account object.
#[derive(Debug, Clone)]
pub struct Registration {
    pub account: Account,
    pub created: bool,
    pub resource: AccountResource,
}

/// A downloaded certificate chain (RFC 8555 §7.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateChain {
    /// Where it was downloaded from.
    pub url: String,
    /// The chain, leaf first, as PEM `CERTIFICATE` blocks re-encoded from their
    /// DER (as cert-manager stores `status.certificate`).
    pub pem: String,
    /// The URLs of the alternate chains the server offered with this one
    /// (`Link: <…>;rel="alternate"`), in its order.
    pub alternates: Vec<String>,
}

impl CertificateChain {
    /// The DER of each certificate, leaf first.
    pub fn der(&self) -> Vec<Vec<u8>> {
        crate::pki::pem::certificates(self.pem.as_bytes())
    }
}

fn invalid(r: &Response, reason: impl Into<String>) -> Error {
    Error::InvalidResponse {
        url: r.url.clone(),
        status: r.status,
        reason: reason.into(),
    }
}

impl Client {
    /// Reads the server's directory (`discover`).
    pub async fn new(directory_url: &str, options: ClientOptions) -> Result<Client, Error> {
        let transport = Transport::new(options.http)?;
        let response = transport.get("discover", directory_url).await?;
        if !response.is_success() {
            return Err(response.into_error());
        }
        let directory = Directory::parse(&response.body)
            .map_err(|e| invalid(&response, format!("not an ACME directory: {e}")))?;
        let nonces = NoncePool::default();
        if let Some(n) = nonce::replay_nonce(&response.headers) {
            nonces.put(n);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                directory,
                directory_url: directory_url.to_string(),
                nonces,
                bad_nonce_retries: options.bad_nonce_retries,
            }),
        })
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    pub fn directory_url(&self) -> &str {
        &self.inner.directory_url
    }

    /// Registers `key` (newAccount). An account that already exists for the key is
    /// returned as it is (`created: false`). `eab` binds it to the CA's external
    /// account (RFC 8555 §7.3.4).
    pub async fn new_account(
        &self,
        key: Arc<AccountKey>,
        account: &NewAccount,
        eab: Option<&EabKey>,
    ) -> Result<Registration, Error> {
        let url = self.inner.directory.new_account.clone();
        let mut body = serde_json::json!({});
        if account.terms_of_service_agreed {
            body["termsOfServiceAgreed"] = true.into();
        }
        if !account.contact.is_empty() {
            body["contact"] = account.contact.clone().into();
        }
        if let Some(eab) = eab {
            let binding = jws::external_account_binding(eab, key.jwk(), &url)?;
            body["externalAccountBinding"] = serde_json::json!({
                "protected": binding.protected,
                "payload": binding.payload,
                "signature": binding.signature,
            });
        }
        self.register("register_account", key, &url, &body).await
    }

    /// The account registered for `key`, if any (newAccount with
    /// `onlyReturnExisting`): `None` when the server says `accountDoesNotExist`.
    pub async fn find_account(&self, key: Arc<AccountKey>) -> Result<Option<Registration>, Error> {
        let url = self.inner.directory.new_account.clone();
        let body = serde_json::json!({"onlyReturnExisting": true});
        match self.register("get_registration", key, &url, &body).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_problem("accountDoesNotExist") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn register(
        &self,
        op: &'static str,
        key: Arc<AccountKey>,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<Registration, Error> {
        let payload = body.to_string();
        let response = self
            .post(op, &key, KeyId::Jwk, url, Some(payload.as_bytes()))
            .await?;
        let account_url = response
            .location()
            .ok_or_else(|| invalid(&response, "no Location header with the account URL"))?;
        let resource: AccountResource = response.json()?;
        Ok(Registration {
            account: Account {
                client: self.clone(),
                key,
                url: account_url,
            },
            created: response.status == 201,
            resource,
        })
    }

    /// The account at `url` (known from an earlier registration), without asking
    /// the server.
    pub fn account(&self, key: Arc<AccountKey>, url: impl Into<String>) -> Account {
        Account {
            client: self.clone(),
            key,
            url: url.into(),
        }
    }

    /// The CA's renewal information for a certificate (RFC 9773): an
    /// unauthenticated GET of `renewalInfo/<certificate id>`.
    /// [`Error::Unsupported`] when the directory offers no renewalInfo.
    pub async fn renewal_info(&self, certificate_id: &str) -> Result<RenewalInfo, Error> {
        let base = self
            .inner
            .directory
            .renewal_info
            .as_deref()
            .ok_or(Error::Unsupported("ACME Renewal Information (renewalInfo)"))?;
        let url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            certificate_id.trim_start_matches('/')
        );
        let response = self.inner.transport.get("get_renewal_info", &url).await?;
        if !response.is_success() {
            return Err(response.into_error());
        }
        RenewalInfo::parse(&response.body, response.retry_after())
            .map_err(|reason| invalid(&response, format!("invalid renewalInfo: {reason}")))
    }

    /// A nonce: from the pool, else from newNonce.
    async fn nonce(&self, op: &'static str) -> Result<String, Error> {
        match self.inner.nonces.take() {
            Some(n) => Ok(n),
            None => nonce::fetch(&self.inner.transport, op, &self.inner.directory.new_nonce).await,
        }
    }

    /// A signed POST; `payload` `None` is a POST-as-GET. A `badNonce` refusal is
    /// retried; an error status is an [`Error::Server`].
    async fn post(
        &self,
        op: &'static str,
        key: &AccountKey,
        key_id: KeyId<'_>,
        url: &str,
        payload: Option<&[u8]>,
    ) -> Result<Response, Error> {
        let inner = &self.inner;
        let mut retry = nonce::BadNonceRetry::new(inner.bad_nonce_retries);
        let mut nonce = self.nonce(op).await?;
        let response = loop {
            let body = jws::sign(key.signing_key(), key_id, &nonce, url, payload)?;
            let response = inner.transport.post_jose(op, url, body.to_body()).await?;
            nonce = match retry.next(&response) {
                nonce::NextStep::Done => break response,
                nonce::NextStep::RetryWith(n) => n,
                nonce::NextStep::RetryWithFreshNonce => {
                    nonce::fetch(&inner.transport, op, &inner.directory.new_nonce).await?
                }
            };
        };
        if let Some(n) = nonce::replay_nonce(&response.headers) {
            inner.nonces.put(n);
        }
        if response.is_success() {
            Ok(response)
        } else {
            Err(response.into_error())
        }
    }
}

/// An account on an ACME server: its key and URL (the `kid` of its requests).
#[derive(Clone)]
pub struct Account {
    client: Client,
    key: Arc<AccountKey>,
    url: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The account URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn key(&self) -> &AccountKey {
        &self.key
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The key authorization of a challenge token.
    pub fn key_authorization(&self, token: &str) -> String {
        self.key.key_authorization(token)
    }

    async fn post(
        &self,
        op: &'static str,
        url: &str,
        payload: Option<&[u8]>,
    ) -> Result<Response, Error> {
        self.client
            .post(op, &self.key, KeyId::Kid(&self.url), url, payload)
            .await
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        op: &'static str,
        url: &str,
        payload: Option<&[u8]>,
    ) -> Result<(T, Response), Error> {
        let response = self.post(op, url, payload).await?;
        let value = response.json()?;
        Ok((value, response))
    }

    /// The account object (POST-as-GET of the account URL).
    pub async fn refresh(&self) -> Result<AccountResource, Error> {
        Ok(self.post_json("get_registration", &self.url, None).await?.0)
    }

    /// Replaces the account's contact URIs (`mailto:…`); an empty list removes them.
    pub async fn update_contact(&self, contact: &[String]) -> Result<AccountResource, Error> {
        let body = serde_json::json!({"contact": contact}).to_string();
        Ok(self
            .post_json("update_registration", &self.url, Some(body.as_bytes()))
            .await?
            .0)
    }

    /// Places an order (newOrder). A profile must be one the directory offers, and
    /// `replaces` needs a directory with renewalInfo, as in cert-manager's client.
    pub async fn new_order(&self, order: &NewOrder) -> Result<Order, Error> {
        let directory = self.client.directory();
        if let Some(profile) = &order.profile {
            if directory.meta.profiles.is_empty() {
                return Err(Error::Unsupported("certificate profiles"));
            }
            if !directory.meta.profiles.contains_key(profile) {
                let offered: Vec<&str> = directory.profile_names().collect();
                return Err(Error::InvalidInput(format!(
                    "the ACME server does not offer profile {profile:?}; it offers: {}",
                    offered.join(", ")
                )));
            }
        }
        if order.replaces.is_some() && directory.renewal_info.is_none() {
            return Err(Error::Unsupported("ACME Renewal Information (renewalInfo)"));
        }
        let body = serde_json::to_vec(order)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the order: {e}")))?;
        let url = directory.new_order.clone();
        let (mut o, response): (Order, _) =
            self.post_json("authorize_order", &url, Some(&body)).await?;
        o.url = response
            .location()
            .ok_or_else(|| invalid(&response, "no Location header with the order URL"))?;
        o.retry_after = response.retry_after();
        Ok(o)
    }

    /// An order (POST-as-GET).
    pub async fn order(&self, url: &str) -> Result<Order, Error> {
        let (mut o, response): (Order, _) = self.post_json("get_order", url, None).await?;
        o.url = url.to_string();
        o.retry_after = response.retry_after();
        Ok(o)
    }

    /// An authorization (POST-as-GET).
    pub async fn authorization(&self, url: &str) -> Result<Authorization, Error> {
        let (mut a, response): (Authorization, _) =
            self.post_json("get_authorization", url, None).await?;
        a.url = url.to_string();
        a.retry_after = response.retry_after();
        Ok(a)
    }

    /// A challenge (POST-as-GET).
    pub async fn challenge(&self, url: &str) -> Result<Challenge, Error> {
        let (mut c, response): (Challenge, _) = self.post_json("get_challenge", url, None).await?;
        c.retry_after = response.retry_after();
        Ok(c)
    }

    /// Tells the server the challenge is ready to be validated (payload `{}`).
    pub async fn respond_to_challenge(&self, url: &str) -> Result<Challenge, Error> {
        let (mut c, response): (Challenge, _) =
            self.post_json("accept_challenge", url, Some(b"{}")).await?;
        c.retry_after = response.retry_after();
        Ok(c)
    }

    /// Finalizes a ready order with a DER CSR; the order as the server then has it
    /// (usually `processing` or `valid`).
    pub async fn finalize(&self, order: &Order, csr_der: &[u8]) -> Result<Order, Error> {
        let body = serde_json::json!({"csr": B64URL.encode(csr_der)}).to_string();
        let (mut o, response): (Order, _) = self
            .post_json("create_order_cert", &order.finalize, Some(body.as_bytes()))
            .await?;
        o.url = response.location().unwrap_or_else(|| order.url.clone());
        o.retry_after = response.retry_after();
        Ok(o)
    }

    /// Downloads a valid order's certificate chain (its `certificate` URL), with the
    /// URLs of the alternate chains the server offers.
    pub async fn certificate(&self, url: &str) -> Result<CertificateChain, Error> {
        self.download("fetch_cert", url).await
    }

    /// Downloads one of the alternate chains [`Account::certificate`] listed.
    pub async fn alternate_certificate(&self, url: &str) -> Result<CertificateChain, Error> {
        self.download("fetch_cert", url).await
    }

    /// The chain to store for `spec.acme.preferredChain` (see [`chains`]): the
    /// default one unless `preferred` names another; alternates are downloaded one
    /// by one until one matches, as cert-manager does.
    pub async fn preferred_certificate(
        &self,
        url: &str,
        preferred: Option<&str>,
    ) -> Result<CertificateChain, Error> {
        let default = self.certificate(url).await?;
        let Some(preferred) = preferred.filter(|p| !p.is_empty()) else {
            return Ok(default);
        };
        let judge = |chain: &CertificateChain| {
            chains::matches(&chain.pem, preferred).map_err(|e| Error::InvalidResponse {
                url: chain.url.clone(),
                status: 200,
                reason: e.to_string(),
            })
        };
        if judge(&default)? {
            return Ok(default);
        }
        for alternate in &default.alternates {
            let chain = self.alternate_certificate(alternate).await?;
            if judge(&chain)? {
                return Ok(chain);
            }
        }
        Ok(default)
    }

    async fn download(&self, op: &'static str, url: &str) -> Result<CertificateChain, Error> {
        let response = self.post(op, url, None).await?;
        let blocks = crate::pki::pem::decode_all(&response.body)
            .map_err(|e| invalid(&response, format!("invalid certificate chain: {e}")))?;
        let mut pem = String::new();
        for block in &blocks {
            if block.label != "CERTIFICATE" {
                return Err(invalid(
                    &response,
                    format!("invalid PEM cert type {:?}", block.label),
                ));
            }
            pem.push_str(&crate::pki::pem::encode("CERTIFICATE", &block.der));
        }
        if pem.is_empty() {
            return Err(invalid(&response, "the certificate chain is empty"));
        }
        Ok(CertificateChain {
            url: url.to_string(),
            pem,
            alternates: response.links("alternate"),
        })
    }

    /// The CA's renewal information for a certificate (see [`Client::renewal_info`]).
    pub async fn renewal_info(&self, certificate_id: &str) -> Result<RenewalInfo, Error> {
        self.client.renewal_info(certificate_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    fn send<T: Send>(_: T) {}

    #[test]
    fn clients_accounts_and_their_futures_cross_threads() {
        send_sync::<Client>();
        send_sync::<Account>();
        send_sync::<AccountKey>();
        // The controllers run these in spawned tasks: every future must be Send.
        // Built and dropped unpolled: nothing is sent anywhere.
        fn futures(
            client: &Client,
            account: &Account,
            key: Arc<AccountKey>,
            eab: &EabKey,
            order: &Order,
        ) {
            send(Client::new("https://ca.test/dir", ClientOptions::default()));
            send(client.new_account(key.clone(), &NewAccount::default(), Some(eab)));
            send(client.find_account(key));
            send(client.renewal_info("a.b"));
            send(account.refresh());
            send(account.update_contact(&[]));
            send(account.new_order(&NewOrder::default()));
            send(account.order("u"));
            send(account.authorization("u"));
            send(account.challenge("u"));
            send(account.respond_to_challenge("u"));
            send(account.finalize(order, b"csr"));
            send(account.certificate("u"));
            send(account.alternate_certificate("u"));
            send(account.preferred_certificate("u", Some("Root")));
        }
        let _ = futures;
    }
}
