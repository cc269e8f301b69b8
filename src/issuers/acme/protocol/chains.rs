//! `spec.acme.preferredChain`: which of the chains an ACME server offers for a
//! certificate — the default one and the alternates of its `Link: rel="alternate"`
//! headers — to store. cert-manager's rule (`getPreferredCertChain`): the first
//! chain, default first then the alternates in the server's order, whose top-most
//! certificate has an issuer common name equal to `preferredChain`; when none
//! does, the default chain. An empty chain matches nothing; a chain that cannot be
//! parsed when it is looked at is an error.

/// Why a chain could not be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("error parsing certificate chain: {0}")]
    Parse(String),
}

/// The chain picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Default,
    /// The alternate at this index, in the server's order.
    Alternate(usize),
}

/// The issuer common name of the top-most (last) certificate of a PEM chain;
/// `None` for a chain without certificates or a top-most certificate whose issuer
/// has no common name. With several CN attributes the last counts, as in Go's
/// `pkix.Name`.
pub fn top_issuer_common_name(pem: &str) -> Result<Option<String>, ChainError> {
    let certs = crate::pki::pem::certificates(pem.as_bytes());
    let Some(top) = certs.last() else {
        return Ok(None);
    };
    let (_, cert) =
        x509_parser::parse_x509_certificate(top).map_err(|e| ChainError::Parse(e.to_string()))?;
    Ok(cert
        .issuer()
        .iter_common_name()
        .last()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string))
}

/// Whether a chain is the one `preferred` names.
pub fn matches(pem: &str, preferred: &str) -> Result<bool, ChainError> {
    Ok(top_issuer_common_name(pem)?.as_deref() == Some(preferred))
}

/// The chain to store for `preferred` (`None` or empty: the default). Chains are
/// looked at in order and no further than the first match, as cert-manager does.
pub fn choose<S: AsRef<str>>(
    preferred: Option<&str>,
    default: &str,
    alternates: &[S],
) -> Result<Chosen, ChainError> {
    let Some(preferred) = preferred.filter(|p| !p.is_empty()) else {
        return Ok(Chosen::Default);
    };
    if matches(default, preferred)? {
        return Ok(Chosen::Default);
    }
    for (i, alternate) in alternates.iter().enumerate() {
        if matches(alternate.as_ref(), preferred)? {
            return Ok(Chosen::Alternate(i));
        }
    }
    Ok(Chosen::Default)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ca {
        key: rcgen::KeyPair,
        params: rcgen::CertificateParams,
        cert: rcgen::Certificate,
    }

    fn ca(cn: &str, signer: Option<&Ca>) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = match signer {
            Some(s) => params
                .signed_by(&key, &rcgen::Issuer::from_params(&s.params, &s.key))
                .unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        Ca { key, params, cert }
    }

    fn leaf(signer: &Ca) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["a.example.com".into()]).unwrap();
        params
            .signed_by(
                &key,
                &rcgen::Issuer::from_params(&signer.params, &signer.key),
            )
            .unwrap()
            .pem()
    }

    #[test]
    fn preferred_chain_selection() {
        // Root X1 and Root X2 both certify the same intermediate key ("Int"): two
        // chains for one leaf, as Let's Encrypt's cross-signs.
        let x1 = ca("Root X1", None);
        let x2 = ca("Root X2", None);
        let int_by_x1 = ca("Int", Some(&x1));
        let int_by_x2 = Ca {
            cert: int_by_x1
                .params
                .signed_by(
                    &int_by_x1.key,
                    &rcgen::Issuer::from_params(&x2.params, &x2.key),
                )
                .unwrap(),
            key: rcgen::KeyPair::from_pem(&int_by_x1.key.serialize_pem()).unwrap(),
            params: int_by_x1.params.clone(),
        };
        let leaf = leaf(&int_by_x1);
        let default = format!("{leaf}{}", int_by_x1.cert.pem());
        let alt_x2 = format!("{leaf}{}", int_by_x2.cert.pem());
        // The same, ending at the self-signed root (whose issuer is itself).
        let alt_x2_with_root = format!("{alt_x2}{}", x2.cert.pem());
        let x3 = ca("Root X3", None);
        let alt_x3 = format!("{leaf}{}", ca("Int", Some(&x3)).cert.pem());

        let alternates = vec![alt_x2.clone(), alt_x2_with_root.clone(), alt_x3.clone()];
        let table: Vec<(Option<&str>, &str, &[String], Chosen)> = vec![
            (
                None,
                "no preference: the default",
                &alternates,
                Chosen::Default,
            ),
            (
                Some(""),
                "empty preference: the default",
                &alternates,
                Chosen::Default,
            ),
            (
                Some("Root X1"),
                "the default matches",
                &alternates,
                Chosen::Default,
            ),
            (
                Some("Root X2"),
                "the first matching alternate",
                &alternates,
                Chosen::Alternate(0),
            ),
            (
                Some("Root X3"),
                "a later alternate",
                &alternates,
                Chosen::Alternate(2),
            ),
            (
                Some("Root X9"),
                "nothing matches: the default",
                &alternates,
                Chosen::Default,
            ),
            (
                Some("root x2"),
                "names compare exactly",
                &alternates,
                Chosen::Default,
            ),
            (
                Some("Int"),
                "the top certificate's own subject is not its issuer",
                &alternates,
                Chosen::Default,
            ),
            (
                Some("Root X2"),
                "no alternates: the default",
                &[],
                Chosen::Default,
            ),
        ];
        for (preferred, what, alts, want) in table {
            assert_eq!(choose(preferred, &default, alts).unwrap(), want, "{what}");
        }

        // A chain ending at its root: the root's issuer is the root.
        let only_rooted = vec![alt_x2_with_root];
        assert_eq!(
            choose(Some("Root X2"), &default, &only_rooted).unwrap(),
            Chosen::Alternate(0)
        );
        // An empty alternate matches nothing and is skipped.
        let with_empty = vec![String::new(), alt_x3];
        assert_eq!(
            choose(Some("Root X3"), &default, &with_empty).unwrap(),
            Chosen::Alternate(1)
        );
        assert_eq!(
            top_issuer_common_name(&default).unwrap().as_deref(),
            Some("Root X1")
        );
        assert_eq!(top_issuer_common_name("").unwrap(), None);
    }

    #[test]
    fn unparseable_chains_are_errors_only_when_looked_at() {
        let x1 = ca("Root X1", None);
        let default = format!("{}{}", leaf(&x1), x1.cert.pem());
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string();
        assert!(matches!(
            choose(Some("Other"), &default, std::slice::from_ref(&broken)),
            Err(ChainError::Parse(_))
        ));
        // The default matched first: the broken alternate is never parsed.
        assert_eq!(
            choose(Some("Root X1"), &default, &[broken]).unwrap(),
            Chosen::Default
        );
    }
}
