//! Enrichment through Security Hub `GetFindingsV2`, in the aggregation home Region: the
//! contributing findings' uids are OR-ed in batches (at most 20 string filters per composite
//! filter), the number of calls is bounded, and a failure ends the enrichment instead of the
//! invocation. This is the only module that touches SDK types.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_securityhub::types::{
    AllowedOperators, CompositeFilter, OcsfFindingFilters, OcsfStringField, OcsfStringFilter,
    StringFilter, StringFilterComparison,
};
use serde_json::Value;
use shared::aws::{AwsError, document_to_value};

use crate::ocsf;

/// `GetFindingsV2`, labelled with the IAM action that authorises it.
pub const OPERATION: &str = "securityhub:GetFindings";

/// The filter `finding_info.uid EQUALS u1 OR … OR un`.
pub fn uid_filter(uids: &[String]) -> OcsfFindingFilters {
    let strings = uids
        .iter()
        .map(|uid| {
            OcsfStringFilter::builder()
                .field_name(OcsfStringField::FindingInfoUid)
                .filter(
                    StringFilter::builder()
                        .value(uid)
                        .comparison(StringFilterComparison::Equals)
                        .build(),
                )
                .build()
        })
        .collect();
    OcsfFindingFilters::builder()
        .composite_filters(
            CompositeFilter::builder()
                .set_string_filters(Some(strings))
                .operator(AllowedOperators::Or)
                .build(),
        )
        .build()
}

/// A batch that failed, and the error after the SDK's retries.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchFailure {
    pub uids: Vec<String>,
    pub error: AwsError,
}

/// What the enrichment returned: findings by uid, failures, and the uids never asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fetched {
    pub findings: HashMap<String, Value>,
    pub failures: Vec<BatchFailure>,
    /// Uids not requested because an earlier call failed or the time budget ran out, with why.
    pub not_requested: Vec<(String, String)>,
    pub calls: usize,
}

/// Reads contributing findings from Security Hub.
#[derive(Clone, Debug)]
pub struct Enricher {
    client: aws_sdk_securityhub::Client,
}

impl Enricher {
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        Enricher { client }
    }

    /// Fetch the findings for `uids`, `batch` at a time. Stops at the first failed call (the
    /// next would fail alike, or deepen a throttle) and when `budget` has run out.
    pub async fn fetch(&self, uids: &[String], batch: usize, budget: Duration) -> Fetched {
        let started = Instant::now();
        let mut out = Fetched::default();
        let batches: Vec<&[String]> = uids.chunks(batch.clamp(1, 20)).collect();
        for (i, chunk) in batches.iter().enumerate() {
            let later = || batches[i..].iter().flat_map(|c| c.iter()).cloned();
            if started.elapsed() >= budget {
                let why = format!(
                    "the enrichment time budget ({}s) ran out after {} call(s)",
                    budget.as_secs(),
                    out.calls
                );
                out.not_requested.extend(later().map(|u| (u, why.clone())));
                break;
            }
            if let Some(prev) = out.failures.last() {
                let why = format!(
                    "not requested after the previous call failed ({})",
                    prev.error
                );
                out.not_requested.extend(later().map(|u| (u, why.clone())));
                break;
            }
            out.calls += 1;
            let result = self
                .client
                .get_findings_v2()
                .filters(uid_filter(chunk))
                .max_results(100)
                .send()
                .await;
            match result {
                Ok(resp) => {
                    let mut matched = 0usize;
                    for doc in resp.findings() {
                        let value = document_to_value(doc);
                        if let Some(uid) = ocsf::finding_uid(&value)
                            && chunk.contains(&uid)
                        {
                            matched += 1;
                            out.findings.entry(uid).or_insert(value);
                        }
                    }
                    tracing::info!(
                        operation = OPERATION,
                        requested = chunk.len(),
                        returned = resp.findings().len(),
                        matched,
                        more = resp.next_token().is_some(),
                        "enrichment batch"
                    );
                }
                Err(e) => {
                    let error = AwsError::from_sdk(OPERATION, e);
                    tracing::warn!(
                        operation = OPERATION,
                        requested = chunk.len(),
                        kind = ?error.kind,
                        code = error.code.as_deref().unwrap_or(""),
                        error = %error,
                        "enrichment batch failed; continuing with what the exposure carries"
                    );
                    out.failures.push(BatchFailure {
                        uids: chunk.to_vec(),
                        error,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::{Document, Number};
    use serde_json::json;

    #[test]
    fn documents_become_json() {
        let mut inner = HashMap::new();
        inner.insert("score".to_string(), Document::String("0.94".into()));
        let mut map = HashMap::new();
        map.insert("epss".to_string(), Document::Object(inner));
        map.insert(
            "list".to_string(),
            Document::Array(vec![
                Document::Number(Number::PosInt(3)),
                Document::Number(Number::NegInt(-2)),
                Document::Number(Number::Float(7.5)),
                Document::Number(Number::Float(f64::NAN)),
                Document::Bool(true),
                Document::Null,
            ]),
        );
        assert_eq!(
            document_to_value(&Document::Object(map)),
            json!({"epss": {"score": "0.94"}, "list": [3, -2, 7.5, null, true, null]})
        );
    }

    #[test]
    fn the_filter_ors_one_equals_per_uid() {
        let f = uid_filter(&["a".to_string(), "b".to_string()]);
        let c = &f.composite_filters()[0];
        assert_eq!(c.operator(), Some(&AllowedOperators::Or));
        let s = c.string_filters();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].field_name(), Some(&OcsfStringField::FindingInfoUid));
        let filter = s[1].filter().expect("filter");
        assert_eq!(filter.value(), Some("b"));
        assert_eq!(filter.comparison(), Some(&StringFilterComparison::Equals));
    }
}
