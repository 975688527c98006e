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
use tokio::sync::{oneshot, Semaphore};

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
    match gate.admit(checkout_id, &headers, &body).await {
        Ok(admitted) => gate.forward_in_own_task(admitted).await,
        Err(Refused::Journaled(refusal)) => gate.refuse(refusal).await,
        Err(Refused::Unjournaled(response)) => response,
    }
}

/// A request that passed every check, journaled as `forwarding`.
struct Admitted {
    request: RefundRequest,
    upstream_key: String,
    app_key: String,
    journal_id: i64,
    /// This request made the daily reservation (so may give it back).
    reserved: bool,
}

/// A refusal to journal and answer.
struct Refusal {
    decision: Decision,
    answer: OwnError,
    app_key: Option<String>,
}

enum Refused {
    Journaled(Refusal),
    /// The journal itself failed: answered without a row.
    Unjournaled(Response),
}

fn forbidden(why: impl std::fmt::Display) -> OwnError {
    OwnError::new(
        StatusCode::FORBIDDEN,
        "forbidden_by_policy",
        format!("forbidden by policy: {why}"),
    )
}

fn refused(decision: &Decision, answer: OwnError, app_key: Option<&str>) -> Refused {
    Refused::Journaled(Refusal {
        decision: decision.clone(),
        answer,
        app_key: app_key.map(str::to_owned),
    })
}

impl Gate {
    /// Runs every check in order; the first that fails is the answer.
    async fn admit(
        &self,
        checkout_id: String,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Admitted, Refused> {
        let mut decision = Decision::new(Outcome::InvalidToken);
        let caller = self
            .verifier
            .verify(headers.get(AUTHORIZATION))
            .map_err(|rejection| {
                let answer = OwnError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    format!("invalid token: {rejection}"),
                );
                refused(&decision, answer, None)
            })?;
        decision.subject = Some(caller.subject.clone());

        decision.outcome = Outcome::InvalidRequest;
        let request =
            app_request(checkout_id, headers, body).map_err(|a| refused(&decision, a, None))?;
        let app_key = request.idempotency_key.clone().unwrap_or_default();
        decision.checkout_id = Some(request.checkout_id.clone());
        decision.amount = request.amount;
        decision.app_key = Some(app_key.clone());
        let key = Some(app_key.as_str());

        decision.outcome = Outcome::Forbidden;
        let role = self
            .policies
            .role_for(&caller)
            .map_err(|r| refused(&decision, forbidden(r.0), key))?;
        decision.role = Some(role.name.clone());
        role.check_refund(request.amount)
            .map_err(|r| refused(&decision, forbidden(r.0), key))?;

        if let Some(per_minute) = role.rate_per_minute {
            if let Err(wait) = self.rate.take(&caller.subject, per_minute, Instant::now()) {
                decision.outcome = Outcome::RateLimited;
                let mut answer = OwnError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "rate limited: role {:?} allows {per_minute} refunds per minute",
                        role.name
                    ),
                );
                answer.retry_after = Some(wait);
                return Err(refused(&decision, answer, key));
            }
        }

        decision.outcome = Outcome::InvalidRequest;
        let upstream_key = upstream::upstream_key(&caller.subject, &app_key).map_err(|e| {
            let answer = OwnError::new(StatusCode::BAD_REQUEST, "invalid_request", e.message());
            refused(&decision, answer, key)
        })?;
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
        let begun = self
            .store
            .begin_forward(decision.clone(), reservation.clone())
            .await;
        match begun {
            Ok(Begun::Forwarding {
                journal_id,
                reserved,
            }) => Ok(Admitted {
                request,
                upstream_key,
                app_key,
                journal_id,
                reserved,
            }),
            Ok(Begun::OverDailyLimit { used }) => {
                decision.outcome = Outcome::Forbidden;
                let (cents, limit) = reservation.map_or((0, 0), |r| (r.cents, r.limit));
                let why = format!(
                    "daily_limit: {cents} more cents would pass role {:?}'s {limit} for today \
                     ({used} used)",
                    role.name
                );
                Err(refused(&decision, forbidden(why), key))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot journal; refusing to forward");
                let answer = OwnError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "relay_error",
                    "the relay cannot write its journal; nothing was sent",
                );
                Err(Refused::Unjournaled(answer.into_response_with_key(key)))
            }
        }
    }

    /// Journals a refusal and answers it.
    async fn refuse(&self, refusal: Refusal) -> Response {
        let Refusal {
            mut decision,
            answer,
            app_key,
        } = refusal;
        decision.reason = Some(answer.message.clone());
        decision.http_status = Some(answer.status.as_u16());
        if let Err(e) = self.store.record(decision).await {
            tracing::error!(error = %e, "cannot journal a refusal");
        }
        answer.into_response_with_key(app_key.as_deref())
    }

    /// Forwards in a task of its own: the refund runs to its end and is
    /// journaled even if the app hangs up, and shutdown waits for its permit
    /// (held until the outcome is journaled, after the answer is sent).
    async fn forward_in_own_task(self: Arc<Self>, admitted: Admitted) -> Response {
        let app_key = admitted.app_key.clone();
        let unfinished = || {
            OwnError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "relay_unavailable",
                "the relay could not finish this request (it may be stopping): retry with the \
                 same Idempotency-Key",
            )
            .into_response_with_key(Some(&app_key))
        };
        // No permit only while stopping; the row stays `forwarding`, true to
        // what the app sees: nothing was sent, retry with the same key.
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            return unfinished();
        };
        let gate = self.clone();
        let (answer, answered) = oneshot::channel();
        tokio::spawn(async move {
            let _permit = permit;
            gate.forward(admitted, answer).await;
        });
        answered.await.unwrap_or_else(|_| unfinished())
    }

    /// Sends the refund upstream, answers through `answer`, then journals
    /// the outcome (ADR 0027: the `forwarding` row and its reservation were
    /// committed before sending; the outcome need not delay the answer).
    async fn forward(&self, admitted: Admitted, answer: oneshot::Sender<Response>) {
        let Admitted {
            mut request,
            upstream_key,
            app_key,
            journal_id,
            reserved,
        } = admitted;
        request.idempotency_key = Some(upstream_key.clone());
        let result = self.client.refund(request).await;
        let (response, finish) = match &result {
            Ok(refund) => (
                answer::accepted(refund, &app_key),
                Finish {
                    journal_id,
                    outcome: Outcome::Succeeded,
                    reason: None,
                    http_status: Some(StatusCode::ACCEPTED.as_u16()),
                    request_id: refund.request_id.clone(),
                    refund_id: Some(refund.refund_id.clone()),
                    release: None,
                },
            ),
            Err(error) => {
                let response = answer::upstream_failure(error, &app_key);
                let unknown = error.is_outcome_unknown();
                let finish = Finish {
                    journal_id,
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
                    release: (reserved && !unknown).then_some(upstream_key),
                };
                (response, finish)
            }
        };
        // The app may have hung up; the outcome is journaled all the same.
        let _ = answer.send(response);
        if let Err(e) = self.store.finish_forward(finish).await {
            tracing::error!(error = %e, "cannot journal a forwarded refund's outcome");
        }
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
