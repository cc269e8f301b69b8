//! The DNS-01 provider conformance suite: what every [`Provider`] must do, checked
//! against the zone's authoritative nameservers as an ACME server would see it.
//!
//! Cases (each a named check, passed or failed with a message):
//! - `present`: present makes the TXT value visible at every nameserver of the zone;
//! - `cleanup`: clean-up removes it;
//! - `idempotent`: presenting twice succeeds and leaves one record of the value;
//! - `two-values`: two values on one name coexist, removing one keeps the other;
//! - `wildcard-apex`: a wildcard and its apex at once (one name, two values, presented
//!   and removed concurrently);
//! - `cleanup-absent`: cleaning up a value that is not there succeeds (and keeps the
//!   name's other values);
//! - `unknown-zone`: a zone the provider does not hold gives an error naming the domain;
//! - `bad-credentials`: a provider with wrong credentials gives an error naming where
//!   the credentials come from, with no secret material in it.
//!
//! Each case uses its own record names (`_acme-challenge.cg-<run>-<case>.<zone>`) and
//! cleans up after itself, also when it fails.
//!
//! A provider whose service holds one name per account, keeps its last values and
//! deletes nothing (acme-dns: [`RecordModel::Delegated`]) is checked for what it
//! promises instead: every case presents `_acme-challenge.<domain>` and reads the
//! account's name, `present` also checks the CNAME delegating one to the other,
//! values presented together (up to what the name keeps) are all served, and clean-up
//! succeeds and leaves the values in place.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use certgate::dns01::resolver::Resolver;
use certgate::dns01::{Dns01Config, Provider, challenge_record_name};
use futures::future::BoxFuture;

/// Makes a provider, or fails with the message the controller would show.
pub type ProviderFactory =
    Box<dyn Fn() -> BoxFuture<'static, Result<Box<dyn Provider>, String>> + Send + Sync>;

/// A provider with wrong credentials, and what its errors must and must not say.
pub struct BadCredentials {
    /// Makes the provider (an error here counts as the provider's error).
    pub factory: ProviderFactory,
    /// Text the error must contain: the Secret (or credential source) it came from.
    pub must_name: Vec<String>,
    /// Secret material the error must not contain.
    pub secrets: Vec<String>,
}

/// How the provider's DNS service keeps challenge values, which decides what the
/// record cases check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RecordModel {
    /// Any name in the zone; values added and removed one by one (zone APIs, RFC 2136).
    #[default]
    Zone,
    /// acme-dns: every challenge of `domain` is written at one name, `target` (the
    /// account's `fulldomain`, which `_acme-challenge.<domain>` is a CNAME to), which
    /// serves the last `keeps` values written; clean-up removes nothing.
    Delegated {
        domain: String,
        target: String,
        keeps: usize,
    },
}

/// One case's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's short name (`present`, `cleanup`…).
    pub name: &'static str,
    pub passed: bool,
    /// What was seen (on failure: what is wrong).
    pub message: String,
    pub duration: Duration,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct Report {
    pub provider: String,
    pub zone: String,
    pub results: Vec<CaseResult>,
}

impl Report {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    /// The cases that failed.
    pub fn failures(&self) -> Vec<&CaseResult> {
        self.results.iter().filter(|r| !r.passed).collect()
    }

    /// A table: one line per case, then a summary.
    pub fn table(&self) -> String {
        let mut s = format!(
            "DNS-01 provider conformance: {} (zone {})\n",
            self.provider, self.zone
        );
        let width = self
            .results
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(s, "{:width$}  RESULT  TIME     DETAIL", "CASE");
        for r in &self.results {
            let _ = writeln!(
                s,
                "{:width$}  {:6}  {:>6.1}s  {}",
                r.name,
                if r.passed { "PASS" } else { "FAIL" },
                r.duration.as_secs_f64(),
                r.message.replace('\n', " ")
            );
        }
        let passed = self.results.iter().filter(|r| r.passed).count();
        let _ = writeln!(
            s,
            "{passed} of {} checks passed{}",
            self.results.len(),
            if self.passed() { "" } else { " (FAILED)" }
        );
        s
    }
}

/// Every case, in the order they run.
pub const CASES: [&str; 8] = [
    "present",
    "cleanup",
    "idempotent",
    "two-values",
    "wildcard-apex",
    "cleanup-absent",
    "unknown-zone",
    "bad-credentials",
];

/// The suite for one provider and zone.
pub struct Suite<'a> {
    name: String,
    provider: &'a dyn Provider,
    zone: String,
    dns: Dns01Config,
    bad_credentials: Option<BadCredentials>,
    unknown_zone: String,
    run_id: String,
    only: Option<Vec<String>>,
    model: RecordModel,
}

/// A failed expectation.
type Check = Result<String, String>;

impl<'a> Suite<'a> {
    /// The suite for `provider` on `zone` (absolute or not), reading TXT values at the
    /// zone's authoritative nameservers found through `dns` (its recursive
    /// nameservers and `authoritative_port` let tests point at a local server; its
    /// `timeout` and `poll_period` bound the waits).
    pub fn new(name: &str, provider: &'a dyn Provider, zone: &str, dns: Dns01Config) -> Self {
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        Self {
            name: name.to_string(),
            provider,
            zone: absolute(zone),
            dns,
            bad_credentials: None,
            unknown_zone: format!("certgate-conformance-{run_id}.invalid."),
            run_id,
            only: None,
            model: RecordModel::Zone,
        }
    }

    /// How the provider keeps values (default [`RecordModel::Zone`]).
    pub fn record_model(mut self, model: RecordModel) -> Self {
        self.model = model;
        self
    }

    /// Checks errors with wrong credentials (the `bad-credentials` case fails without).
    pub fn bad_credentials(mut self, bad: BadCredentials) -> Self {
        self.bad_credentials = Some(bad);
        self
    }

    /// The zone the provider must not hold (default: a name under `.invalid`).
    pub fn unknown_zone(mut self, zone: &str) -> Self {
        self.unknown_zone = absolute(zone);
        self
    }

    /// Runs only these cases (names from [`CASES`]).
    pub fn only(mut self, cases: &[&str]) -> Self {
        self.only = Some(cases.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Runs the cases one after the other.
    pub async fn run(&self) -> Report {
        let mut results = Vec::new();
        let servers = self.nameservers().await;
        for case in CASES {
            if self
                .only
                .as_ref()
                .is_some_and(|o| !o.iter().any(|c| c == case))
            {
                continue;
            }
            let start = Instant::now();
            let outcome = match (&servers, case, &self.model) {
                (_, "unknown-zone", _) => self.unknown_zone_case().await,
                (_, "bad-credentials", _) => self.bad_credentials_case().await,
                (Err(e), _, _) => Err(e.clone()),
                (Ok(servers), _, RecordModel::Zone) => self.record_case(case, servers).await,
                (
                    Ok(servers),
                    _,
                    RecordModel::Delegated {
                        domain,
                        target,
                        keeps,
                    },
                ) => {
                    self.delegated_case(case, servers, domain, target, *keeps)
                        .await
                }
            };
            let (passed, message) = match outcome {
                Ok(m) => (true, m),
                Err(m) => (false, m),
            };
            results.push(CaseResult {
                name: case,
                passed,
                message,
                duration: start.elapsed(),
            });
        }
        Report {
            provider: self.name.clone(),
            zone: self.zone.clone(),
            results,
        }
    }

    fn resolver(&self) -> Result<Resolver, String> {
        Resolver::new(&self.dns).map_err(|e| e.to_string())
    }

    /// The authoritative nameservers of the zone written to: the zone's, or for a
    /// delegated model the zone of the target name.
    async fn nameservers(&self) -> Result<Vec<SocketAddr>, String> {
        let r = self.resolver()?;
        let zone = match &self.model {
            RecordModel::Zone => self.zone.clone(),
            RecordModel::Delegated { target, .. } => r
                .find_zone(&absolute(target))
                .await
                .map_err(|e| format!("cannot find the zone of {target}: {e}"))?,
        };
        r.authoritative_nameservers(&zone)
            .await
            .map_err(|e| format!("cannot read the nameservers of {zone}: {e}"))
    }

    fn domain(&self, case: &str) -> String {
        format!("cg-{}-{case}.{}", self.run_id, self.zone)
    }

    fn value(&self, case: &str, n: u8) -> String {
        // 43 characters, like a real challenge value.
        certgate::dns01::txt_value(&format!("{}-{case}-{n}", self.run_id))
    }

    /// The TXT values each nameserver holds for `fqdn`.
    async fn values(
        &self,
        servers: &[SocketAddr],
        fqdn: &str,
    ) -> Vec<(SocketAddr, Result<Vec<String>, String>)> {
        let r = match self.resolver() {
            Ok(r) => r,
            Err(e) => return servers.iter().map(|s| (*s, Err(e.clone()))).collect(),
        };
        let mut out = Vec::new();
        for s in servers {
            out.push((*s, r.txt_values(*s, fqdn).await.map_err(|e| e.to_string())));
        }
        out
    }

    /// Waits until every nameserver shows every value of `present` and none of
    /// `absent`.
    async fn wait_for(
        &self,
        servers: &[SocketAddr],
        fqdn: &str,
        present: &[&str],
        absent: &[&str],
    ) -> Check {
        let start = Instant::now();
        loop {
            let answers = self.values(servers, fqdn).await;
            let mut problems = Vec::new();
            for (server, answer) in &answers {
                match answer {
                    Err(e) => problems.push(format!("{server}: {e}")),
                    Ok(values) => {
                        for v in present {
                            if !values.iter().any(|x| x == v) {
                                problems.push(format!("{server} lacks value {v}"));
                            }
                        }
                        for v in absent {
                            if values.iter().any(|x| x == v) {
                                problems.push(format!("{server} still has value {v}"));
                            }
                        }
                    }
                }
            }
            if problems.is_empty() {
                return Ok(format!(
                    "seen at {} nameserver(s) after {:.1}s",
                    servers.len(),
                    start.elapsed().as_secs_f64()
                ));
            }
            if start.elapsed() + self.dns.poll_period > self.dns.timeout {
                return Err(format!(
                    "after {:.0}s, {fqdn}: {}",
                    start.elapsed().as_secs_f64(),
                    problems.join("; ")
                ));
            }
            tokio::time::sleep(self.dns.poll_period).await;
        }
    }

    async fn present(&self, fqdn: &str, value: &str) -> Check {
        self.provider
            .present(&self.zone, fqdn, value)
            .await
            .map(|_| String::new())
            .map_err(|e| format!("present failed: {e}"))
    }

    async fn cleanup(&self, fqdn: &str, value: &str) -> Check {
        self.provider
            .cleanup(&self.zone, fqdn, value)
            .await
            .map(|_| String::new())
            .map_err(|e| format!("cleanup failed: {e}"))
    }

    /// Runs a case that writes records, then removes what it may have left.
    async fn record_case(&self, case: &str, servers: &[SocketAddr]) -> Check {
        let fqdn = challenge_record_name(&self.domain(case));
        let (a, b) = (self.value(case, 1), self.value(case, 2));
        let outcome = match case {
            "present" => self.present_case(servers, &fqdn, &a).await,
            "cleanup" => self.cleanup_case(servers, &fqdn, &a).await,
            "idempotent" => self.idempotent_case(servers, &fqdn, &a).await,
            "two-values" => self.two_values_case(servers, &fqdn, &a, &b).await,
            "wildcard-apex" => self.wildcard_apex_case(servers, case, &a, &b).await,
            "cleanup-absent" => self.cleanup_absent_case(servers, &fqdn, &a, &b).await,
            _ => Err(format!("unknown case {case}")),
        };
        // Leave nothing behind, whatever happened.
        let _ = self.provider.cleanup(&self.zone, &fqdn, &a).await;
        let _ = self.provider.cleanup(&self.zone, &fqdn, &b).await;
        outcome
    }

    async fn present_case(&self, servers: &[SocketAddr], fqdn: &str, v: &str) -> Check {
        self.present(fqdn, v).await?;
        let seen = self.wait_for(servers, fqdn, &[v], &[]).await?;
        self.cleanup(fqdn, v).await?;
        Ok(format!("{fqdn} {seen}"))
    }

    async fn cleanup_case(&self, servers: &[SocketAddr], fqdn: &str, v: &str) -> Check {
        self.present(fqdn, v).await?;
        self.wait_for(servers, fqdn, &[v], &[]).await?;
        self.cleanup(fqdn, v).await?;
        let gone = self.wait_for(servers, fqdn, &[], &[v]).await?;
        Ok(format!("removed: {}", gone.replacen("seen", "gone", 1)))
    }

    async fn idempotent_case(&self, servers: &[SocketAddr], fqdn: &str, v: &str) -> Check {
        self.present(fqdn, v).await?;
        self.present(fqdn, v)
            .await
            .map_err(|e| format!("the second present failed: {e}"))?;
        self.wait_for(servers, fqdn, &[v], &[]).await?;
        for (server, values) in self.values(servers, fqdn).await {
            let values = values?;
            let n = values.iter().filter(|x| *x == v).count();
            if n != 1 {
                return Err(format!(
                    "{server} holds the value {n} times after two presents"
                ));
            }
        }
        self.cleanup(fqdn, v).await?;
        self.wait_for(servers, fqdn, &[], &[v]).await?;
        Ok("presented twice: one record, removed by one clean-up".into())
    }

    async fn two_values_case(&self, servers: &[SocketAddr], fqdn: &str, a: &str, b: &str) -> Check {
        self.present(fqdn, a).await?;
        self.present(fqdn, b).await?;
        self.wait_for(servers, fqdn, &[a, b], &[]).await?;
        self.cleanup(fqdn, a).await?;
        self.wait_for(servers, fqdn, &[b], &[a])
            .await
            .map_err(|e| format!("after removing the first value: {e}"))?;
        self.cleanup(fqdn, b).await?;
        self.wait_for(servers, fqdn, &[], &[b]).await?;
        Ok("both visible; removing one kept the other".into())
    }

    async fn wildcard_apex_case(
        &self,
        servers: &[SocketAddr],
        case: &str,
        a: &str,
        b: &str,
    ) -> Check {
        let domain = self.domain(case);
        let wildcard = challenge_record_name(&format!("*.{domain}"));
        let apex = challenge_record_name(&domain);
        if wildcard != apex {
            return Err(format!("record names differ: {wildcard} and {apex}"));
        }
        let (ra, rb) = futures::join!(self.present(&wildcard, a), self.present(&apex, b));
        ra?;
        rb?;
        self.wait_for(servers, &apex, &[a, b], &[]).await?;
        let (ra, rb) = futures::join!(self.cleanup(&wildcard, a), self.cleanup(&apex, b));
        ra?;
        rb?;
        self.wait_for(servers, &apex, &[], &[a, b]).await?;
        Ok(format!(
            "*.{domain} and {domain} presented and removed together on {apex}"
        ))
    }

    async fn cleanup_absent_case(
        &self,
        servers: &[SocketAddr],
        fqdn: &str,
        a: &str,
        b: &str,
    ) -> Check {
        self.cleanup(fqdn, a)
            .await
            .map_err(|e| format!("on a name without records: {e}"))?;
        self.present(fqdn, b).await?;
        self.wait_for(servers, fqdn, &[b], &[]).await?;
        self.cleanup(fqdn, a)
            .await
            .map_err(|e| format!("on a name holding another value: {e}"))?;
        // The other value must survive (give a wrong removal time to show).
        tokio::time::sleep(self.dns.poll_period).await;
        self.wait_for(servers, fqdn, &[b], &[])
            .await
            .map_err(|e| format!("cleaning up an absent value removed another: {e}"))?;
        self.cleanup(fqdn, b).await?;
        self.wait_for(servers, fqdn, &[], &[b]).await?;
        Ok("succeeded on an empty name and on a name holding another value".into())
    }

    /// A record case for [`RecordModel::Delegated`]: values presented at
    /// `_acme-challenge.<domain>` are read at `target`; nothing is ever removed.
    async fn delegated_case(
        &self,
        case: &str,
        servers: &[SocketAddr],
        domain: &str,
        target: &str,
        keeps: usize,
    ) -> Check {
        let fqdn = challenge_record_name(domain);
        let target = absolute(target);
        let (first, second) = (self.value(case, 1), self.value(case, 2));
        let (a, b) = (first.as_str(), second.as_str());
        // What the name serves after `a` then `b`: both when it keeps two or more.
        let both: Vec<&str> = if keeps >= 2 { vec![a, b] } else { vec![b] };
        let kept = format!("{target} keeps the last {keeps} values; nothing is deleted");
        match case {
            "present" => {
                let r = self.resolver()?;
                let led = r
                    .follow_cname(&fqdn)
                    .await
                    .map_err(|e| format!("cannot follow the CNAME of {fqdn}: {e}"))?;
                if led != target {
                    return Err(format!(
                        "{fqdn} leads to {led}, not to the account's fulldomain: the CA would not find the value; \
                         create the record `{fqdn} CNAME {target}`"
                    ));
                }
                self.present(&fqdn, a).await?;
                let seen = self.wait_for(servers, &target, &[a], &[]).await?;
                Ok(format!("{fqdn} → {target} {seen}"))
            }
            "cleanup" => {
                self.present(&fqdn, a).await?;
                self.wait_for(servers, &target, &[a], &[]).await?;
                self.cleanup(&fqdn, a).await?;
                self.wait_for(servers, &target, &[a], &[]).await?;
                Ok(format!(
                    "clean-up succeeded and left the value, as it must: {kept} (as in cert-manager)"
                ))
            }
            "idempotent" => {
                self.present(&fqdn, a).await?;
                self.present(&fqdn, a)
                    .await
                    .map_err(|e| format!("the second present failed: {e}"))?;
                self.present(&fqdn, b).await?;
                self.wait_for(servers, &target, &both, &[])
                    .await
                    .map_err(|e| format!("after presenting a value twice, then another: {e}"))?;
                Ok("presented twice, then another value: the repeat pushed nothing out".into())
            }
            "two-values" => {
                self.present(&fqdn, a).await?;
                self.present(&fqdn, b).await?;
                self.wait_for(servers, &target, &both, &[]).await?;
                self.cleanup(&fqdn, a).await?;
                self.wait_for(servers, &target, &[b], &[])
                    .await
                    .map_err(|e| format!("after cleaning up the first value: {e}"))?;
                self.cleanup(&fqdn, b).await?;
                Ok(format!("both served; {kept}"))
            }
            "wildcard-apex" => {
                let wildcard = challenge_record_name(&format!("*.{domain}"));
                let (ra, rb) = futures::join!(self.present(&wildcard, a), self.present(&fqdn, b));
                ra?;
                rb?;
                self.wait_for(servers, &target, &both, &[]).await?;
                let (ra, rb) = futures::join!(self.cleanup(&wildcard, a), self.cleanup(&fqdn, b));
                ra?;
                rb?;
                Ok(format!(
                    "*.{domain} and {domain} presented together, both served at {target}"
                ))
            }
            "cleanup-absent" => {
                self.cleanup(&fqdn, a)
                    .await
                    .map_err(|e| format!("on a value never presented: {e}"))?;
                self.present(&fqdn, b).await?;
                self.wait_for(servers, &target, &[b], &[]).await?;
                self.cleanup(&fqdn, a)
                    .await
                    .map_err(|e| format!("next to another value: {e}"))?;
                tokio::time::sleep(self.dns.poll_period).await;
                self.wait_for(servers, &target, &[b], &[])
                    .await
                    .map_err(|e| format!("cleaning up an absent value removed another: {e}"))?;
                Ok("succeeded, and the value presented stayed".into())
            }
            _ => Err(format!("unknown case {case}")),
        }
    }

    async fn unknown_zone_case(&self) -> Check {
        let zone = self.unknown_zone.clone();
        let fqdn = challenge_record_name(&format!("cg-{}.{zone}", self.run_id));
        let value = self.value("unknown-zone", 1);
        let result = self.provider.present(&zone, &fqdn, &value).await;
        let _ = self.provider.cleanup(&zone, &fqdn, &value).await;
        match result {
            Ok(()) => Err(format!(
                "present into {zone} succeeded; expected an error naming the domain"
            )),
            Err(e) => {
                let msg = e.to_string();
                let domain = zone.trim_end_matches('.');
                if msg.contains(domain) {
                    Ok(msg)
                } else {
                    Err(format!("the error does not name {domain}: {msg}"))
                }
            }
        }
    }

    async fn bad_credentials_case(&self) -> Check {
        let Some(bad) = &self.bad_credentials else {
            return Err(
                "not checked: no way to make a provider with bad credentials was given".into(),
            );
        };
        let fqdn = match &self.model {
            RecordModel::Zone => challenge_record_name(&self.domain("bad-credentials")),
            RecordModel::Delegated { domain, .. } => challenge_record_name(domain),
        };
        let value = self.value("bad-credentials", 1);
        let msg = match (bad.factory)().await {
            Err(e) => e,
            Ok(p) => {
                let result = p.present(&self.zone, &fqdn, &value).await;
                match result {
                    Ok(()) => {
                        let _ = p.cleanup(&self.zone, &fqdn, &value).await;
                        let _ = self.provider.cleanup(&self.zone, &fqdn, &value).await;
                        return Err("present with bad credentials succeeded".into());
                    }
                    Err(e) => e.to_string(),
                }
            }
        };
        if let Some(leak) = bad
            .secrets
            .iter()
            .find(|s| !s.is_empty() && msg.contains(s.as_str()))
        {
            let _ = leak;
            return Err("the error contains the secret".into());
        }
        let missing: Vec<&String> = bad
            .must_name
            .iter()
            .filter(|n| !msg.contains(n.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the error does not name {}: {msg}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(msg)
    }
}

fn absolute(name: &str) -> String {
    format!(
        "{}.",
        name.trim().trim_end_matches('.').to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let r = Report {
            provider: "rfc2136".into(),
            zone: "example.com.".into(),
            results: vec![
                CaseResult {
                    name: "present",
                    passed: true,
                    message: "ok".into(),
                    duration: Duration::from_millis(1500),
                },
                CaseResult {
                    name: "bad-credentials",
                    passed: false,
                    message: "no\nway".into(),
                    duration: Duration::ZERO,
                },
            ],
        };
        let t = r.table();
        assert!(t.contains("present          PASS       1.5s  ok"), "{t}");
        assert!(t.contains("FAIL") && t.contains("no way"), "{t}");
        assert!(t.ends_with("1 of 2 checks passed (FAILED)\n"), "{t}");
        assert!(!r.passed());
        assert_eq!(r.failures().len(), 1);
    }
}
