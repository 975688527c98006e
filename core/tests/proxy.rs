//! Proxy variables never carry the key in clear (ADR 0009). A test binary
//! of its own, with one test, because it sets process-wide environment
//! variables.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use refundkit::{Client, RefundRequest};
use support::{accepted_body, Action, ScriptedServer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const KEY: &str = "sk_live_0123456789abcdefPROXY";

/// A listening socket standing in for a proxy: it records the first bytes
/// of every connection, then hangs up.
struct FakeProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                record.lock().expect("lock").push(head);
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

fn client(base_url: &str, explicit_proxy: Option<&str>) -> Client {
    let mut builder = Client::builder(KEY)
        .base_url(base_url)
        .max_retries(0)
        .timeout(Duration::from_secs(3));
    if let Some(proxy) = explicit_proxy {
        builder = builder.proxy(proxy);
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn proxies_see_no_loopback_or_plain_http_request_and_only_tunnels_https() {
    let proxy = FakeProxy::start().await;
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
    ] {
        std::env::set_var(name, &proxy.url);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");

    // Plain http to loopback, with every variable set: straight to the server.
    let server = ScriptedServer::start(vec![
        Action::Respond(202, vec![], accepted_body("ch_1", "rfd_1")),
        Action::Respond(202, vec![], accepted_body("ch_1", "rfd_2")),
    ])
    .await;
    let refund = client(&server.base_url(), None)
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refunded directly");
    assert_eq!(refund.refund_id, "rfd_1");
    // Even an explicit proxy is not used for a loopback, plain-http target.
    client(&server.base_url(), Some(&proxy.url))
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refunded directly");
    assert_eq!(server.requests().len(), 2);
    // https to loopback (the scripted server speaks no TLS, so this fails
    // at the handshake) never goes through the proxy either.
    let https_loopback = format!("https://localhost:{}", server.addr.port());
    client(&https_loopback, None)
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("no TLS there");
    assert_eq!(proxy.seen(), Vec::<String>::new(), "the proxy was used");

    // https elsewhere goes through HTTPS_PROXY as a CONNECT tunnel, which
    // carries no request headers: the key stays inside TLS.
    let c = client("https://refundkit-proxy-test.invalid", None);
    assert_eq!(c.config().proxy().as_deref(), Some(proxy.url.as_str()));
    c.refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("the fake proxy hangs up");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("CONNECT refundkit-proxy-test.invalid:443 "),
        "{seen:?}"
    );
    assert!(
        !seen[0].contains("PROXY") && !seen[0].contains("Bearer"),
        "{seen:?}"
    );
}
