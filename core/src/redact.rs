//! Keeping the secret key out of every piece of text the SDK produces.

use std::fmt;

/// The secret key, held so that it can only be read on purpose.
///
/// `Debug` and `Display` print the masked form (`sk_live_…abcd`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub(crate) fn new(raw: String) -> Self {
        Self(raw)
    }
    /// The raw key, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the key is a live-mode key.
    pub fn is_live(&self) -> bool {
        self.0.starts_with("sk_live_")
    }
    /// The masked form: the mode prefix and at most the last four characters.
    pub fn masked(&self) -> String {
        mask_secret(&self.0)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a key as `sk_live_…abcd`. Keys too short to spare four characters
/// show only their prefix; anything that is not a key shows as `…`.
pub fn mask_secret(raw: &str) -> String {
    let prefix = ["sk_live_", "sk_test_", "whsec_"]
        .into_iter()
        .find(|p| raw.starts_with(p));
    let Some(prefix) = prefix else {
        return "…".to_owned();
    };
    let rest = &raw[prefix.len()..];
    let tail_len = 4;
    if rest.chars().count() >= 16 && rest.is_ascii() {
        format!("{prefix}…{}", &rest[rest.len() - tail_len..])
    } else {
        format!("{prefix}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_keys_to_prefix_and_last_four() {
        assert_eq!(mask_secret("sk_live_0123456789abcdefWXYZ"), "sk_live_…WXYZ");
    }

    #[test]
    fn masks_short_keys_to_prefix_only() {
        assert_eq!(mask_secret("sk_test_abc"), "sk_test_…");
    }

    #[test]
    fn masks_unknown_text_entirely() {
        assert_eq!(mask_secret("hunter2"), "…");
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = SecretKey::new("sk_live_0123456789abcdefWXYZ".into());
        assert!(!format!("{key:?} {key}").contains("0123456789"));
    }
}
