//! The way to the service: the core client (secret key, retries,
//! idempotency) and the upstream key each app request is sent with.

use std::time::Duration;

use refundkit::Client;

/// The namespace of upstream keys, for [`refundkit::idempotency_key_for`].
pub const KEY_NAMESPACE: &str = "refundkit-relay";
/// Time allowed for one upstream attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for all upstream attempts of one request: less than an
/// app's 30 s attempt timeout, so the app hears the relay's answer instead
/// of timing out and retrying.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(25);

/// The key sent upstream for `app_key` from `subject`: a UUIDv5 of both, so
/// two users' keys never collide and one user's retries replay.
pub fn upstream_key(subject: &str, app_key: &str) -> refundkit::Result<String> {
    refundkit::idempotency_key_for(KEY_NAMESPACE, &[subject, app_key])
}

/// The core client for `upstream`, holding the secret key.
pub fn client(
    secret_key: &str,
    upstream: &str,
    attempt_timeout: Duration,
    total_timeout: Duration,
) -> refundkit::Result<Client> {
    Client::builder(secret_key)
        .base_url(upstream)
        .timeout(attempt_timeout)
        .total_timeout(total_timeout)
        .user_agent_binding("relay", "tokio")
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_subject_and_repeat_per_subject() {
        let a = upstream_key("alice", "k1").expect("valid");
        assert_eq!(a, upstream_key("alice", "k1").expect("valid"));
        assert_ne!(a, upstream_key("bob", "k1").expect("valid"));
        assert_ne!(a, upstream_key("alice", "k2").expect("valid"));
    }
}
