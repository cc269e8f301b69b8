//! The Route53 calls behind the provider: hosted zone lookup, record set reads,
//! `ChangeResourceRecordSets` batches and `GetChange` polling, each retried and
//! counted. Must not decide which values a record holds; the batcher does.

use super::errors::sdk_retryable;
use super::*;

pub(super) struct Api {
    pub(super) client: aws_sdk_route53::Client,
    pub(super) calls: Arc<ApiCalls>,
    pub(super) creds: String,
    pub(super) backoff: Backoff,
    pub(super) poll_interval: Duration,
    pub(super) insync_timeout: Duration,
}

impl ZoneApi for Api {
    const ZONE_KIND: &'static str = "Route53 hosted zone";

    fn find_zone<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Route53Error>> {
        Box::pin(Api::find_zone(self, name))
    }

    fn zone_not_found(&self, fqdn: &str, tried: String) -> Route53Error {
        Route53Error::ZoneNotFound {
            fqdn: fqdn.to_string(),
            tried,
            creds: self.creds.clone(),
        }
    }

    fn provider_error(e: Arc<Route53Error>) -> ProviderError {
        provider_error(e)
    }
}

/// `Z123` from `/hostedzone/Z123` or `Z123`.
pub fn bare_zone_id(id: &str) -> &str {
    id.trim().trim_start_matches("/hostedzone/")
}

/// Route53 writes `*` and other special characters of names as `\NNN` octal escapes.
pub(super) fn unescape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if digits.len() == 3
                && digits.chars().all(|d| d.is_ascii_digit())
                && let Ok(n) = u8::from_str_radix(&digits, 8)
            {
                out.push(n as char);
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    super::super::fqdn(&out)
}

impl Api {
    /// The id of the hosted zone named exactly `name`: a public one if there is one,
    /// else a private one.
    pub(super) async fn find_zone(&self, name: &str) -> Result<Option<String>, Route53Error> {
        const ACTION: &str = "ListHostedZonesByName";
        let mut public = None;
        let mut private = None;
        let mut next: Option<(String, Option<String>)> = None;
        loop {
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls
                    .list_hosted_zones_by_name
                    .fetch_add(1, Ordering::Relaxed);
                let mut req = self.client.list_hosted_zones_by_name().max_items(100);
                req = match &next {
                    Some((dns, id)) => req.dns_name(dns).set_hosted_zone_id(id.clone()),
                    None => req.dns_name(name),
                };
                req.send()
            })
            .await;
            let out = r.map_err(|e| classify(ACTION, &self.creds, attempts, e))?;
            let mut past = false;
            for z in out.hosted_zones() {
                if unescape_name(z.name()) != name {
                    past = true;
                    continue;
                }
                let id = bare_zone_id(z.id()).to_string();
                if z.config().is_some_and(|c| c.private_zone()) {
                    private.get_or_insert(id);
                } else {
                    public.get_or_insert(id);
                }
            }
            if public.is_some() || past || !out.is_truncated() {
                break;
            }
            match out.next_dns_name() {
                Some(dns) => {
                    next = Some((dns.to_string(), out.next_hosted_zone_id().map(String::from)))
                }
                None => break,
            }
        }
        Ok(public.or(private))
    }

    pub(super) async fn read_one(
        &self,
        zone: &str,
        name: &str,
    ) -> Result<Option<TxtSet>, Route53Error> {
        const ACTION: &str = "ListResourceRecordSets";
        let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
            self.calls
                .list_resource_record_sets
                .fetch_add(1, Ordering::Relaxed);
            self.client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(name)
                .start_record_type(RrType::Txt)
                .max_items(1)
                .send()
        })
        .await;
        let out = r.map_err(|e| match &e {
            SdkError::ServiceError(s) if s.err().code() == Some("NoSuchHostedZone") => {
                Route53Error::NoSuchZone {
                    id: zone.to_string(),
                    creds: self.creds.clone(),
                }
            }
            _ => classify(ACTION, &self.creds, attempts, e),
        })?;
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|s| {
                unescape_name(s.name()) == name
                    && *s.r#type() == RrType::Txt
                    && s.set_identifier().is_none()
            })
            .map(txt_set))
    }

    /// The TXT sets at `names` from pages of the whole zone (300 record sets a page),
    /// at most [`scan_budget`] pages; `false` when the zone was longer than that (the
    /// caller reads the names not found one by one).
    pub(super) async fn scan(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<(HashMap<String, TxtSet>, bool), Route53Error> {
        const ACTION: &str = "ListResourceRecordSets";
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        let mut next: Option<(String, RrType, Option<String>)> = None;
        for _ in 0..scan_budget(names.len()) {
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls
                    .list_resource_record_sets
                    .fetch_add(1, Ordering::Relaxed);
                let mut req = self
                    .client
                    .list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .max_items(300);
                if let Some((n, t, id)) = &next {
                    req = req
                        .start_record_name(n)
                        .start_record_type(t.clone())
                        .set_start_record_identifier(id.clone());
                }
                req.send()
            })
            .await;
            let out = r.map_err(|e| match &e {
                SdkError::ServiceError(s) if s.err().code() == Some("NoSuchHostedZone") => {
                    Route53Error::NoSuchZone {
                        id: zone.to_string(),
                        creds: self.creds.clone(),
                    }
                }
                _ => classify(ACTION, &self.creds, attempts, e),
            })?;
            for s in out.resource_record_sets() {
                let name = unescape_name(s.name());
                if *s.r#type() == RrType::Txt
                    && s.set_identifier().is_none()
                    && wanted.contains(name.as_str())
                {
                    found.insert(name, txt_set(s));
                }
            }
            match (
                out.is_truncated(),
                out.next_record_name(),
                out.next_record_type(),
            ) {
                (true, Some(n), Some(t)) => {
                    next = Some((
                        n.to_string(),
                        t.clone(),
                        out.next_record_identifier().map(String::from),
                    ))
                }
                _ => return Ok((found, true)),
            }
        }
        Ok((found, false))
    }

    pub(super) async fn wait_insync(&self, id: &str) -> Result<(), Route53Error> {
        const ACTION: &str = "GetChange";
        let start = tokio::time::Instant::now();
        let mut wait = self.poll_interval;
        loop {
            if start.elapsed() + wait > self.insync_timeout {
                return Err(Route53Error::NotInSync {
                    id: id.to_string(),
                    secs: self.insync_timeout.as_secs(),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls.get_change.fetch_add(1, Ordering::Relaxed);
                self.client.get_change().id(id).send()
            })
            .await;
            let out = r.map_err(|e| classify(ACTION, &self.creds, attempts, e))?;
            if out
                .change_info()
                .is_some_and(|c| *c.status() == ChangeStatus::Insync)
            {
                return Ok(());
            }
        }
    }
}

pub(super) fn txt_set(s: &ResourceRecordSet) -> TxtSet {
    TxtSet {
        ttl: s
            .ttl()
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(super::super::zone_batch::TXT_TTL),
        rdatas: s
            .resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect(),
    }
}

/// The ChangeBatch of `changes`: UPSERT of every set that stays, DELETE (with the
/// exact values read) of every set that goes.
pub fn change_batch(changes: &[NameChange]) -> Result<ChangeBatch, Route53Error> {
    let build_err = |e: aws_sdk_route53::error::BuildError| Route53Error::Config(e.to_string());
    let mut batch = ChangeBatch::builder().comment("certgate DNS-01");
    for c in changes {
        let (action, set) = match (&c.after, &c.before) {
            (Some(after), _) => (ChangeAction::Upsert, after),
            (None, Some(before)) => (ChangeAction::Delete, before),
            (None, None) => continue,
        };
        let mut rrset = ResourceRecordSet::builder()
            .name(&c.name)
            .r#type(RrType::Txt)
            .ttl(i64::from(set.ttl));
        for v in &set.rdatas {
            rrset = rrset.resource_records(
                ResourceRecord::builder()
                    .value(v)
                    .build()
                    .map_err(build_err)?,
            );
        }
        batch = batch.changes(
            Change::builder()
                .action(action)
                .resource_record_set(rrset.build().map_err(build_err)?)
                .build()
                .map_err(build_err)?,
        );
    }
    batch.build().map_err(build_err)
}

impl Backend for Api {
    type Zone = String;
    type Error = Route53Error;

    fn read<'a>(
        &'a self,
        zone: &'a String,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, TxtSet>, Route53Error>> {
        Box::pin(async move {
            let mut out = HashMap::new();
            let mut rest: Vec<&String> = names.iter().collect();
            if names.len() >= SCAN_MIN_NAMES {
                let (found, complete) = self.scan(zone, names).await?;
                if complete {
                    return Ok(found);
                }
                rest.retain(|n| !found.contains_key(*n));
                out = found;
            }
            for chunk in rest.chunks(4) {
                let sets =
                    futures::future::join_all(chunk.iter().map(|n| self.read_one(zone, n))).await;
                for (n, s) in chunk.iter().zip(sets) {
                    if let Some(s) = s? {
                        out.insert((*n).clone(), s);
                    }
                }
            }
            Ok(out)
        })
    }

    fn apply<'a>(
        &'a self,
        zone: &'a String,
        changes: &'a [NameChange],
    ) -> BoxFuture<'a, Result<(), Route53Error>> {
        Box::pin(async move {
            const ACTION: &str = "ChangeResourceRecordSets";
            let batch = change_batch(changes)?;
            let (r, attempts) = retry(&self.backoff, sdk_retryable, || {
                self.calls
                    .change_resource_record_sets
                    .fetch_add(1, Ordering::Relaxed);
                self.client
                    .change_resource_record_sets()
                    .hosted_zone_id(zone)
                    .change_batch(batch.clone())
                    .send()
            })
            .await;
            let out = r.map_err(|e| match &e {
                SdkError::ServiceError(s) if s.err().code() == Some("NoSuchHostedZone") => {
                    Route53Error::NoSuchZone {
                        id: zone.clone(),
                        creds: self.creds.clone(),
                    }
                }
                _ => classify(ACTION, &self.creds, attempts, e),
            })?;
            debug!(zone = %zone, changes = changes.len(), "Route53 change sent");
            match out.change_info() {
                Some(info) if *info.status() != ChangeStatus::Insync => {
                    self.wait_insync(info.id()).await
                }
                _ => Ok(()),
            }
        })
    }

    fn is_conflict(e: &Route53Error) -> bool {
        // A DELETE whose values no longer match what is there (InvalidChangeBatch on
        // AWS, InvalidInput on moto): read again and plan again.
        matches!(e, Route53Error::Api { code, .. } if code == "InvalidChangeBatch" || code == "InvalidInput")
    }

    fn is_transient(e: &Route53Error) -> bool {
        e.is_transient()
    }
}
