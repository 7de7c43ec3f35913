//! Seeded corpus generation shared by the benchmarks.
