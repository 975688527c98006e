//! Every default of the public contract, in one place. Bindings read these
//! instead of restating them; `tests/vectors/defaults.json` holds the same
//! values and every language's suite checks it.

use std::time::Duration;

/// The production base URL.
pub const BASE_URL: &str = "https://payments.yoco.com";
/// Retries after the first attempt.
pub const MAX_RETRIES: u32 = 2;
/// Time allowed for one attempt.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for all attempts of one call.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(90);
/// How far a webhook's timestamp may be from now, either way.
pub const WEBHOOK_TOLERANCE: Duration = Duration::from_secs(300);
/// First backoff delay.
pub const BASE_DELAY: Duration = Duration::from_millis(500);
/// Largest computed backoff delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Largest `Retry-After` honoured; a longer one ends the retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
