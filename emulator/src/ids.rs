//! Identifiers as the service makes them: a prefix and 24 alphanumerics.

use rand::distributions::{Alphanumeric, DistString as _};

/// Number of random alphanumerics after the prefix.
const RANDOM_LEN: usize = 24;

fn with_prefix(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + RANDOM_LEN);
    id.push_str(prefix);
    Alphanumeric.append_string(&mut rand::thread_rng(), &mut id, RANDOM_LEN);
    id
}

/// A checkout id, `ch_…`.
pub(crate) fn checkout() -> String {
    with_prefix("ch_")
}

/// A payment id, `p_…`.
pub(crate) fn payment() -> String {
    with_prefix("p_")
}

/// A refund id, `rfd_…`.
pub(crate) fn refund() -> String {
    with_prefix("rfd_")
}

/// An event id, `evt_…`; also the `webhook-id` of its deliveries.
pub(crate) fn event() -> String {
    with_prefix("evt_")
}

/// A webhook subscription id, `sub_…` **\[ours\]**.
pub(crate) fn subscription() -> String {
    with_prefix("sub_")
}

/// A request id for `x-request-id`, `req_…` **\[ours\]**.
pub(crate) fn request() -> String {
    with_prefix("req_")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefix_plus_24_alphanumerics() {
        let id = super::refund();
        let rest = id.strip_prefix("rfd_").expect("prefix");
        assert_eq!(rest.len(), 24);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
