//! Azure DNS record sets: the TXT set as Azure holds it, and the read and the
//! conditional write (`If-Match`/`If-None-Match`) that keep every value another
//! writer put there. Must not hold token or error wording; see `token` and `errors`.

use super::*;

/// One TXT record set as read: its values (each a list of character strings), TTL,
/// metadata and ETag.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct RecordSet {
    etag: String,
    ttl: Option<u64>,
    metadata: Option<Value>,
    records: Vec<Vec<String>>,
}

impl RecordSet {
    pub(super) fn parse(body: &[u8], etag_header: Option<String>) -> Result<Self, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let props = v
            .get("properties")
            .ok_or("the record set has no properties")?;
        let pick = |a: &str, b: &str| props.get(a).or_else(|| props.get(b)).cloned();
        let records = pick("TXTRecords", "txtRecords")
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                r["value"]
                    .as_array()
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok(Self {
            etag: v["etag"]
                .as_str()
                .map(String::from)
                .or(etag_header)
                .unwrap_or_default(),
            ttl: pick("TTL", "ttl").and_then(|t| t.as_u64()),
            metadata: props.get("metadata").filter(|m| !m.is_null()).cloned(),
            records,
        })
    }

    /// Whether a record holds `value` (its character strings joined, as DNS serves them).
    pub(super) fn holds(record: &[String], value: &str) -> bool {
        record.concat() == value
    }
}

impl AzureProvider {
    /// The record set, or `None` when there is none (or, with `zone_missing_ok`,
    /// not even its zone).
    pub(super) async fn read(
        &self,
        t: &Target,
        zone_missing_ok: bool,
    ) -> Result<Option<RecordSet>, AzureError> {
        let action = format!("reading the TXT record set {} of zone {}", t.name, t.zone);
        let url = self.record_url(t);
        let (r, attempts) = self.arm(reqwest::Method::GET, &url, &[], None).await?;
        match r {
            Ok((_, etag, body)) => RecordSet::parse(&body, etag).map(Some).map_err(|reason| {
                AzureError::InvalidResponse {
                    base: self.arm.to_string(),
                    action,
                    reason,
                }
            }),
            Err(CallError::Status {
                status: 404,
                code,
                message,
                ..
            }) => {
                // A missing zone, resource group or subscription: ARM's codes for a
                // missing parent. Anything else: no such record set.
                let parent = matches!(
                    code.as_str(),
                    "ParentResourceNotFound" | "ResourceGroupNotFound" | "SubscriptionNotFound"
                );
                if parent && !zone_missing_ok {
                    Err(self.no_zone(t, detail(&code, &message), &action))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(self.explain(e, &action, t, attempts)),
        }
    }

    /// Applies `change` to the set's values and writes the result conditionally,
    /// reading again after a concurrent edit.
    pub(super) async fn update(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
        add: bool,
    ) -> Result<(), AzureError> {
        let t = self.target(zone, fqdn)?;
        let action = if add {
            format!(
                "adding a value to the TXT record set {} of zone {}",
                t.name, t.zone
            )
        } else {
            format!(
                "removing a value from the TXT record set {} of zone {}",
                t.name, t.zone
            )
        };
        let url = self.record_url(&t);
        let mut conflicts = 0;
        loop {
            let current = self.read(&t, !add).await?;
            let held = current
                .as_ref()
                .is_some_and(|s| s.records.iter().any(|r| RecordSet::holds(r, value)));
            if held == add {
                debug!(zone = %t.zone, name = %t.name, present = add, "Azure TXT record set already as wanted");
                return Ok(());
            }
            let set = current.unwrap_or_default();
            let records: Vec<Vec<String>> = if add {
                let mut r = set.records.clone();
                r.push(vec![value.to_string()]);
                r
            } else {
                set.records
                    .iter()
                    .filter(|r| !RecordSet::holds(r, value))
                    .cloned()
                    .collect()
            };
            let r = if records.is_empty() {
                debug!(zone = %t.zone, name = %t.name, "deleting Azure TXT record set");
                let (r, n) = self
                    .arm(
                        reqwest::Method::DELETE,
                        &url,
                        &[("If-Match", set.etag.clone())],
                        None,
                    )
                    .await?;
                match r {
                    // Deleted meanwhile.
                    Err(CallError::Status { status: 404, .. }) => Ok(()),
                    Ok(_) => Ok(()),
                    Err(e) => Err((e, n)),
                }
            } else {
                let (ttl_key, records_key) = self.kind.keys();
                let mut properties = serde_json::Map::new();
                properties.insert(ttl_key.into(), json!(set.ttl.unwrap_or(TXT_TTL.into())));
                properties.insert(
                    records_key.into(),
                    Value::Array(records.iter().map(|r| json!({"value": r})).collect()),
                );
                if let Some(m) = &set.metadata {
                    properties.insert("metadata".into(), m.clone());
                }
                let body = json!({"properties": properties});
                let condition = if set.etag.is_empty() {
                    ("If-None-Match", "*".to_string())
                } else {
                    ("If-Match", set.etag.clone())
                };
                debug!(zone = %t.zone, name = %t.name, values = records.len(), "writing Azure TXT record set");
                let (r, n) = self
                    .arm(reqwest::Method::PUT, &url, &[condition], Some(&body))
                    .await?;
                match r {
                    Ok(_) => Ok(()),
                    Err(CallError::Status {
                        status: 404,
                        code,
                        message,
                        ..
                    }) => {
                        return Err(self.no_zone(&t, detail(&code, &message), &action));
                    }
                    Err(e) => Err((e, n)),
                }
            };
            match r {
                Ok(()) => return Ok(()),
                Err((CallError::Status { status: 412, .. }, _)) => {
                    conflicts += 1;
                    debug!(zone = %t.zone, name = %t.name, conflicts, "Azure TXT record set changed meanwhile; reading it again");
                    if conflicts >= CONFLICT_RETRIES {
                        return Err(AzureError::Conflict {
                            action,
                            attempts: conflicts,
                        });
                    }
                    tokio::time::sleep(self.backoff.delay(0) / 4).await;
                }
                Err((e, n)) => return Err(self.explain(e, &action, &t, n)),
            }
        }
    }
}
