//! The one error type of the API and its one mapping to the error envelope (README, Conventions):
//! `{"status": false, "error": {"code", "message", "details"?, "requestId"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::domain::FieldError;

tokio::task_local! {
    /// The id of the request being served; set by the request-id middleware around every handler.
    pub static REQUEST_ID: String;
}

/// The current request's id, or an empty string outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request body: {0}")]
    Malformed(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("no auth token")]
    NoToken,
    #[error("invalid token")]
    InvalidToken,
    #[error("permission denied")]
    Forbidden,
    /// 403 4003 naming, in `details`, each permission the request would hand out that the
    /// caller does not hold itself (a token or a role that would escalate).
    #[error("permission denied: {0:?}")]
    Withheld(Vec<FieldError>),
    #[error("entity not found")]
    NotFound,
    #[error("conflict")]
    Conflict(Vec<FieldError>),
    #[error("payload too large")]
    PayloadTooLarge,
    /// A known path with a method it does not serve (the answer carries `Allow`).
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The organization's `eventsPerSecond` is spent: 429 4029 with `Retry-After` (seconds).
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    /// A bug or an impossible state. The text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// A dependency (DynamoDB, SQS, Slack) failed after retries; nothing was half-written. The
    /// text is logged, never sent.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// `(HTTP status, code, message)` of the error table (README, Conventions).
    pub fn parts(&self) -> (StatusCode, u16, &'static str) {
        match self {
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, 1000, "Malformed request body"),
            Self::Validation(_) => (StatusCode::BAD_REQUEST, 1001, "Validation failed"),
            Self::NoToken => (StatusCode::UNAUTHORIZED, 4002, "No auth token"),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, 4004, "Invalid Token"),
            Self::Forbidden | Self::Withheld(_) => {
                (StatusCode::FORBIDDEN, 4003, "Permission denied")
            }
            Self::NotFound => (StatusCode::NOT_FOUND, 3001, "Entity not found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, 3002, "Conflict"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, 1002, "Payload too large"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 1004, "Method not allowed"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, 4029, "Too many requests"),
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                1003,
                "Idempotency key reused",
            ),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 5000, "Internal error"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 5003, "Service unavailable"),
        }
    }
}

/// The error envelope, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub status: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldError>>,
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        match &self {
            Self::Internal(why) => tracing::error!(error = %why, "internal error"),
            Self::Unavailable(why) => tracing::warn!(error = %why, "dependency unavailable"),
            Self::Malformed(why) => tracing::debug!(error = %why, "malformed body"),
            _ => {}
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        let details = match self {
            Self::Validation(d) | Self::Conflict(d) | Self::Withheld(d) if !d.is_empty() => Some(d),
            _ => None,
        };
        let body = ErrorEnvelope {
            status: false,
            error: ErrorBody {
                code,
                message: message.to_owned(),
                details,
                request_id: current_request_id(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Collects every broken field of a request before answering, so one 400 lists them all.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

/// The most problems one answer lists; past it, one last entry says how many more there were.
pub const PROBLEMS_MAX: usize = 100;

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records `result`'s error under `field` and passes its value on.
    pub fn check<T, E: Into<String>>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was broken, otherwise the 400 listing every broken field.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> ApiResult<T> {
        if !self.0.is_empty() {
            let mut details = self.0;
            if details.len() > PROBLEMS_MAX {
                let more = details.len() - PROBLEMS_MAX;
                details.truncate(PROBLEMS_MAX);
                details.push(FieldError::new(
                    "",
                    format!("and {more} more problems, not listed"),
                ));
            }
            return Err(ApiError::Validation(details));
        }
        value().ok_or_else(|| ApiError::Internal("validated value missing".into()))
    }
}
