//! Checkouts and their refunds: the emulator's ledger, the one source of
//! truth for "was this refunded".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use http::StatusCode;
use serde_json::{json, Value};

use crate::auth::{Account, Mode};
use crate::clock;
use crate::ids;
use crate::reply::ApiError;
use crate::sharded::ShardedMap;

/// The only currency accepted.
pub(crate) const CURRENCY: &str = "ZAR";
/// Smallest checkout amount, in cents.
pub(crate) const MIN_CHECKOUT_AMOUNT: i64 = 200;
/// Largest amount accepted, in cents (JSON numbers stay exact below 2^53) **\[ours\]**.
pub(crate) const MAX_AMOUNT: i64 = (1 << 53) - 1;
/// Checkout metadata that makes its refunds fail **\[ours\]**.
const FAIL_KEY: &str = "emulator.refund";
/// Checkout metadata whose value the 202 of its refunds carries as
/// `status` instead of `successful` **\[ours\]**.
const STATUS_KEY: &str = "emulator.refund_status";
/// The `status` of an accepted refund, as documented.
const ACCEPTED_STATUS: &str = "successful";
/// `failureReason` of a refund made to fail.
const FAILURE_REASON: &str =
    "This transaction cannot be refunded as the card used does not support refunds";

/// What `POST /api/checkouts` asked for, validated.
#[derive(Debug, Default)]
pub(crate) struct NewCheckout {
    pub(crate) amount: i64,
    pub(crate) metadata: Option<BTreeMap<String, String>>,
    /// `successUrl`, `cancelUrl`, `failureUrl`, `externalId`, `lineItems`, when given.
    pub(crate) extras: serde_json::Map<String, Value>,
}

/// What a refund request asked for, validated.
#[derive(Debug, Default)]
pub(crate) struct NewRefund {
    pub(crate) amount: Option<i64>,
    pub(crate) metadata: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Created,
    Completed,
}

struct Checkout {
    owner: String,
    mode: Mode,
    amount: i64,
    metadata: Option<BTreeMap<String, String>>,
    extras: serde_json::Map<String, Value>,
    status: Status,
    payment_id: Option<String>,
    /// Sum of succeeded refunds.
    refunded: i64,
    refunds: Vec<RefundRecord>,
}

/// One refund actually made (succeeded or, for checkouts set up to fail, failed).
#[derive(Clone, Debug)]
struct RefundRecord {
    seq: u64,
    refund_id: String,
    amount: i64,
    succeeded: bool,
    idempotency_key: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    created: SystemTime,
}

/// One row of the ledger: a refund actually made, as
/// `GET /_emulator/refunds` shows it (camelCase JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerRefund {
    /// `rfd_…`, as the 202 answer's `refundId`.
    pub refund_id: String,
    /// The checkout refunded.
    pub checkout_id: String,
    /// The checkout's payment (`p_…`).
    pub payment_id: Option<String>,
    /// Cents refunded.
    pub amount: i64,
    /// Always `ZAR`.
    pub currency: &'static str,
    /// `succeeded`, or `failed` for checkouts set up to fail.
    pub status: &'static str,
    /// `live` (test-mode checkouts cannot be refunded).
    pub mode: &'static str,
    /// The `Idempotency-Key` the refund was made with, if any.
    pub idempotency_key: Option<String>,
    /// The refund request's metadata, if any.
    pub metadata: Option<BTreeMap<String, String>>,
    /// When it was made (ISO 8601, UTC).
    pub created_date: String,
    /// The owner's key, masked (`sk_live_…abcd`).
    pub secret_key_masked: String,
}

/// A refund just made: what the answer and the webhook need.
#[derive(Debug)]
pub(crate) struct RefundMade {
    pub(crate) owner: String,
    pub(crate) checkout_id: String,
    pub(crate) refund_id: String,
    /// The `status` the 202 answer carries.
    pub(crate) answer_status: String,
    amount: i64,
    succeeded: bool,
    payment_id: Option<String>,
    mode: Mode,
    metadata: Option<BTreeMap<String, String>>,
    refundable_after: i64,
    created: SystemTime,
}

/// A webhook payload's `metadata`: the checkout's metadata plus its id as
/// `checkoutId`, as payment and refund events both carry it.
fn webhook_metadata(
    metadata: Option<&BTreeMap<String, String>>,
    checkout_id: &str,
) -> serde_json::Map<String, Value> {
    let mut map: serde_json::Map<String, Value> = metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    map.insert("checkoutId".into(), Value::String(checkout_id.to_owned()));
    map
}

impl RefundMade {
    /// The webhook event type: `refund.succeeded` or `refund.failed`.
    pub(crate) fn event_type(&self) -> &'static str {
        if self.succeeded {
            "refund.succeeded"
        } else {
            "refund.failed"
        }
    }

    /// The webhook payload (built only when someone subscribed).
    pub(crate) fn payload(&self) -> Value {
        let metadata = webhook_metadata(self.metadata.as_ref(), &self.checkout_id);
        let mut payload = json!({
            "id": self.refund_id,
            "type": "refund",
            "createdDate": clock::iso8601(self.created),
            "amount": self.amount,
            "currency": CURRENCY,
            "paymentId": self.payment_id,
            "status": if self.succeeded { "succeeded" } else { "failed" },
            "mode": self.mode.as_str(),
            "metadata": metadata,
            "refundableAmount": self.refundable_after,
        });
        if !self.succeeded {
            payload["failureReason"] = Value::from(FAILURE_REASON);
        }
        payload
    }
}

/// A checkout just paid: what the answer and the webhook need.
#[derive(Debug)]
pub(crate) struct Paid {
    pub(crate) owner: String,
    pub(crate) checkout: Value,
    pub(crate) payload: Value,
}

/// Every checkout, sharded by id.
pub(crate) struct CheckoutStore {
    checkouts: ShardedMap<String, Checkout>,
    seq: AtomicU64,
}

impl CheckoutStore {
    pub(crate) fn new() -> Self {
        Self {
            checkouts: ShardedMap::new(),
            seq: AtomicU64::new(0),
        }
    }

    /// Creates a checkout owned by `account`; returns its JSON.
    pub(crate) fn create(&self, account: Account<'_>, new: NewCheckout, base_url: &str) -> Value {
        let id = ids::checkout();
        let checkout = Checkout {
            owner: account.key.to_owned(),
            mode: account.mode,
            amount: new.amount,
            metadata: new.metadata,
            extras: new.extras,
            status: Status::Created,
            payment_id: None,
            refunded: 0,
            refunds: Vec::new(),
        };
        let json = checkout.to_json(&id, base_url);
        self.checkouts.lock(id.as_str()).insert(id, checkout);
        json
    }

    /// The checkout's JSON, if `account` owns it.
    pub(crate) fn get(
        &self,
        account: Account<'_>,
        id: &str,
        base_url: &str,
    ) -> Result<Value, ApiError> {
        let shard = self.checkouts.lock(id);
        match shard.get(id) {
            Some(c) if c.owner == account.key => Ok(c.to_json(id, base_url)),
            _ => Err(ApiError::checkout_not_found()),
        }
    }

    /// Completes a checkout as if its customer paid.
    pub(crate) fn pay(&self, id: &str, base_url: &str) -> Result<Paid, ApiError> {
        let mut shard = self.checkouts.lock(id);
        let c = shard.get_mut(id).ok_or_else(ApiError::checkout_not_found)?;
        if c.status == Status::Completed {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "checkout_already_paid",
                "Checkout has already been paid.",
            ));
        }
        let payment_id = ids::payment();
        c.status = Status::Completed;
        c.payment_id = Some(payment_id.clone());
        let metadata = webhook_metadata(c.metadata.as_ref(), id);
        let payload = json!({
            "id": payment_id,
            "type": "payment",
            "createdDate": clock::iso8601(SystemTime::now()),
            "amount": c.amount,
            "currency": CURRENCY,
            "status": "succeeded",
            "mode": c.mode.as_str(),
            "paymentMethodDetails": {
                "type": "card",
                "card": {"scheme": "visa", "maskedCard": "************1111", "expiryMonth": 12, "expiryYear": 2030}
            },
            "metadata": metadata,
        });
        Ok(Paid {
            owner: c.owner.clone(),
            checkout: c.to_json(id, base_url),
            payload,
        })
    }

    /// Refunds `new.amount` (default: everything left) of a paid live
    /// checkout owned by `account`, atomically with respect to every other
    /// refund of it.
    pub(crate) fn refund(
        &self,
        account: Account<'_>,
        id: &str,
        new: NewRefund,
        idempotency_key: Option<&str>,
    ) -> Result<RefundMade, ApiError> {
        let declined = |code, message| ApiError::new(StatusCode::BAD_REQUEST, code, message);
        let mut shard = self.checkouts.lock(id);
        let c = shard
            .get_mut(id)
            .filter(|c| c.owner == account.key)
            .ok_or_else(ApiError::checkout_not_found)?;
        if c.status != Status::Completed {
            return Err(declined("checkout_not_paid", "Checkout has not been paid."));
        }
        if c.mode == Mode::Test {
            return Err(declined(
                "test_mode_refund",
                "Refunds are not supported for test-mode checkouts.",
            ));
        }
        let refundable = c.amount - c.refunded;
        if refundable <= 0 {
            return Err(declined(
                "already_refunded",
                "Payment has already been refunded.",
            ));
        }
        let amount = new.amount.unwrap_or(refundable);
        if amount > refundable {
            return Err(declined(
                "amount_exceeds_refundable",
                "Refund amount exceeds the refundable amount.",
            ));
        }
        let setting = |key| c.metadata.as_ref().and_then(|m| m.get(key)).cloned();
        let succeeded = setting(FAIL_KEY).as_deref() != Some("fail");
        let answer_status = setting(STATUS_KEY).unwrap_or_else(|| ACCEPTED_STATUS.to_owned());
        if succeeded {
            c.refunded += amount;
        }
        let record = RefundRecord {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            refund_id: ids::refund(),
            amount,
            succeeded,
            idempotency_key: idempotency_key.map(str::to_owned),
            metadata: new.metadata,
            created: SystemTime::now(),
        };
        let made = RefundMade {
            owner: c.owner.clone(),
            checkout_id: id.to_owned(),
            refund_id: record.refund_id.clone(),
            answer_status,
            amount,
            succeeded,
            payment_id: c.payment_id.clone(),
            mode: c.mode,
            metadata: record.metadata.clone(),
            refundable_after: c.amount - c.refunded,
            created: record.created,
        };
        c.refunds.push(record);
        Ok(made)
    }

    /// The ledger, oldest first: every refund made, or those of one checkout.
    pub(crate) fn ledger(&self, checkout_id: Option<&str>) -> Vec<LedgerRefund> {
        let mut rows: Vec<(u64, LedgerRefund)> = Vec::new();
        let mut collect = |id: &str, c: &Checkout| {
            rows.extend(c.refunds.iter().map(|r| (r.seq, r.to_ledger(id, c))));
        };
        match checkout_id {
            Some(id) => {
                if let Some(c) = self.checkouts.lock(id).get(id) {
                    collect(id, c);
                }
            }
            None => self.checkouts.for_each_shard(|shard| {
                for (id, c) in shard.iter() {
                    collect(id, c);
                }
            }),
        }
        rows.sort_unstable_by_key(|(seq, _)| *seq);
        rows.into_iter().map(|(_, v)| v).collect()
    }

    /// Forgets every checkout and refund.
    pub(crate) fn clear(&self) {
        self.checkouts.for_each_shard(|shard| shard.clear());
    }
}

impl Checkout {
    fn to_json(&self, id: &str, base_url: &str) -> Value {
        let mut v = json!({
            "id": id,
            "redirectUrl": format!("{base_url}/_emulator/checkouts/{id}/pay"),
            "status": match self.status { Status::Created => "created", Status::Completed => "completed" },
            "amount": self.amount,
            "currency": CURRENCY,
            "paymentId": self.payment_id,
            "processingMode": self.mode.as_str(),
            "metadata": self.metadata,
        });
        if let Value::Object(map) = &mut v {
            map.extend(self.extras.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        v
    }
}

impl RefundRecord {
    fn to_ledger(&self, checkout_id: &str, c: &Checkout) -> LedgerRefund {
        LedgerRefund {
            refund_id: self.refund_id.clone(),
            checkout_id: checkout_id.to_owned(),
            payment_id: c.payment_id.clone(),
            amount: self.amount,
            currency: CURRENCY,
            status: if self.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            mode: c.mode.as_str(),
            idempotency_key: self.idempotency_key.clone(),
            metadata: self.metadata.clone(),
            created_date: clock::iso8601(self.created),
            secret_key_masked: crate::auth::masked(&c.owner),
        }
    }
}
