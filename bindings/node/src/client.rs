//! `NativeClient` and `RefundCall`: JavaScript arguments in, a core call on
//! the binding's runtime, a `RefundOutcome` out.
//!
//! A refund is two calls so that its idempotency key is known before any
//! I/O: `prepare` fixes the key (the caller's, or a fresh UUIDv4) into a
//! `RefundCall`, then `send` starts it. An aborted call therefore still
//! tells the caller which key to retry with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use napi::bindgen_prelude::{Either, Function, Object, Promise, Unknown};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status, ValueType};
use napi_derive::napi;
use serde_json::Value;

use crate::error::{self, NativeError};
use crate::runtime;

/// An accepted refund, as `node/index.js` hands it to callers.
#[napi(object, use_nullable = true)]
pub struct NativeRefund {
    /// The refunded checkout (`ch_…`).
    pub checkout_id: String,
    /// The refund (`rfd_…`).
    pub refund_id: String,
    /// The status the service reported, e.g. `successful`.
    pub status: String,
    /// The service's message.
    pub message: Option<String>,
    /// The idempotency key actually sent.
    pub idempotency_key: String,
    /// Whether the service replayed an earlier answer for this key.
    pub replayed: bool,
    /// HTTP attempts made.
    pub attempts: u32,
    /// The service's request id.
    pub request_id: Option<String>,
    /// Whether `status` says the refund went through (`successful`,
    /// `succeeded`); `pending` and unknown words do not.
    pub succeeded: bool,
    /// Time from the first attempt's start to the answer, backoff included,
    /// in milliseconds.
    pub elapsed_ms: f64,
}

impl From<refundkit::Refund> for NativeRefund {
    fn from(refund: refundkit::Refund) -> Self {
        Self {
            succeeded: refund.status.is_success(),
            elapsed_ms: duration_ms(refund.elapsed),
            checkout_id: refund.checkout_id,
            refund_id: refund.refund_id,
            status: refund.status.as_str().to_owned(),
            message: refund.message,
            idempotency_key: refund.idempotency_key,
            replayed: refund.replayed,
            attempts: refund.attempts,
            request_id: refund.request_id,
        }
    }
}

/// How a sent call ended: a refund, an error, or neither when it was
/// cancelled.
#[napi(object)]
pub struct RefundOutcome {
    /// Set when the refund was accepted.
    pub refund: Option<NativeRefund>,
    /// Set when the call failed.
    pub error: Option<NativeError>,
}

impl RefundOutcome {
    fn cancelled() -> Self {
        Self {
            refund: None,
            error: None,
        }
    }
}

impl From<refundkit::Result<refundkit::Refund>> for RefundOutcome {
    fn from(outcome: refundkit::Result<refundkit::Refund>) -> Self {
        match outcome {
            Ok(refund) => Self {
                refund: Some(refund.into()),
                error: None,
            },
            Err(e) => Self {
                refund: None,
                error: Some(NativeError::from(&e)),
            },
        }
    }
}

/// One refund with its idempotency key fixed, until it is sent.
#[napi]
pub struct RefundCall {
    request: Mutex<Option<refundkit::RefundRequest>>,
    key: String,
    cancel: Arc<tokio::sync::Notify>,
}

#[napi]
impl RefundCall {
    /// The key this call sends on every attempt.
    #[napi(getter)]
    pub fn idempotency_key(&self) -> String {
        self.key.clone()
    }

    /// Abandons the call: the request is dropped wherever it is and `send`'s
    /// promise resolves with neither a refund nor an error.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.notify_one();
    }
}

/// The JavaScript token provider, callable from the runtime's threads.
type TokenFunction = ThreadsafeFunction<bool, Promise<String>, bool, Status, false, true>;

/// A JavaScript token provider as the core's: each call is queued to the
/// JavaScript thread and its promise awaited here.
struct JsTokens(Arc<TokenFunction>);

impl refundkit::TokenProvider for JsTokens {
    fn token(&self, force_refresh: bool) -> refundkit::TokenFuture {
        let tokens = Arc::clone(&self.0);
        Box::pin(async move {
            let failed = |e: napi::Error| {
                refundkit::Error::new(
                    refundkit::ErrorKind::Authentication,
                    format!("the token provider failed: {}", e.reason),
                )
            };
            let promise = tokens.call_async(force_refresh).await.map_err(failed)?;
            promise.await.map_err(failed)
        })
    }
}

/// The retry and time limits both kinds of client take (the caller's
/// options object; absent values keep core's defaults).
#[napi(object)]
pub struct Limits {
    /// Retries after the first attempt.
    pub max_retries: Option<f64>,
    /// Time allowed for one attempt, in milliseconds.
    pub timeout_ms: Option<f64>,
    /// Time allowed for all attempts of one call, in milliseconds.
    pub total_timeout_ms: Option<f64>,
}

/// The core client behind `refundkit.Client`.
#[napi]
pub struct NativeClient {
    client: refundkit::Client,
    masked_secret_key: String,
}

#[napi]
impl NativeClient {
    /// Validates the configuration (core does) and builds the client.
    /// `runtime` names the Node version for the `User-Agent`.
    #[napi(constructor)]
    pub fn new(
        env: &Env,
        secret_key: String,
        base_url: Option<String>,
        limits: Limits,
        runtime: String,
    ) -> napi::Result<Self> {
        let mut builder = refundkit::Client::builder(secret_key);
        if let Some(url) = base_url {
            builder = builder.base_url(url);
        }
        Self::build(env, builder, limits, runtime)
    }

    /// A token-mode client of the merchant's relay at `base_url`:
    /// `token_provider(forceRefresh)` returns a promise of the bearer token
    /// (`node/index.js` wraps the caller's function so that it always does).
    #[napi(factory)]
    pub fn for_relay(
        env: &Env,
        base_url: String,
        token_provider: Function<'_, bool, Promise<String>>,
        limits: Limits,
        runtime: String,
    ) -> napi::Result<Self> {
        let tokens = token_provider
            .build_threadsafe_function::<bool>()
            .callee_handled::<false>()
            // A relay client alone does not keep the process alive; a call
            // in flight does (through its promise).
            .weak::<true>()
            .build()?;
        let builder = refundkit::Client::builder_for_relay(base_url, JsTokens(Arc::new(tokens)));
        Self::build(env, builder, limits, runtime)
    }

    fn build(
        env: &Env,
        mut builder: refundkit::ClientBuilder,
        limits: Limits,
        runtime: String,
    ) -> napi::Result<Self> {
        let throw = |e: refundkit::Error| error::throw(env, &e);
        builder = builder.user_agent_binding("node", runtime);
        if let Some(retries) = limits.max_retries {
            builder = builder.max_retries(whole_number(retries));
        }
        if let Some(ms) = limits.timeout_ms {
            builder = builder.timeout(milliseconds("timeoutMs", ms).map_err(throw)?);
        }
        if let Some(ms) = limits.total_timeout_ms {
            builder = builder.total_timeout(milliseconds("totalTimeoutMs", ms).map_err(throw)?);
        }
        let client = builder.build().map_err(throw)?;
        let masked_secret_key = client.config().masked_secret_key();
        Ok(Self {
            client,
            masked_secret_key,
        })
    }

    /// Whether this client is in token mode.
    #[napi(getter)]
    pub fn is_relay(&self) -> bool {
        self.client.config().is_relay()
    }

    /// The secret key, masked (`sk_live_…abcd`).
    #[napi(getter)]
    pub fn masked_secret_key(&self) -> String {
        self.masked_secret_key.clone()
    }

    /// The base URL, without a trailing slash.
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.client.config().base_url().to_owned()
    }

    /// Retries after the first attempt.
    #[napi(getter)]
    pub fn max_retries(&self) -> u32 {
        self.client.config().max_retries()
    }

    /// Time allowed for one attempt, in milliseconds.
    #[napi(getter)]
    pub fn timeout_ms(&self) -> f64 {
        duration_ms(self.client.config().timeout())
    }

    /// Time allowed for all attempts of one call, in milliseconds.
    #[napi(getter)]
    pub fn total_timeout_ms(&self) -> f64 {
        duration_ms(self.client.config().total_timeout())
    }

    /// A refund with its key fixed. Arguments of the wrong JavaScript type
    /// throw invalid-input errors naming them; core validates the rest
    /// when the call is sent, before any I/O.
    #[napi]
    pub fn prepare(
        &self,
        env: &Env,
        checkout_id: Value,
        amount: Option<Either<f64, Unknown<'_>>>,
        metadata: Option<Value>,
        idempotency_key: Option<Value>,
    ) -> napi::Result<RefundCall> {
        let throw = |e: refundkit::Error| error::throw(env, &e);
        let mut request = refundkit::RefundRequest {
            checkout_id: text("checkout_id", checkout_id).map_err(throw)?,
            amount: amount.map(cents).transpose().map_err(throw)?,
            metadata: metadata.map(string_map).transpose().map_err(throw)?,
            idempotency_key: idempotency_key
                .map(|key| text("idempotency_key", key))
                .transpose()
                .map_err(throw)?,
        };
        let key = request.fix_idempotency_key().to_owned();
        Ok(RefundCall {
            request: Mutex::new(Some(request)),
            key,
            cancel: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Starts `call` on the binding's runtime; the promise resolves with a
    /// `RefundOutcome` (never rejects for a refund failure).
    #[napi(ts_return_type = "Promise<RefundOutcome>")]
    pub fn send<'env>(&self, env: &'env Env, call: &RefundCall) -> napi::Result<Object<'env>> {
        let request = call
            .request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| {
                napi::Error::new(Status::InvalidArg, "this refund call was already sent")
            })?;
        let client = self.client.clone();
        let cancel = Arc::clone(&call.cancel);
        runtime::promise(env, async move {
            tokio::select! {
                biased;
                () = cancel.notified() => RefundOutcome::cancelled(),
                outcome = client.refund(request) => RefundOutcome::from(outcome),
            }
        })
    }
}

/// A count from a JavaScript number; anything that is not a whole number
/// in range saturates so that core's range check reports it.
fn whole_number(value: f64) -> u32 {
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        value as u32
    } else {
        u32::MAX
    }
}

/// The defaults of the public contract (core's `defaults` module), in the
/// units of the Node API.
#[napi(object)]
pub struct Defaults {
    /// The production base URL.
    pub base_url: String,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time allowed for one attempt, in milliseconds.
    pub timeout_ms: f64,
    /// Time allowed for all attempts of one call, in milliseconds.
    pub total_timeout_ms: f64,
    /// How far a webhook's timestamp may be from now, in seconds.
    pub webhook_tolerance_seconds: f64,
}

/// Core's defaults, for `refundkit.DEFAULTS`.
#[napi]
pub fn defaults() -> Defaults {
    use refundkit::defaults;
    Defaults {
        base_url: defaults::BASE_URL.to_owned(),
        max_retries: defaults::MAX_RETRIES,
        timeout_ms: duration_ms(defaults::TIMEOUT),
        total_timeout_ms: duration_ms(defaults::TOTAL_TIMEOUT),
        webhook_tolerance_seconds: defaults::WEBHOOK_TOLERANCE.as_secs_f64(),
    }
}

fn duration_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A duration given in milliseconds.
fn milliseconds(field: &'static str, ms: f64) -> refundkit::Result<Duration> {
    refundkit::validate::seconds(field, ms / 1000.0)
}

/// The JavaScript type of `value`, for error messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JavaScript type, for error messages.
fn js_type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::String => "a string",
        ValueType::Object => "an object",
        ValueType::BigInt => "a bigint",
        _ => "this value",
    }
}

fn text(field: &'static str, value: Value) -> refundkit::Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(refundkit::validate::invalid_argument(
            field,
            format_args!("must be a string, not {}", type_name(&other)),
        )),
    }
}

/// An amount in cents: only an integral number (NaN and infinities are
/// not). Integers beyond `i64` saturate so that core's range check reports
/// them.
fn cents(value: Either<f64, Unknown<'_>>) -> refundkit::Result<i64> {
    match value {
        Either::A(number) if number.fract() == 0.0 => Ok(number as i64),
        Either::A(_) => Err(refundkit::validate::invalid_argument(
            "amount",
            "must be an integer number of cents",
        )),
        Either::B(other) => Err(refundkit::validate::invalid_argument(
            "amount",
            format_args!(
                "must be an integer number of cents, not {}",
                other.get_type().map_or("this value", js_type_name)
            ),
        )),
    }
}

/// Metadata: a plain object whose values are all strings.
fn string_map(value: Value) -> refundkit::Result<BTreeMap<String, String>> {
    let bad = |problem: String| refundkit::validate::invalid_argument("metadata", problem);
    let Value::Object(entries) = value else {
        return Err(bad(format!(
            "must be an object of string values, not {}",
            type_name(&value)
        )));
    };
    entries
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            other => Err(bad(format!(
                "value of {key:?} must be a string, not {}",
                type_name(&other)
            ))),
        })
        .collect()
}
