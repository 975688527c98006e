//! Tools that exercise refundkit end to end against the emulator: the fault
//! soak ([`soak`]) and the client-versus-bare-reqwest benchmark ([`bench`](mod@bench)).

pub mod bench;
pub mod soak;
