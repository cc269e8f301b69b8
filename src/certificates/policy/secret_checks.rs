//! The checks after issuance on the Secret's metadata and data: labels, certificate
//! details annotations, secretTemplate, additional output formats, owner reference,
//! keystores and `ca.crt`, with cert-manager's reasons and messages. Pure.

use super::checks::{Ctx, INVALID_CERT};
use super::*;

impl<'a> Ctx<'a> {
    pub(super) fn secret_base_labels_mismatch(&self) -> Option<Trigger> {
        match self.secret.labels.get(ann::LABEL_PART_OF_CONTROLLER) {
            Some(v) if v != "true" => Some(Trigger::new(
                reasons::SECRET_MANAGED_METADATA_MISMATCH,
                format!(
                    "wrong base label {} value {}, expected \"true\"",
                    ann::LABEL_PART_OF_CONTROLLER,
                    go_quote(v)
                ),
            )),
            _ => None,
        }
    }

    pub(super) fn data_annotations(&self) -> Result<BTreeMap<String, String>, Trigger> {
        if self.cert_pem().is_empty() {
            return Ok(BTreeMap::new());
        }
        self.with_certificate(|c| Some(annotations_for_certificate(c)))
            .map(Option::unwrap_or_default)
            .map_err(|t| {
                Trigger::new(
                    reasons::INVALID_CERTIFICATE,
                    format!(
                        "Failed getting secret annotations: {}",
                        t.message.trim_start_matches(INVALID_CERT)
                    ),
                )
            })
    }

    pub(super) fn secret_certificate_details_annotations_mismatch(&self) -> Option<Trigger> {
        let data = match self.data_annotations() {
            Ok(d) => d,
            Err(t) => return Some(t),
        };
        let key = first_mismatching_value(&data, &self.secret.annotations)?;
        Some(Trigger::new(
            reasons::SECRET_TEMPLATE_MISMATCH,
            format!(
                "Secret metadata {} does not match certificate metadata {}",
                self.secret.annotations.get(key).map_or("", String::as_str),
                data.get(key).map_or("", String::as_str)
            ),
        ))
    }

    /// cert-manager compares its managed fields; certgate checks that the
    /// `controller.cert-manager.io/fao` label and the certificate-details
    /// annotations are present (extra ones cannot be told from user ones).
    pub(super) fn secret_managed_labels_and_annotations_missing(&self) -> Option<Trigger> {
        if !self
            .secret
            .labels
            .contains_key(ann::LABEL_PART_OF_CONTROLLER)
        {
            return Some(Trigger::new(
                reasons::SECRET_MANAGED_METADATA_MISMATCH,
                format!(
                    "Secret is missing these Managed Labels: [{}]",
                    ann::LABEL_PART_OF_CONTROLLER
                ),
            ));
        }
        let data = match self.data_annotations() {
            Ok(d) => d,
            Err(t) => return Some(t),
        };
        let missing: Vec<&str> = data
            .keys()
            .filter(|k| !self.secret.annotations.contains_key(*k))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_MANAGED_METADATA_MISMATCH,
                format!(
                    "Secret is missing these Managed Annotations: {}",
                    go_list(&missing)
                ),
            )
        })
    }

    pub(super) fn secret_template_mismatch(&self) -> Option<Trigger> {
        let t = self.spec.secret_template.as_ref()?;
        if let Some(a) = &t.annotations
            && first_mismatching_value(a, &self.secret.annotations).is_some()
        {
            return Some(Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                "Certificate's SecretTemplate Annotations missing or incorrect value on Secret",
            ));
        }
        if let Some(l) = &t.labels
            && first_mismatching_value(l, &self.secret.labels).is_some()
        {
            return Some(Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                "Certificate's SecretTemplate Labels missing or incorrect value on Secret",
            ));
        }
        None
    }

    /// cert-manager's `SecretSecretTemplateManagedFieldsMismatch`, for the
    /// missing keys only (extra ones need managed fields).
    pub(super) fn secret_template_missing(&self) -> Option<Trigger> {
        let t = self.spec.secret_template.as_ref()?;
        fn missing<'m>(
            want: &'m Option<BTreeMap<String, String>>,
            have: &BTreeMap<String, String>,
        ) -> Vec<&'m str> {
            want.iter()
                .flat_map(BTreeMap::keys)
                .filter(|k| !have.contains_key(*k))
                .map(String::as_str)
                .collect()
        }
        let labels = missing(&t.labels, &self.secret.labels);
        if !labels.is_empty() {
            return Some(Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                format!(
                    "Secret is missing these Template Labels: {}",
                    go_list(&labels)
                ),
            ));
        }
        let annotations = missing(&t.annotations, &self.secret.annotations);
        (!annotations.is_empty()).then(|| {
            Trigger::new(
                reasons::SECRET_TEMPLATE_MISMATCH,
                format!(
                    "Secret is missing these Template Annotations: {}",
                    go_list(&annotations)
                ),
            )
        })
    }

    /// Data check as cert-manager's `SecretAdditionalOutputFormatsMismatch`;
    /// an output-format key present but no longer requested is reported with
    /// the managed-fields message.
    pub(super) fn secret_additional_output_formats_mismatch(&self) -> Option<Trigger> {
        let formats: Vec<AdditionalOutputFormatType> = self
            .spec
            .additional_output_formats
            .iter()
            .flatten()
            .map(|f| f.type_)
            .collect();
        let data_mismatch = Trigger::new(
            reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
            "Certificate's AdditionalOutputFormats doesn't match Secret Data",
        );
        for f in &formats {
            match f {
                AdditionalOutputFormatType::CombinedPEM => {
                    let want = output_format_combined_pem(self.key_pem(), self.cert_pem());
                    if self.secret.data.get(ann::TLS_COMBINED_PEM) != Some(&want) {
                        return Some(data_mismatch);
                    }
                }
                AdditionalOutputFormatType::Der => {
                    let want = output_format_der(self.key_pem());
                    if self.secret.data.get(ann::KEY_DER) != Some(&want) {
                        return Some(data_mismatch);
                    }
                }
            }
        }
        let extra = (self.secret.data.contains_key(ann::TLS_COMBINED_PEM)
            && !formats.contains(&AdditionalOutputFormatType::CombinedPEM))
            || (self.secret.data.contains_key(ann::KEY_DER)
                && !formats.contains(&AdditionalOutputFormatType::Der));
        extra.then(|| {
            Trigger::new(
                reasons::ADDITIONAL_OUTPUT_FORMATS_MISMATCH,
                "Certificate's AdditionalOutputFormats doesn't match Secret ManagedFields",
            )
        })
    }

    pub(super) fn secret_owner_reference_mismatch(&self, enabled: bool) -> Option<Trigger> {
        let crt = self.input.certificate;
        let uid = crt.metadata.uid.as_deref().unwrap_or("");
        let with_uid = self.secret.owner_references.iter().find(|r| r.uid == uid);
        if enabled {
            let expected = SecretOwnerReference {
                api_version: "cert-manager.io/v1".to_string(),
                kind: "Certificate".to_string(),
                name: crt.metadata.name.clone().unwrap_or_default(),
                uid: uid.to_string(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            };
            if with_uid != Some(&expected) {
                return Some(Trigger::new(
                    reasons::SECRET_OWNER_REF_MISMATCH,
                    "unexpected Secret Owner Reference value on Secret --enable-certificate-owner-ref=true",
                ));
            }
        } else if !uid.is_empty() && with_uid.is_some() {
            return Some(Trigger::new(
                reasons::SECRET_OWNER_REF_MISMATCH,
                "unexpected managed Secret Owner Reference field on Secret --enable-certificate-owner-ref=false",
            ));
        }
        None
    }

    pub(super) fn secret_keystore_format_mismatch(&self) -> Option<Trigger> {
        let has = |k: &str| self.secret.data.get(k).is_some_and(|v| !v.is_empty());
        let issuer_provides_ca = self.secret.data.contains_key(ann::CA_CRT);
        let m = |msg: &str| Some(Trigger::new(reasons::SECRET_MISMATCH, msg));
        let Some(ks) = &self.spec.keystores else {
            if has(ann::KEYSTORE_P12)
                || has(ann::TRUSTSTORE_P12)
                || has(ann::KEYSTORE_JKS)
                || has(ann::TRUSTSTORE_JKS)
            {
                return m("Keystore is not defined");
            }
            return None;
        };
        match &ks.jks {
            Some(j) if j.create => {
                if !has(ann::KEYSTORE_JKS) || (!has(ann::TRUSTSTORE_JKS) && issuer_provides_ca) {
                    return m("JKS Keystore key does not contain data");
                }
            }
            Some(_) => {
                if has(ann::KEYSTORE_JKS) || has(ann::TRUSTSTORE_JKS) {
                    return m("JKS Keystore create disabled");
                }
            }
            None => {
                if has(ann::KEYSTORE_JKS) || has(ann::TRUSTSTORE_JKS) {
                    return m("JKS Keystore not defined");
                }
            }
        }
        match &ks.pkcs12 {
            Some(p) if p.create => {
                if !has(ann::KEYSTORE_P12) || (!has(ann::TRUSTSTORE_P12) && issuer_provides_ca) {
                    return m("PKCS12 Keystore key does not contain data");
                }
            }
            Some(_) => {
                if has(ann::KEYSTORE_P12) || has(ann::TRUSTSTORE_P12) {
                    return m("PKCS12 Keystore create disabled");
                }
            }
            None => {
                if has(ann::KEYSTORE_P12) || has(ann::TRUSTSTORE_P12) {
                    return m("PKCS12 Keystore not defined");
                }
            }
        }
        None
    }

    /// certgate addition (not in cert-manager's chain): the issuer returned a
    /// CA (current request's `status.ca`) but the Secret has no `ca.crt` key.
    pub(super) fn secret_ca_missing(&self) -> Option<Trigger> {
        let req = self.input.current_request?;
        let ca = req.status.as_ref()?.ca.as_deref()?;
        if ca.is_empty() || self.secret.data.contains_key(ann::CA_CRT) {
            return None;
        }
        Some(Trigger::new(
            reasons::SECRET_MISMATCH,
            "Secret is missing the ca.crt key although the issuer provided a CA",
        ))
    }
}

/// The first key (sorted) present in both maps with different values.
pub(super) fn first_mismatching_value<'m>(
    a: &'m BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Option<&'m str> {
    a.iter()
        .find(|(k, v)| b.get(*k).is_some_and(|bv| bv != *v))
        .map(|(k, _)| k.as_str())
}
