//! `Authorization: Bearer <secret key>`: who is calling, and in which mode.

use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode};

use crate::reply::ApiError;

/// Prefix of live-mode secret keys.
const LIVE_PREFIX: &str = "sk_live_";
/// Prefix of test-mode secret keys.
const TEST_PREFIX: &str = "sk_test_";
/// Longest key accepted after its prefix **\[ours\]**.
const MAX_KEY_BODY_LEN: usize = 512;
/// Characters of a key shown at the end of its masked form.
const MASK_TAIL: usize = 4;
/// Shortest key body whose last characters are shown when masked.
const MIN_LEN_TO_SHOW_TAIL: usize = 16;

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
    let mode = mode_of(key).ok_or_else(|| {
        denied("The secret key is malformed: it must start with sk_test_ or sk_live_.")
    })?;
    if !allowed.is_empty() && !allowed.iter().any(|k| k == key) {
        return Err(denied("The secret key is not valid."));
    }
    Ok(Account { key, mode })
}

/// The mode of a well-formed key: `sk_live_` or `sk_test_` then 1 to
/// [`MAX_KEY_BODY_LEN`] visible ASCII characters **\[ours\]** (API.md names
/// only the prefixes). The emulator checks this itself rather than through
/// the client's validation, so a client bug cannot hide in both.
pub(crate) fn mode_of(key: &str) -> Option<Mode> {
    let (mode, body) = if let Some(body) = key.strip_prefix(LIVE_PREFIX) {
        (Mode::Live, body)
    } else {
        (Mode::Test, key.strip_prefix(TEST_PREFIX)?)
    };
    let well_formed = !body.is_empty()
        && body.len() <= MAX_KEY_BODY_LEN
        && body.bytes().all(|b| b.is_ascii_graphic());
    well_formed.then_some(mode)
}

/// An account's key as the ledger shows it: the prefix and the last four
/// characters (`sk_live_…abcd`), or only the prefix when the key is too
/// short to spare them **\[ours\]**.
pub(crate) fn masked(key: &str) -> String {
    let prefix = [LIVE_PREFIX, TEST_PREFIX]
        .into_iter()
        .find(|p| key.starts_with(p))
        .unwrap_or_default();
    let body = &key[prefix.len()..];
    // Keys reaching an account are visible ASCII, so any index is a boundary.
    match body.len().checked_sub(MASK_TAIL) {
        Some(start) if body.len() >= MIN_LEN_TO_SHOW_TAIL && body.is_ascii() => {
            format!("{prefix}…{}", &body[start..])
        }
        _ => format!("{prefix}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_a_prefix_then_visible_ascii() {
        assert_eq!(mode_of("sk_live_abc"), Some(Mode::Live));
        assert_eq!(mode_of("sk_test_abc"), Some(Mode::Test));
        let longest = format!("sk_live_{}", "a".repeat(MAX_KEY_BODY_LEN));
        assert_eq!(mode_of(&longest), Some(Mode::Live));
        for bad in [
            "sk_live_",
            "pk_live_abc",
            "sk_live_a b",
            "sk_live_é",
            "sk_live_a\n",
        ] {
            assert_eq!(mode_of(bad), None, "{bad:?}");
        }
        assert_eq!(mode_of(&format!("{longest}a")), None);
    }

    #[test]
    fn masking_keeps_the_prefix_and_at_most_the_last_four() {
        assert_eq!(masked("sk_live_0123456789abcdefWXYZ"), "sk_live_…WXYZ");
        assert_eq!(masked("sk_test_short"), "sk_test_…");
    }
}
