//! Sending one attempt over HTTP with reqwest (rustls, pooled connections).

use std::time::{Duration, SystemTime};

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{HttpRequest, ResponseMeta};

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The headers the protocol reads.
    pub meta: ResponseMeta,
    /// The body bytes.
    pub body: bytes::Bytes,
}

/// The pooled HTTP client plus the per-client headers.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    auth: HeaderValue,
    user_agent: HeaderValue,
}

impl Transport {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(!config.base_url.starts_with("http://"))
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.secret_key.expose()))
            .map_err(|_| {
                Error::invalid(
                    ErrorKind::Configuration,
                    "secret_key",
                    "is not a valid header value",
                )
            })?;
        auth.set_sensitive(true);
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            Error::invalid(
                ErrorKind::Configuration,
                "user_agent",
                "is not a valid header value",
            )
        })?;
        Ok(Self {
            http,
            auth,
            user_agent,
        })
    }

    /// Sends one attempt. `timeout` bounds the whole exchange, body included.
    pub(crate) async fn send(
        &self,
        base_url: &str,
        req: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse> {
        let url = format!("{base_url}{}", req.path);
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(USER_AGENT, self.user_agent.clone())
            .body(req.body.clone());
        for (name, value) in &req.headers {
            builder = builder.header(HeaderName::from_static(name), value.as_str());
        }
        let exchange = async {
            let response = builder.send().await.map_err(transport_error)?;
            let status = response.status().as_u16();
            let meta = ResponseMeta::from_headers(response.headers(), SystemTime::now());
            let body = response.bytes().await.map_err(transport_error)?;
            Ok(HttpResponse { status, meta, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no answer within {:.1} s", timeout.as_secs_f64()),
            )
            .with_outcome_unknown(true)),
        }
    }
}

/// Maps a reqwest failure. Only a failure to connect proves the request
/// never reached the server; anything later leaves the outcome unknown.
fn transport_error(e: reqwest::Error) -> Error {
    let reached = !e.is_connect();
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
    Error::new(kind, text).with_outcome_unknown(reached)
}
