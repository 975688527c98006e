//! Sending one attempt over HTTP with reqwest (rustls, pooled connections).

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};

use http::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST, USER_AGENT,
};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::Delivery;
use crate::protocol::{HttpRequest, ResponseMeta, IDEMPOTENCY_KEY_HEADER, JSON_HEADERS};
use crate::validate;

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The headers the protocol reads.
    pub meta: ResponseMeta,
    /// The body bytes.
    pub body: Bytes,
}

/// The pooled HTTP client plus the per-client headers.
pub(crate) struct Transport {
    http: reqwest::Client,
    /// The base URL, parsed once (host parsing is costly; paths are cheap).
    base: reqwest::Url,
    /// The base URL's path without its trailing `/`, put before each path.
    prefix: String,
    /// Every header on the wire, in order, with placeholders for the
    /// per-call values (see `build`).
    headers: HeaderMap,
}

impl Transport {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        // reqwest's own proxy lookup (HTTP_PROXY, ALL_PROXY, …) is off:
        // `config::proxy_for` alone decides (ADR 0009).
        let mut http = reqwest::Client::builder().no_proxy();
        if let Some(proxy) = &config.proxy {
            let proxy = reqwest::Proxy::https(proxy.as_str()).map_err(|_| {
                Error::invalid(
                    ErrorKind::Configuration,
                    "proxy",
                    "is not a usable proxy URL",
                )
            })?;
            http = http.proxy(proxy);
        }
        let http = http
            .use_rustls_tls()
            .https_only(!config.base_url.starts_with("http://"))
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            // Our retry loop is the only one (ADR 0003): every attempt is
            // counted, and reqwest need not copy each request to replay it.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            Error::invalid(
                ErrorKind::Configuration,
                "user_agent",
                "is not a valid header value",
            )
        })?;
        // Validated when the config was built; this only parses it again.
        let base = validate::base_url(&config.base_url)?;
        let host = base.host_str().unwrap_or_default();
        let host = match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let host = HeaderValue::from_str(&host).map_err(|_| {
            Error::invalid(ErrorKind::Configuration, "base_url", "has an invalid host")
        })?;
        let mut headers = HeaderMap::with_capacity(REQUEST_HEADERS);
        headers.insert(HOST, host);
        headers.insert(AUTHORIZATION, HeaderValue::from_static(""));
        headers.insert(USER_AGENT, user_agent);
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        for (name, value) in JSON_HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static(""));
        Ok(Self {
            http,
            prefix: base.path().trim_end_matches('/').to_owned(),
            base,
            headers,
        })
    }

    /// Sends one attempt. `timeout` bounds the whole exchange, body included.
    ///
    /// The request is built before the returned future starts, so the future
    /// holds reqwest's boxed `Pending` rather than the request itself
    /// (ADR 0008: it shrank the refund future from 1,728 to 1,168 bytes).
    pub(crate) fn send(
        &self,
        req: &HttpRequest,
        auth: &HeaderValue,
        timeout: Duration,
    ) -> impl Future<Output = Result<HttpResponse>> + Send + 'static {
        let pending = self.build(req, auth).map(|r| self.http.execute(r));
        async move {
            let exchange = async move {
                let mut response = pending?.await.map_err(transport_error)?;
                let status = response.status().as_u16();
                let meta = ResponseMeta::read(response.headers(), SystemTime::now);
                let body = read_body(&mut response, status).await?;
                Ok(HttpResponse { status, meta, body })
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no answer within {:.1} s", timeout.as_secs_f64()),
                )),
            }
        }
    }

    fn build(&self, req: &HttpRequest, auth: &HeaderValue) -> Result<reqwest::Request> {
        let mut url = self.base.clone();
        if self.prefix.is_empty() {
            url.set_path(&req.path);
        } else {
            url.set_path(&format!("{}{}", self.prefix, req.path));
        }
        // Every header that goes on the wire, `host` and `content-length`
        // included: reqwest hands hyper an exact-size copy of this map, and
        // hyper adding to that copy on its connection task made it grow there
        // (a realloc across threads: 9 µs per call at concurrency 64, ADR 0008).
        // A copy of the prepared map has room for exactly these 7 (728 bytes);
        // a new map for 7 takes room for 12 (1,248 bytes), past glibc's
        // per-thread cache (ADR 0029).
        let mut headers = self.headers.clone();
        headers.insert(AUTHORIZATION, auth.clone());
        headers.insert(CONTENT_LENGTH, HeaderValue::from(req.body.len()));
        for (name, value) in &req.headers {
            if headers.get(*name).is_some_and(|v| v == value.as_ref()) {
                continue; // prepared: the JSON headers
            }
            // Validation admits only visible ASCII, so this never fails in
            // practice; if it did, nothing has been sent yet.
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid(ErrorKind::InvalidInput, name, "is not a valid header value")
            })?;
            headers.insert(HeaderName::from_static(name), value);
        }
        let mut request = reqwest::Request::new(req.method.clone(), url);
        *request.headers_mut() = headers;
        *request.body_mut() = Some(req.body.clone().into());
        Ok(request)
    }
}

/// Headers on the wire: host, authorization, user-agent, content-length,
/// content-type, accept and idempotency-key.
const REQUEST_HEADERS: usize = 7;

/// Reads the whole body, refusing more than [`MAX_RESPONSE_BODY`] bytes.
/// A body that arrives in one chunk (the usual case) is kept without a copy.
async fn read_body(response: &mut reqwest::Response, status: u16) -> Result<Bytes> {
    let Some(first) = chunk(response).await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = chunk(response).await? else {
        return too_large(first.len(), status).map(|()| first);
    };
    let mut body = BytesMut::with_capacity(first.len() + second.len());
    body.extend_from_slice(&first);
    body.extend_from_slice(&second);
    too_large(body.len(), status)?;
    while let Some(more) = chunk(response).await? {
        body.extend_from_slice(&more);
        too_large(body.len(), status)?;
    }
    Ok(body.freeze())
}

/// The refund API answers with a few hundred bytes; a larger body is not
/// what it documents (and is not read into memory without bound).
pub(crate) const MAX_RESPONSE_BODY: usize = 1024 * 1024;

async fn chunk(response: &mut reqwest::Response) -> Result<Option<Bytes>> {
    response.chunk().await.map_err(transport_error)
}

fn too_large(len: usize, status: u16) -> Result<()> {
    if len <= MAX_RESPONSE_BODY {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::UnexpectedResponse,
        format!("answer body larger than {MAX_RESPONSE_BODY} bytes"),
    )
    .with_status(status))
}

/// Maps a reqwest failure. Only a failure to connect proves the request
/// never reached the server; anything later leaves the outcome unknown.
fn transport_error(e: reqwest::Error) -> Error {
    let delivery = if e.is_connect() {
        Delivery::NotSent
    } else {
        Delivery::MaybeSent
    };
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Network
    };
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Error::new(kind, text).with_delivery(delivery)
}
