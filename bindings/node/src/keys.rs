//! `idempotencyKeyFor`: deterministic keys from core's `keys` module.

use napi::Env;
use napi_derive::napi;

use crate::error;

/// The UUIDv5 idempotency key for `parts` within `namespace` (the same
/// value in every language).
#[napi(js_name = "idempotencyKeyFor")]
pub fn idempotency_key_for(
    env: &Env,
    namespace: String,
    parts: Vec<String>,
) -> napi::Result<String> {
    refundkit::idempotency_key_for(&namespace, &parts).map_err(|e| error::throw(env, &e))
}
