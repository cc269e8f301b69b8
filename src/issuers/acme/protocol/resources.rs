//! The ACME resources (RFC 8555 §7.1) as the server sends them, and the bodies of
//! the requests that create accounts and orders.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// An identifier: `dns` (RFC 8555) or `ip` (RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Identifier {
    /// A DNS name (a wildcard keeps its `*.`; the authorization is for the base name).
    pub fn dns(name: impl Into<String>) -> Identifier {
        Identifier {
            kind: "dns".into(),
            value: name.into(),
        }
    }

    /// An IP address, in RFC 8738's text form (RFC 5952 for IPv6).
    pub fn ip(ip: IpAddr) -> Identifier {
        Identifier {
            kind: "ip".into(),
            value: ip.to_string(),
        }
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)
    }
}

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Valid,
    Deactivated,
    Revoked,
    #[serde(other)]
    Unknown,
}

/// An account object (RFC 8555 §7.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountResource {
    pub status: AccountStatus,
    #[serde(default)]
    pub contact: Vec<String>,
    #[serde(default)]
    pub orders: Option<String>,
    #[serde(default)]
    pub terms_of_service_agreed: Option<bool>,
}

/// An order's status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
    #[serde(other)]
    Unknown,
}

/// An order object (RFC 8555 §7.1.3), with its URL and the server's Retry-After.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The order's URL (the `Location` of newOrder, or the URL it was fetched from).
    #[serde(skip)]
    pub url: String,
    pub status: OrderStatus,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub not_after: Option<String>,
    /// The profile the order is for (draft-ietf-acme-profiles), when the CA says.
    #[serde(default)]
    pub profile: Option<String>,
    /// The certificate the order replaces (RFC 9773 §5), when the CA says.
    #[serde(default)]
    pub replaces: Option<String>,
    #[serde(default)]
    pub error: Option<Problem>,
    #[serde(default)]
    pub authorizations: Vec<String>,
    pub finalize: String,
    /// The certificate chain's URL once the order is valid.
    #[serde(default)]
    pub certificate: Option<String>,
    /// When to poll again, if the server said (`Retry-After`, e.g. while processing).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// An authorization's status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationStatus {
    Pending,
    Valid,
    Invalid,
    Deactivated,
    Expired,
    Revoked,
    #[serde(other)]
    Unknown,
}

/// An authorization object (RFC 8555 §7.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    #[serde(skip)]
    pub url: String,
    pub identifier: Identifier,
    pub status: AuthorizationStatus,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    #[serde(default)]
    pub wildcard: bool,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl Authorization {
    /// The challenge of type `kind` (`"http-01"`, `"dns-01"`, `"tls-alpn-01"`).
    pub fn challenge(&self, kind: &str) -> Option<&Challenge> {
        self.challenges.iter().find(|c| c.kind == kind)
    }
}

/// A challenge's status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeStatus {
    Pending,
    Processing,
    Valid,
    Invalid,
    #[serde(other)]
    Unknown,
}

/// A challenge object (RFC 8555 §7.1.5, §8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub status: ChallengeStatus,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub validated: Option<String>,
    #[serde(default)]
    pub error: Option<Problem>,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// The newAccount request body (RFC 8555 §7.3), less the external account binding,
/// which [`crate::issuers::acme::protocol::client::Client::new_account`] adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAccount {
    /// `mailto:` URIs.
    pub contact: Vec<String>,
    pub terms_of_service_agreed: bool,
}

/// A newOrder request (RFC 8555 §7.4, profiles, RFC 9773 `replaces`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    pub identifiers: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The RFC 9773 identifier (`base64url(AKI).base64url(serial)`) of the
    /// certificate this order renews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

impl NewOrder {
    /// An order for these identifiers.
    pub fn new(identifiers: Vec<Identifier>) -> NewOrder {
        NewOrder {
            identifiers,
            ..NewOrder::default()
        }
    }

    /// Asks for a certificate profile.
    pub fn profile(mut self, profile: impl Into<String>) -> NewOrder {
        self.profile = Some(profile.into());
        self
    }

    /// Says which certificate this order replaces (ARI).
    pub fn replaces(mut self, certificate_id: impl Into<String>) -> NewOrder {
        self.replaces = Some(certificate_id.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_orders_serialise_only_what_is_set() {
        let plain = NewOrder::new(vec![
            Identifier::dns("a.example.com"),
            Identifier::ip("2001:db8:0:0:0:0:0:1".parse().unwrap()),
        ]);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"identifiers": [
                {"type": "dns", "value": "a.example.com"},
                {"type": "ip", "value": "2001:db8::1"}
            ]})
        );
        let full = plain.profile("shortlived").replaces("aki.serial");
        let v = serde_json::to_value(&full).unwrap();
        assert_eq!(v["profile"], "shortlived");
        assert_eq!(v["replaces"], "aki.serial");
    }

    #[test]
    fn unknown_statuses_do_not_fail_parsing() {
        let o: Order = serde_json::from_value(serde_json::json!({
            "status": "someday", "finalize": "https://ca.test/f", "authorizations": []
        }))
        .unwrap();
        assert_eq!(o.status, OrderStatus::Unknown);
        let a: Authorization = serde_json::from_value(serde_json::json!({
            "status": "pending", "identifier": {"type": "dns", "value": "example.com"},
            "wildcard": true,
            "challenges": [{"type": "dns-01", "url": "https://ca.test/c/1", "status": "pending", "token": "t"},
                           {"type": "new-01", "url": "https://ca.test/c/2", "status": "paused"}]
        }))
        .unwrap();
        assert!(a.wildcard);
        assert_eq!(a.challenge("dns-01").unwrap().token.as_deref(), Some("t"));
        assert_eq!(
            a.challenge("new-01").unwrap().status,
            ChallengeStatus::Unknown
        );
        assert!(a.challenge("http-01").is_none());
    }
}
