//! The native half of the `refundkit` npm package (`node/`), built with
//! napi-rs.
//!
//! Everything here converts JavaScript values to core types and back; the
//! behaviour lives in the `refundkit` crate. Core errors never cross as
//! exceptions with text only: [`error`] turns each into a plain object
//! carrying its kind and fields, and `node/errors.js` picks the class. The
//! JavaScript wrapper (`node/index.js`) is the public API; these classes are
//! its private building blocks.

pub mod client;
pub mod emulator;
pub mod error;
pub mod keys;
pub mod logging;
pub mod runtime;
pub mod webhooks;
