//! spendguard-benches: criterion benchmarks of the hot path live in `benches/`.
