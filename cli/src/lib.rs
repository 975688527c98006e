//! The parts of the `refundkit` command line that other code (the fuzz
//! targets) exercises directly.

pub mod csv_rows;
