//! A failed AWS call, classified into what the pipeline does with it.

use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

/// What kind of fault an AWS call ended in, after the SDK's own retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Throttling, 5xx, timeouts, connection errors: worth retrying later.
    Transient,
    AccessDenied,
    NotFound,
    /// Another update is in progress (EKS `ResourceInUseException`, HTTP 409).
    InUse,
    /// The request was refused as invalid for the resource's current state or parameters.
    Invalid,
    /// The endpoint does not implement the call (seen on local emulators).
    NotImplemented,
    Other,
}

/// A failed AWS call, classified, with the service's own code and message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{operation} failed ({}): {message}", code.as_deref().unwrap_or("no error code"))]
pub struct AwsError {
    pub operation: &'static str,
    pub kind: FaultKind,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn is_transient(&self) -> bool {
        self.kind == FaultKind::Transient
    }

    /// Classify an SDK error of any service.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::from_sdk_ref(operation, &err)
    }

    /// Classify an SDK error held by something else (a credentials error's source).
    pub fn from_sdk_ref<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        // Modeled errors built without metadata (and some emulators) carry the error's name
        // only in its Display text: "ResourceInUseException: …".
        let service_text = err.as_service_error().map(|e| e.to_string());
        let code = err.code().map(str::to_string).or_else(|| {
            service_text
                .as_deref()
                .and_then(|t| t.split([':', ' ']).next())
                .filter(|n| n.ends_with("Exception") || n.ends_with("Error"))
                .map(str::to_string)
        });
        let message = err
            .message()
            .map(str::to_string)
            .or(service_text)
            .unwrap_or_else(|| match err {
                SdkError::TimeoutError(_) => "the call timed out".to_string(),
                SdkError::DispatchFailure(e) => format!("could not reach the endpoint: {e:?}"),
                other => format!("{other}"),
            });
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let kind = classify(code.as_deref(), status, transport);
        let message = match (kind, &code, status) {
            (FaultKind::NotImplemented, None, Some(s)) => format!(
                "the endpoint does not implement this operation (HTTP {s} without an AWS error)"
            ),
            _ => message,
        };
        AwsError {
            operation,
            kind,
            code,
            message,
        }
    }
}

/// What an operator can do about a failed call of this kind, where one sentence fits every call.
pub fn advice(kind: FaultKind, operation: &str) -> Option<String> {
    match kind {
        FaultKind::AccessDenied => Some(format!(
            "Grant the function's role (or the member role) permission for {operation}."
        )),
        FaultKind::NotImplemented => Some("The endpoint does not implement this call.".to_string()),
        _ => None,
    }
}

fn classify(code: Option<&str>, status: Option<u16>, transport: bool) -> FaultKind {
    let code = code.unwrap_or("");
    let c = code.to_ascii_lowercase();
    if c.contains("throttl")
        || c == "toomanyrequestsexception"
        || c == "requestlimitexceeded"
        || c == "slowdown"
        || status == Some(429)
    {
        return FaultKind::Transient;
    }
    if c.contains("accessdenied")
        || c.contains("unauthorized")
        || c == "notauthorizedexception"
        || status == Some(403)
    {
        return FaultKind::AccessDenied;
    }
    if c == "resourceinuseexception" || c == "conflictexception" || status == Some(409) {
        return FaultKind::InUse;
    }
    // A 404 with no AWS error code is a route the endpoint does not have (local emulators answer
    // unknown operations this way); a real "not found" always names its exception.
    if c == "notimplemented"
        || c == "notimplementedexception"
        || status == Some(501)
        || (code.is_empty() && status == Some(404))
    {
        return FaultKind::NotImplemented;
    }
    if c.contains("notfound") || status == Some(404) {
        return FaultKind::NotFound;
    }
    if c == "serverexception"
        || c == "internalserverexception"
        || c == "internalfailure"
        || c == "serviceunavailableexception"
        || c == "serviceunavailable"
        || c == "internalerror"
        || status.is_some_and(|s| s >= 500)
        || transport && status.is_none()
    {
        return FaultKind::Transient;
    }
    if c.contains("invalid")
        || c.contains("validation")
        || c == "clientexception"
        || c == "badrequestexception"
        || status == Some(400)
    {
        return FaultKind::Invalid;
    }
    FaultKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_classified_by_code_then_status() {
        assert_eq!(
            classify(Some("ThrottlingException"), Some(400), false),
            FaultKind::Transient
        );
        assert_eq!(
            classify(Some("TooManyRequestsException"), None, false),
            FaultKind::Transient
        );
        assert_eq!(classify(None, Some(503), false), FaultKind::Transient);
        assert_eq!(classify(None, None, true), FaultKind::Transient);
        assert_eq!(
            classify(Some("AccessDeniedException"), Some(403), false),
            FaultKind::AccessDenied
        );
        assert_eq!(
            classify(Some("ResourceInUseException"), Some(409), false),
            FaultKind::InUse
        );
        assert_eq!(
            classify(Some("ResourceNotFoundException"), Some(404), false),
            FaultKind::NotFound
        );
        assert_eq!(
            classify(Some("InvalidParameterException"), Some(400), false),
            FaultKind::Invalid
        );
        assert_eq!(
            classify(Some("InvalidRequestException"), Some(400), false),
            FaultKind::Invalid
        );
        assert_eq!(
            classify(Some("ServerException"), Some(500), false),
            FaultKind::Transient
        );
        assert_eq!(classify(None, Some(501), false), FaultKind::NotImplemented);
        assert_eq!(classify(None, Some(404), false), FaultKind::NotImplemented);
    }
}
