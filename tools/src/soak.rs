//! The fault soak: many refunds through the core client against an emulator
//! that drops, cuts, fails and delays, then a reconciliation against the
//! emulator's ledger proving nothing was refunded twice or lost.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use refundkit::{Client, RefundRequest};
use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig, Faults};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Refund calls to make.
    pub calls: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Fault seed, for reproducible runs.
    pub seed: u64,
    /// The client's per-attempt timeout; delays are injected beyond it.
    pub attempt_timeout: Duration,
}

impl Default for SoakConfig {
    fn default() -> Self {
        Self {
            calls: 10_000,
            concurrency: 32,
            seed: 42,
            attempt_timeout: Duration::from_millis(250),
        }
    }
}

/// The faults of the soak: 10% drop before, 10% drop after commit, 10% 5xx,
/// 2% delays beyond the per-attempt timeout.
pub fn soak_faults(seed: u64, attempt_timeout: Duration) -> Faults {
    Faults {
        drop_before: 0.10,
        drop_after: 0.10,
        error_5xx: 0.10,
        delay: 0.02,
        delay_ms: (attempt_timeout.as_millis() as u64) * 2,
        seed: Some(seed),
        ..Faults::default()
    }
}

/// The reconciled outcome of a soak.
#[derive(Debug, Default, Clone)]
pub struct SoakReport {
    /// Calls made.
    pub calls: usize,
    /// Calls that returned a refund on the first pass.
    pub successes: usize,
    /// First-pass failures by error kind.
    pub failures: BTreeMap<String, usize>,
    /// First-pass failures flagged `outcome_unknown`.
    pub unknown: usize,
    /// HTTP attempts beyond the first, over all first-pass calls.
    pub retries: u64,
    /// Unknown outcomes that converged to exactly one refund when re-run with their key.
    pub converged: usize,
    /// Unknown outcomes that did not converge.
    pub unconverged: usize,
    /// Idempotency keys found more than once in the ledger.
    pub duplicates: usize,
    /// Successful calls with no ledger entry.
    pub lost: usize,
    /// Ledger entries no call knows about, or made by a call reported as definitely failed.
    pub phantom: usize,
    /// Refunds in the ledger.
    pub ledger_entries: usize,
    /// Wall time of the first pass.
    pub elapsed: Duration,
}

impl SoakReport {
    /// Whether the invariants held: nothing twice, nothing lost, nothing unknown left.
    pub fn is_clean(&self) -> bool {
        self.duplicates == 0 && self.lost == 0 && self.phantom == 0 && self.unconverged == 0
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row =
            |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "| {k:<40} | {v:>10} |");
        writeln!(f, "| {:<40} | {:>10} |", "measure", "value")?;
        writeln!(f, "|{}|{}|", "-".repeat(42), "-".repeat(12))?;
        row(f, "calls", self.calls.to_string())?;
        row(f, "successes (first pass)", self.successes.to_string())?;
        for (kind, n) in &self.failures {
            row(f, &format!("failed: {kind}"), n.to_string())?;
        }
        row(f, "  of which outcome_unknown", self.unknown.to_string())?;
        row(f, "retries (extra attempts)", self.retries.to_string())?;
        row(
            f,
            "unknown → converged on re-run",
            self.converged.to_string(),
        )?;
        row(f, "unknown → not converged", self.unconverged.to_string())?;
        row(f, "ledger entries", self.ledger_entries.to_string())?;
        row(f, "duplicates", self.duplicates.to_string())?;
        row(f, "lost", self.lost.to_string())?;
        row(f, "phantom", self.phantom.to_string())?;
        row(
            f,
            "first pass wall time (s)",
            format!("{:.1}", self.elapsed.as_secs_f64()),
        )?;
        row(
            f,
            "first pass calls/s",
            format!("{:.0}", self.calls as f64 / self.elapsed.as_secs_f64()),
        )
    }
}

enum Outcome {
    Refunded,
    Unknown,
    Failed,
}

/// Runs a soak on an embedded emulator and reconciles it.
pub async fn run(config: &SoakConfig) -> anyhow::Result<SoakReport> {
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let report = run_against(&emulator.base_url(), config).await;
    emulator.shutdown().await;
    report
}

/// Runs a soak against the emulator at `base_url` (which is reset first).
pub async fn run_against(base_url: &str, config: &SoakConfig) -> anyhow::Result<SoakReport> {
    let secret = "sk_live_soak0123456789abcdef";
    let control = ControlClient::new(base_url, secret);
    control.reset().await?;
    // One large paid checkout per 100 calls; each call refunds one cent.
    let checkouts = config.calls.div_ceil(100).max(1);
    let mut ids = Vec::with_capacity(checkouts);
    for _ in 0..checkouts {
        let checkout = control.create_checkout(10_000_000, None).await?;
        let id = checkout["id"].as_str().unwrap_or_default().to_owned();
        control.pay(&id).await?;
        ids.push(id);
    }
    control
        .set_faults(&soak_faults(config.seed, config.attempt_timeout))
        .await?;
    let client = Arc::new(
        Client::builder(secret)
            .base_url(base_url)
            .max_retries(2)
            .timeout(config.attempt_timeout)
            .total_timeout(Duration::from_secs(10))
            .user_agent_binding("soak", "tokio")
            .build()?,
    );
    let started = Instant::now();
    type CallResult = (String, String, Result<refundkit::Refund, refundkit::Error>);
    let results: Vec<CallResult> = stream::iter(0..config.calls)
        .map(|i| {
            let client = client.clone();
            let checkout = ids[i % ids.len()].clone();
            async move {
                let key = refundkit::policy::new_idempotency_key();
                let request = RefundRequest::new(checkout.clone())
                    .amount(1)
                    .idempotency_key(key.clone());
                (key, checkout, client.refund(request).await)
            }
        })
        .buffer_unordered(config.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    control.set_faults(&Faults::default()).await?;

    let mut report = SoakReport {
        calls: config.calls,
        elapsed,
        ..SoakReport::default()
    };
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    let mut to_rerun = Vec::new();
    for (key, checkout, result) in results {
        match result {
            Ok(refund) => {
                report.successes += 1;
                report.retries += u64::from(refund.attempts.saturating_sub(1));
                outcomes.insert(key, Outcome::Refunded);
            }
            Err(e) => {
                *report.failures.entry(e.kind().to_string()).or_default() += 1;
                report.retries += u64::from(e.attempts().saturating_sub(1));
                if e.is_outcome_unknown() {
                    report.unknown += 1;
                    outcomes.insert(key.clone(), Outcome::Unknown);
                    to_rerun.push((key, checkout));
                } else {
                    outcomes.insert(key, Outcome::Failed);
                }
            }
        }
    }
    // Converge the unknowns: the same request, the same key, faults off.
    for (key, checkout) in &to_rerun {
        let request = RefundRequest::new(checkout.clone())
            .amount(1)
            .idempotency_key(key.clone());
        match client.refund(request).await {
            Ok(_) => {
                report.converged += 1;
                outcomes.insert(key.clone(), Outcome::Refunded);
            }
            Err(e) => {
                report.unconverged += 1;
                *report
                    .failures
                    .entry(format!("re-run {}", e.kind()))
                    .or_default() += 1;
            }
        }
    }
    let ledger = control.ledger(None).await?;
    report.ledger_entries = ledger.len();
    let mut seen: HashSet<String> = HashSet::new();
    for entry in &ledger {
        let Some(key) = entry["idempotencyKey"].as_str() else {
            report.phantom += 1;
            continue;
        };
        if !seen.insert(key.to_owned()) {
            report.duplicates += 1;
        }
        match outcomes.get(key) {
            Some(Outcome::Refunded) => {}
            Some(Outcome::Failed) | Some(Outcome::Unknown) | None => report.phantom += 1,
        }
    }
    report.lost = outcomes
        .iter()
        .filter(|(k, o)| matches!(o, Outcome::Refunded) && !seen.contains(k.as_str()))
        .count();
    Ok(report)
}
