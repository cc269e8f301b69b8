//! Ordering a bag of PEM certificates into one chain, as cert-manager's
//! `pki.ParseSingleCertificateChainPEM` does for what an issuer returns: duplicates
//! dropped, each certificate linked to the one whose subject is its issuer and
//! whose key verifies its signature, the leaf first. The chain stops below a
//! self-signed root; the top-most certificate is the CA (`ca.crt`).

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pki::pem;

/// The most certificates accepted in one bag (cert-manager's limit).
const MAX_CERTIFICATES: usize = 1000;

/// Why the certificates do not form a single chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("error decoding certificate PEM block: no valid certificates found")]
    NoCertificates,
    #[error("error decoding certificate PEM block: {0}")]
    Decode(String),
    #[error("certificate chain is too long, must be less than {MAX_CERTIFICATES} certificates")]
    TooLong,
    #[error("certificate chain is malformed or broken")]
    Broken,
}

/// A chain in PEM: `chain_pem` from the leaf up to, not including, a self-signed
/// root; `ca_pem` the top-most certificate (empty when the only certificate is a
/// leaf not signed by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemChain {
    pub chain_pem: String,
    pub ca_pem: String,
}

/// PEM encoding of one DER certificate, 64-character lines (as Go's `pem.Encode`).
pub fn certificate_pem(der: &[u8]) -> String {
    pem::encode("CERTIFICATE", der)
}

/// The DER of every `CERTIFICATE` block in `pem`, in order.
pub fn certificates_der(text: &str) -> Result<Vec<Vec<u8>>, ChainError> {
    Ok(pem::decode_all(text.as_bytes())
        .map_err(|e| ChainError::Decode(e.to_string()))?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect())
}

fn is_signed_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer().as_raw() == parent.subject().as_raw()
        && child.verify_signature(Some(parent.public_key())).is_ok()
}

/// Orders the certificates in `pem` into one chain (see the module comment).
pub fn parse_single_chain(pem: &str) -> Result<PemChain, ChainError> {
    let mut ders = certificates_der(pem)?;
    if ders.is_empty() {
        return Err(ChainError::NoCertificates);
    }
    // Duplicates dropped, first occurrence kept.
    let mut seen = std::collections::BTreeSet::new();
    ders.retain(|d| seen.insert(d.clone()));
    if ders.len() > MAX_CERTIFICATES {
        return Err(ChainError::TooLong);
    }
    let certs: Vec<X509Certificate<'_>> = ders
        .iter()
        .map(|d| {
            X509Certificate::from_der(d)
                .map(|(_, c)| c)
                .map_err(|e| ChainError::Decode(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let n = certs.len();
    // parent[i]: the certificate (other than i) that signed i.
    let parent: Vec<Option<usize>> = (0..n)
        .map(|i| (0..n).find(|&j| j != i && is_signed_by(&certs[i], &certs[j])))
        .collect();
    // The leaf: signed nothing else's parent.
    let leaves: Vec<usize> = (0..n).filter(|&i| !parent.contains(&Some(i))).collect();
    let [leaf] = leaves[..] else {
        return Err(ChainError::Broken);
    };
    let mut order = vec![leaf];
    let mut at = leaf;
    while let Some(p) = parent[at] {
        if order.contains(&p) {
            return Err(ChainError::Broken);
        }
        order.push(p);
        at = p;
    }
    if order.len() != n {
        return Err(ChainError::Broken);
    }
    let self_signed = |i: usize| is_signed_by(&certs[i], &certs[i]);
    let top = order[order.len() - 1];
    let chain: Vec<usize> = if order.len() > 1 && self_signed(top) {
        order[..order.len() - 1].to_vec()
    } else {
        order.clone()
    };
    let ca_pem = if order.len() == 1 && !self_signed(top) {
        String::new()
    } else {
        certificate_pem(&ders[top])
    };
    Ok(PemChain {
        chain_pem: chain.iter().map(|&i| certificate_pem(&ders[i])).collect(),
        ca_pem,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    struct Pki {
        root: String,
        intermediate: String,
        leaf: String,
        stranger: String,
    }

    fn pki() -> Pki {
        let ca_params = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        };
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params("root");
        let root = root_params.clone().self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);
        let int_key = KeyPair::generate().unwrap();
        let int_params = ca_params("intermediate");
        let int = int_params
            .clone()
            .signed_by(&int_key, &root_issuer)
            .unwrap();
        let int_issuer = Issuer::new(int_params, int_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["a.example.com".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &int_issuer)
            .unwrap();
        let other_key = KeyPair::generate().unwrap();
        let stranger = ca_params("stranger").self_signed(&other_key).unwrap();
        Pki {
            root: root.pem(),
            intermediate: int.pem(),
            leaf: leaf.pem(),
            stranger: stranger.pem(),
        }
    }

    fn norm(pem: &str) -> Vec<Vec<u8>> {
        certificates_der(pem).unwrap()
    }

    #[test]
    fn orders_as_cert_manager_does_for_each_vault_answer() {
        let p = pki();
        let j = |parts: &[&str]| parts.join("\n");
        // issuing_ca only (an intermediate): chain leaf+intermediate, CA the intermediate.
        let c = parse_single_chain(&j(&[&p.intermediate, &p.leaf])).unwrap();
        assert_eq!(norm(&c.chain_pem), norm(&j(&[&p.leaf, &p.intermediate])));
        assert_eq!(norm(&c.ca_pem), norm(&p.intermediate));
        // The mount is the root: leaf only, CA the root.
        let root_leaf = {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let root = params.clone().self_signed(&key).unwrap();
            let issuer = Issuer::new(params, key);
            let leaf_key = KeyPair::generate().unwrap();
            let leaf = CertificateParams::new(vec!["b.example.com".to_string()])
                .unwrap()
                .signed_by(&leaf_key, &issuer)
                .unwrap();
            (root.pem(), leaf.pem())
        };
        let c = parse_single_chain(&j(&[&root_leaf.0, &root_leaf.1])).unwrap();
        assert_eq!(norm(&c.chain_pem), norm(&root_leaf.1));
        assert_eq!(norm(&c.ca_pem), norm(&root_leaf.0));
        // ca_chain [intermediate, root] (with a duplicate), any order.
        let c =
            parse_single_chain(&j(&[&p.root, &p.intermediate, &p.intermediate, &p.leaf])).unwrap();
        assert_eq!(norm(&c.chain_pem), norm(&j(&[&p.leaf, &p.intermediate])));
        assert_eq!(norm(&c.ca_pem), norm(&p.root));
        // The leaf alone: no CA.
        let c = parse_single_chain(&p.leaf).unwrap();
        assert_eq!(norm(&c.chain_pem), norm(&p.leaf));
        assert_eq!(c.ca_pem, "");
        // A self-signed certificate alone is its own CA.
        let c = parse_single_chain(&p.root).unwrap();
        assert_eq!(norm(&c.chain_pem), norm(&p.root));
        assert_eq!(norm(&c.ca_pem), norm(&p.root));
    }

    #[test]
    fn unrelated_or_missing_links_are_refused() {
        let p = pki();
        let j = |parts: &[&str]| parts.join("\n");
        assert_eq!(
            parse_single_chain(&j(&[&p.leaf, &p.intermediate, &p.root, &p.stranger])),
            Err(ChainError::Broken)
        );
        assert_eq!(
            parse_single_chain(&j(&[&p.leaf, &p.root])),
            Err(ChainError::Broken)
        );
        assert_eq!(
            parse_single_chain("nothing"),
            Err(ChainError::NoCertificates)
        );
    }
}
