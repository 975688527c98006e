//! The batch CSV reader on arbitrary bytes: never panics, every accepted row
//! passes core validation, row keys are unique, and errors carry real line
//! numbers.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
// The CLI's module itself, not a copy: its only dependencies are the core,
// `csv` and `sha2`, so the target need not link the whole CLI.
#[path = "../../cli/src/csv_rows.rs"]
#[allow(dead_code)]
mod csv_rows;

use csv_rows::read_rows;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| *b == b'\n').count() as u64;
    match read_rows(data) {
        Ok(rows) => {
            let mut keys = HashSet::new();
            for row in rows {
                assert!(row.request.validate().is_ok(), "accepted an invalid row");
                assert!(row.request.idempotency_key.is_none());
                assert!(row.line >= 1 && row.line <= lines.max(1));
                assert!(keys.insert(row.row_key), "two rows share a journal key");
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.line <= lines.max(1), "line {} of {lines}", e.line);
            }
        }
    }
});
