//! `refundkit refund --from FILE.csv --journal FILE.db|postgres://…`: many
//! refunds with bounded concurrency, made safe to rerun (and, on
//! PostgreSQL, to share between workers) by the journal.
//!
//! Order of work: read and validate every row, streaming (exit 2 if any is
//! bad), build the client, import every row with its stable key into the
//! journal in one transaction (the file parsed a page ahead on its own
//! thread), then claim rows in pages, send them, and commit their outcomes
//! in groups. Memory does not grow with the file.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufWriter, IsTerminal as _, Write as _};
use std::path::Path;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use refundkit::Refund;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::csv_rows::{RowError, RowReader};
use crate::exit::{CliError, Exit};
use crate::journal::postgres::PgJournal;
use crate::journal::sqlite::SettledRow;
use crate::journal::{
    Claimed, ImportError, Journal, JournalError, JournalTarget, RowErrors, RowState, RunOptions,
    Settled, StateCounts, NOT_SUCCESSFUL,
};
use crate::output::{error_json, printable, refund_json, Output};
use crate::refund_cmd::{client_from, SECRET_KEY_ENV};
use crate::RefundArgs;

/// Refunds in flight at once unless `--concurrency` says otherwise.
const DEFAULT_CONCURRENCY: u16 = 8;
/// A claimed row's lease unless `--lease` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Outcomes committed together at most.
const GROUP: usize = 512;
/// Outcomes are committed at least this often.
const GROUP_WINDOW: Duration = Duration::from_millis(100);

/// What happened to one row sent by this process.
enum Outcome {
    /// Accepted with a successful status.
    Succeeded(Refund),
    /// Accepted, but the status is not success (`failed`, `pending`, …).
    NotSuccessful(Refund),
    /// Not accepted; the row is left in `state`.
    Failed(refundkit::Error, RowState),
}

impl Outcome {
    fn of(result: Result<Refund, refundkit::Error>) -> Self {
        match result {
            Ok(refund) if refund.status.is_success() => Self::Succeeded(refund),
            Ok(refund) => Self::NotSuccessful(refund),
            Err(error) => {
                let state = RowState::after_error(&error);
                Self::Failed(error, state)
            }
        }
    }

    fn settled(&self, claimed: &Claimed) -> Settled {
        match self {
            Self::Succeeded(refund) | Self::NotSuccessful(refund) => {
                Settled::of_refund(claimed.line, refund)
            }
            Self::Failed(error, _) => Settled::of_error(claimed.line, claimed.key(), error),
        }
    }
}

/// Runs a batch, or prints a journal's status; exit 0 only if every row
/// of the run has succeeded (now or before).
pub async fn run(args: &RefundArgs, out: Output) -> Result<Exit, CliError> {
    let Some(journal_arg) = &args.journal else {
        return Err(CliError::usage("--journal names the batch journal"));
    };
    let target = JournalTarget::parse(journal_arg);
    if let JournalTarget::Postgres(url) = &target {
        crate::journal::postgres::parse_url(url).map_err(|e| CliError::usage(e.to_string()))?;
    }
    if args.status {
        return status(&target, args, out).await;
    }
    let Some(csv_path) = &args.from else {
        return Err(CliError::usage(
            "--journal goes with --from FILE.csv (or --status)",
        ));
    };
    if matches!(target, JournalTarget::Sqlite(_)) && (args.run.is_some() || args.lease.is_some()) {
        return Err(CliError::usage(
            "--run and --lease are for a PostgreSQL journal (--journal postgres://…)",
        ));
    }
    let (csv_sha256, errors) = check_file(csv_path)?;
    if !errors.is_empty() {
        let (errors, more) = errors.into_parts();
        report_invalid_rows(csv_path, &errors, more, out);
        return Ok(Exit::Usage);
    }
    let client = client_from(args)?;
    let options = RunOptions {
        run: run_name(args.run.as_deref(), &csv_sha256)?,
        csv_sha256,
        lease: args.lease.unwrap_or(DEFAULT_LEASE),
        retry_failed: args.retry_failed,
    };
    let mut journal = Journal::open(&target, &options)
        .await
        .map_err(journal_failure)?;
    // Every key is committed here, before the first request is sent. The
    // keyed state (as good as the secret key) lives only for the import;
    // client_from has checked that the key is set and well-formed.
    let imported = {
        let row_keys =
            refundkit::keys::RowKeys::new(&std::env::var(SECRET_KEY_ENV).unwrap_or_default());
        let rows = read_ahead(open_csv(csv_path)?)?;
        journal.import(rows, &row_keys, &options).await
    };
    match imported {
        Ok(()) => {}
        Err(ImportError::Rows(errors, more)) => {
            report_invalid_rows(csv_path, &errors, more, out);
            return Ok(Exit::Usage);
        }
        Err(ImportError::Journal(e)) => return Err(journal_failure(e)),
    }

    let concurrency = usize::from(args.concurrency.unwrap_or(DEFAULT_CONCURRENCY));
    let mut report = Report::start(out, &journal.describe());
    let before = journal.counts().await.map_err(journal_failure)?;
    if let Journal::Sqlite(j) = &journal {
        j.for_each_settled(|row| report.skipped(&row))
            .map_err(journal_failure)?;
    }
    report.expect(before.pending + before.unknown);
    let (journal, sent) = send_all(&client, journal, concurrency, &mut report).await;
    let after = journal.counts().await;
    match (sent, after) {
        (Ok(()), Ok(after)) => Ok(report.finish(&journal, after)),
        (Err(e), _) | (Ok(()), Err(e)) => Ok(report.fail(&journal_failure(e))),
    }
}

/// What the send loop asks of the journal task.
enum JournalCommand {
    /// Claim up to this many rows.
    Claim(usize, oneshot::Sender<Result<Vec<Claimed>, JournalError>>),
    /// Commit these outcomes (in order with every other command).
    Record(Vec<Settled>),
    /// After an empty claim: done, or wait this long and claim again.
    WaitForMore(oneshot::Sender<Result<Option<Duration>, JournalError>>),
}

/// Owns the journal while rows are sent, so that its round trips (claims,
/// group commits) never hold up the requests in flight. Commands run in
/// order; after a failed commit every later command fails with its error.
async fn journal_task(
    mut journal: Journal,
    mut commands: mpsc::Receiver<JournalCommand>,
) -> (Journal, Result<(), JournalError>) {
    let mut failure: Option<String> = None;
    while let Some(command) = commands.recv().await {
        match command {
            JournalCommand::Claim(max, reply) => {
                let result = match &failure {
                    Some(message) => Err(JournalError(message.clone())),
                    None => journal.claim(max).await,
                };
                let _ = reply.send(result);
            }
            JournalCommand::Record(settled) => {
                if failure.is_none() {
                    if let Err(e) = journal.record(&settled).await {
                        failure = Some(e.0);
                    }
                }
            }
            JournalCommand::WaitForMore(reply) => {
                let result = match &failure {
                    Some(message) => Err(JournalError(message.clone())),
                    None => journal.wait_for_more().await,
                };
                let _ = reply.send(result);
            }
        }
    }
    let result = failure.map_or(Ok(()), |message| Err(JournalError(message)));
    (journal, result)
}

/// Claims rows, sends them with at most `concurrency` in flight, and
/// commits their outcomes in groups; the journal works beside the sends.
async fn send_all(
    client: &refundkit::Client,
    journal: Journal,
    concurrency: usize,
    report: &mut Report,
) -> (Journal, Result<(), JournalError>) {
    let (commands, receiver) = mpsc::channel(8);
    let task = tokio::spawn(journal_task(journal, receiver));
    let sent = send_rows(client, &commands, concurrency, report).await;
    drop(commands);
    match task.await {
        Ok((journal, stored)) => (journal, sent.and(stored)),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn send_rows(
    client: &refundkit::Client,
    journal: &mpsc::Sender<JournalCommand>,
    concurrency: usize,
    report: &mut Report,
) -> Result<(), JournalError> {
    let gone = || JournalError("journal: its task ended".to_owned());
    let claim_size = (concurrency * 8).clamp(64, GROUP);
    let mut queue: VecDeque<Claimed> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut settled: Vec<Settled> = Vec::with_capacity(GROUP);
    let mut claiming: Option<oneshot::Receiver<Result<Vec<Claimed>, JournalError>>> = None;
    // No row is left for this process to claim (rows in flight aside).
    let mut exhausted = false;
    let mut claim_again_at = tokio::time::Instant::now();
    let mut window = tokio::time::interval(GROUP_WINDOW);
    window.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Ask for the next page as soon as one page is queued or less, so
        // sends never wait for a claim (which may queue behind a commit).
        if !exhausted
            && claiming.is_none()
            && queue.len() < claim_size
            && tokio::time::Instant::now() >= claim_again_at
        {
            let (reply, answer) = oneshot::channel();
            journal
                .send(JournalCommand::Claim(claim_size, reply))
                .await
                .map_err(|_| gone())?;
            claiming = Some(answer);
        }
        while in_flight.len() < concurrency {
            let Some(claimed) = queue.pop_front() else {
                break;
            };
            let client = client.clone();
            in_flight.push(async move {
                let result = client.refund(claimed.request.clone()).await;
                (claimed, result)
            });
        }
        if in_flight.is_empty() && claiming.is_none() {
            if exhausted {
                break;
            }
            tokio::time::sleep_until(claim_again_at).await;
            continue;
        }
        tokio::select! {
            Some((claimed, result)) = in_flight.next() => {
                let outcome = Outcome::of(result);
                settled.push(outcome.settled(&claimed));
                report.sent(&claimed, &outcome);
                if settled.len() >= GROUP {
                    let group = std::mem::replace(&mut settled, Vec::with_capacity(GROUP));
                    journal.send(JournalCommand::Record(group)).await.map_err(|_| gone())?;
                }
            }
            answer = async {
                match claiming.as_mut() {
                    Some(answer) => answer.await,
                    None => std::future::pending().await,
                }
            }, if claiming.is_some() => {
                claiming = None;
                let claimed = answer.map_err(|_| gone())??;
                if claimed.is_empty() {
                    let group = std::mem::take(&mut settled);
                    journal.send(JournalCommand::Record(group)).await.map_err(|_| gone())?;
                    let (reply, answer) = oneshot::channel();
                    journal
                        .send(JournalCommand::WaitForMore(reply))
                        .await
                        .map_err(|_| gone())?;
                    match answer.await.map_err(|_| gone())?? {
                        None => exhausted = true,
                        Some(pause) => claim_again_at = tokio::time::Instant::now() + pause,
                    }
                } else {
                    queue.extend(claimed);
                }
            }
            _ = window.tick() => {
                if !settled.is_empty() {
                    let group = std::mem::replace(&mut settled, Vec::with_capacity(GROUP));
                    journal.send(JournalCommand::Record(group)).await.map_err(|_| gone())?;
                }
            }
        }
    }
    journal
        .send(JournalCommand::Record(settled))
        .await
        .map_err(|_| gone())
}

/// `--status`: per-state counts (and, on PostgreSQL, each worker's progress).
async fn status(target: &JournalTarget, args: &RefundArgs, out: Output) -> Result<Exit, CliError> {
    match target {
        JournalTarget::Sqlite(path) => {
            if !path.exists() {
                return Err(CliError::usage(format!("no journal at {}", path.display())));
            }
            let journal =
                crate::journal::sqlite::SqliteJournal::open(path).map_err(journal_failure)?;
            let counts = journal.all_counts().map_err(journal_failure)?;
            print_counts(out, &path.display().to_string(), &counts, &[]);
            Ok(Exit::Success)
        }
        JournalTarget::Postgres(url) => {
            let journal = PgJournal::open_for_status(url)
                .await
                .map_err(journal_failure)?;
            let run = match &args.run {
                Some(run) => run.clone(),
                None => {
                    let runs = journal.runs().await.map_err(journal_failure)?;
                    match runs.as_slice() {
                        [(run, _, _)] => run.clone(),
                        [] => return Err(CliError::usage("the journal has no runs yet")),
                        _ => {
                            let names: Vec<String> = runs
                                .iter()
                                .map(|(run, rows, created)| {
                                    format!("{run} ({rows} rows, {created})")
                                })
                                .collect();
                            return Err(CliError::usage(format!(
                                "the journal has {} runs; name one with --run: {}",
                                runs.len(),
                                names.join(", ")
                            )));
                        }
                    }
                }
            };
            let status = journal.status(&run).await.map_err(journal_failure)?;
            let workers: Vec<Value> = status
                .workers
                .iter()
                .map(|w| {
                    json!({
                        "worker": w.worker,
                        "sent": w.sent,
                        "succeeded": w.succeeded,
                        "failed": w.failed,
                        "unknown": w.unknown,
                        "holding": w.holding,
                        "secondsSinceHeartbeat": (w.seconds_since_heartbeat * 10.0).round() / 10.0,
                    })
                })
                .collect();
            print_counts(
                out,
                &format!("{} run {run}", journal.describe()),
                &status.counts,
                &workers,
            );
            Ok(Exit::Success)
        }
    }
}

fn print_counts(out: Output, journal: &str, counts: &StateCounts, workers: &[Value]) {
    if out.json {
        out.document(&json!({
            "ok": true,
            "journal": journal,
            "counts": counts_json(counts),
            "workers": workers,
        }));
        return;
    }
    out.line(format_args!("Journal {journal}"));
    for (label, count) in [
        ("succeeded", counts.succeeded),
        ("failed", counts.failed),
        ("unknown", counts.unknown),
        ("pending", counts.pending),
        ("total", counts.total()),
    ] {
        out.line(format_args!("  {label:<12} {count:>9}"));
    }
    if !workers.is_empty() {
        out.line("Workers (sent / succeeded / failed / unknown, rows held, last heartbeat)");
        for w in workers {
            out.line(format_args!(
                "  {}  {} / {} / {} / {}  holding {}  {}s ago",
                w["worker"].as_str().unwrap_or_default(),
                w["sent"],
                w["succeeded"],
                w["failed"],
                w["unknown"],
                w["holding"],
                w["secondsSinceHeartbeat"],
            ));
        }
    }
}

fn counts_json(counts: &StateCounts) -> Value {
    json!({
        "pending": counts.pending,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "unknown": counts.unknown,
        "total": counts.total(),
    })
}

/// Opens the CSV file, buffered; an unreadable file is a usage error.
fn open_csv(path: &Path) -> Result<std::io::BufReader<std::fs::File>, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(std::io::BufReader::with_capacity(64 * 1024, file))
}

/// Reads the whole file once, streaming: its SHA-256 and its bad rows.
fn check_file(path: &Path) -> Result<(String, RowErrors), CliError> {
    let mut input = HashingReader {
        inner: open_csv(path)?,
        sha: Sha256::new(),
    };
    let mut errors = RowErrors::default();
    for item in RowReader::new(&mut input).without_row_keys() {
        if let Err(error) = item {
            errors.push(error);
        }
    }
    let digest = input.sha.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), errors))
}

/// Rows read per page by [`read_ahead`].
const READ_AHEAD_PAGE: usize = 256;

/// The file's rows, read, validated and digested on a thread of their own a
/// page ahead, so that parsing the next rows overlaps the journal's writes
/// of the last ones. Memory stays bounded (a few pages in the channel); the
/// thread ends with the file, or when the rows are no longer wanted.
fn read_ahead(
    input: impl BufRead + Send + 'static,
) -> Result<impl Iterator<Item = Result<crate::csv_rows::BatchRow, RowError>>, CliError> {
    let (pages, received) = std::sync::mpsc::sync_channel(4);
    let reader = move || {
        let mut page = Vec::with_capacity(READ_AHEAD_PAGE);
        for item in RowReader::new(input) {
            page.push(item);
            if page.len() == READ_AHEAD_PAGE {
                let full = std::mem::replace(&mut page, Vec::with_capacity(READ_AHEAD_PAGE));
                if pages.send(full).is_err() {
                    return;
                }
            }
        }
        let _ = pages.send(page);
    };
    std::thread::Builder::new()
        .name("refundkit-csv".to_owned())
        .spawn(reader)
        .map_err(|e| CliError::failure("system", format!("cannot start a thread: {e}")))?;
    Ok(received.into_iter().flatten())
}

/// A reader that hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    sha: Sha256,
}

impl<R: BufRead> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The buffer is unchanged since fill_buf: hash what is consumed.
        if let Ok(buffer) = self.inner.fill_buf() {
            self.sha.update(&buffer[..amount.min(buffer.len())]);
        }
        self.inner.consume(amount);
    }
}

/// `--run`, or the CSV's SHA-256.
fn run_name(arg: Option<&str>, csv_sha256: &str) -> Result<String, CliError> {
    match arg {
        None => Ok(csv_sha256.to_owned()),
        Some(name) if (1..=128).contains(&name.len()) && !name.chars().any(char::is_control) => {
            Ok(name.to_owned())
        }
        Some(_) => Err(CliError::usage(
            "--run: must be 1 to 128 characters without control characters",
        )),
    }
}

/// A journal that cannot be written ends the run (exit 1); rows it had not
/// recorded stay pending and are re-sent with their keys next time.
fn journal_failure(error: JournalError) -> CliError {
    CliError::failure("journal", error.to_string())
}

fn report_invalid_rows(path: &Path, errors: &[RowError], more: usize, out: Output) {
    let count = errors.len() + more;
    let message = format!(
        "{count} invalid row(s) in {}; nothing was sent",
        path.display()
    );
    if out.json {
        let rows: Vec<Value> = errors
            .iter()
            .map(|e| json!({ "line": e.line, "message": e.message }))
            .collect();
        out.document(&json!({
            "ok": false,
            "error": { "kind": "invalid_input", "message": message, "rows": rows, "more": more },
        }));
    } else {
        for error in errors {
            out.note(format_args!(
                "{}: {}",
                path.display(),
                printable(&error.to_string())
            ));
        }
        if more > 0 {
            out.note(format_args!("… and {more} more"));
        }
        out.note(format_args!("error: {message}"));
    }
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} refunds  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// What this process reports as it goes: failure lines (text) or one JSON
/// document whose rows are written as they settle, and the summary.
struct Report {
    out: Output,
    progress: ProgressBar,
    /// The JSON document being written, `--json` only.
    json: Option<BufWriter<std::io::Stdout>>,
    first_row: bool,
    summary: Summary,
}

impl Report {
    fn start(out: Output, journal: &str) -> Self {
        let json = out.json.then(|| {
            let mut w = BufWriter::new(std::io::stdout());
            let _ = write!(w, "{{\"journal\":{},\"rows\":[", json!(journal));
            w
        });
        Self {
            out,
            progress: progress_bar(),
            json,
            first_row: true,
            summary: Summary::default(),
        }
    }

    fn expect(&self, rows: u64) {
        self.progress.set_length(rows);
    }

    fn row(&mut self, value: &Value) {
        if let Some(w) = &mut self.json {
            let _ = if self.first_row {
                write!(w, "{value}")
            } else {
                write!(w, ",{value}")
            };
            self.first_row = false;
        }
    }

    fn skipped(&mut self, row: &SettledRow) {
        if row.state == RowState::Succeeded {
            self.summary.skipped_succeeded += 1;
        } else {
            self.summary.skipped_failed += 1;
        }
        self.row(&json!({
            "line": row.line,
            "checkoutId": row.checkout_id,
            "amount": row.amount,
            "outcome": "skipped",
            "state": row.state.as_str(),
            "refundId": row.refund_id,
            "errorKind": row.error_kind,
            "errorMessage": row.error_message,
            "idempotencyKey": row.idempotency_key,
        }));
    }

    fn sent(&mut self, claimed: &Claimed, outcome: &Outcome) {
        self.summary.add(outcome);
        self.progress.inc(1);
        if self.json.is_some() {
            let value = sent_row_json(claimed, outcome);
            self.row(&value);
        } else if let Some(line) = failure_line(claimed, outcome) {
            self.progress.suspend(|| self.out.line(line));
        }
    }

    /// Ends the report with the summary; exit 0 only if every row of the
    /// run succeeded.
    fn finish(mut self, journal: &Journal, after: StateCounts) -> Exit {
        self.progress.finish_and_clear();
        let all_succeeded = after.succeeded == after.total();
        let shared = matches!(journal, Journal::Postgres(_));
        if let Some(mut w) = self.json.take() {
            let mut summary = self.summary.to_json(after.total());
            if shared {
                summary["run"] = counts_json(&after);
            }
            let _ = writeln!(w, "],\"summary\":{summary},\"ok\":{all_succeeded}}}");
            let _ = w.flush();
        } else {
            self.summary
                .print(&journal.describe(), after, shared, self.out);
        }
        if all_succeeded {
            Exit::Success
        } else {
            Exit::Failure
        }
    }

    /// Ends the report with the error that stopped the run (exit 1).
    fn fail(mut self, error: &CliError) -> Exit {
        self.progress.finish_and_clear();
        match self.json.take() {
            Some(mut w) => {
                let error = json!({ "kind": error.kind, "message": error.message });
                let _ = writeln!(w, "],\"ok\":false,\"error\":{error}}}");
                let _ = w.flush();
            }
            None => self.out.error(error),
        }
        error.exit
    }
}

fn sent_row_json(claimed: &Claimed, outcome: &Outcome) -> Value {
    let mut value = json!({
        "line": claimed.line,
        "checkoutId": claimed.request.checkout_id,
        "amount": claimed.request.amount,
        "idempotencyKey": claimed.key(),
    });
    let extra = match outcome {
        Outcome::Succeeded(refund) => json!({
            "outcome": "succeeded",
            "state": RowState::Succeeded.as_str(),
            "refund": refund_json(refund),
        }),
        Outcome::NotSuccessful(refund) => json!({
            "outcome": if refund.status.as_str() == "failed" { "failed" } else { "unknown" },
            "state": RowState::after_refund(refund).as_str(),
            "refund": refund_json(refund),
            "error": { "kind": NOT_SUCCESSFUL, "message": format!("refund status {:?}", refund.status.as_str()) },
        }),
        Outcome::Failed(error, state) => json!({
            "outcome": if *state == RowState::Unknown { "unknown" } else { "failed" },
            "state": state.as_str(),
            "error": error_json(error),
        }),
    };
    if let (Value::Object(base), Value::Object(extra)) = (&mut value, extra) {
        base.extend(extra);
    }
    value
}

fn failure_line(claimed: &Claimed, outcome: &Outcome) -> Option<String> {
    let (what, next) = match outcome {
        Outcome::Succeeded(_) => return None,
        Outcome::NotSuccessful(refund) => (
            format!(
                "{NOT_SUCCESSFUL}: the service answered with refund status {:?} (refund {})",
                refund.status.as_str(),
                refund.refund_id
            ),
            if refund.status.as_str() == "failed" {
                " (--retry-failed re-sends it once the cause is fixed)"
            } else {
                " (may still be refunded: rerun to ask again with the same key)"
            },
        ),
        Outcome::Failed(error, state) => (
            format!("{}: {}", error.kind(), error.message()),
            match state {
                RowState::Unknown => " (outcome unknown: rerun to re-send with the same key)",
                RowState::Pending => " (rerun to retry with the same key)",
                _ => " (--retry-failed re-sends it once the cause is fixed)",
            },
        ),
    };
    Some(format!(
        "line {}  {}  {}{next}",
        claimed.line,
        claimed.request.checkout_id,
        printable(&what)
    ))
}

/// Row counts by outcome, for this process.
#[derive(Default)]
struct Summary {
    succeeded: u64,
    replayed: u64,
    /// Failed now, by error kind: (rows, of which left pending for a rerun).
    failed: BTreeMap<String, (u64, u64)>,
    unknown: u64,
    skipped_succeeded: u64,
    skipped_failed: u64,
}

impl Summary {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Succeeded(refund) => {
                self.succeeded += 1;
                self.replayed += u64::from(refund.replayed);
            }
            Outcome::NotSuccessful(refund) => {
                if RowState::after_refund(refund) == RowState::Unknown {
                    self.unknown += 1;
                } else {
                    self.failed.entry(NOT_SUCCESSFUL.to_owned()).or_default().0 += 1;
                }
            }
            Outcome::Failed(_, RowState::Unknown) => self.unknown += 1,
            Outcome::Failed(error, state) => {
                let slot = self
                    .failed
                    .entry(error.kind().as_str().to_owned())
                    .or_default();
                slot.0 += 1;
                slot.1 += u64::from(*state == RowState::Pending);
            }
        }
    }

    fn to_json(&self, total: u64) -> Value {
        let failed: BTreeMap<&str, u64> = self
            .failed
            .iter()
            .map(|(k, (n, _))| (k.as_str(), *n))
            .collect();
        json!({
            "total": total,
            "succeeded": self.succeeded,
            "replayed": self.replayed,
            "failed": failed,
            "unknown": self.unknown,
            "skippedSucceeded": self.skipped_succeeded,
            "skippedFailed": self.skipped_failed,
        })
    }

    fn print(&self, journal: &str, after: StateCounts, shared: bool, out: Output) {
        let row = |label: &str, count: u64, note: &str| {
            let note = if count > 0 { note } else { "" };
            let text = format!("  {label:<28} {count:>8}  {note}");
            out.line(text.trim_end());
        };
        out.line(format_args!("Batch summary (journal {journal})"));
        if shared {
            out.line("This worker:");
        }
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
                "--retry-failed re-sends them"
            };
            row(&format!("failed: {kind}"), *count, note);
        }
        row(
            "unknown",
            self.unknown,
            "rerun to re-send with the same key",
        );
        if shared {
            out.line("The whole run:");
            row("succeeded", after.succeeded, "");
            row("failed", after.failed, "--retry-failed re-sends them");
            row(
                "unknown or pending",
                after.unknown + after.pending,
                "rerun to send them",
            );
        } else {
            row("skipped: already succeeded", self.skipped_succeeded, "");
            row(
                "skipped: failed earlier",
                self.skipped_failed,
                "not re-sent (--retry-failed re-sends them)",
            );
        }
        let total = after.total();
        row("total", total, "");
        if total == 0 {
            out.line("The file has no rows to refund.");
        } else if after.succeeded == total {
            out.line(format_args!("All {total} rows are refunded."));
        } else {
            out.line(format_args!(
                "{} of {total} rows are not refunded; the journal has each row's state and error.",
                total - after.succeeded
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_name_is_the_files_sha256_as_read_while_checking_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rows.csv");
        let text = format!("checkout_id\n{}", "ch_1,100\nch_2\n".repeat(2_000));
        std::fs::write(&path, &text).expect("write");
        let (sha, errors) = check_file(&path).expect("check");
        assert!(errors.is_empty());
        let expected: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha, expected);
        assert_eq!(run_name(None, &sha).expect("name"), sha);
        assert!(run_name(Some(""), &sha).is_err());
    }
}
