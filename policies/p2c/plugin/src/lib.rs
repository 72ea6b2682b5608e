//! The `p2c` placement policy as a plugin (`p2c` on the runtime's search path).
//!
//! This crate is only the export shim: the logic lives in `cohort-policy-p2c`, which can
//! also be used in-process (see the locality plugin for why the two are apart).

cohort_policy::export_policy!(cohort_policy_p2c::P2cPolicy);
