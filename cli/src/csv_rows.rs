//! Reading a batch file: one refund per CSV row,
//! `checkout_id[,amount][,key=value...]`, streamed line by line.
//!
//! A header row (first column `checkout_id`), blank lines and lines starting
//! with `#` are skipped. A header may name an `idempotency_key` column: its
//! value, when not empty, is the key that row is sent with. Every row is
//! checked with [`RefundRequest::validate`]; problems carry their line
//! numbers so the caller can refuse the whole file before sending anything.
//!
//! Memory does not grow with the file: [`RowReader`] holds one line at a
//! time, and a line longer than [`MAX_LINE_BYTES`] (say, `/dev/zero` or a
//! binary file) ends the reading with an error naming that line.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Cursor, Read as _, SeekFrom};

use refundkit::keys::RowKeys;
use refundkit::RefundRequest;
use sha2::{Digest as _, Sha256};

/// Longest line accepted, newline included.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One valid row.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// The refund to make (without an idempotency key: see
    /// [`BatchRow::idempotency_key`]).
    pub request: RefundRequest,
    /// The key from the file's `idempotency_key` column, if it gave one.
    pub explicit_key: Option<String>,
    /// Identifies the row in the journal: a hash of checkout id, amount,
    /// metadata and explicit key, so reordering or commenting the file keeps
    /// rows matched.
    pub row_key: String,
}

impl BatchRow {
    /// The key this row is sent with when the journal has none stored yet:
    /// the file's `idempotency_key` column, else
    /// [`refundkit::keys::row_key`] over checkout id, amount (empty for a
    /// full refund) and the metadata pairs in key order. Stable across
    /// journals, machines and reruns, so a lost journal never refunds twice.
    pub fn idempotency_key(&self, keys: &RowKeys) -> String {
        if let Some(key) = &self.explicit_key {
            return key.clone();
        }
        let amount = self
            .request
            .amount
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut fields: Vec<&str> = vec![&self.request.checkout_id, &amount];
        for (key, value) in self.request.metadata.iter().flatten() {
            fields.push(key);
            fields.push(value);
        }
        keys.key(&fields)
    }
}

/// A row that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Reads every row into memory; `Err` lists every invalid row (and nothing
/// may be sent). For files of any size use [`RowReader`].
pub fn read_rows(input: impl BufRead) -> Result<Vec<BatchRow>, Vec<RowError>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for item in RowReader::new(input) {
        match item {
            Ok(row) => {
                if let Some(first) = first_line_of.get(&row.row_key) {
                    errors.push(duplicate_row(row.line, *first));
                    continue;
                }
                first_line_of.insert(row.row_key.clone(), row.line);
                rows.push(row);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The error for a row that repeats an earlier one.
pub fn duplicate_row(line: u64, first: u64) -> RowError {
    RowError {
        line,
        message: format!(
            "same checkout, amount and metadata as line {first}; add metadata that tells them \
             apart (e.g. part=2) to refund twice"
        ),
    }
}

/// Streams the rows of a batch file: each item is a valid row or the error
/// of one line. After an error that makes the rest unreadable (a line over
/// [`MAX_LINE_BYTES`], a read failure) the iterator ends.
pub struct RowReader<R> {
    input: R,
    /// Splits one line into fields; built once (building one costs more
    /// than parsing a line).
    fields: csv::Reader<Cursor<Vec<u8>>>,
    line: u64,
    seen_data: bool,
    key_column: Option<usize>,
    buf: Vec<u8>,
    done: bool,
    /// Whether rows get their `row_key` (a SHA-256 each); a pass that only
    /// validates the file skips it.
    row_keys: bool,
}

impl<R: BufRead> RowReader<R> {
    /// The same reader for a pass that only validates: rows come with an
    /// empty `row_key`.
    pub fn without_row_keys(mut self) -> Self {
        self.row_keys = false;
        self
    }

    /// A reader over `input`, from its first line.
    pub fn new(input: R) -> Self {
        Self {
            input,
            fields: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(Cursor::new(Vec::new())),
            line: 0,
            seen_data: false,
            key_column: None,
            buf: Vec::new(),
            row_keys: true,
            done: false,
        }
    }

    /// Reads the next line into `buf` (without its newline); `None` at the end.
    fn next_line(&mut self) -> Option<Result<(), RowError>> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf);
        self.line += 1;
        let line = self.line;
        match read {
            Ok(0) => None,
            Ok(_) if self.buf.last() == Some(&b'\n') => {
                self.buf.pop();
                Some(Ok(()))
            }
            Ok(n) if n as u64 >= limit => Some(Err(RowError {
                line,
                message: format!(
                    "is longer than {} KiB; is this the right file? (a batch row is one \
                     short CSV line)",
                    MAX_LINE_BYTES / 1024
                ),
            })),
            // The last line of a file without a final newline.
            Ok(_) => Some(Ok(())),
            Err(e) => Some(Err(RowError {
                line,
                message: format!("cannot read the file: {e}"),
            })),
        }
    }
}

impl<R: BufRead> Iterator for RowReader<R> {
    type Item = Result<BatchRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let read = match self.next_line() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(read) => read,
            };
            let line = self.line;
            if let Err(error) = read {
                self.done = true;
                return Some(Err(error));
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Some(Err(RowError {
                    line,
                    message: "is not valid UTF-8".to_owned(),
                }));
            };
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let record = match parse_record(&mut self.fields, text) {
                Ok(record) => record,
                Err(message) => return Some(Err(RowError { line, message })),
            };
            let first_row = !self.seen_data;
            self.seen_data = true;
            if first_row && is_header(&record) {
                self.key_column = record.iter().position(is_key_column);
                continue;
            }
            return Some(
                parse_row(&record, self.key_column)
                    .map(|(request, explicit_key)| BatchRow {
                        line,
                        row_key: if self.row_keys {
                            row_digest(&request, explicit_key.as_deref())
                        } else {
                            String::new()
                        },
                        request,
                        explicit_key,
                    })
                    .map_err(|message| RowError { line, message }),
            );
        }
        None
    }
}

/// Splits one line into CSV fields (quotes allowed, fields trimmed),
/// reusing `reader` from its start.
fn parse_record(
    reader: &mut csv::Reader<Cursor<Vec<u8>>>,
    text: &str,
) -> Result<csv::StringRecord, String> {
    let buffer = reader.get_mut().get_mut();
    buffer.clear();
    buffer.extend_from_slice(text.as_bytes());
    reader
        .seek_raw(SeekFrom::Start(0), csv::Position::new())
        .map_err(|e| format!("unreadable CSV: {e}"))?;
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(_) => Ok(record),
        Err(e) => Err(format!("unreadable CSV: {e}")),
    }
}

fn is_header(record: &csv::StringRecord) -> bool {
    record.get(0).is_some_and(|first| {
        first.eq_ignore_ascii_case("checkout_id") || first.eq_ignore_ascii_case("checkoutid")
    })
}

fn is_key_column(name: &str) -> bool {
    name.eq_ignore_ascii_case("idempotency_key") || name.eq_ignore_ascii_case("idempotencykey")
}

/// Splits a row into a request and its explicit key, and has the core
/// validate both.
fn parse_row(
    record: &csv::StringRecord,
    key_column: Option<usize>,
) -> Result<(RefundRequest, Option<String>), String> {
    let mut request = RefundRequest::new(record.get(0).unwrap_or_default());
    let mut explicit_key = None;
    for (index, column) in record.iter().enumerate().skip(1) {
        if column.is_empty() {
            continue;
        }
        if Some(index) == key_column {
            explicit_key = Some(column.to_owned());
        } else if let Some((key, value)) = column.split_once('=') {
            let (key, value) = (key.trim(), value.trim());
            if request
                .metadata
                .as_ref()
                .is_some_and(|m| m.contains_key(key))
            {
                return Err(format!("metadata key {key:?} appears twice"));
            }
            request = request.metadata(key, value);
        } else if index == 1 {
            let cents = column
                .parse::<i64>()
                .map_err(|_| format!("amount: {column:?} is not a whole number of cents"))?;
            request = request.amount(cents);
        } else {
            return Err(format!(
                "column {}: expected key=value metadata, got {column:?}",
                index + 1
            ));
        }
    }
    request.validate().map_err(|e| e.message().to_owned())?;
    if let Some(key) = &explicit_key {
        refundkit::validate::idempotency_key(key).map_err(|e| e.message().to_owned())?;
    }
    Ok((request, explicit_key))
}

/// A stable hex digest of what the row asks for (the explicit key counts
/// only when there is one, so older journals still match their rows).
///
/// The digested bytes are the compact JSON object `{"amount", "checkoutId",
/// ["idempotencyKey",] "metadata"}` with its keys in that (sorted) order,
/// written directly: journals store this digest, so the bytes never change
/// (`digest_bytes_are_those_of_the_sorted_json_object` pins them).
fn row_digest(request: &RefundRequest, explicit_key: Option<&str>) -> String {
    use std::io::Write as _;
    let mut json = Vec::with_capacity(128);
    // Writes into a Vec cannot fail, nor can serialising strings and string maps.
    let _ = match request.amount {
        Some(amount) => write!(json, "{{\"amount\":{amount}"),
        None => write!(json, "{{\"amount\":null"),
    };
    json.extend_from_slice(b",\"checkoutId\":");
    let _ = serde_json::to_writer(&mut json, &request.checkout_id);
    if let Some(key) = explicit_key {
        json.extend_from_slice(b",\"idempotencyKey\":");
        let _ = serde_json::to_writer(&mut json, key);
    }
    json.extend_from_slice(b",\"metadata\":");
    let _ = serde_json::to_writer(&mut json, &request.metadata);
    json.push(b'}');
    hex16(&Sha256::digest(&json))
}

/// The first 16 bytes of `digest` as lowercase hex.
fn hex16(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in digest.iter().take(16) {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<BatchRow>, Vec<RowError>> {
        read_rows(text.as_bytes())
    }

    #[test]
    fn digest_bytes_are_those_of_the_sorted_json_object() {
        // The digest as first written (a serde_json::Value, printed): every
        // journal in the field stores it, so the fast path must match.
        fn as_first_written(request: &RefundRequest, explicit_key: Option<&str>) -> String {
            let mut canonical = serde_json::json!({
                "checkoutId": request.checkout_id,
                "amount": request.amount,
                "metadata": request.metadata,
            });
            if let (Some(key), serde_json::Value::Object(map)) = (explicit_key, &mut canonical) {
                map.insert("idempotencyKey".to_owned(), key.into());
            }
            let digest = Sha256::digest(canonical.to_string().as_bytes());
            digest[..16].iter().map(|b| format!("{b:02x}")).collect()
        }
        let mut requests = vec![
            RefundRequest::new("ch_1"),
            RefundRequest::new("ch_\"q\\\u{1}é😀"),
        ];
        requests.push(RefundRequest::new("ch_2").amount(0));
        requests.push(RefundRequest::new("ch_3").amount(i64::MAX));
        requests.push(
            RefundRequest::new("ch_4")
                .amount(-1)
                .metadata("z", "1")
                .metadata("a", "\"\n\u{7f}"),
        );
        requests.push(
            RefundRequest::new("ch_5")
                .amount(150)
                .metadata("order", "42")
                .metadata("é", ""),
        );
        for request in &requests {
            for key in [None, Some("k-1"), Some("\"\\\u{0}")] {
                assert_eq!(
                    row_digest(request, key),
                    as_first_written(request, key),
                    "{request:?} {key:?}"
                );
            }
        }
    }

    #[test]
    fn skips_header_comments_and_blank_lines() {
        let rows =
            read("checkout_id,amount\n# a comment\n\nch_1\nch_2,150,order=42\n").expect("valid");
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 5]);
        assert_eq!(rows[1].request.amount, Some(150));
        assert_eq!(
            rows[1]
                .request
                .metadata
                .as_ref()
                .and_then(|m| m.get("order"))
                .map(String::as_str),
            Some("42")
        );
    }

    #[test]
    fn metadata_may_follow_the_checkout_id_directly() {
        let rows = read("ch_1,order=42,note=x\n").expect("valid");
        assert_eq!(rows[0].request.amount, None);
        assert_eq!(rows[0].request.metadata.as_ref().map(|m| m.len()), Some(2));
    }

    #[test]
    fn reports_every_bad_row_with_its_line() {
        let errors = read("ch_1\nch_2,abc\nch_3,0\nbad id\nch_5,100,stray\n").expect_err("invalid");
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(
            errors[1].message.starts_with("amount"),
            "{}",
            errors[1].message
        );
        assert!(
            errors[2].message.starts_with("checkout_id"),
            "{}",
            errors[2].message
        );
    }

    #[test]
    fn quoted_values_may_hold_commas_and_crlf_line_ends_are_accepted() {
        let rows = read("ch_1,\"note=a, b\"\r\nch_2\r\n").expect("valid");
        assert_eq!(
            rows[0]
                .request
                .metadata
                .as_ref()
                .and_then(|m| m.get("note"))
                .map(String::as_str),
            Some("a, b")
        );
        assert_eq!(rows[1].request.checkout_id, "ch_2");
    }

    #[test]
    fn refuses_identical_rows() {
        let errors = read("ch_1,100\nch_1,100\n").expect_err("duplicate");
        assert_eq!(errors[0].line, 2);
    }

    #[test]
    fn row_key_ignores_position() {
        let a = read("ch_1,100\nch_2\n").expect("valid");
        let b = read("# moved\nch_2\nch_1,100\n").expect("valid");
        assert_eq!(a[0].row_key, b[1].row_key);
    }

    #[test]
    fn an_idempotency_key_column_gives_the_key() {
        let rows =
            read("checkout_id,amount,idempotency_key\nch_1,100,order-1\nch_2,,\n").expect("valid");
        assert_eq!(rows[0].explicit_key.as_deref(), Some("order-1"));
        assert_eq!(
            rows[0].idempotency_key(&RowKeys::new("sk_test_a")),
            "order-1"
        );
        assert_eq!(rows[1].explicit_key, None);
        assert!(rows[0].request.metadata.is_none());
    }

    #[test]
    fn derived_keys_are_stable_and_depend_on_every_field_and_the_secret() {
        let rows = read("ch_1,100\nch_1,100,order=1\nch_1,200\nch_1\n").expect("valid");
        let keys: Vec<String> = rows
            .iter()
            .map(|r| r.idempotency_key(&RowKeys::new("sk_test_a")))
            .collect();
        let again = read("ch_1\nch_1,100\n").expect("valid");
        assert_eq!(
            again[1].idempotency_key(&RowKeys::new("sk_test_a")),
            keys[0]
        );
        assert_eq!(
            again[0].idempotency_key(&RowKeys::new("sk_test_a")),
            keys[3]
        );
        let unique: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), 4);
        assert_ne!(rows[0].idempotency_key(&RowKeys::new("sk_test_b")), keys[0]);
    }

    #[test]
    fn an_endless_line_is_refused_by_line_without_reading_on() {
        let mut zeros = std::io::BufReader::new(std::io::repeat(0));
        let mut reader = RowReader::new(&mut zeros);
        let error = reader.next().expect("an item").expect_err("too long");
        assert_eq!(error.line, 1);
        assert!(error.message.contains("64 KiB"), "{}", error.message);
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_long_line_after_good_ones_names_its_line() {
        let text = format!("ch_1\nch_2\n{}\n", "x".repeat(MAX_LINE_BYTES + 10));
        let errors = read(&text).expect_err("too long");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_read() {
        let id = format!("ch_{}", "a".repeat(100));
        let pad = "x".repeat(MAX_LINE_BYTES - id.len() - "note=".len() - 2);
        let text = format!("{id},note={pad}\n");
        assert_eq!(text.len(), MAX_LINE_BYTES);
        // Metadata values this long fail validation, but not the line cap.
        let errors = read(&text).expect_err("metadata too long");
        assert!(!errors[0].message.contains("KiB"), "{}", errors[0].message);
    }
}
