//! The `/api` endpoints of API.md: checkouts, refunds, webhooks.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use http::header::{HeaderValue, RETRY_AFTER};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::auth::{self, Account};
use crate::body::{self, JsonBody};
use crate::checkouts::{NewCheckout, NewRefund, CURRENCY, MAX_AMOUNT, MIN_CHECKOUT_AMOUNT};
use crate::idempotency::{Claim, Fingerprint, InFlight};
use crate::reply::{ApiError, Reply};
use crate::server::ConnectionCut;
use crate::stats::bump;

/// The message of every accepted refund.
const REFUND_MESSAGE: &str = "Your refund has been processed";
/// The request header naming an idempotency key.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The whole HTTP surface: `/api`, `/_emulator`, and JSON 404/405 for the rest.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/checkouts", post(create_checkout))
        .route("/api/checkouts/{id}", get(get_checkout))
        .route("/api/checkouts/{id}/refund", post(refund))
        .route("/api/webhooks", post(register_webhook).get(list_webhooks))
        .route("/api/webhooks/{id}", delete(delete_webhook))
        .merge(crate::control::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn unknown_route(req: Request) -> Response {
    let message = format!("No such endpoint: {} {}.", req.method(), req.uri().path());
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", message).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    let message = format!("{} is not allowed on {}.", req.method(), req.uri().path());
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    )
    .into_response()
}

/// An authenticated POST whose body is read and whose idempotency key (if
/// any) is claimed.
struct Admitted<'a> {
    account: Account<'a>,
    body: JsonBody,
    claim: Option<InFlight<'a>>,
}

impl Admitted<'_> {
    /// Stores `reply` for repeats of this key, and returns it.
    fn finish(self, reply: Reply) -> Reply {
        if let Some(claim) = self.claim {
            claim.complete(&reply);
        }
        reply
    }
}

/// Reads the body, authenticates, and applies idempotency: `Err` is the
/// answer to send without running the request (403, 409, 422, a replay…).
async fn admit<'a>(
    app: &'a App,
    parts: &'a Parts,
    raw: axum::body::Body,
) -> Result<Admitted<'a>, Reply> {
    let bytes = body::read(raw).await.map_err(|e| e.reply())?;
    let account = auth::authenticate(&parts.headers, &app.secret_keys).map_err(|e| e.reply())?;
    let body = JsonBody::parse(bytes);
    let Some(key) = parts.headers.get(IDEMPOTENCY_KEY) else {
        return Ok(Admitted {
            account,
            body,
            claim: None,
        });
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters."),
            )
            .reply()
        })?;
    let fingerprint = Fingerprint::new(&parts.method, parts.uri.path(), &body);
    match app.idempotency.claim(account.key, key, fingerprint) {
        Claim::Run(claim) => Ok(Admitted {
            account,
            body,
            claim: Some(claim),
        }),
        Claim::Answer(reply) => {
            if reply.replayed {
                bump(&app.stats.idempotent_replays);
            }
            Err(reply)
        }
    }
}

/// The `Idempotency-Key` header, once [`admit`] has accepted it.
fn idempotency_key(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
}

/// `POST /api/checkouts`.
async fn create_checkout(State(app): State<Arc<App>>, req: Request) -> Response {
    bump(&app.stats.checkout_requests);
    let (parts, raw) = req.into_parts();
    let admitted = match admit(&app, &parts, raw).await {
        Ok(a) => a,
        Err(reply) => return reply.into_response(),
    };
    let reply = match parse_new_checkout(&admitted.body) {
        Ok(new) => Reply::json(
            StatusCode::OK,
            &app.checkouts.create(admitted.account, new, &app.base_url),
        ),
        Err(e) => e.reply(),
    };
    admitted.finish(reply).into_response()
}

fn parse_new_checkout(body: &JsonBody) -> Result<NewCheckout, ApiError> {
    let obj = body.object()?;
    let amount =
        body::integer(obj, "amount")?.ok_or_else(|| ApiError::validation("amount is required."))?;
    if !(MIN_CHECKOUT_AMOUNT..=MAX_AMOUNT).contains(&amount) {
        return Err(ApiError::validation(format!(
            "amount must be an integer number of cents, at least {MIN_CHECKOUT_AMOUNT}."
        )));
    }
    match body::string(obj, "currency")? {
        Some(CURRENCY) => {}
        Some(_) => {
            return Err(ApiError::validation(format!(
                "currency must be {CURRENCY}."
            )))
        }
        None => return Err(ApiError::validation("currency is required.")),
    }
    let metadata = body::string_map(obj, "metadata")?;
    let mut extras = serde_json::Map::new();
    for field in ["successUrl", "cancelUrl", "failureUrl", "externalId"] {
        if let Some(s) = body::string(obj, field)? {
            extras.insert(field.to_owned(), s.into());
        }
    }
    match obj.get("lineItems") {
        None | Some(serde_json::Value::Null) => {}
        Some(items @ serde_json::Value::Array(_)) => {
            extras.insert("lineItems".to_owned(), items.clone());
        }
        Some(_) => return Err(ApiError::validation("lineItems must be an array.")),
    }
    Ok(NewCheckout {
        amount,
        metadata,
        extras,
    })
}

/// `GET /api/checkouts/{id}`.
async fn get_checkout(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    bump(&app.stats.checkout_requests);
    let account = match auth::authenticate(&headers, &app.secret_keys) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let Ok(Path(id)) = id else {
        return ApiError::checkout_not_found().into_response();
    };
    match app.checkouts.get(account, &id, &app.base_url) {
        Ok(checkout) => Reply::json(StatusCode::OK, &checkout).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/checkouts/{id}/refund`, the only endpoint with faults.
async fn refund(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    bump(&app.stats.refund_requests);
    let plan = app.faults.roll();
    let cut = req.extensions().get::<ConnectionCut>().cloned();
    if plan.drop_before {
        bump(&app.stats.dropped_before);
        return ConnectionCut::cut(cut).await;
    }
    if let Some(secs) = plan.rate_limit {
        bump(&app.stats.rate_limited);
        let mut response = ApiError::rate_limited().into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    if plan.error_5xx {
        bump(&app.stats.injected_5xx);
        return ApiError::internal().into_response();
    }
    let reply = admit_and_refund(&app, id, req, plan.delay).await;
    if plan.drop_after {
        bump(&app.stats.dropped_after);
        return ConnectionCut::cut(cut).await;
    }
    reply.into_response()
}

/// Everything between the fault roll and the answer: admission, the
/// injected delay, the refund itself, and storing the answer for the key.
async fn admit_and_refund(
    app: &Arc<App>,
    id: Result<Path<String>, PathRejection>,
    req: Request,
    delay: Option<std::time::Duration>,
) -> Reply {
    let (parts, raw) = req.into_parts();
    let admitted = match admit(app, &parts, raw).await {
        Ok(a) => a,
        Err(reply) => return reply,
    };
    if let Some(delay) = delay {
        bump(&app.stats.delayed);
        tokio::time::sleep(delay).await;
    }
    let reply = match id {
        Ok(Path(id)) => make_refund(
            app,
            admitted.account,
            &id,
            &admitted.body,
            idempotency_key(&parts),
        ),
        Err(_) => ApiError::checkout_not_found().reply(),
    };
    admitted.finish(reply)
}

fn make_refund(
    app: &Arc<App>,
    account: Account<'_>,
    id: &str,
    body: &JsonBody,
    key: Option<&str>,
) -> Reply {
    let made = parse_new_refund(body).and_then(|new| app.checkouts.refund(account, id, new, key));
    match made {
        Ok(made) => {
            bump(&app.stats.refunds_made);
            app.emit(&made.owner, made.event_type(), || made.payload());
            Reply::json(
                StatusCode::ACCEPTED,
                &json!({
                    "id": made.checkout_id,
                    "refundId": made.refund_id,
                    "message": REFUND_MESSAGE,
                    "status": made.answer_status,
                }),
            )
        }
        Err(e) => e.reply(),
    }
}

fn parse_new_refund(body: &JsonBody) -> Result<NewRefund, ApiError> {
    let obj = body.object()?;
    let amount = body::integer(obj, "amount")?;
    if amount.is_some_and(|a| !(1..=MAX_AMOUNT).contains(&a)) {
        return Err(ApiError::validation(
            "amount must be a positive integer number of cents.",
        ));
    }
    let metadata = body::string_map(obj, "metadata")?;
    Ok(NewRefund { amount, metadata })
}

/// `POST /api/webhooks`.
async fn register_webhook(State(app): State<Arc<App>>, req: Request) -> Response {
    bump(&app.stats.webhook_requests);
    let (parts, raw) = req.into_parts();
    let admitted = match admit(&app, &parts, raw).await {
        Ok(a) => a,
        Err(reply) => return reply.into_response(),
    };
    let registered = admitted.body.object().and_then(|obj| {
        let name =
            body::string(obj, "name")?.ok_or_else(|| ApiError::validation("name is required."))?;
        let url =
            body::string(obj, "url")?.ok_or_else(|| ApiError::validation("url is required."))?;
        app.webhooks.register(admitted.account, name, url)
    });
    let reply = match registered {
        Ok(sub) => Reply::json(StatusCode::OK, &sub),
        Err(e) => e.reply(),
    };
    admitted.finish(reply).into_response()
}

/// `GET /api/webhooks`.
async fn list_webhooks(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    bump(&app.stats.webhook_requests);
    match auth::authenticate(&headers, &app.secret_keys) {
        Ok(account) => {
            let subs: Vec<_> = app
                .webhooks
                .list(account.key)
                .iter()
                .map(|s| s.to_json())
                .collect();
            Reply::json(StatusCode::OK, &json!({ "subscriptions": subs })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `DELETE /api/webhooks/{id}`: answers the deleted subscription.
async fn delete_webhook(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    bump(&app.stats.webhook_requests);
    let account = match auth::authenticate(&headers, &app.secret_keys) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let deleted = id
        .ok()
        .and_then(|Path(id)| app.webhooks.delete(account, &id));
    match deleted {
        Some(sub) => Reply::json(StatusCode::OK, &sub.to_json()).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_found",
            "Webhook not found.",
        )
        .into_response(),
    }
}
