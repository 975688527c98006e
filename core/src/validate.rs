//! Argument validation, done before any network I/O.
//!
//! Every error names the field at fault and never echoes a secret.

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Result};

/// Longest checkout id accepted.
pub const MAX_CHECKOUT_ID_LEN: usize = 128;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Most metadata entries accepted.
pub const MAX_METADATA_ENTRIES: usize = 50;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_LEN: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 512;
/// Largest amount accepted, in cents: JSON numbers stay exact below 2^53.
pub const MAX_AMOUNT: i64 = (1 << 53) - 1;

fn input(field: &'static str, problem: impl std::fmt::Display) -> Error {
    Error::invalid(ErrorKind::InvalidInput, field, problem)
}

/// An [`ErrorKind::InvalidInput`] error for `field`, for bindings whose
/// host types admit values the core types rule out (a float amount, a
/// non-string metadata value), so those fail like every other bad input.
pub fn invalid_argument(field: &'static str, problem: impl std::fmt::Display) -> Error {
    input(field, problem)
}

fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A checkout id: 1–128 characters of `[A-Za-z0-9_-]`.
pub fn checkout_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(input("checkout_id", "must not be empty"));
    }
    if id.len() > MAX_CHECKOUT_ID_LEN {
        return Err(input(
            "checkout_id",
            format_args!("must be at most {MAX_CHECKOUT_ID_LEN} characters"),
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(input(
            "checkout_id",
            "may contain only letters, digits, '_' and '-'",
        ));
    }
    Ok(())
}

/// An idempotency key: 1–255 visible ASCII characters.
pub fn idempotency_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(input("idempotency_key", "must not be empty"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(input(
            "idempotency_key",
            format_args!("must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters"),
        ));
    }
    if !is_visible_ascii(key) {
        return Err(input(
            "idempotency_key",
            "may contain only visible ASCII characters (no spaces or control characters)",
        ));
    }
    Ok(())
}

/// An amount in cents: 1 ..= 2^53-1.
pub fn amount(amount: i64) -> Result<()> {
    if amount < 1 {
        return Err(input("amount", "must be at least 1 (cent)"));
    }
    if amount > MAX_AMOUNT {
        return Err(input(
            "amount",
            format_args!("must be at most {MAX_AMOUNT}"),
        ));
    }
    Ok(())
}

/// Metadata: at most 50 entries, keys 1–64 bytes, values up to 512 bytes,
/// no control characters.
pub fn metadata(metadata: &BTreeMap<String, String>) -> Result<()> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(input(
            "metadata",
            format_args!("must have at most {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.len() > MAX_METADATA_KEY_LEN {
            return Err(input(
                "metadata",
                format_args!("keys must be 1 to {MAX_METADATA_KEY_LEN} bytes"),
            ));
        }
        if v.len() > MAX_METADATA_VALUE_LEN {
            return Err(input(
                "metadata",
                format_args!("value of {k:?} must be at most {MAX_METADATA_VALUE_LEN} bytes"),
            ));
        }
        if k.chars().chain(v.chars()).any(char::is_control) {
            return Err(input(
                "metadata",
                format_args!("entry {k:?} contains a control character"),
            ));
        }
    }
    Ok(())
}

/// A secret key: `sk_test_` or `sk_live_` then visible ASCII. The error
/// never repeats the key.
pub fn secret_key(key: &str) -> Result<()> {
    let bad = |problem: &str| Error::invalid(ErrorKind::Configuration, "secret_key", problem);
    let rest = key
        .strip_prefix("sk_test_")
        .or_else(|| key.strip_prefix("sk_live_"))
        .ok_or_else(|| bad("must start with sk_test_ or sk_live_"))?;
    if rest.is_empty() || rest.len() > 512 || !is_visible_ascii(rest) {
        return Err(bad(
            "must be sk_test_ or sk_live_ followed by 1 to 512 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Longest token accepted in token mode, in bytes.
pub const MAX_TOKEN_LEN: usize = 8192;

/// A token-mode bearer token: 1–8192 visible ASCII characters, and never
/// something that looks like a secret key (an app must not hold one). The
/// error never repeats the token.
pub fn token(token: &str) -> Result<()> {
    let bad = |problem: &str| Error::invalid(ErrorKind::Configuration, "token", problem);
    if token.starts_with("sk_live_") || token.starts_with("sk_test_") {
        return Err(bad(
            "looks like a secret key; apps must never hold one: give the relay's token instead",
        ));
    }
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !is_visible_ascii(token) {
        return Err(bad(&format!(
            "must be 1 to {MAX_TOKEN_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// A base URL: `https`, or `http` on a loopback host; no credentials,
/// query or fragment.
pub fn base_url(raw: &str) -> Result<url::Url> {
    let bad = |problem: String| Error::invalid(ErrorKind::Configuration, "base_url", problem);
    let url = url::Url::parse(raw).map_err(|e| bad(format!("is not a valid URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment".into()));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(bad(
                "must use https (plain http is allowed only for localhost, 127.0.0.0/8 and ::1)"
                    .into(),
            ))
        }
        other => return Err(bad(format!("has unsupported scheme {other:?}"))),
    }
    if url.host().is_none() {
        return Err(bad("has no host".into()));
    }
    Ok(url)
}

/// A duration given in seconds as a float (how bindings take timeouts and
/// tolerances): finite and not negative. Range checks stay with the setting.
pub fn seconds(field: &'static str, secs: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| {
        Error::invalid(
            ErrorKind::Configuration,
            field,
            "must be a finite, non-negative number of seconds",
        )
    })
}

/// Whether `url`'s host is `localhost`, in 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_typical_checkout_id() {
        assert!(checkout_id("ch_9LVKD8GnAj7f39DFbn4F16bE").is_ok());
    }

    #[test]
    fn rejects_path_tricks_in_checkout_ids() {
        for id in ["../x", "ch_1/refund", "ch%2F", "ch 1", ""] {
            let err = checkout_id(id).expect_err(id);
            assert_eq!(err.field(), Some("checkout_id"));
        }
    }

    #[test]
    fn secret_key_errors_never_echo_the_key() {
        let err = secret_key("pk_live_supersecretvalue").expect_err("bad prefix");
        assert!(!err.to_string().contains("supersecretvalue"));
        assert_eq!(err.kind(), ErrorKind::Configuration);
    }

    #[test]
    fn http_is_refused_off_loopback() {
        assert!(base_url("http://example.com").is_err());
        assert!(base_url("http://127.0.0.7:8080").is_ok());
        assert!(base_url("http://[::1]:8080").is_ok());
        assert!(base_url("http://localhost:1").is_ok());
        assert!(base_url("https://payments.yoco.com").is_ok());
        assert!(base_url("http://127.0.0.1.example.com").is_err());
    }
}
