//! tyk-dr-dns: answers DNS queries from Route 53 hosted zones.
fn main() {}
