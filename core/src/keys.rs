//! Idempotency keys that survive a process restart: the same inputs give the
//! same key in every language, so a retry after a crash or on another
//! machine replays instead of refunding twice.
//!
//! Parts are length-prefixed before hashing (`3:abc2:de`), so
//! `("ab", "c")` and `("a", "bc")` never share a key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};

/// Longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 128;
/// Most parts accepted.
pub const MAX_PARTS: usize = 64;
/// Longest part accepted, in bytes.
pub const MAX_PART_LEN: usize = 4096;

/// Prefix of the URL whose UUIDv5 (in the URL namespace) is a namespace's id.
const NAMESPACE_URL_PREFIX: &str = "https://refundkit.dev/idempotency-keys/";
/// Domain separation for batch row keys.
const ROW_KEY_LABEL: &[u8] = b"refundkit-row-key-v1";

/// A UUIDv5 idempotency key for `parts` (an order id, a refund attempt
/// number, …) within `namespace` (your application's name for this kind of
/// refund). Deterministic: the same arguments give the same key everywhere.
///
/// ```
/// let a = refundkit::idempotency_key_for("shop-refunds", &["order-42"])?;
/// assert_eq!(a, refundkit::idempotency_key_for("shop-refunds", &["order-42"])?);
/// assert_ne!(a, refundkit::idempotency_key_for("shop-refunds", &["order-43"])?);
/// # Ok::<(), refundkit::Error>(())
/// ```
pub fn idempotency_key_for<S: AsRef<str>>(namespace: &str, parts: &[S]) -> Result<String> {
    if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_LEN {
        return Err(Error::invalid(
            ErrorKind::InvalidInput,
            "namespace",
            format_args!("must be 1 to {MAX_NAMESPACE_LEN} bytes"),
        ));
    }
    if namespace.chars().any(char::is_control) {
        return Err(Error::invalid(
            ErrorKind::InvalidInput,
            "namespace",
            "must not contain control characters",
        ));
    }
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(Error::invalid(
            ErrorKind::InvalidInput,
            "parts",
            format_args!("must be 1 to {MAX_PARTS} values"),
        ));
    }
    if parts.iter().any(|p| p.as_ref().len() > MAX_PART_LEN) {
        return Err(Error::invalid(
            ErrorKind::InvalidInput,
            "parts",
            format_args!("each must be at most {MAX_PART_LEN} bytes"),
        ));
    }
    let space = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("{NAMESPACE_URL_PREFIX}{namespace}").as_bytes(),
    );
    Ok(Uuid::new_v5(&space, &length_prefixed(parts)).to_string())
}

/// The key of one batch row: HMAC-SHA256, keyed with the secret key, over
/// the row's fields (checkout id, amount, then the others), as a UUIDv8.
///
/// Only the holder of the secret key can compute it, it never reveals the
/// key, and a lost or fresh journal derives the same key again, so the
/// service replays the first refund instead of making a second. For many
/// rows, [`RowKeys`] computes the same keys without redoing the HMAC key
/// schedule each time.
pub fn row_key<S: AsRef<str>>(secret_key: &str, fields: &[S]) -> String {
    RowKeys::new(secret_key).key(fields)
}

/// [`row_key`] for many rows under one secret key: the keyed HMAC state
/// (key schedule and domain label) is computed once and cloned per row.
/// Gives exactly the keys [`row_key`] gives.
#[derive(Clone)]
pub struct RowKeys {
    /// Keyed with the secret key, the label already absorbed.
    mac: Hmac<Sha256>,
}

impl RowKeys {
    /// Keys rows with `secret_key`.
    pub fn new(secret_key: &str) -> Self {
        // HMAC takes keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret_key.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(ROW_KEY_LABEL);
        Self { mac }
    }

    /// The key of the row with these fields.
    pub fn key<S: AsRef<str>>(&self, fields: &[S]) -> String {
        let mut mac = self.mac.clone();
        write_length_prefixed(fields, |bytes| mac.update(bytes));
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::new_v8(bytes).to_string()
    }
}

impl std::fmt::Debug for RowKeys {
    /// Never shows the keyed state (it is as good as the secret key).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowKeys(..)")
    }
}

/// The parts as `len:part` each (length in decimal ASCII), the encoding
/// both kinds of derived key hash.
fn length_prefixed<S: AsRef<str>>(parts: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    write_length_prefixed(parts, |bytes| out.extend_from_slice(bytes));
    out
}

/// [`length_prefixed`], handed to `sink` piece by piece without allocating.
fn write_length_prefixed<S: AsRef<str>>(parts: &[S], mut sink: impl FnMut(&[u8])) {
    for part in parts {
        let part = part.as_ref().as_bytes();
        let mut digits = [0u8; 20];
        sink(decimal(part.len(), &mut digits));
        sink(b":");
        sink(part);
    }
}

/// `n` in decimal ASCII, written at the end of `buf` (a `usize` has at most
/// 20 digits).
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uuid_v5_and_deterministic() {
        let k = idempotency_key_for("ns", &["a", "b"]).expect("valid");
        let u = Uuid::parse_str(&k).expect("uuid");
        assert_eq!(u.get_version_num(), 5);
        assert_eq!(k, idempotency_key_for("ns", &["a", "b"]).expect("valid"));
    }

    #[test]
    fn part_boundaries_and_namespaces_change_the_key() {
        let ab_c = idempotency_key_for("ns", &["ab", "c"]).expect("valid");
        let a_bc = idempotency_key_for("ns", &["a", "bc"]).expect("valid");
        let other = idempotency_key_for("ns2", &["ab", "c"]).expect("valid");
        assert_ne!(ab_c, a_bc);
        assert_ne!(ab_c, other);
    }

    #[test]
    fn bad_namespace_and_parts_name_the_field() {
        let e = idempotency_key_for::<&str>("", &["x"]).expect_err("empty namespace");
        assert_eq!(e.field(), Some("namespace"));
        let e = idempotency_key_for::<&str>("ns", &[]).expect_err("no parts");
        assert_eq!(e.field(), Some("parts"));
        let long = "x".repeat(MAX_PART_LEN + 1);
        let e = idempotency_key_for("ns", &[long]).expect_err("long part");
        assert_eq!(e.field(), Some("parts"));
    }

    #[test]
    fn row_keys_depend_on_the_secret_and_every_field() {
        let k = row_key("sk_live_a", &["ch_1", "100"]);
        assert_eq!(Uuid::parse_str(&k).expect("uuid").get_version_num(), 8);
        assert_eq!(k, row_key("sk_live_a", &["ch_1", "100"]));
        assert_ne!(k, row_key("sk_live_b", &["ch_1", "100"]));
        assert_ne!(k, row_key("sk_live_a", &["ch_1", "101"]));
        assert_ne!(k, row_key("sk_live_a", &["ch_1", "10", "0"]));
        assert!(!k.contains("sk_live"));
    }

    #[test]
    fn row_keys_match_an_independent_hmac_and_the_one_shot_function() {
        // Computed with Python's hmac and uuid modules from the definition
        // (HMAC-SHA256 over the label and the length-prefixed fields, first
        // 16 bytes as a UUIDv8): keys stored in journals must never change.
        let cases: [(&str, &[&str], &str); 3] = [
            (
                "sk_live_a",
                &["ch_1", "100"],
                "ab8f6b55-c0ec-87a0-89fd-e931e8bb5628",
            ),
            (
                "sk_test_journal",
                &["ch_2", "", "order", "42", "note", "\u{20ac} 12,50"],
                "029f4816-0779-8103-96ed-b5b72f40db19",
            ),
            (
                "sk_live_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                &["refundkit-retry", "2f1c0b2e-0000-8000-8000-000000000000"],
                "dba849c2-6a95-89f5-ad72-5901c004b26a",
            ),
        ];
        for (secret, fields, expected) in cases {
            assert_eq!(row_key(secret, fields), expected);
            let keys = RowKeys::new(secret);
            assert_eq!(keys.key(fields), expected);
            assert_eq!(
                keys.key(fields),
                expected,
                "the keyed state is reused unchanged"
            );
        }
        assert_eq!(
            format!("{:?}", RowKeys::new("sk_live_secret")),
            "RowKeys(..)"
        );
    }
}
