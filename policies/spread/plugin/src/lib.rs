//! The `spread` placement policy as a plugin (`spread` on the runtime's search path).
//!
//! This crate is only the export shim: the logic lives in `cohort-policy-spread`, which can
//! also be used in-process (see the locality plugin for why the two are apart).

cohort_policy::export_policy!(cohort_policy_spread::SpreadPolicy);
