//! Prints the synthetic corpus as NDJSON records on stdout (for shape analysis).
#![allow(clippy::unwrap_used)]
use spendguard_core::synth::{Generator, Spec};
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3000);
    let mut g = Generator::new(Spec { invocations: n, ..Spec::default() });
    for _ in 0..n {
        println!("{}", g.next_record().0);
    }
}
