//! Prometheus metrics with cert-manager's names, labels and types, in the text
//! exposition format. Series of an object are removed when the object goes.

pub mod process;

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

/// The series of one Challenge (`certmanager_certificate_challenge_status`: one
/// series per state, 1 for the current one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeSeries {
    /// `status.state` as the API writes it (`pending`, `valid`, …; empty when unset).
    pub state: String,
    pub domain: String,
    pub reason: String,
    pub processing: bool,
    /// `spec.type` (`HTTP-01`, `DNS-01`).
    pub type_: String,
}

/// The states cert-manager reports a Challenge series for, in its order.
const CHALLENGE_STATES: [&str; 8] = [
    "ready",
    "valid",
    "errored",
    "expired",
    "invalid",
    "processing",
    "",
    "pending",
];

/// Observations of one summary series within the last [`SUMMARY_MAX_AGE`] (at most
/// [`SUMMARY_MAX_SAMPLES`]), with the all-time sum and count.
#[derive(Debug, Default)]
struct SummarySeries {
    recent: std::collections::VecDeque<(std::time::Instant, f64)>,
    sum: f64,
    count: u64,
}

/// The window the quantiles cover (client_golang's default `MaxAge`).
const SUMMARY_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);
/// Observations kept per series for the quantiles.
const SUMMARY_MAX_SAMPLES: usize = 1024;
/// cert-manager's objectives for the ACME request summary.
const SUMMARY_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// How many deleted Certificates' uids are remembered.
const DELETED_KEPT: usize = 4096;

/// The metrics registry.
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
    /// (namespace, name) → series.
    certificates: Mutex<BTreeMap<(String, String), CertificateSeries>>,
    /// The uids of Certificates deleted lately (at most [`DELETED_KEPT`]): a reconcile
    /// that loaded one before it went must not bring its series back.
    deleted_certificates: Mutex<std::collections::VecDeque<String>>,
    /// (namespace, name) → series.
    challenges: Mutex<BTreeMap<(String, String), ChallengeSeries>>,
    /// Summary families: family → labels → observations.
    summaries: Mutex<BTreeMap<&'static str, BTreeMap<Labels, SummarySeries>>>,
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
pub const ACME_CLIENT_DURATION: &str = "certmanager_http_acme_client_request_duration_seconds";
pub const CHALLENGE_STATUS: &str = "certmanager_certificate_challenge_status";

const FAMILIES: &[(&str, &str, &str)] = &[
    (
        CERT_EXPIRATION,
        "gauge",
        "The timestamp after which the certificate expires, expressed in Unix Epoch Time.",
    ),
    (
        CERT_NOT_AFTER,
        "gauge",
        "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.",
    ),
    (
        CERT_NOT_BEFORE,
        "gauge",
        "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.",
    ),
    (
        CERT_RENEWAL,
        "gauge",
        "The timestamp after which the certificate should be renewed, expressed in Unix Epoch Time.",
    ),
    (CERT_READY, "gauge", "The ready status of the certificate."),
    (ISSUER_READY, "gauge", "The ready status of the Issuer."),
    (
        CLUSTER_ISSUER_READY,
        "gauge",
        "The ready status of the ClusterIssuer.",
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
        "Total number of outbound ACME HTTP requests. Labels: scheme (http/https), host (ACME host), action (logical ACME operation), method (HTTP verb), status (HTTP status code).",
    ),
    (
        ACME_CLIENT_DURATION,
        "summary",
        "Latency of outbound ACME HTTP requests in seconds. Summary quantiles approximate request distribution. Labels: scheme (http/https), host (ACME host), action (logical ACME operation), method (HTTP verb), status (HTTP status code). Use with acme_client_request_count for rate/error analysis.",
    ),
    (
        CHALLENGE_STATUS,
        "gauge",
        "The status of certificate challenges",
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
            deleted_certificates: Mutex::new(std::collections::VecDeque::new()),
            challenges: Mutex::new(BTreeMap::new()),
            summaries: Mutex::new(BTreeMap::new()),
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

    /// Sets a Certificate's series (`uid`: the Certificate's; nothing is set for one
    /// deleted since).
    pub fn set_certificate(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        series: CertificateSeries,
    ) {
        if self
            .deleted_certificates
            .lock()
            .is_ok_and(|d| d.iter().any(|u| u == uid))
        {
            return;
        }
        if let Ok(mut m) = self.certificates.lock() {
            m.insert((namespace.to_string(), name.to_string()), series);
        }
    }

    /// Removes the series of a deleted Certificate, and keeps them from coming back.
    pub fn certificate_deleted(&self, name: &str, namespace: &str, uid: &str) {
        if let Ok(mut d) = self.deleted_certificates.lock() {
            if d.len() >= DELETED_KEPT {
                d.pop_front();
            }
            d.push_back(uid.to_string());
        }
        self.forget_certificate(name, namespace);
    }

    /// Removes a Certificate's series.
    pub fn forget_certificate(&self, name: &str, namespace: &str) {
        if let Ok(mut m) = self.certificates.lock() {
            m.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// Records one observation of a summary family (seconds, for the ACME client).
    pub fn observe(&self, family: &'static str, labels: Labels, value: f64) {
        let Ok(mut all) = self.summaries.lock() else {
            return;
        };
        let series = all.entry(family).or_default().entry(labels).or_default();
        let now = std::time::Instant::now();
        series.recent.push_back((now, value));
        while series.recent.len() > SUMMARY_MAX_SAMPLES
            || series
                .recent
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > SUMMARY_MAX_AGE)
        {
            series.recent.pop_front();
        }
        series.sum += value;
        series.count += 1;
    }

    /// Sets a Challenge's series.
    pub fn set_challenge(&self, namespace: &str, name: &str, series: ChallengeSeries) {
        if let Ok(mut m) = self.challenges.lock() {
            m.insert((namespace.to_string(), name.to_string()), series);
        }
    }

    /// Removes a Challenge's series.
    pub fn forget_challenge(&self, namespace: &str, name: &str) {
        if let Ok(mut m) = self.challenges.lock() {
            m.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// `certmanager_certificate_challenge_status`, from the per-Challenge records.
    fn render_challenges(&self, out: &mut String) {
        let Ok(challenges) = self.challenges.lock() else {
            return;
        };
        for ((ns, name), c) in challenges.iter() {
            for state in CHALLENGE_STATES {
                let v = if state == c.state { 1 } else { 0 };
                let _ = writeln!(
                    out,
                    "{CHALLENGE_STATUS}{{domain=\"{}\",name=\"{}\",namespace=\"{}\",processing=\"{}\",reason=\"{}\",status=\"{state}\",type=\"{}\"}} {v}",
                    escape(&c.domain),
                    escape(name),
                    escape(ns),
                    c.processing,
                    escape(&c.reason),
                    escape(&c.type_),
                );
            }
        }
    }

    /// A summary family: quantiles over the recent observations, then `_sum` and
    /// `_count`.
    fn render_summary(&self, name: &'static str, out: &mut String) {
        let Ok(all) = self.summaries.lock() else {
            return;
        };
        let Some(family) = all.get(name) else {
            return;
        };
        for (labels, series) in family {
            let rendered: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let base = rendered.join(",");
            let mut values: Vec<f64> = series.recent.iter().map(|(_, v)| *v).collect();
            values.sort_by(f64::total_cmp);
            for q in SUMMARY_QUANTILES {
                let value = if values.is_empty() {
                    f64::NAN
                } else {
                    let rank = (q * (values.len() - 1) as f64).round() as usize;
                    values[rank.min(values.len() - 1)]
                };
                let sep = if base.is_empty() { "" } else { "," };
                let _ = writeln!(out, "{name}{{{base}{sep}quantile=\"{q}\"}} {value}");
            }
            let braces = if base.is_empty() {
                String::new()
            } else {
                format!("{{{base}}}")
            };
            let _ = writeln!(out, "{name}_sum{braces} {}", series.sum);
            let _ = writeln!(out, "{name}_count{braces} {}", series.count);
        }
    }

    /// A page of a certificate family, rendered from the per-Certificate records:
    /// the Certificates after `after` (from the first when `None`), until `out` holds
    /// `limit` bytes. True when the family's last Certificate is rendered; else
    /// `after` is the last one rendered.
    fn render_certificates(
        &self,
        name: &str,
        after: &mut Option<(String, String)>,
        out: &mut String,
        limit: usize,
    ) -> bool {
        if !matches!(
            name,
            CERT_EXPIRATION | CERT_NOT_AFTER | CERT_NOT_BEFORE | CERT_RENEWAL | CERT_READY
        ) {
            return true;
        }
        let Ok(certs) = self.certificates.lock() else {
            return true;
        };
        let page = match after.take() {
            None => certs.range::<(String, String), _>(..),
            Some(key) => certs.range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded)),
        };
        for (key, c) in page {
            let (ns, cert) = key;
            let labels = format!(
                "issuer_group=\"{}\",issuer_kind=\"{}\",issuer_name=\"{}\",name=\"{}\",namespace=\"{}\"",
                escape(&c.issuer_group),
                escape(&c.issuer_kind),
                escape(&c.issuer_name),
                escape(cert),
                escape(ns)
            );
            if name == CERT_READY {
                for cond in CONDITIONS {
                    let v = if cond == c.ready { 1 } else { 0 };
                    let _ = writeln!(out, "{name}{{condition=\"{cond}\",{labels}}} {v}");
                }
            } else {
                let value = match name {
                    CERT_EXPIRATION | CERT_NOT_AFTER => c.not_after,
                    CERT_NOT_BEFORE => c.not_before,
                    _ => c.renewal,
                };
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
            if out.len() >= limit {
                *after = Some(key.clone());
                return false;
            }
        }
        true
    }

    /// The text exposition (`text/plain; version=0.0.4`), whole. `/metrics` sends
    /// it page by page ([`Pages`]).
    pub fn render(&self, now_seconds: f64) -> String {
        let mut pages = Pages::new(now_seconds);
        let mut out = String::new();
        while let Some(page) = pages.next_page(self) {
            out.push_str(&page);
        }
        out
    }

    /// The families that are not per-object records: a family's own series.
    fn render_series(&self, name: &str, out: &mut String) {
        self.with(|families| {
            let Some(fam) = families.get(name) else {
                return;
            };
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
        });
    }
}

/// How much text a page of the exposition holds, about: a scrape of 10,000
/// Certificates (13 MB of text) is sent a page at a time instead of built whole.
const PAGE_BYTES: usize = 64 * 1024;

/// Where a scrape is in the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Certificates,
    Rest,
}

/// The exposition as pages of about [`PAGE_BYTES`], each rendered under the
/// registry's locks and released before the next (a scrape of many Certificates
/// holds one page, and never blocks the controllers for the whole text). The
/// families come in name order; a Certificate added or removed between two pages
/// shows or not, as in a scrape a moment earlier or later.
pub struct Pages {
    now_seconds: f64,
    started: bool,
    names: Vec<&'static str>,
    family: usize,
    part: Part,
    after: Option<(String, String)>,
}

impl Pages {
    pub fn new(now_seconds: f64) -> Pages {
        let mut names: Vec<&'static str> = FAMILIES.iter().map(|(name, _, _)| *name).collect();
        names.sort_unstable();
        Pages {
            now_seconds,
            started: false,
            names,
            family: 0,
            part: Part::Header,
            after: None,
        }
    }

    /// The next page, or `None` after the last.
    pub fn next_page(&mut self, metrics: &Metrics) -> Option<String> {
        if !self.started {
            self.started = true;
            metrics.set(CLOCK_GAUGE, Vec::new(), self.now_seconds);
            metrics.set(CLOCK, Vec::new(), self.now_seconds);
        }
        let mut out = String::new();
        while out.len() < PAGE_BYTES {
            let Some(&name) = self.names.get(self.family) else {
                break;
            };
            match self.part {
                Part::Header => {
                    let head =
                        metrics.with(|families| families.get(name).map(|fam| (fam.help, fam.kind)));
                    if let Some(Some((help, kind))) = head {
                        let _ = writeln!(out, "# HELP {name} {help}");
                        let _ = writeln!(out, "# TYPE {name} {kind}");
                    }
                    self.part = Part::Certificates;
                    self.after = None;
                }
                Part::Certificates => {
                    if metrics.render_certificates(name, &mut self.after, &mut out, PAGE_BYTES) {
                        self.part = Part::Rest;
                    }
                }
                Part::Rest => {
                    if name == CHALLENGE_STATUS {
                        metrics.render_challenges(&mut out);
                    }
                    if FAMILIES
                        .iter()
                        .any(|(n, kind, _)| *n == name && *kind == "summary")
                    {
                        metrics.render_summary(name, &mut out);
                    }
                    metrics.render_series(name, &mut out);
                    self.family += 1;
                    self.part = Part::Header;
                }
            }
        }
        (!out.is_empty()).then_some(out)
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
    fn many_certificates_are_rendered_page_by_page_each_once() {
        let m = Metrics::default();
        for i in 0..300 {
            m.set_certificate(
                "prod",
                &format!("web-{i:03}"),
                &format!("uid-{i}"),
                CertificateSeries {
                    issuer_name: "ca".into(),
                    issuer_kind: "Issuer".into(),
                    issuer_group: "cert-manager.io".into(),
                    not_after: 1_800_000_000.0 + i as f64,
                    not_before: 1_700_000_000.0,
                    renewal: 1_770_000_000.0,
                    ready: "True",
                },
            );
        }
        m.inc(SYNC_CALLS, vec![("controller", "certificates".into())]);
        let mut pages = Pages::new(5.0);
        let mut all = Vec::new();
        while let Some(page) = pages.next_page(&m) {
            all.push(page);
        }
        // 300 Certificates × 7 lines of about 190 bytes: several pages, none far
        // above the page size, and together the whole exposition.
        assert!(all.len() > 1, "{} pages", all.len());
        assert!(all.iter().all(|p| p.len() < PAGE_BYTES + 1024));
        let text = all.concat();
        assert_eq!(text, m.render(5.0));
        for i in 0..300 {
            let line = format!(
                "certmanager_certificate_expiration_timestamp_seconds{{issuer_group=\"cert-manager.io\",issuer_kind=\"Issuer\",issuer_name=\"ca\",name=\"web-{i:03}\",namespace=\"prod\"}} {}\n",
                1_800_000_000 + i
            );
            assert_eq!(text.matches(&line).count(), 1, "{line}");
        }
        assert_eq!(
            text.matches("certmanager_certificate_ready_status{condition=\"True\"")
                .count(),
            300
        );
        assert_eq!(text.matches("# TYPE ").count(), FAMILIES.len());
        assert!(text.contains("certmanager_clock_time_seconds_gauge 5\n"));
        assert!(
            text.contains(
                "certmanager_controller_sync_call_count{controller=\"certificates\"} 1\n"
            )
        );
    }

    #[test]
    fn series_render_and_go_away_with_their_object() {
        let m = Metrics::default();
        m.set_certificate(
            "prod",
            "web",
            "uid-1",
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

    #[test]
    fn a_deleted_certificates_series_do_not_come_back() {
        let m = Metrics::default();
        let series = || CertificateSeries {
            issuer_name: "ca".into(),
            issuer_kind: "Issuer".into(),
            issuer_group: "cert-manager.io".into(),
            not_after: 2.0,
            not_before: 1.0,
            renewal: 1.5,
            ready: "True",
        };
        m.set_certificate("prod", "web", "uid-1", series());
        m.certificate_deleted("web", "prod", "uid-1");
        // A reconcile that loaded it before it went records it again: ignored.
        m.set_certificate("prod", "web", "uid-1", series());
        assert!(!m.render(1.0).contains("name=\"web\""));
        // A new Certificate of the same name is another object.
        m.set_certificate("prod", "web", "uid-2", series());
        assert!(m.render(1.0).contains("name=\"web\""));
    }

    #[test]
    fn a_challenge_has_one_series_per_state_and_goes_with_it() {
        let m = Metrics::default();
        m.set_challenge(
            "prod",
            "web-1-2-3",
            ChallengeSeries {
                state: "pending".into(),
                domain: "web.example".into(),
                reason: "Waiting".into(),
                processing: true,
                type_: "HTTP-01".into(),
            },
        );
        let text = m.render(1.0);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("certmanager_certificate_challenge_status{"))
            .collect();
        assert_eq!(lines.len(), CHALLENGE_STATES.len(), "{text}");
        assert!(lines.contains(&"certmanager_certificate_challenge_status{domain=\"web.example\",name=\"web-1-2-3\",namespace=\"prod\",processing=\"true\",reason=\"Waiting\",status=\"pending\",type=\"HTTP-01\"} 1"));
        assert_eq!(lines.iter().filter(|l| l.ends_with(" 1")).count(), 1);
        m.forget_challenge("prod", "web-1-2-3");
        assert!(!m.render(1.0).contains("web-1-2-3"));
    }

    #[test]
    fn a_summary_has_quantiles_sum_and_count() {
        let m = Metrics::default();
        let labels = || vec![("action", "get_order".to_string())];
        for v in [0.1, 0.2, 0.3, 0.4, 1.0] {
            m.observe(ACME_CLIENT_DURATION, labels(), v);
        }
        let text = m.render(1.0);
        let name = ACME_CLIENT_DURATION;
        assert!(text.contains(&format!("# TYPE {name} summary")));
        assert!(
            text.contains(&format!(
                "{name}{{action=\"get_order\",quantile=\"0.5\"}} 0.3"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{name}{{action=\"get_order\",quantile=\"0.99\"}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("{name}_count{{action=\"get_order\"}} 5")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{name}_sum{{action=\"get_order\"}} 2")),
            "{text}"
        );
    }
}
