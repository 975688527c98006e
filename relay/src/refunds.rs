//! The refund endpoint, in the order its checks run: token (401), request
//! (400), role and per-refund limits (403), rate (429), daily limit (403),
//! then forwarding. Every request ends in exactly one journal row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode};
use refundkit::protocol::IDEMPOTENCY_KEY_HEADER;
use refundkit::{Client, RefundRequest};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::answer::{self, OwnError};
use crate::policy::Policies;
use crate::rate::RateLimiter;
use crate::store::{utc_day, Begun, DailyReservation, Decision, Finish, Outcome, RelayStore};
use crate::token::TokenVerifier;
use crate::upstream;

/// What the refund endpoint shares between requests.
pub(crate) struct Gate {
    pub(crate) verifier: TokenVerifier,
    pub(crate) policies: Policies,
    pub(crate) rate: RateLimiter,
    pub(crate) store: Arc<dyn RelayStore>,
    pub(crate) client: Client,
    /// One permit per forwarded request; shutdown takes them all.
    pub(crate) in_flight: Arc<Semaphore>,
}

/// The app's request body (`{}` when empty), as the API takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppBody {
    amount: Option<i64>,
    metadata: Option<BTreeMap<String, String>>,
}

/// `POST /api/checkouts/{id}/refund`.
pub(crate) async fn refund(
    State(gate): State<Arc<Gate>>,
    Path(checkout_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut decision = Decision::new(Outcome::InvalidToken);
    let caller = match gate.verifier.verify(headers.get(AUTHORIZATION)) {
        Ok(caller) => caller,
        Err(rejection) => {
            let own = OwnError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("invalid token: {rejection}"),
            );
            return gate.refuse(decision, own, None).await;
        }
    };
    decision.subject = Some(caller.subject.clone());

    let request = match app_request(checkout_id, &headers, &body) {
        Ok(request) => request,
        Err(own) => {
            decision.outcome = Outcome::InvalidRequest;
            return gate.refuse(decision, own, None).await;
        }
    };
    let app_key = request.idempotency_key.clone().unwrap_or_default();
    decision.checkout_id = Some(request.checkout_id.clone());
    decision.amount = request.amount;
    decision.app_key = Some(app_key.clone());

    let forbidden = |why: String| {
        OwnError::new(
            StatusCode::FORBIDDEN,
            "forbidden_by_policy",
            format!("forbidden by policy: {why}"),
        )
    };
    let role = match gate.policies.role_for(&caller) {
        Ok(role) => role,
        Err(refusal) => {
            decision.outcome = Outcome::Forbidden;
            return gate
                .refuse(decision, forbidden(refusal.0), Some(&app_key))
                .await;
        }
    };
    decision.role = Some(role.name.clone());
    if let Err(refusal) = role.check_refund(request.amount) {
        decision.outcome = Outcome::Forbidden;
        return gate
            .refuse(decision, forbidden(refusal.0), Some(&app_key))
            .await;
    }
    if let Some(per_minute) = role.rate_per_minute {
        if let Err(wait) = gate.rate.take(&caller.subject, per_minute, Instant::now()) {
            decision.outcome = Outcome::RateLimited;
            let mut own = OwnError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "rate limited: role {:?} allows {per_minute} refunds per minute",
                    role.name
                ),
            );
            own.retry_after = Some(wait);
            return gate.refuse(decision, own, Some(&app_key)).await;
        }
    }

    let upstream_key = match upstream::upstream_key(&caller.subject, &app_key) {
        Ok(key) => key,
        Err(e) => {
            decision.outcome = Outcome::InvalidRequest;
            let own = OwnError::new(StatusCode::BAD_REQUEST, "invalid_request", e.message());
            return gate.refuse(decision, own, Some(&app_key)).await;
        }
    };
    decision.upstream_key = Some(upstream_key.clone());
    let reservation = match (role.daily_limit, request.amount) {
        (Some(limit), Some(cents)) => Some(DailyReservation {
            subject: caller.subject.clone(),
            day: utc_day(SystemTime::now()),
            cents,
            limit,
        }),
        _ => None,
    };
    let begun = gate
        .store
        .begin_forward(decision.clone(), reservation.clone())
        .await;
    let (journal_id, reserved) = match begun {
        Ok(Begun::Forwarding {
            journal_id,
            reserved,
        }) => (journal_id, reserved),
        Ok(Begun::OverDailyLimit { used }) => {
            decision.outcome = Outcome::Forbidden;
            let (cents, limit) = reservation.map_or((0, 0), |r| (r.cents, r.limit));
            let why = format!(
                "daily_limit: {cents} more cents would pass role {:?}'s {limit} for today ({used} used)",
                role.name
            );
            return gate.refuse(decision, forbidden(why), Some(&app_key)).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot journal; refusing to forward");
            return OwnError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "relay_error",
                "the relay cannot write its journal; nothing was sent",
            )
            .into_response_with_key(Some(&app_key));
        }
    };

    let Ok(permit) = gate.in_flight.clone().try_acquire_owned() else {
        // Only when shutting down; the journal row stays `forwarding`, which
        // is true to what the app sees: retry with the same key.
        return OwnError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "relay_stopping",
            "the relay is stopping: retry with the same Idempotency-Key",
        )
        .into_response_with_key(Some(&app_key));
    };
    let mut upstream_request = request;
    upstream_request.idempotency_key = Some(upstream_key.clone());
    let forward = Forward {
        journal_id,
        release_key: reserved.then_some(upstream_key),
        app_key: app_key.clone(),
    };
    // A task of its own: the refund runs to its end and is journaled even if
    // the app hangs up, and shutdown waits for its permit.
    let gate_for_task = gate.clone();
    let task = tokio::spawn(async move {
        let _permit = permit;
        gate_for_task.forward(upstream_request, forward).await
    });
    task.await.unwrap_or_else(|_| {
        OwnError::new(
            StatusCode::BAD_GATEWAY,
            "relay_error",
            "the relay failed while forwarding: retry with the same Idempotency-Key",
        )
        .into_response_with_key(Some(&app_key))
    })
}

/// A forwarded request's journal row and keys.
struct Forward {
    journal_id: i64,
    release_key: Option<String>,
    app_key: String,
}

impl Gate {
    /// Journals a refusal and answers it.
    async fn refuse(
        &self,
        mut decision: Decision,
        own: OwnError,
        app_key: Option<&str>,
    ) -> Response {
        decision.reason = Some(own.message.clone());
        decision.http_status = Some(own.status.as_u16());
        if let Err(e) = self.store.record(decision).await {
            tracing::error!(error = %e, "cannot journal a refusal");
        }
        own.into_response_with_key(app_key)
    }

    /// Sends the refund upstream, journals the outcome, and answers.
    async fn forward(&self, request: RefundRequest, forward: Forward) -> Response {
        let result = self.client.refund(request).await;
        let (response, finish) = match &result {
            Ok(refund) => (
                answer::accepted(refund, &forward.app_key),
                Finish {
                    journal_id: forward.journal_id,
                    outcome: Outcome::Succeeded,
                    reason: None,
                    http_status: Some(StatusCode::ACCEPTED.as_u16()),
                    request_id: refund.request_id.clone(),
                    refund_id: Some(refund.refund_id.clone()),
                    release: None,
                },
            ),
            Err(error) => {
                let response = answer::upstream_failure(error, &forward.app_key);
                let unknown = error.is_outcome_unknown();
                let finish = Finish {
                    journal_id: forward.journal_id,
                    outcome: if unknown {
                        Outcome::Unknown
                    } else {
                        Outcome::Failed
                    },
                    reason: Some(format!("{}: {}", error.kind(), error.message())),
                    http_status: Some(response.status().as_u16()),
                    request_id: error.request_id().map(str::to_owned),
                    refund_id: None,
                    // Only a refund that certainly was not made gives its
                    // cents back; an unknown one keeps them.
                    release: if unknown { None } else { forward.release_key },
                };
                (response, finish)
            }
        };
        if let Err(e) = self.store.finish_forward(finish).await {
            tracing::error!(error = %e, "cannot journal a forwarded refund's outcome");
        }
        response
    }
}

/// Reads and validates the app's request: the checkout, the app's key (or
/// a fresh one) and the body.
fn app_request(
    checkout_id: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<RefundRequest, OwnError> {
    let invalid =
        |message: String| OwnError::new(StatusCode::BAD_REQUEST, "invalid_request", message);
    let app_key = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => refundkit::policy::new_idempotency_key(),
        Some(value) => value
            .to_str()
            .map_err(|_| invalid("idempotency_key: must be visible ASCII".to_owned()))?
            .to_owned(),
    };
    let text =
        std::str::from_utf8(body).map_err(|_| invalid("body: must be UTF-8 JSON".to_owned()))?;
    let parsed: AppBody = if text.trim().is_empty() {
        AppBody {
            amount: None,
            metadata: None,
        }
    } else {
        serde_json::from_str(text).map_err(|_| {
            invalid(
                "body: must be a JSON object with optional amount (integer cents) and metadata \
                 (strings to strings)"
                    .to_owned(),
            )
        })?
    };
    let request = RefundRequest {
        checkout_id,
        amount: parsed.amount,
        metadata: parsed.metadata,
        idempotency_key: Some(app_key),
    };
    request
        .validate()
        .map_err(|e| invalid(e.message().to_owned()))?;
    Ok(request)
}
