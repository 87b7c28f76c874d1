//! The caller of a route, from the request's headers: an organization's user by their token
//! ([`Principal`]), or the deployment's operator ([`Operator`]). Tokens themselves (their form,
//! issuing, hashing) are `crate::api::auth`'s.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use crate::api::auth::{Operator, Principal, presented_token};
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::model::token::{parse_presented, sha256_hex};

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = presented_token(&parts.headers).ok_or(ApiError::NoToken)?;
        let presented = parse_presented(raw).ok_or(ApiError::InvalidToken)?;
        let record = state
            .store
            .get_token(&presented.org, &presented.id)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::InvalidToken)?;
        let same: bool = record
            .hash
            .as_bytes()
            .ct_eq(presented.hash.as_bytes())
            .into();
        if !same || record.organization != presented.org {
            return Err(ApiError::InvalidToken);
        }
        let now = state.clock.now();
        if record.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::InvalidToken);
        }
        // `lastUsedAt`, at most once a minute per token; the request goes on without it.
        if record.use_is_news(now)
            && let Err(e) = state
                .store
                .record_token_use(&record.organization, &record.id, now)
                .await
        {
            tracing::warn!(error = %e, "a token's last use could not be recorded");
        }
        let principal = Self::from_record(record);
        tracing::Span::current().record("organization", principal.org.as_str());
        Ok(principal)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = presented_token(&parts.headers).ok_or(ApiError::NoToken)?;
        let token = state.operator_token.get().await.map_err(|e| {
            tracing::error!(parameter = %e.parameter, error = %e.why, "the operator token could not be read");
            ApiError::Unavailable(format!("the operator token ({}) could not be read", e.parameter))
        })?;
        let token = token.ok_or(ApiError::InvalidToken)?;
        let same: bool = sha256_hex(raw)
            .as_bytes()
            .ct_eq(sha256_hex(&token).as_bytes())
            .into();
        if same {
            Ok(Operator)
        } else {
            Err(ApiError::InvalidToken)
        }
    }
}
