//! Integration tests live in `tests/`. The crate's only other targets are the
//! jobs example's two processes (`jobs_service`, `jobs_worker`, built from
//! `runtime/examples/jobs_*.rs`), which `tests/e2e_jobs.rs` starts.
