//! `refundkit refund --from FILE.csv --journal FILE.db`: many refunds with
//! bounded concurrency, made safe to rerun by the journal.
//!
//! Order of work: read and validate every row (exit 2 if any is bad), build
//! the client, commit every row's idempotency key, then send rows that are
//! pending or unknown, recording each outcome as it arrives.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;

use futures::stream::{self, StreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use refundkit::{Refund, RefundRequest};
use serde_json::{json, Value};

use crate::csv_rows::{read_rows, BatchRow, RowError};
use crate::exit::{CliError, Exit};
use crate::journal::{Entry, Journal, JournalError, RowState};
use crate::output::{error_json, refund_json, Output};
use crate::refund_cmd::client_from;
use crate::RefundArgs;

/// Refunds in flight at once unless `--concurrency` says otherwise.
const DEFAULT_CONCURRENCY: u16 = 8;

/// What happened to one row in this run.
enum Outcome {
    /// Sent now and accepted.
    Succeeded(Refund),
    /// Sent now and not accepted; the row is left in `state`.
    Failed(refundkit::Error, RowState),
    /// Not sent: the journal says it already succeeded or definitively failed.
    Skipped(Entry),
}

/// Runs a batch; exit 0 only if every row has succeeded (now or before).
pub async fn run(args: &RefundArgs, out: Output) -> Result<Exit, CliError> {
    let (Some(csv_path), Some(journal_path)) = (&args.from, &args.journal) else {
        return Err(CliError::usage("--from and --journal go together"));
    };
    let file = std::fs::File::open(csv_path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", csv_path.display())))?;
    let rows = match read_rows(std::io::BufReader::new(file)) {
        Ok(rows) => rows,
        Err(errors) => {
            report_invalid_rows(csv_path, &errors, out);
            return Ok(Exit::Usage);
        }
    };
    let client = client_from(args)?;
    let mut journal = Journal::open(journal_path).map_err(journal_failure)?;
    // Every key is committed here, before the first request is sent.
    let entries = journal.prepare(&rows).map_err(journal_failure)?;

    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(rows.len());
    let mut to_send = Vec::new();
    for (index, (row, entry)) in rows.iter().zip(entries).enumerate() {
        if entry.state.needs_sending() {
            let request = row.request.clone().idempotency_key(entry.idempotency_key);
            to_send.push((index, request));
            outcomes.push(None);
        } else {
            outcomes.push(Some(Outcome::Skipped(entry)));
        }
    }

    let concurrency = usize::from(args.concurrency.unwrap_or(DEFAULT_CONCURRENCY));
    send_rows(
        &client,
        &rows,
        to_send,
        &journal,
        concurrency,
        out,
        &mut outcomes,
    )
    .await?;

    let outcomes: Vec<(&BatchRow, Outcome)> = rows
        .iter()
        .zip(outcomes)
        .filter_map(|(row, outcome)| Some((row, outcome?)))
        .collect();
    let summary = Summary::of(&outcomes);
    if out.json {
        out.document(&json!({
            "ok": summary.all_succeeded(),
            "journal": journal_path.display().to_string(),
            "summary": summary.to_json(),
            "rows": outcomes.iter().map(|(row, o)| row_json(row, o)).collect::<Vec<_>>(),
        }));
    } else {
        summary.print(journal_path, out);
    }
    Ok(if summary.all_succeeded() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// Sends `to_send` (row index, request with its stored key) with at most
/// `concurrency` in flight, recording each outcome as soon as it arrives.
async fn send_rows(
    client: &refundkit::Client,
    rows: &[BatchRow],
    to_send: Vec<(usize, RefundRequest)>,
    journal: &Journal,
    concurrency: usize,
    out: Output,
    outcomes: &mut [Option<Outcome>],
) -> Result<(), CliError> {
    let progress = progress_bar(to_send.len() as u64);
    let mut results = stream::iter(to_send)
        .map(|(index, request)| {
            let client = client.clone();
            async move { (index, client.refund(request).await) }
        })
        .buffer_unordered(concurrency);
    while let Some((index, result)) = results.next().await {
        let row = &rows[index];
        let outcome = match result {
            Ok(refund) => {
                journal
                    .record_success(row, &refund)
                    .map_err(journal_failure)?;
                Outcome::Succeeded(refund)
            }
            Err(error) => {
                let state = RowState::after_error(&error);
                journal
                    .record_failure(row, &error, state)
                    .map_err(journal_failure)?;
                if !out.json {
                    progress.suspend(|| out.line(failure_line(row, &error, state)));
                }
                Outcome::Failed(error, state)
            }
        };
        outcomes[index] = Some(outcome);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}

/// A journal that cannot be written ends the run (exit 1); rows it had not
/// recorded stay pending and are re-sent with their keys next time.
fn journal_failure(error: JournalError) -> CliError {
    CliError::failure("journal", error.to_string())
}

fn report_invalid_rows(path: &Path, errors: &[RowError], out: Output) {
    let message = format!(
        "{} invalid row(s) in {}; nothing was sent",
        errors.len(),
        path.display()
    );
    if out.json {
        let rows: Vec<Value> = errors
            .iter()
            .map(|e| json!({ "line": e.line, "message": e.message }))
            .collect();
        out.document(&json!({
            "ok": false,
            "error": { "kind": "invalid_input", "message": message, "rows": rows },
        }));
    } else {
        for error in errors {
            out.note(format_args!("{}: {error}", path.display()));
        }
        out.note(format_args!("error: {message}"));
    }
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} refunds  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn failure_line(row: &BatchRow, error: &refundkit::Error, state: RowState) -> String {
    let next = match state {
        RowState::Unknown => " (outcome unknown: rerun to re-send with the same key)",
        RowState::Pending => " (rerun to retry with the same key)",
        _ => "",
    };
    format!(
        "line {}  {}  {}: {}{next}",
        row.line,
        row.request.checkout_id,
        error.kind(),
        error.message()
    )
}

fn row_json(row: &BatchRow, outcome: &Outcome) -> Value {
    let mut value = json!({
        "line": row.line,
        "checkoutId": row.request.checkout_id,
        "amount": row.request.amount,
    });
    let extra = match outcome {
        Outcome::Succeeded(refund) => json!({
            "outcome": "succeeded",
            "state": RowState::Succeeded.as_str(),
            "refund": refund_json(refund),
            "idempotencyKey": refund.idempotency_key,
        }),
        Outcome::Failed(error, state) => json!({
            "outcome": if *state == RowState::Unknown { "unknown" } else { "failed" },
            "state": state.as_str(),
            "error": error_json(error),
            "idempotencyKey": error.idempotency_key(),
        }),
        Outcome::Skipped(entry) => json!({
            "outcome": "skipped",
            "state": entry.state.as_str(),
            "refundId": entry.refund_id,
            "errorKind": entry.error_kind,
            "errorMessage": entry.error_message,
            "idempotencyKey": entry.idempotency_key,
        }),
    };
    if let (Value::Object(base), Value::Object(extra)) = (&mut value, extra) {
        base.extend(extra);
    }
    value
}

/// Row counts by outcome.
#[derive(Default)]
struct Summary {
    total: usize,
    succeeded: usize,
    replayed: usize,
    /// Failed now, by error kind: (rows, of which left pending for a rerun).
    failed: BTreeMap<&'static str, (usize, usize)>,
    unknown: usize,
    skipped_succeeded: usize,
    skipped_failed: usize,
}

impl Summary {
    fn of(outcomes: &[(&BatchRow, Outcome)]) -> Self {
        let mut s = Self {
            total: outcomes.len(),
            ..Self::default()
        };
        for (_, outcome) in outcomes {
            match outcome {
                Outcome::Succeeded(refund) => {
                    s.succeeded += 1;
                    s.replayed += usize::from(refund.replayed);
                }
                Outcome::Failed(_, RowState::Unknown) => s.unknown += 1,
                Outcome::Failed(error, state) => {
                    let slot = s.failed.entry(error.kind().as_str()).or_default();
                    slot.0 += 1;
                    slot.1 += usize::from(*state == RowState::Pending);
                }
                Outcome::Skipped(entry) if entry.state == RowState::Succeeded => {
                    s.skipped_succeeded += 1
                }
                Outcome::Skipped(_) => s.skipped_failed += 1,
            }
        }
        s
    }

    fn all_succeeded(&self) -> bool {
        self.succeeded + self.skipped_succeeded == self.total
    }

    fn to_json(&self) -> Value {
        let failed: BTreeMap<&str, usize> =
            self.failed.iter().map(|(k, (n, _))| (*k, *n)).collect();
        json!({
            "total": self.total,
            "succeeded": self.succeeded,
            "replayed": self.replayed,
            "failed": failed,
            "unknown": self.unknown,
            "skippedSucceeded": self.skipped_succeeded,
            "skippedFailed": self.skipped_failed,
        })
    }

    fn print(&self, journal: &Path, out: Output) {
        let row = |label: &str, count: usize, note: &str| {
            let note = if count > 0 { note } else { "" };
            let text = format!("  {label:<28} {count:>6}  {note}");
            out.line(text.trim_end());
        };
        out.line(format_args!(
            "Batch summary (journal {})",
            journal.display()
        ));
        let replayed = if self.replayed > 0 {
            format!("{} of them replayed from an earlier run", self.replayed)
        } else {
            String::new()
        };
        row("succeeded", self.succeeded, &replayed);
        for (kind, (count, pending)) in &self.failed {
            let note = if *pending > 0 {
                "rerun to retry with the same key"
            } else {
                ""
            };
            row(&format!("failed: {kind}"), *count, note);
        }
        row(
            "unknown",
            self.unknown,
            "rerun to re-send with the same key",
        );
        row("skipped: already succeeded", self.skipped_succeeded, "");
        row(
            "skipped: failed earlier",
            self.skipped_failed,
            "not re-sent",
        );
        row("total", self.total, "");
        if self.total == 0 {
            out.line("The file has no rows to refund.");
        } else if self.all_succeeded() {
            out.line(format_args!("All {} rows are refunded.", self.total));
        } else {
            let left = self.total - self.succeeded - self.skipped_succeeded;
            out.line(format_args!(
                "{left} of {} rows are not refunded; the journal has each row's state and error.",
                self.total
            ));
        }
    }
}
