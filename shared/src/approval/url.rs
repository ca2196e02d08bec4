//! The Lambda function URL side of approvals: tell a function URL request (payload format 2.0)
//! from an EventBridge event, take the approver from the request context, answer with an HTTP
//! response whose body is the resulting report.
//!
//! What the function can check is what Lambda put in the request. With `AWS_IAM` auth, the
//! function URL service verifies the SigV4 signature and the caller's IAM permissions before
//! the function runs, and writes the caller into `requestContext.authorizer.iam`. Anyone allowed
//! `lambda:InvokeFunction` on the function directly can send the same JSON, authorizer block
//! included: that permission must stay with EventBridge (and, for approvers, be conditioned on
//! `lambda:InvokedViaFunctionUrl`), which the template does.

use serde::{Deserialize, Serialize};

use super::ApprovalRequest;
use super::redeem::{Redeemed, redeem};
use crate::aws::ClusterAccess;
use crate::ledger::{ApprovalStore, DecisionLedger};
use crate::output::report::{Outcome, Report};
use crate::pipeline::{Deps, Remediation};

/// Just enough of a payload to tell a function URL request (version 2.0 with a request context)
/// from an EventBridge event (version 0, no request context).
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(default, borrow)]
    version: Option<&'a str>,
    #[serde(rename = "requestContext", default)]
    request_context: Option<serde::de::IgnoredAny>,
}

/// Whether the payload is a function URL request.
pub fn is_url_request(payload: &str) -> bool {
    serde_json::from_str::<Shape<'_>>(payload)
        .is_ok_and(|s| s.version == Some("2.0") && s.request_context.is_some())
}

#[derive(Deserialize)]
struct UrlRequest {
    #[serde(rename = "requestContext")]
    request_context: RequestContext,
    #[serde(default)]
    body: Option<String>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: bool,
}

#[derive(Deserialize)]
struct RequestContext {
    #[serde(default)]
    authorizer: Option<Authorizer>,
    #[serde(default)]
    http: Option<Http>,
}

#[derive(Deserialize)]
struct Authorizer {
    #[serde(default)]
    iam: Option<Iam>,
}

#[derive(Deserialize)]
struct Iam {
    #[serde(rename = "userArn", default)]
    user_arn: Option<String>,
}

#[derive(Deserialize)]
struct Http {
    #[serde(default)]
    method: Option<String>,
}

/// The function URL response (payload format 2.0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UrlResponse {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    #[serde(rename = "isBase64Encoded")]
    pub is_base64_encoded: bool,
    /// Part of the response format; none are set (local runners insist on the field).
    pub cookies: Vec<String>,
}

impl UrlResponse {
    fn json(status_code: u16, body: String) -> Self {
        UrlResponse {
            status_code,
            headers: [("content-type".to_string(), "application/json".to_string())].into(),
            body,
            is_base64_encoded: false,
            cookies: Vec::new(),
        }
    }

    fn refused(status_code: u16, code: &str, message: &str) -> Self {
        let body = serde_json::json!({
            "outcome": "refused",
            "reason_code": code,
            "reason": message,
        });
        Self::json(status_code, body.to_string())
    }
}

/// The approver: an IAM principal ARN as the function URL service wrote it, or why there is none.
fn approver(request: &UrlRequest) -> Option<&str> {
    request
        .request_context
        .authorizer
        .as_ref()?
        .iam
        .as_ref()?
        .user_arn
        .as_deref()
        .filter(|arn| arn.starts_with("arn:"))
}

/// The approval document in the request's body.
fn approval_request(request: &UrlRequest) -> Result<ApprovalRequest, String> {
    let body = request.body.as_deref().unwrap_or("");
    let bytes = if request.is_base64_encoded {
        aws_smithy_types::base64::decode(body)
            .map_err(|e| format!("the body is not valid base64 ({e})"))?
    } else {
        body.as_bytes().to_vec()
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        format!("the body is not an approval request ({e}); send the `request` document of the proposal's `approval` block")
    })
}

/// Answer one function URL request.
pub async fn answer<R, A, L>(
    remediation: &R,
    deps: &Deps<A, L>,
    payload: &str,
    home_account: Option<&str>,
) -> UrlResponse
where
    R: Remediation,
    A: ClusterAccess,
    L: DecisionLedger + ApprovalStore,
{
    let request: UrlRequest = match serde_json::from_str(payload) {
        Ok(r) => r,
        Err(e) => {
            return UrlResponse::refused(
                400,
                "invalid_request",
                &format!("not a function URL request ({e})"),
            );
        }
    };
    let Some(approver) = approver(&request) else {
        tracing::warn!(
            function = R::FUNCTION,
            "function URL request without an IAM caller refused"
        );
        return UrlResponse::refused(
            403,
            "no_iam_caller",
            "the request carries no IAM caller (requestContext.authorizer.iam.userArn): approvals are accepted only through the function URL with AWS_IAM auth, signed with SigV4",
        );
    };
    let method = request
        .request_context
        .http
        .as_ref()
        .and_then(|h| h.method.as_deref());
    if method != Some("POST") {
        return UrlResponse::refused(
            405,
            "method_not_allowed",
            "send the approval request with POST",
        );
    }
    let approval = match approval_request(&request) {
        Ok(a) => a,
        Err(why) => return UrlResponse::refused(400, "invalid_request", &why),
    };
    match redeem(remediation, deps, &approval, approver, home_account).await {
        Redeemed::Refused {
            status,
            code,
            message,
        } => UrlResponse::refused(status, code, &message),
        Redeemed::Report(report) => report_response(&report),
    }
}

fn report_response(report: &Report) -> UrlResponse {
    let status = if report.outcome == Outcome::Applied {
        200
    } else {
        409
    };
    match serde_json::to_string(report) {
        Ok(body) => UrlResponse::json(status, body),
        Err(e) => UrlResponse::refused(
            500,
            "report_not_serialised",
            &format!("the report could not be serialised ({e})"),
        ),
    }
}

/// What the function answers: a report to EventBridge, an HTTP response to a function URL.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Report(Box<Report>),
    Url(UrlResponse),
}

#[cfg(test)]
mod tests;
