//! `uniffi-bindgen` for this workspace, kept in its own crate so that the
//! binding library never links the generator. Run by `scripts/gen-bindings`.

fn main() {
    uniffi::uniffi_bindgen_main();
}
