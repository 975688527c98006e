//! Linker setup for a Node-API addon (symbols resolve against the host `node`).

fn main() {
    napi_build::setup();
}
