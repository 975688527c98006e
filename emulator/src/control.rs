//! The `/_emulator` control endpoints: pay a checkout, read the ledger, the
//! delivery log and the counters, set faults, reset. No authentication
//! **\[ours\]**: the emulator is a local test tool.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use serde_json::json;

use crate::app::App;
use crate::faults::Faults;
use crate::reply::{ApiError, Reply};
use crate::stats::bump;

pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_emulator/checkouts/{id}/pay", post(pay))
        .route("/_emulator/refunds", get(ledger))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/deliveries", get(deliveries))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/reset", post(reset))
}

/// `POST /_emulator/checkouts/{id}/pay`: completes the checkout and sends
/// `payment.succeeded`; answers the checkout.
async fn pay(State(app): State<Arc<App>>, id: Result<Path<String>, PathRejection>) -> Response {
    bump(&app.stats.control_requests);
    let Ok(Path(id)) = id else {
        return ApiError::checkout_not_found().into_response();
    };
    match app.checkouts.pay(&id, &app.base_url) {
        Ok(paid) => {
            let payload = paid.payload;
            app.emit(&paid.owner, "payment.succeeded", || payload);
            Reply::json(StatusCode::OK, &paid.checkout).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /_emulator/refunds[?checkoutId=]`: `{"refunds": [...]}`, oldest first.
async fn ledger(State(app): State<Arc<App>>, req: Request) -> Response {
    bump(&app.stats.control_requests);
    let checkout_id = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "checkoutId")
            .map(|(_, v)| v.into_owned())
    });
    let refunds = app.checkouts.ledger(checkout_id.as_deref());
    Reply::json(StatusCode::OK, &json!({ "refunds": refunds })).into_response()
}

/// `GET /_emulator/faults`: the current faults.
async fn get_faults(State(app): State<Arc<App>>) -> Response {
    bump(&app.stats.control_requests);
    Reply::json(StatusCode::OK, &json!(app.faults.get())).into_response()
}

/// `PUT /_emulator/faults`: replaces the faults (and reseeds); answers them.
async fn put_faults(State(app): State<Arc<App>>, req: Request) -> Response {
    bump(&app.stats.control_requests);
    let bytes = match crate::body::read(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let faults = match Faults::from_json(&bytes) {
        Ok(f) => f,
        Err(e) => return ApiError::validation(format!("Invalid faults: {e}.")).into_response(),
    };
    app.faults.set(faults);
    Reply::json(StatusCode::OK, &json!(app.faults.get())).into_response()
}

/// `GET /_emulator/deliveries`: `{"deliveries": [...]}`, oldest first.
async fn deliveries(State(app): State<Arc<App>>) -> Response {
    bump(&app.stats.control_requests);
    let log = app.deliverer.log();
    Reply::json(StatusCode::OK, &json!({ "deliveries": log })).into_response()
}

/// `GET /_emulator/stats`: request counters since start or reset.
async fn stats(State(app): State<Arc<App>>) -> Response {
    bump(&app.stats.control_requests);
    let mut stats = app.stats.to_json();
    stats["scheduledDeliveries"] = app.deliverer.waiting().into();
    Reply::json(StatusCode::OK, &stats).into_response()
}

/// `POST /_emulator/reset`: forgets everything, faults included.
async fn reset(State(app): State<Arc<App>>) -> Response {
    app.reset();
    Reply::json(StatusCode::OK, &json!({ "reset": true })).into_response()
}
