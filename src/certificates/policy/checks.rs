//! The checks of the issuance and readiness chains on the key pair, certificate and
//! request: one `Ctx` over a Certificate, its Secret and its current request, with
//! cert-manager's reasons and messages. Pure; must not write or decide the order of
//! checks (the chains in `mod.rs` do).

use super::*;

pub(super) fn secret_does_not_exist() -> Trigger {
    Trigger::new(
        reasons::DOES_NOT_EXIST,
        "Issuing certificate as Secret does not exist",
    )
}

pub(super) struct Ctx<'a> {
    pub(super) input: &'a PolicyInput<'a>,
    pub(super) secret: &'a SecretSnapshot,
    pub(super) spec: &'a CertificateSpec,
}

pub(super) const INVALID_KEY_DATA: &str =
    "Issuing certificate as Secret contains invalid private key data: ";
pub(super) const INVALID_CERT: &str =
    "Issuing certificate as Secret contains an invalid certificate: ";

impl<'a> Ctx<'a> {
    pub(super) fn new(input: &'a PolicyInput<'a>, secret: &'a SecretSnapshot) -> Self {
        Self {
            input,
            secret,
            spec: &input.certificate.spec,
        }
    }

    pub(super) fn key_pem(&self) -> &[u8] {
        self.secret
            .data
            .get(ann::TLS_KEY)
            .map_or(&[], Vec::as_slice)
    }

    pub(super) fn cert_pem(&self) -> &[u8] {
        self.secret
            .data
            .get(ann::TLS_CRT)
            .map_or(&[], Vec::as_slice)
    }

    pub(super) fn private_key(&self) -> Result<PrivateKeyInfo, Trigger> {
        parse_private_key_pem(self.key_pem())
            .map_err(|e| Trigger::new(reasons::INVALID_KEY_PAIR, format!("{INVALID_KEY_DATA}{e}")))
    }

    pub(super) fn with_certificate<T>(
        &self,
        f: impl FnOnce(&X509Certificate<'_>) -> Option<T>,
    ) -> Result<Option<T>, Trigger> {
        let der = first_certificate_der(self.cert_pem()).map_err(|e| {
            Trigger::new(reasons::INVALID_CERTIFICATE, format!("{INVALID_CERT}{e}"))
        })?;
        match X509Certificate::from_der(&der) {
            Ok((_, cert)) => Ok(f(&cert)),
            Err(e) => Err(Trigger::new(
                reasons::INVALID_CERTIFICATE,
                format!("{INVALID_CERT}{}", CertError::Certificate(e.to_string())),
            )),
        }
    }

    pub(super) fn secret_is_missing_data(&self) -> Option<Trigger> {
        if self.secret.data.is_empty() {
            return Some(Trigger::new(
                reasons::MISSING_DATA,
                "Issuing certificate as Secret does not contain any data",
            ));
        }
        if self.key_pem().is_empty() {
            return Some(Trigger::new(
                reasons::MISSING_DATA,
                "Issuing certificate as Secret does not contain a private key",
            ));
        }
        if self.cert_pem().is_empty() {
            return Some(Trigger::new(
                reasons::MISSING_DATA,
                "Issuing certificate as Secret does not contain a certificate",
            ));
        }
        None
    }

    pub(super) fn secret_public_keys_differ(&self) -> Option<Trigger> {
        let pk = match self.private_key() {
            Ok(pk) => pk,
            Err(t) => return Some(t),
        };
        let cert_key = match self.with_certificate(|c| Some(spki_public_key(c.public_key()))) {
            Ok(k) => k?,
            Err(t) => return Some(t),
        };
        match public_keys_equal(cert_key, pk.public_key.as_ref()) {
            Err(e) => Some(Trigger::new(
                reasons::INVALID_KEY_PAIR,
                format!("Secret contains an invalid key-pair: {e}"),
            )),
            Ok(false) => Some(Trigger::new(
                reasons::INVALID_KEY_PAIR,
                "Issuing certificate as Secret contains a private key that does not match the certificate",
            )),
            Ok(true) => None,
        }
    }

    /// Note: cert-manager's condition is
    /// `(ok1 || ok2 || ok3) && name != ref.name || !kindsEqual || !groupsEqual`
    /// (Go precedence): a Secret without any issuer annotation still fails
    /// when the issuerRef's kind/group are not the defaults. Kept as is.
    pub(super) fn secret_issuer_annotations_mismatch(&self) -> Option<Trigger> {
        let a = &self.secret.annotations;
        let name = a.get(ann::ISSUER_NAME);
        let kind = a.get(ann::ISSUER_KIND);
        let group = a.get(ann::ISSUER_GROUP);
        let any = name.is_some() || kind.is_some() || group.is_some();
        let name = name.map_or("", String::as_str);
        let kind = kind.map_or("", String::as_str);
        let group = group.map_or("", String::as_str);
        let r = &self.spec.issuer_ref;
        let mismatch = (any && name != r.name)
            || !issuer_kinds_equal(kind, r.kind.as_deref().unwrap_or(""))
            || !issuer_groups_equal(group, r.group.as_deref().unwrap_or(""));
        mismatch.then(|| {
            Trigger::new(
                reasons::INCORRECT_ISSUER,
                format!(
                    "Issuing certificate as Secret was previously issued by {}",
                    go_quote(&format_issuer_ref(name, kind, group))
                ),
            )
        })
    }

    pub(super) fn secret_certificate_name_annotation_mismatch(&self) -> Option<Trigger> {
        let name = self.secret.annotations.get(ann::CERTIFICATE_NAME)?;
        let crt_name = self
            .input
            .certificate
            .metadata
            .name
            .as_deref()
            .unwrap_or("");
        (name != crt_name).then(|| {
            Trigger::new(
                reasons::INCORRECT_CERTIFICATE,
                format!(
                    "Secret was issued for {}. If this message is not transient, you might have two conflicting Certificates pointing to the same secret.",
                    go_quote(name)
                ),
            )
        })
    }

    pub(super) fn secret_private_key_mismatches_spec(&self) -> Option<Trigger> {
        let pk = match self.private_key() {
            Ok(pk) => pk,
            Err(t) => return Some(t),
        };
        let violations = private_key_matches_spec(&pk, self.spec);
        (!violations.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_MISMATCH,
                format!(
                    "Existing private key is not up to date for spec: {}",
                    go_list(&violations)
                ),
            )
        })
    }

    pub(super) fn secret_public_key_differs_from_current_request(&self) -> Option<Trigger> {
        let req = self.input.current_request?;
        let pk = match self.private_key() {
            Ok(pk) => pk,
            Err(t) => return Some(t),
        };
        let der = match request_der(req) {
            Ok(d) => d,
            Err(e) => {
                return Some(Trigger::new(
                    reasons::INVALID_CERTIFICATE_REQUEST,
                    format!("Failed to decode current CertificateRequest: {e}"),
                ));
            }
        };
        let csr = match X509CertificationRequest::from_der(&der) {
            Ok((_, csr)) => csr,
            Err(e) => {
                return Some(Trigger::new(
                    reasons::INVALID_CERTIFICATE_REQUEST,
                    format!(
                        "Failed to decode current CertificateRequest: {}",
                        CertError::Request(e.to_string())
                    ),
                ));
            }
        };
        let csr_key = spki_public_key(&csr.certification_request_info.subject_pki);
        match public_keys_equal(csr_key, pk.public_key.as_ref()) {
            Err(e) => Some(Trigger::new(
                reasons::INVALID_CERTIFICATE_REQUEST,
                format!("CertificateRequest's public key is invalid: {e}"),
            )),
            Ok(false) => Some(Trigger::new(
                reasons::SECRET_MISMATCH,
                "Secret contains a private key that does not match the current CertificateRequest",
            )),
            Ok(true) => None,
        }
    }

    pub(super) fn current_request_mismatches_spec(&self) -> Option<Trigger> {
        let Some(req) = self.input.current_request else {
            return self.current_secret_valid_for_spec();
        };
        // A request that cannot be parsed does not trigger re-issuance.
        let violations = request_matches_spec(req, self.spec).ok()?;
        (!violations.is_empty()).then(|| {
            Trigger::new(
                reasons::REQUEST_CHANGED,
                format!(
                    "Fields on existing CertificateRequest resource not up to date: {}",
                    go_list(&violations)
                ),
            )
        })
    }

    pub(super) fn current_secret_valid_for_spec(&self) -> Option<Trigger> {
        let violations =
            match self.with_certificate(|c| Some(fuzzy_x509_alt_names_match_spec(c, self.spec))) {
                Ok(v) => v.unwrap_or_default(),
                Err(t) => return Some(t),
            };
        (!violations.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_MISMATCH,
                format!(
                    "Issuing certificate as Existing issued Secret is not up to date for spec: {}",
                    go_list(&violations)
                ),
            )
        })
    }

    pub(super) fn validity(&self) -> Result<(Timestamp, Timestamp), Trigger> {
        let v = self.with_certificate(|c| {
            let v = c.validity();
            Some((v.not_before.timestamp(), v.not_after.timestamp()))
        })?;
        let (nb, na) = v.unwrap_or((0, 0));
        let ts = |s: i64| {
            Timestamp::from_second(s).unwrap_or(if s < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
        };
        Ok((ts(nb), ts(na)))
    }

    /// With `spec.renewal.policy: Disabled` there is no renewal time and
    /// nothing is renewed. When no renewal window applies, renewal happens at the
    /// desired time with reason `WindowError` and the error (as cert-manager).
    pub(super) fn current_certificate_nearing_expiry(&self) -> Option<Trigger> {
        let (nb, na) = match self.validity() {
            Ok(v) => v,
            Err(t) => return Some(t),
        };
        let (rt, window_error) = match renewal::renewal_time_checked(
            nb,
            na,
            self.spec,
            crate::certificates::snapshot::ari_renewal_time(self.input.current_request),
        ) {
            Ok(rt) => (rt?, None),
            Err(e) => (e.renewal_time, Some(e.to_string())),
        };
        if rt > self.input.now {
            return None;
        }
        if let Some(message) = window_error {
            return Some(Trigger::new(renewal::WINDOW_ERROR, message));
        }
        let scheduled = self
            .input
            .certificate
            .status
            .as_ref()
            .and_then(|s| s.renewal_time.as_ref())
            .map_or_else(|| "<nil>".to_string(), |t| go_time_string(t.0));
        Some(Trigger::new(
            reasons::RENEWING,
            format!("Renewing certificate as renewal was scheduled at {scheduled}"),
        ))
    }

    pub(super) fn current_certificate_has_expired(&self) -> Option<Trigger> {
        let (_, na) = match self.validity() {
            Ok(v) => v,
            Err(t) => return Some(t),
        };
        (self.input.now > na).then(|| {
            Trigger::new(
                reasons::EXPIRED,
                format!("Certificate expired on {}", rfc1123(na)),
            )
        })
    }
}
