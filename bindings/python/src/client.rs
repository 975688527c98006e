//! `Client` and the native half of `AsyncClient`: Python arguments in, a
//! core call on the shared runtime, `Refund` out.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::{PyOverflowError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};

use refundkit::defaults;

use crate::error::to_py_err;
use crate::refund::Refund;
use crate::runtime;
use crate::token::PyTokenProvider;

/// The settings both client classes take, as Python passed them.
struct Settings {
    base_url: Option<String>,
    max_retries: i64,
    timeout: f64,
    total_timeout: f64,
    proxy: Option<String>,
}

/// The state both client classes share: the core client until `close()`,
/// and the secret-free text of `repr()`.
struct ClientState {
    client: Mutex<Option<refundkit::Client>>,
    repr_args: String,
}

impl ClientState {
    fn new(py: Python<'_>, secret_key: String, settings: Settings) -> PyResult<Self> {
        Self::build(py, refundkit::Client::builder(secret_key), settings)
    }

    /// A token-mode client of the merchant's relay at `base_url`.
    fn for_relay(
        py: Python<'_>,
        base_url: String,
        token_provider: Py<PyAny>,
        settings: Settings,
    ) -> PyResult<Self> {
        let provider = PyTokenProvider::new(token_provider);
        Self::build(
            py,
            refundkit::Client::builder_for_relay(base_url, provider),
            settings,
        )
    }

    fn build(
        py: Python<'_>,
        builder: refundkit::ClientBuilder,
        settings: Settings,
    ) -> PyResult<Self> {
        let seconds = |field, secs| refundkit::validate::seconds(field, secs).map_err(to_py_err);
        // Out-of-range values saturate so that core reports them.
        let max_retries = u32::try_from(settings.max_retries).unwrap_or(u32::MAX);
        let mut builder = builder
            .max_retries(max_retries)
            .timeout(seconds("timeout", settings.timeout)?)
            .total_timeout(seconds("total_timeout", settings.total_timeout)?)
            .user_agent_binding("python", python_runtime(py)?);
        if let Some(url) = settings.base_url {
            builder = builder.base_url(url);
        }
        if let Some(proxy) = settings.proxy {
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(to_py_err)?;
        let config = client.config();
        let credential = if config.is_relay() {
            "token_provider=…".to_owned()
        } else {
            format!(
                "secret_key={}",
                PyString::new(py, &config.masked_secret_key()).repr()?
            )
        };
        let repr_args = format!(
            "{credential}, base_url={}",
            PyString::new(py, config.base_url()).repr()?,
        );
        Ok(Self {
            client: Mutex::new(Some(client)),
            repr_args,
        })
    }

    /// The core client (one `Arc` clone), or an error once closed.
    fn client(&self) -> PyResult<refundkit::Client> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| PyRuntimeError::new_err("this refundkit client is closed"))
    }

    /// Drops the client; calls in flight keep their own handle and finish.
    fn close(&self) {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// The core's default retries, as Python's `int` argument type.
const DEFAULT_MAX_RETRIES: i64 = defaults::MAX_RETRIES as i64;

/// A core default duration as Python's float seconds.
pub fn default_seconds(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

/// `CPython 3.12.1` and the like, for the `User-Agent`.
fn python_runtime(py: Python<'_>) -> PyResult<&'static str> {
    static RUNTIME: PyOnceLock<String> = PyOnceLock::new();
    RUNTIME
        .get_or_try_init(py, || {
            let name: String = py
                .import("platform")?
                .call_method0("python_implementation")?
                .extract()?;
            let v = py.version_info();
            Ok::<_, PyErr>(format!("{name} {}.{}.{}", v.major, v.minor, v.patch))
        })
        .map(String::as_str)
}

/// An amount as `i64`: only a Python `int` (not `bool`, `float` or `str`)
/// is accepted; out-of-range values saturate so that core's range check
/// reports them with the argument's name.
fn amount_from_py(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        let problem = format!(
            "must be an int number of cents, not {}",
            value.get_type().name()?
        );
        return Err(to_py_err(refundkit::validate::invalid_argument(
            "amount", problem,
        )));
    }
    match value.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            Ok(if value.lt(0)? { i64::MIN } else { i64::MAX })
        }
        Err(e) => Err(e),
    }
}

/// Metadata from any `Mapping[str, str]`.
fn metadata_from_py(value: &Bound<'_, PyAny>) -> PyResult<BTreeMap<String, String>> {
    let bad = |problem: &str| to_py_err(refundkit::validate::invalid_argument("metadata", problem));
    let entry = |k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>| -> PyResult<(String, String)> {
        match (k.extract::<String>(), v.extract::<String>()) {
            (Ok(k), Ok(v)) => Ok((k, v)),
            _ => Err(bad("keys and values must be str")),
        }
    };
    let mut metadata = BTreeMap::new();
    if let Ok(dict) = value.cast::<PyDict>() {
        for (k, v) in dict.iter() {
            let (k, v) = entry(&k, &v)?;
            metadata.insert(k, v);
        }
        return Ok(metadata);
    }
    let items = value
        .call_method0("items")
        .map_err(|_| bad("must be a mapping of str to str"))?;
    for item in items.try_iter()? {
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let (k, v) = entry(&k, &v)?;
        metadata.insert(k, v);
    }
    Ok(metadata)
}

/// The core request for `refund(...)`'s arguments; core validates it.
fn refund_request(
    checkout_id: String,
    amount: Option<&Bound<'_, PyAny>>,
    metadata: Option<&Bound<'_, PyAny>>,
    idempotency_key: Option<String>,
) -> PyResult<refundkit::RefundRequest> {
    Ok(refundkit::RefundRequest {
        checkout_id,
        amount: amount.map(amount_from_py).transpose()?,
        metadata: metadata.map(metadata_from_py).transpose()?,
        idempotency_key,
    })
}

/// Refunds through the Checkout API, blocking the calling thread.
///
/// One instance is meant to be shared by every thread of a process: it
/// pools connections, and the GIL is released while a call waits.
#[pyclass(frozen, module = "refundkit", name = "Client")]
pub struct Client {
    state: ClientState,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (secret_key, base_url = None, max_retries = DEFAULT_MAX_RETRIES, timeout = default_seconds(defaults::TIMEOUT), total_timeout = default_seconds(defaults::TOTAL_TIMEOUT), *, proxy = None))]
    fn new(
        py: Python<'_>,
        secret_key: String,
        base_url: Option<String>,
        max_retries: i64,
        timeout: f64,
        total_timeout: f64,
        proxy: Option<String>,
    ) -> PyResult<Self> {
        let settings = Settings {
            base_url,
            max_retries,
            timeout,
            total_timeout,
            proxy,
        };
        Ok(Self {
            state: ClientState::new(py, secret_key, settings)?,
        })
    }

    /// A token-mode client: an app's client of the merchant's relay at
    /// `base_url`, authenticating with `token_provider(force_refresh)`'s
    /// bearer tokens instead of a secret key.
    #[staticmethod]
    #[pyo3(signature = (base_url, token_provider, max_retries = DEFAULT_MAX_RETRIES, timeout = default_seconds(defaults::TIMEOUT), total_timeout = default_seconds(defaults::TOTAL_TIMEOUT)))]
    fn for_relay(
        py: Python<'_>,
        base_url: String,
        token_provider: Py<PyAny>,
        max_retries: i64,
        timeout: f64,
        total_timeout: f64,
    ) -> PyResult<Self> {
        let settings = Settings {
            base_url: None,
            max_retries,
            timeout,
            total_timeout,
            proxy: None,
        };
        Ok(Self {
            state: ClientState::for_relay(py, base_url, token_provider, settings)?,
        })
    }

    /// Refunds `checkout_id` (all that is left, or `amount` cents).
    ///
    /// Sends one idempotency key on every attempt: `idempotency_key`, or a
    /// fresh UUIDv4. If Ctrl-C interrupts the call, the `KeyboardInterrupt`
    /// carries that key as `.idempotency_key`: retry with it.
    #[pyo3(signature = (checkout_id, amount = None, metadata = None, idempotency_key = None))]
    fn refund(
        &self,
        py: Python<'_>,
        checkout_id: String,
        amount: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
    ) -> PyResult<Refund> {
        let mut request = refund_request(checkout_id, amount, metadata, idempotency_key)?;
        let key = request.fix_idempotency_key().to_owned();
        let client = self.state.client()?;
        crate::logging::refresh_level(py);
        match runtime::block_on_detached(py, client.refund(request)) {
            Ok(outcome) => outcome.map(Refund::from).map_err(to_py_err),
            Err(interrupted) => {
                interrupted.value(py).setattr("idempotency_key", key)?;
                Err(interrupted)
            }
        }
    }

    /// Releases the connection pool; later calls raise `RuntimeError`.
    fn close(&self) {
        self.state.close();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, _exc_info: &Bound<'_, pyo3::types::PyTuple>) {
        self.state.close();
    }

    fn __repr__(&self) -> String {
        format!("refundkit.Client({})", self.state.repr_args)
    }
}

/// The native half of `refundkit.AsyncClient`: `refund` returns an asyncio
/// future driven by the shared runtime. Use `refundkit.AsyncClient`.
#[pyclass(frozen, module = "refundkit._native", name = "AsyncClient")]
pub struct AsyncClient {
    state: ClientState,
}

#[pymethods]
impl AsyncClient {
    #[new]
    #[pyo3(signature = (secret_key, base_url = None, max_retries = DEFAULT_MAX_RETRIES, timeout = default_seconds(defaults::TIMEOUT), total_timeout = default_seconds(defaults::TOTAL_TIMEOUT), *, proxy = None))]
    fn new(
        py: Python<'_>,
        secret_key: String,
        base_url: Option<String>,
        max_retries: i64,
        timeout: f64,
        total_timeout: f64,
        proxy: Option<String>,
    ) -> PyResult<Self> {
        let settings = Settings {
            base_url,
            max_retries,
            timeout,
            total_timeout,
            proxy,
        };
        Ok(Self {
            state: ClientState::new(py, secret_key, settings)?,
        })
    }

    /// A token-mode client: an app's client of the merchant's relay at
    /// `base_url`, authenticating with `token_provider(force_refresh)`'s
    /// bearer tokens instead of a secret key.
    #[staticmethod]
    #[pyo3(signature = (base_url, token_provider, max_retries = DEFAULT_MAX_RETRIES, timeout = default_seconds(defaults::TIMEOUT), total_timeout = default_seconds(defaults::TOTAL_TIMEOUT)))]
    fn for_relay(
        py: Python<'_>,
        base_url: String,
        token_provider: Py<PyAny>,
        max_retries: i64,
        timeout: f64,
        total_timeout: f64,
    ) -> PyResult<Self> {
        let settings = Settings {
            base_url: None,
            max_retries,
            timeout,
            total_timeout,
            proxy: None,
        };
        Ok(Self {
            state: ClientState::for_relay(py, base_url, token_provider, settings)?,
        })
    }

    /// Starts a refund and returns an asyncio future of the running loop
    /// (delivered by pyo3-async-runtimes: the path for loops without
    /// `add_reader`) and the idempotency key core fixed for the call.
    /// Cancelling the future abandons the call.
    #[pyo3(signature = (checkout_id, amount = None, metadata = None, idempotency_key = None))]
    fn refund<'py>(
        &self,
        py: Python<'py>,
        checkout_id: String,
        amount: Option<&Bound<'py, PyAny>>,
        metadata: Option<&Bound<'py, PyAny>>,
        idempotency_key: Option<String>,
    ) -> PyResult<(Bound<'py, PyAny>, String)> {
        let mut request = refund_request(checkout_id, amount, metadata, idempotency_key)?;
        let key = request.fix_idempotency_key().to_owned();
        let client = self.state.client()?;
        crate::logging::refresh_level(py);
        let future = runtime::awaitable(
            py,
            crate::logging::kept_with(async move {
                client
                    .refund(request)
                    .await
                    .map(Refund::from)
                    .map_err(to_py_err)
            }),
        )?;
        Ok((future, key))
    }

    /// Starts a refund whose outcome completes `future`, an asyncio future
    /// of the loop `bridge` serves. Returns the call's number for
    /// `bridge.cancel` and the idempotency key core fixed for the call.
    #[cfg(unix)]
    #[pyo3(signature = (bridge, future, checkout_id, amount = None, metadata = None, idempotency_key = None))]
    #[allow(clippy::too_many_arguments)]
    fn start_refund(
        &self,
        bridge: &runtime::LoopBridge,
        future: &Bound<'_, PyAny>,
        checkout_id: String,
        amount: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
    ) -> PyResult<(u64, String)> {
        let mut request = refund_request(checkout_id, amount, metadata, idempotency_key)?;
        let key = request.fix_idempotency_key().to_owned();
        let client = self.state.client()?;
        crate::logging::refresh_level(future.py());
        let call = bridge.start(
            future,
            crate::logging::kept_with(async move {
                client
                    .refund(request)
                    .await
                    .map(Refund::from)
                    .map_err(to_py_err)
            }),
        )?;
        Ok((call, key))
    }

    /// Releases the connection pool; later calls raise `RuntimeError`.
    fn close(&self) {
        self.state.close();
    }

    fn __repr__(&self) -> String {
        format!("refundkit.AsyncClient({})", self.state.repr_args)
    }
}
