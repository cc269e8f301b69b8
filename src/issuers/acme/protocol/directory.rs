//! The ACME directory (RFC 8555 §7.1.1): where each operation is, and the CA's
//! metadata (terms of service, external account binding, profiles).

use std::collections::BTreeMap;

use serde::Deserialize;

/// A directory object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    #[serde(default)]
    pub new_authz: Option<String>,
    #[serde(default)]
    pub revoke_cert: Option<String>,
    #[serde(default)]
    pub key_change: Option<String>,
    /// ACME Renewal Information (RFC 9773), when the CA offers it.
    #[serde(default)]
    pub renewal_info: Option<String>,
    #[serde(default)]
    pub meta: DirectoryMeta,
}

/// The directory's `meta` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    #[serde(default)]
    pub terms_of_service: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub caa_identities: Vec<String>,
    #[serde(default)]
    pub external_account_required: bool,
    /// Certificate profiles by name, with their descriptions.
    #[serde(default)]
    pub profiles: BTreeMap<String, String>,
}

impl Directory {
    /// Parses a directory document.
    pub fn parse(body: &[u8]) -> Result<Directory, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The names of the profiles the CA offers.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.meta.profiles.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_and_a_minimal_directory_parse() {
        let full = Directory::parse(
            br#"{
            "keyChange": "https://ca.test/rollover-account-key",
            "meta": {"externalAccountRequired": true, "termsOfService": "data:text/plain,Do%20what%20thou%20wilt",
                     "profiles": {"default": "The profile you know and love", "shortlived": "6 days"}},
            "newAccount": "https://ca.test/sign-me-up",
            "newNonce": "https://ca.test/nonce-plz",
            "newOrder": "https://ca.test/order-plz",
            "renewalInfo": "https://ca.test/draft-ietf-acme-ari-03/renewalInfo",
            "revokeCert": "https://ca.test/revoke-cert"
        }"#,
        )
        .unwrap();
        assert_eq!(full.new_nonce, "https://ca.test/nonce-plz");
        assert!(full.meta.external_account_required);
        assert_eq!(
            full.profile_names().collect::<Vec<_>>(),
            vec!["default", "shortlived"]
        );
        assert!(full.renewal_info.is_some());

        let minimal = Directory::parse(
            br#"{"newNonce": "n", "newAccount": "a", "newOrder": "o", "unknownThing": 1}"#,
        )
        .unwrap();
        assert_eq!(minimal.renewal_info, None);
        assert_eq!(minimal.meta, DirectoryMeta::default());
        assert!(Directory::parse(br#"{"newNonce": "n"}"#).is_err());
    }
}
