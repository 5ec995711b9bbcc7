//! [`ApiError`]: a REST failure as Genesys reports it (an `ErrorBody` JSON with an HTTP status).
//!
//! Owns: error status/code/message and their JSON rendering (`{"message","code","status","contextId",
//! "details":[],"errors":[]}`, PY269 `models/error_body.py`; 429 text verbatim from F11186).

use serde_json::{json, Value};

/// A REST error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Genesys error code (`bad.request`, `too.many.requests.retry.after`, …).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds for the `Retry-After` header (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400 `bad.request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "bad.request",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404 `not.found`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            code: "not.found",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 for a request without a bearer token.
    pub(crate) fn no_token() -> Self {
        ApiError {
            status: 401,
            code: "authentication.required",
            message: "No authentication bearer token specified in authorization header.".to_owned(),
            retry_after: None,
        }
    }

    /// 401 for an unknown, expired or revoked token.
    pub(crate) fn bad_token() -> Self {
        ApiError {
            status: 401,
            code: "bad.credentials",
            message: "Invalid login credentials.".to_owned(),
            retry_after: None,
        }
    }

    /// 403 `not.authorized`.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: 403,
            code: "not.authorized",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 with the F11186 body and `Retry-After: secs`.
    pub(crate) fn rate_limited(secs: u64) -> Self {
        ApiError {
            status: 429,
            code: "too.many.requests.retry.after",
            message: format!(
                "Rate limit exceeded the maximum. Retry the request in [{secs}] seconds"
            ),
            retry_after: Some(secs),
        }
    }

    /// The `ErrorBody` JSON. The 429 body is exactly the F11186 capture (three fields).
    pub(crate) fn body(&self, context_id: &str) -> Value {
        if self.status == 429 {
            return json!({ "message": self.message, "code": self.code, "status": self.status });
        }
        json!({
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "contextId": context_id,
            "details": [],
            "errors": [],
        })
    }
}
