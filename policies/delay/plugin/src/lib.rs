//! The `delay` placement policy as a plugin (`delay` on the runtime's search path).
//!
//! This crate is only the export shim: the logic lives in `cohort-policy-delay`, which can
//! also be used in-process (see the locality plugin for why the two are apart).

cohort_policy::export_policy!(cohort_policy_delay::DelayPolicy);
