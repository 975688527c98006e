//! `Authorization: Bearer <secret key>`: who is calling, and in which mode.

use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode};

use crate::reply::ApiError;

/// Live or test, decided by the key prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Live,
    Test,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// An authenticated caller. Each secret key is its own account **\[ours\]**.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Account<'h> {
    pub(crate) key: &'h str,
    pub(crate) mode: Mode,
}

/// Reads and checks the bearer key; 403 when missing, malformed or not in
/// `allowed` (an empty `allowed` accepts any well-formed key).
pub(crate) fn authenticate<'h>(
    headers: &'h HeaderMap,
    allowed: &[String],
) -> Result<Account<'h>, ApiError> {
    let denied =
        |why: &'static str| ApiError::new(StatusCode::FORBIDDEN, "invalid_secret_key", why);
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        denied("Missing Authorization header: send Authorization: Bearer <secret key>.")
    })?;
    let value = value
        .to_str()
        .map_err(|_| denied("The Authorization header is malformed."))?;
    let key = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .ok_or_else(|| denied("The Authorization header must be Bearer <secret key>."))?;
    if refundkit::validate::secret_key(key).is_err() {
        return Err(denied(
            "The secret key is malformed: it must start with sk_test_ or sk_live_.",
        ));
    }
    if !allowed.is_empty() && !allowed.iter().any(|k| k == key) {
        return Err(denied("The secret key is not valid."));
    }
    let mode = if key.starts_with("sk_live_") {
        Mode::Live
    } else {
        Mode::Test
    };
    Ok(Account { key, mode })
}
