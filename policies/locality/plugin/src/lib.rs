//! The `locality` placement policy as a plugin (`locality` on the runtime's search path).
//!
//! This crate is only the export shim: the logic lives in `cohort-policy-locality`, which can
//! also be used in-process. Keeping the `extern "C"` entry point out of the logic crate lets
//! several policies be linked into one binary without their entry symbols colliding.

cohort_policy::export_policy!(cohort_policy_locality::LocalityPolicy);
