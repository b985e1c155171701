//! The `allybridge` binary: parses the command line and wires the crates together.
fn main() {}
