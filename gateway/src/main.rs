//! The bundled gateway.
fn main() {}
