//! Cloudflare's v4 response envelope and the few fields certgate reads from it (zones,
//! TXT records, paging), and the TXT listing endpoint. Must not hold decisions.

use super::*;

/// Cloudflare's response envelope, with only what is used.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope<T> {
    #[serde(default)]
    pub(super) success: bool,
    #[serde(default)]
    pub(super) errors: Vec<ApiMessage>,
    pub(super) result: Option<T>,
    pub(super) result_info: Option<ResultInfo>,
}

/// One entry of `errors` (codes go beyond `u16`: 81057).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ApiMessage {
    #[serde(default)]
    pub(super) code: u32,
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) error_chain: Vec<ApiMessage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ResultInfo {
    pub(super) page: Option<u32>,
    pub(super) total_pages: Option<u32>,
    pub(super) total_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ZoneLite {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RecordLite {
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(rename = "type", default)]
    pub(super) record_type: String,
    #[serde(default)]
    pub(super) content: String,
}

/// `GET zones/{zone}/dns_records?type=TXT&name=…`: the crate's `ListDnsRecords` can
/// filter on a type only together with a content.
#[derive(Debug)]
pub(super) struct ListTxtRecords<'a> {
    pub(super) zone_identifier: &'a str,
    pub(super) name: &'a str,
    pub(super) page: u32,
}

impl EndpointSpec for ListTxtRecords<'_> {
    type JsonResponse = ();
    type ResponseType = ();

    fn method(&self) -> Method {
        Method::GET
    }
    fn path(&self) -> String {
        format!("zones/{}/dns_records", self.zone_identifier)
    }
    fn query(&self) -> Option<String> {
        cloudflare::framework::endpoint::serialize_query(&[
            ("type", "TXT".to_string()),
            ("name", self.name.to_string()),
            ("page", self.page.to_string()),
            ("per_page", RECORDS_PER_PAGE.to_string()),
        ])
    }
}

/// Whether a listing has pages after `page`: `result_info.total_pages` when given,
/// else whether the page was full.
pub(super) fn more_pages(info: Option<&ResultInfo>, page: u32, got: usize, per_page: u32) -> bool {
    match info.and_then(|i| i.total_pages) {
        Some(total) => info.and_then(|i| i.page).unwrap_or(page) < total,
        None => got as u64 >= u64::from(per_page) && got > 0,
    }
}
