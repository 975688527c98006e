//! API fidelity over raw TCP: requests exactly as the provider's own
//! material sends them must work against the emulator. The guide's curl
//! sample (`shared/seed/refund-a-payment.txt`) and the provider's
//! WooCommerce plugin send no body for a full refund (API.md: an empty body
//! means `{}`).
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::net::SocketAddr;

use fixtures::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// An idempotency key as the WooCommerce plugin makes them: 64 hex
/// characters of SHA-256 (here of `wc_order_1042_refund_1`).
const SHA256_KEY: &str = "301f2b1ffd53cda853b38322a072fb61230f4e8773824d624bf6d45531ce5a88";

/// A raw answer: status line, lower-cased headers, body.
struct RawAnswer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes `request` as given on a fresh connection and reads one answer
/// (headers, then `content-length` bytes of body).
async fn exchange(addr: SocketAddr, request: &[u8]) -> RawAnswer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut read = Vec::new();
    let head_end = loop {
        if let Some(i) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the headers ended");
        read.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(read[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = read[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the body ended");
        body.extend_from_slice(&chunk[..n]);
    }
    RawAnswer {
        status_line,
        headers,
        body: serde_json::from_slice(&body[..len]).unwrap(),
    }
}

fn assert_refunded(answer: &RawAnswer, checkout_id: &str) {
    assert_eq!(answer.status_line, "HTTP/1.1 202 Accepted");
    assert_eq!(answer.body["id"], checkout_id);
    assert!(answer.body["refundId"]
        .as_str()
        .is_some_and(|id| id.starts_with("rfd_")));
    assert_eq!(answer.body["message"], "Your refund has been processed");
    assert_eq!(answer.body["status"], "successful");
}

#[tokio::test]
async fn the_guides_curl_sample_refunds_byte_for_byte() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    // Exactly what `curl --location --request POST URL --header
    // 'Content-Type: application/json' --header 'Authorization: Bearer
    // <secret-key>'` (curl 7.88.1) writes: no body and no Content-Length.
    let request = format!(
        "POST /api/checkouts/{id}/refund HTTP/1.1\r\n\
         Host: {addr}\r\n\
         User-Agent: curl/7.88.1\r\n\
         Accept: */*\r\n\
         Content-Type: application/json\r\n\
         Authorization: Bearer {LIVE_KEY}\r\n\
         \r\n",
        addr = emulator.addr(),
    );
    let answer = exchange(emulator.addr(), request.as_bytes()).await;
    assert_refunded(&answer, &id);
    assert!(answer.header("x-request-id").is_some());
    let ledger = control(&emulator, LIVE_KEY)
        .ledger(Some(&id))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["amount"], 1000);
    assert_eq!(ledger[0]["status"], "succeeded");
}

/// The request the WooCommerce plugin sends: its own headers, a SHA-256
/// idempotency key, and `body` (empty for a full refund).
fn woocommerce_request(addr: SocketAddr, checkout_id: &str, key: &str, body: &str) -> String {
    format!(
        "POST /api/checkouts/{checkout_id}/refund HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Authorization: Bearer {LIVE_KEY}\r\n\
         Content-Type: application/json\r\n\
         Idempotency-Key: {key}\r\n\
         X-Product: woocommerce\r\n\
         X-Correlation-ID: 5f0c1a9e-3b7d-4c2a-9e61-0d8f4b2a7c13\r\n\
         Content-Length: {len}\r\n\
         \r\n\
         {body}",
        len = body.len(),
    )
}

#[tokio::test]
async fn a_woocommerce_full_refund_without_a_body_refunds_everything() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let request = woocommerce_request(emulator.addr(), &id, SHA256_KEY, "");
    let answer = exchange(emulator.addr(), request.as_bytes()).await;
    assert_refunded(&answer, &id);
    // The plugin's retry of the same refund is replayed, not refunded twice.
    let again = exchange(emulator.addr(), request.as_bytes()).await;
    assert_refunded(&again, &id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, answer.body);
    let ledger = control(&emulator, LIVE_KEY)
        .ledger(Some(&id))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["amount"], 1000);
    assert_eq!(ledger[0]["idempotencyKey"], SHA256_KEY);
}

#[tokio::test]
async fn a_woocommerce_partial_refund_sends_the_amount_then_a_full_one_takes_the_rest() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let partial = woocommerce_request(emulator.addr(), &id, SHA256_KEY, r#"{"amount": 400}"#);
    assert_refunded(&exchange(emulator.addr(), partial.as_bytes()).await, &id);
    let rest_key = SHA256_KEY.replace('3', "4");
    let rest = woocommerce_request(emulator.addr(), &id, &rest_key, "");
    assert_refunded(&exchange(emulator.addr(), rest.as_bytes()).await, &id);
    let ledger = control(&emulator, LIVE_KEY)
        .ledger(Some(&id))
        .await
        .unwrap();
    let amounts: Vec<_> = ledger.iter().map(|r| r["amount"].clone()).collect();
    assert_eq!(amounts, [400, 600]);
}
