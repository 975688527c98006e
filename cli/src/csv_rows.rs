//! Reading a batch file: one refund per CSV row,
//! `checkout_id[,amount][,key=value...]`.
//!
//! A header row (first column `checkout_id`), blank lines and lines starting
//! with `#` are skipped. Every row is checked with
//! [`RefundRequest::validate`]; all problems are returned with their line
//! numbers so the caller can refuse the whole file before sending anything.

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;

use refundkit::RefundRequest;
use sha2::{Digest as _, Sha256};

/// One valid row.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// The refund to make (without an idempotency key: the journal owns it).
    pub request: RefundRequest,
    /// Identifies the row in the journal: a hash of checkout id, amount and
    /// metadata, so reordering or commenting the file keeps rows matched.
    pub row_key: String,
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

/// Reads every row; `Err` lists every invalid row (and nothing may be sent).
///
/// Each line is one record (values never need a line break: validation
/// refuses control characters), which keeps line numbers exact.
pub fn read_rows(input: impl BufRead) -> Result<Vec<BatchRow>, Vec<RowError>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    let mut seen_data = false;
    for (index, bytes) in input.split(b'\n').enumerate() {
        let line = index as u64 + 1;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                errors.push(RowError {
                    line,
                    message: format!("cannot read the file: {e}"),
                });
                break;
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            errors.push(RowError {
                line,
                message: "is not valid UTF-8".to_owned(),
            });
            continue;
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let record = match parse_record(text) {
            Ok(record) => record,
            Err(message) => {
                errors.push(RowError { line, message });
                continue;
            }
        };
        let first_row = !seen_data;
        seen_data = true;
        if first_row && is_header(&record) {
            continue;
        }
        match parse_row(&record) {
            Ok(request) => {
                let row_key = row_key(&request);
                if let Some(first) = first_line_of.get(&row_key) {
                    errors.push(RowError {
                        line,
                        message: format!(
                            "same checkout, amount and metadata as line {first}; add metadata \
                             that tells them apart (e.g. part=2) to refund twice"
                        ),
                    });
                    continue;
                }
                first_line_of.insert(row_key.clone(), line);
                rows.push(BatchRow {
                    line,
                    request,
                    row_key,
                });
            }
            Err(message) => errors.push(RowError { line, message }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Splits one line into CSV fields (quotes allowed, fields trimmed).
fn parse_record(text: &str) -> Result<csv::StringRecord, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
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

/// Splits a row into a request and has the core validate it.
fn parse_row(record: &csv::StringRecord) -> Result<RefundRequest, String> {
    let mut request = RefundRequest::new(record.get(0).unwrap_or_default());
    for (index, column) in record.iter().enumerate().skip(1) {
        if column.is_empty() {
            continue;
        }
        if let Some((key, value)) = column.split_once('=') {
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
    Ok(request)
}

/// A stable hex digest of what the row asks for.
fn row_key(request: &RefundRequest) -> String {
    let canonical = serde_json::json!({
        "checkoutId": request.checkout_id,
        "amount": request.amount,
        "metadata": request.metadata,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<BatchRow>, Vec<RowError>> {
        read_rows(text.as_bytes())
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
}
