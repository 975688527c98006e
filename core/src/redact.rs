//! Keeping the secret key out of every piece of text the SDK produces.

use std::borrow::Cow;
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

/// `bytes` with every occurrence of `secret` replaced by its mask; borrowed
/// (no copy) when the secret is absent, which is the usual case.
pub fn scrub_bytes<'a>(bytes: &'a [u8], secret: &str) -> Cow<'a, [u8]> {
    scrub_bytes_with(bytes, &memchr::memmem::Finder::new(secret), secret)
}

/// [`scrub_bytes`] with a searcher for `secret` built beforehand (building
/// one costs more than searching a short answer with it).
pub(crate) fn scrub_bytes_with<'a>(
    bytes: &'a [u8],
    finder: &memchr::memmem::Finder<'_>,
    secret: &str,
) -> Cow<'a, [u8]> {
    let needle = secret.as_bytes();
    if needle.is_empty() || finder.find(bytes).is_none() {
        return Cow::Borrowed(bytes);
    }
    let mask = mask_secret(secret);
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = finder.find(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(mask.as_bytes());
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// Replaces every occurrence of `secret` in `text` with its mask.
pub fn scrub_text(text: &mut String, secret: &str) {
    if !secret.is_empty() && text.contains(secret) {
        *text = text.replace(secret, &mask_secret(secret));
    }
}

/// Masks `secret` in a JSON text whose strings hold it only in escaped
/// form (`\u0073k_live_…`): such a text is written again from its parsed,
/// scrubbed value. Texts that are not JSON are left as they are.
pub fn scrub_json_text(text: &mut String, secret: &str) {
    if secret.is_empty() || !text.contains('\\') {
        return;
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    if scrub_json_value(&mut value, secret) {
        *text = value.to_string();
    }
}

/// Scrubs every string (keys included) of `value`; true when any changed.
fn scrub_json_value(value: &mut serde_json::Value, secret: &str) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains(secret) => {
            scrub_text(s, secret);
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |found, v| scrub_json_value(v, secret) | found),
        Value::Object(fields) => {
            let mut found = fields.keys().any(|k| k.contains(secret));
            if found {
                let entries = std::mem::take(fields);
                for (mut k, v) in entries {
                    scrub_text(&mut k, secret);
                    fields.insert(k, v);
                }
            }
            for v in fields.values_mut() {
                found |= scrub_json_value(v, secret);
            }
            found
        }
        _ => false,
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
    fn scrubbing_masks_every_occurrence_and_copies_only_when_needed() {
        let key = "sk_live_0123456789abcdefWXYZ";
        let text = format!("a{key}b{key}");
        let scrubbed = scrub_bytes(text.as_bytes(), key);
        assert_eq!(&scrubbed[..], "ask_live_…WXYZbsk_live_…WXYZ".as_bytes());
        assert!(matches!(scrub_bytes(b"clean", key), Cow::Borrowed(_)));
        let mut s = text.clone();
        scrub_text(&mut s, key);
        assert_eq!(s, "ask_live_…WXYZbsk_live_…WXYZ");
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = SecretKey::new("sk_live_0123456789abcdefWXYZ".into());
        assert!(!format!("{key:?} {key}").contains("0123456789"));
    }
}
