//! The error shape shared by the EC2 and ElastiCache adapters: which operation, on which
//! resource, and the service's error code, so callers can say what to do about it.

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// Text of server errors that carry no AWS error document: AWS always sends one, emulators
/// answer this way for calls they do not implement.
pub const NO_AWS_ERROR: &str =
    "without an AWS error document (emulators answer so for calls they lack)";

/// A failed AWS call, flattened to text so callers never see SDK types.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} {operation} on `{resource}` failed: {}", self.detail())]
pub struct ApiError {
    /// The service, e.g. `ec2`.
    pub service: &'static str,
    /// The API operation, e.g. `RunInstances`.
    pub operation: &'static str,
    /// The resource the call was about (id, name or filter).
    pub resource: String,
    /// The service error code (`UnauthorizedOperation`, `Throttling`...), when there is one.
    pub code: Option<String>,
    /// The service message, or the whole error chain for transport errors.
    pub message: String,
}

impl ApiError {
    fn detail(&self) -> String {
        match &self.code {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// Builds the mapping closure used after `.send().await`.
    pub fn map<E>(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
    ) -> impl FnOnce(SdkError<E, HttpResponse>) -> ApiError
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let resource = resource.into();
        move |e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let message = match (e.message(), e.code(), status) {
                (Some(m), _, _) => m.to_owned(),
                (None, None, Some(s)) if s >= 500 => format!("HTTP {s} {NO_AWS_ERROR}"),
                _ => DisplayErrorContext(&e).to_string(),
            };
            ApiError {
                service,
                operation,
                resource,
                code: e.code().map(str::to_owned),
                message,
            }
        }
    }

    /// An error for a response this adapter cannot interpret.
    pub fn unexpected(service: &'static str, operation: &'static str, what: &str) -> ApiError {
        ApiError {
            service,
            operation,
            resource: String::new(),
            code: None,
            message: format!("unexpected response: {what}"),
        }
    }

    fn code_contains(&self, needles: &[&str]) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| needles.iter().any(|n| c.contains(n)))
    }

    /// The resource does not exist (already deleted, or never created).
    pub fn is_not_found(&self) -> bool {
        self.code_contains(&["NotFound", "NoSuch"])
    }

    /// The caller lacks an IAM permission.
    pub fn is_access_denied(&self) -> bool {
        self.code_contains(&["UnauthorizedOperation", "AccessDenied", "NotAuthorized"])
    }

    /// An account quota or service limit was hit.
    pub fn is_quota(&self) -> bool {
        self.code_contains(&["LimitExceeded", "QuotaExceeded", "QuotaExceeded"])
            || self.code_contains(&["InsufficientCacheClusterCapacity", "InstanceLimitExceeded"])
    }

    /// AWS throttled the call (the SDK already retried it).
    pub fn is_throttling(&self) -> bool {
        self.code_contains(&["Throttl", "RequestLimitExceeded", "TooManyRequests"])
    }

    /// The endpoint does not implement the operation (an emulator, never AWS itself).
    pub fn is_not_implemented(&self) -> bool {
        self.code_contains(&["NotImplemented", "InvalidAction"])
            || self.message.contains("has not been implemented")
            || self.message.contains(NO_AWS_ERROR)
    }
}

/// Result type of the EC2 and ElastiCache adapters.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;
