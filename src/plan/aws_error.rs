//! AWS errors in the user's terms: the operation and resource, plus what to do about it
//! (the IAM action to allow, the quota to raise, or that throttling was already retried).

use tyk_dr_aws::api_error::ApiError;

use crate::error::Error;

/// What a failed call means for the user and for the executor.
struct Class {
    hint: Option<String>,
    not_found: bool,
    not_implemented: bool,
    dependency: bool,
}

fn classify(service: &str, operation: &str, code: &str, message: &str) -> Class {
    let has = |needles: &[&str]| needles.iter().any(|n| code.contains(n));
    let not_found = has(&["NotFound", "NoSuch"]);
    let not_implemented = has(&["NotImplemented", "InvalidAction"])
        || message.contains("has not been implemented")
        || message.contains(tyk_dr_aws::api_error::NO_AWS_ERROR);
    let hint = if has(&["UnauthorizedOperation", "AccessDenied", "NotAuthorized"]) {
        Some(format!(
            "allow `{service}:{operation}` for these credentials (`tyk-dr iam-policy` prints every action tyk-dr needs)"
        ))
    } else if has(&[
        "LimitExceeded",
        "QuotaExceeded",
        "InsufficientCacheClusterCapacity",
    ]) && !has(&["RequestLimitExceeded"])
    {
        Some(format!(
            "an account quota was hit ({code}); raise it in the Service Quotas console for {service} in this region, or remove unused resources, then run again"
        ))
    } else if has(&["Throttl", "RequestLimitExceeded", "TooManyRequests"]) {
        Some("AWS kept throttling after the SDK's retries with backoff; run again later: the run resumes where it stopped".into())
    } else if not_implemented {
        Some("the endpoint (AWS_ENDPOINT_URL) does not implement this call; emulators lack some ElastiCache calls".into())
    } else if has(&[
        "ExpiredToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "AuthFailure",
    ]) {
        Some(
            "check the AWS credentials (AWS_PROFILE, `aws sso login`, AWS_ACCESS_KEY_ID...)".into(),
        )
    } else if code.is_empty() {
        Some("check network access to AWS (or AWS_ENDPOINT_URL) and the AWS region".into())
    } else {
        None
    };
    let dependency = has(&[
        "DependencyViolation",
        "InUse",
        "InvalidReplicationGroupState",
        "InvalidCacheClusterState",
        "InvalidGlobalReplicationGroupState",
    ]);
    Class {
        hint,
        not_found,
        not_implemented,
        dependency,
    }
}

fn aws(message: String, c: Class) -> Error {
    Error::Aws {
        message,
        hint: c.hint,
        not_found: c.not_found,
        not_implemented: c.not_implemented,
        dependency: c.dependency,
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        let code = e.code.clone().unwrap_or_default();
        let class = classify(e.service, e.operation, &code, &e.message);
        aws(e.to_string(), class)
    }
}

impl From<tyk_dr_aws::route53::Error> for Error {
    fn from(e: tyk_dr_aws::route53::Error) -> Self {
        let (operation, code, message) = match &e {
            tyk_dr_aws::route53::Error::Api { operation, message } => {
                let code = message
                    .split_once(':')
                    .map(|(c, _)| c.trim().to_owned())
                    .unwrap_or_default();
                (*operation, code, message.clone())
            }
            other => ("", String::new(), other.to_string()),
        };
        let class = classify("route53", operation, &code, &message);
        aws(e.to_string(), class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str) -> Error {
        ApiError {
            service: "ec2",
            operation: "RunInstances",
            resource: "tok".into(),
            code: Some(code.into()),
            message: "m".into(),
        }
        .into()
    }

    #[test]
    fn hints_say_what_to_do() {
        assert!(err("UnauthorizedOperation")
            .hint()
            .unwrap()
            .contains("allow `ec2:RunInstances`"));
        assert!(err("InstanceLimitExceeded")
            .hint()
            .unwrap()
            .contains("quota"));
        assert!(err("RequestLimitExceeded")
            .hint()
            .unwrap()
            .contains("throttling"));
        assert_eq!(
            err("RequestLimitExceeded").to_string(),
            "ec2 RunInstances on `tok` failed: RequestLimitExceeded: m"
        );
    }
}
