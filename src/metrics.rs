//! Prometheus metrics with cert-manager's names, labels and types, in the text
//! exposition format. Series of an object are removed when the object goes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Labels of one series, in order.
pub type Labels = Vec<(&'static str, String)>;

struct Family {
    help: &'static str,
    kind: &'static str,
    series: BTreeMap<Labels, f64>,
}

/// The series of one Certificate, kept once (their labels are the same for all five
/// families: at thousands of Certificates, storing them per series costs tens of MB).
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateSeries {
    pub issuer_name: String,
    pub issuer_kind: String,
    pub issuer_group: String,
    pub not_after: f64,
    pub not_before: f64,
    pub renewal: f64,
    /// `True`, `False` or `Unknown`.
    pub ready: &'static str,
}

/// The metrics registry.
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
    /// (namespace, name) → series.
    certificates: Mutex<BTreeMap<(String, String), CertificateSeries>>,
}

pub const CERT_EXPIRATION: &str = "certmanager_certificate_expiration_timestamp_seconds";
pub const CERT_NOT_AFTER: &str = "certmanager_certificate_not_after_timestamp_seconds";
pub const CERT_NOT_BEFORE: &str = "certmanager_certificate_not_before_timestamp_seconds";
pub const CERT_RENEWAL: &str = "certmanager_certificate_renewal_timestamp_seconds";
pub const CERT_READY: &str = "certmanager_certificate_ready_status";
pub const ISSUER_READY: &str = "certmanager_issuer_ready_status";
pub const CLUSTER_ISSUER_READY: &str = "certmanager_clusterissuer_ready_status";
pub const SYNC_CALLS: &str = "certmanager_controller_sync_call_count";
pub const SYNC_ERRORS: &str = "certmanager_controller_sync_error_count";
pub const CLOCK: &str = "certmanager_clock_time_seconds";
pub const CLOCK_GAUGE: &str = "certmanager_clock_time_seconds_gauge";
pub const ACME_CLIENT_REQUESTS: &str = "certmanager_http_acme_client_request_count";

const FAMILIES: &[(&str, &str, &str)] = &[
    (
        CERT_EXPIRATION,
        "gauge",
        "The date after which the certificate expires. Expressed as a Unix Epoch Time.",
    ),
    (
        CERT_NOT_AFTER,
        "gauge",
        "The timestamp after which the certificate is invalid. Expressed as a Unix Epoch Time.",
    ),
    (
        CERT_NOT_BEFORE,
        "gauge",
        "The timestamp before which the certificate is invalid. Expressed as a Unix Epoch Time.",
    ),
    (
        CERT_RENEWAL,
        "gauge",
        "The number of seconds before expiration time the certificate should renew.",
    ),
    (CERT_READY, "gauge", "The ready status of the certificate."),
    (ISSUER_READY, "gauge", "The ready status of the issuer."),
    (
        CLUSTER_ISSUER_READY,
        "gauge",
        "The ready status of the cluster issuer.",
    ),
    (
        SYNC_CALLS,
        "counter",
        "The number of sync() calls made by a controller.",
    ),
    (
        SYNC_ERRORS,
        "counter",
        "The number of errors encountered during a controller sync().",
    ),
    (
        CLOCK,
        "counter",
        "DEPRECATED: use clock_time_seconds_gauge instead. The clock time given in seconds (from 1970/01/01 UTC).",
    ),
    (
        CLOCK_GAUGE,
        "gauge",
        "The clock time given in seconds (from 1970/01/01 UTC).",
    ),
    (
        ACME_CLIENT_REQUESTS,
        "counter",
        "The number of requests made by the ACME client.",
    ),
];

const CONDITIONS: [&str; 3] = ["True", "False", "Unknown"];

impl Default for Metrics {
    fn default() -> Self {
        let families = FAMILIES
            .iter()
            .map(|(name, kind, help)| {
                (
                    *name,
                    Family {
                        help,
                        kind,
                        series: BTreeMap::new(),
                    },
                )
            })
            .collect();
        Metrics {
            families: Mutex::new(families),
            certificates: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, Family>) -> T) -> Option<T> {
        self.families.lock().ok().map(|mut g| f(&mut g))
    }

    /// Sets one series.
    pub fn set(&self, family: &'static str, labels: Labels, value: f64) {
        self.with(|f| {
            if let Some(fam) = f.get_mut(family) {
                fam.series.insert(labels, value);
            }
        });
    }

    /// Adds to a counter series.
    pub fn inc(&self, family: &'static str, labels: Labels) {
        self.with(|f| {
            if let Some(fam) = f.get_mut(family) {
                *fam.series.entry(labels).or_insert(0.0) += 1.0;
            }
        });
    }

    /// Sets a `{condition}` status family: 1 for the current condition, 0 for the others.
    pub fn set_condition(&self, family: &'static str, labels: Labels, status: &str) {
        for c in CONDITIONS {
            let mut l = labels.clone();
            l.insert(0, ("condition", c.to_string()));
            self.set(family, l, if c == status { 1.0 } else { 0.0 });
        }
    }

    /// Removes every series whose labels contain all of `matching`.
    pub fn remove_matching(&self, family: &'static str, matching: &[(&'static str, &str)]) {
        self.with(|f| {
            if let Some(fam) = f.get_mut(family) {
                fam.series.retain(|labels, _| {
                    !matching
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
                });
            }
        });
    }

    /// Sets a Certificate's series.
    pub fn set_certificate(&self, namespace: &str, name: &str, series: CertificateSeries) {
        if let Ok(mut m) = self.certificates.lock() {
            m.insert((namespace.to_string(), name.to_string()), series);
        }
    }

    /// Removes a Certificate's series.
    pub fn forget_certificate(&self, name: &str, namespace: &str) {
        if let Ok(mut m) = self.certificates.lock() {
            m.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// The certificate families, rendered from the per-Certificate records.
    fn render_certificates(&self, name: &str, out: &mut String) {
        let Ok(certs) = self.certificates.lock() else {
            return;
        };
        for ((ns, cert), c) in certs.iter() {
            let labels = format!(
                "issuer_group=\"{}\",issuer_kind=\"{}\",issuer_name=\"{}\",name=\"{}\",namespace=\"{}\"",
                escape(&c.issuer_group),
                escape(&c.issuer_kind),
                escape(&c.issuer_name),
                escape(cert),
                escape(ns)
            );
            let value = match name {
                CERT_EXPIRATION | CERT_NOT_AFTER => c.not_after,
                CERT_NOT_BEFORE => c.not_before,
                CERT_RENEWAL => c.renewal,
                CERT_READY => {
                    for cond in CONDITIONS {
                        let v = if cond == c.ready { 1 } else { 0 };
                        let _ = writeln!(out, "{name}{{condition=\"{cond}\",{labels}}} {v}");
                    }
                    continue;
                }
                _ => continue,
            };
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }

    /// The text exposition (`text/plain; version=0.0.4`).
    pub fn render(&self, now_seconds: f64) -> String {
        self.set(CLOCK_GAUGE, Vec::new(), now_seconds);
        self.set(CLOCK, Vec::new(), now_seconds);
        self.with(|families| {
            let mut out = String::new();
            for (name, fam) in families.iter() {
                let _ = writeln!(out, "# HELP {name} {}", fam.help);
                let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
                self.render_certificates(name, &mut out);
                for (labels, value) in &fam.series {
                    let rendered: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    if rendered.is_empty() {
                        let _ = writeln!(out, "{name} {value}");
                    } else {
                        let _ = writeln!(out, "{name}{{{}}} {value}", rendered.join(","));
                    }
                }
            }
            out
        })
        .unwrap_or_default()
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_render_and_go_away_with_their_object() {
        let m = Metrics::default();
        m.set_certificate(
            "prod",
            "web",
            CertificateSeries {
                issuer_name: "ca".into(),
                issuer_kind: "ClusterIssuer".into(),
                issuer_group: "cert-manager.io".into(),
                not_after: 1_800_000_000.0,
                not_before: 1_700_000_000.0,
                renewal: 1_770_000_000.0,
                ready: "True",
            },
        );
        m.inc(SYNC_CALLS, vec![("controller", "certificates".into())]);
        m.inc(SYNC_CALLS, vec![("controller", "certificates".into())]);
        let text = m.render(1.0);
        assert!(text.contains("# TYPE certmanager_certificate_expiration_timestamp_seconds gauge"));
        assert!(text.contains(
            "certmanager_certificate_expiration_timestamp_seconds{issuer_group=\"cert-manager.io\",issuer_kind=\"ClusterIssuer\",issuer_name=\"ca\",name=\"web\",namespace=\"prod\"} 1800000000"
        ));
        assert!(text.contains("certmanager_certificate_ready_status{condition=\"True\",issuer_group=\"cert-manager.io\",issuer_kind=\"ClusterIssuer\",issuer_name=\"ca\",name=\"web\",namespace=\"prod\"} 1"));
        assert!(text.contains("certmanager_certificate_ready_status{condition=\"False\","));
        assert!(
            text.contains("certmanager_controller_sync_call_count{controller=\"certificates\"} 2")
        );
        m.forget_certificate("web", "prod");
        let text = m.render(1.0);
        assert!(!text.contains("name=\"web\""), "{text}");
    }
}
