//! How a parameter's raw value is shown: its kind (from `param_units`), and one unit per
//! parameter chosen from the largest value.

use crate::model::trim_number;

/// What a parameter's raw (integer) value measures, as `param_units` in `sweep.toml` or a
/// run's `manifest.toml` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// Bytes.
    Size,
    /// Nanoseconds.
    Duration,
    /// Bytes per second.
    Rate,
    /// A plain integer.
    Count,
    /// A ratio in thousandths (a slowdown factor: 2500 is 2.5×).
    Factor,
}

impl ParamKind {
    /// The names `param_units` may use, in the contract's order.
    pub(crate) const NAMES: [&'static str; 5] = ["size", "duration", "rate", "count", "factor"];

    /// The kind named `name` in `param_units`.
    pub(crate) fn parse(name: &str) -> Option<ParamKind> {
        match name {
            "size" => Some(ParamKind::Size),
            "duration" => Some(ParamKind::Duration),
            "rate" => Some(ParamKind::Rate),
            "count" => Some(ParamKind::Count),
            "factor" => Some(ParamKind::Factor),
            _ => None,
        }
    }

    /// The fallback for directories written before `param_units` existed: names ending in
    /// `size` or `bytes` are sizes, names ending in `_ns` durations; others have no known kind.
    pub(crate) fn from_name(param: &str) -> Option<ParamKind> {
        if param.ends_with("size") || param.ends_with("bytes") {
            Some(ParamKind::Size)
        } else if param.ends_with("_ns") {
            Some(ParamKind::Duration)
        } else {
            None
        }
    }
}

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The unit one parameter is shown in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamUnit {
    /// The parameter's kind, when known.
    pub kind: Option<ParamKind>,
    /// The unit's symbol, e.g. "MiB"; empty for counts and parameters of unknown kind.
    pub unit: &'static str,
    /// Multiplier from the raw value to the shown value.
    pub scale: f64,
    /// Fixed decimals (sizes: 2, bytes: 0); `None`: up to three, trailing zeros trimmed.
    pub decimals: Option<usize>,
}

impl ParamUnit {
    /// The unit for a parameter of `kind` whose largest raw value is `max` (`NaN` when
    /// unknown: sizes then go in MiB, durations in ms, rates in Gbit/s).
    ///
    /// Sizes: B below 1 KiB, KiB below 1 MiB, MiB below 1 GiB, else GiB (two decimals).
    /// Durations: s from 10 s on, ms from 1 ms on (and when every value is 0), µs from 1 µs
    /// on, else ns. Rates: Gbit/s from 1 Gbit/s on, else Mbit/s. Counts and unknown kinds:
    /// the raw number.
    pub(crate) fn choose(kind: Option<ParamKind>, max: f64) -> ParamUnit {
        let known = max.is_finite();
        let (unit, scale, decimals) = match kind {
            Some(ParamKind::Size) => {
                if known && max < KIB {
                    ("B", 1.0, Some(0))
                } else if known && max < MIB {
                    ("KiB", 1.0 / KIB, Some(2))
                } else if !known || max < GIB {
                    ("MiB", 1.0 / MIB, Some(2))
                } else {
                    ("GiB", 1.0 / GIB, Some(2))
                }
            }
            Some(ParamKind::Duration) => {
                if known && max >= 1e10 {
                    ("s", 1e-9, None)
                } else if !known || max >= 1e6 || max == 0.0 {
                    ("ms", 1e-6, None)
                } else if max >= 1e3 {
                    ("µs", 1e-3, None)
                } else {
                    ("ns", 1.0, None)
                }
            }
            Some(ParamKind::Rate) => {
                if !known || max * 8.0 >= 1e9 {
                    ("Gbit/s", 8e-9, None)
                } else {
                    ("Mbit/s", 8e-6, None)
                }
            }
            Some(ParamKind::Factor) => ("×", 1e-3, None),
            Some(ParamKind::Count) | None => ("", 1.0, None),
        };
        ParamUnit {
            kind,
            unit,
            scale,
            decimals,
        }
    }

    /// The shown value of a raw value.
    pub(crate) fn value(&self, raw: f64) -> f64 {
        raw * self.scale
    }

    /// A raw value in the shown unit, without the unit.
    pub(crate) fn fmt_number(&self, raw: f64) -> String {
        let v = self.value(raw);
        match self.decimals {
            Some(d) => format!("{v:.d$}"),
            None => trim_number(v),
        }
    }

    /// A raw value with its unit, e.g. "15.26 MiB", "100 ms", "2.5×" or "4".
    pub(crate) fn fmt(&self, raw: f64) -> String {
        match self.unit {
            "" => self.fmt_number(raw),
            "×" => format!("{}×", self.fmt_number(raw)),
            unit => format!("{} {unit}", self.fmt_number(raw)),
        }
    }
}
