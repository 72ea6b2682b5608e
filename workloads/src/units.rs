//! Quantities with units, as workload files write them: sizes (`"15.26MiB"`), durations
//! (`"100ms"`) and rates (`"10Gbit/s"`, `"4GB/s"`).
//!
//! One grammar for all: a decimal number (optionally with an exponent), optional spaces, a
//! unit. Results are exact integers (bytes, nanoseconds, bytes per second), rounded to the
//! nearest unit; a value that would round to something else than what was written (negative,
//! not finite, too large) is an error that quotes it.

use thiserror::Error;

/// Why a quantity could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum UnitError {
    /// No number at the start.
    #[error("`{0}` does not start with a number")]
    NoNumber(String),
    /// The unit is not one this kind of quantity takes.
    #[error("`{text}` has unit `{unit}`; expected one of {expected}")]
    BadUnit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
        /// The units accepted.
        expected: &'static str,
    },
    /// The number is negative, not finite, or too large.
    #[error("`{0}` is out of range")]
    OutOfRange(String),
}

const SIZE_UNITS: &str = "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB";
const TIME_UNITS: &str = "ns, us (or µs), ms, s";
const RATE_UNITS: &str =
    "B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s, bit/s, Kbit/s, Mbit/s, Gbit/s";

fn split(text: &str) -> Result<(f64, &str), UnitError> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|(i, c)| {
            !(c.is_ascii_digit()
                || *c == '.'
                || ((*c == 'e' || *c == 'E')
                    && t[i + 1..]
                        .starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+'))
                || ((*c == '-' || *c == '+') && (*i == 0 || t[..*i].ends_with(['e', 'E']))))
        })
        .map_or(t.len(), |(i, _)| i);
    let number: f64 = t[..end]
        .parse()
        .map_err(|_| UnitError::NoNumber(text.to_string()))?;
    Ok((number, t[end..].trim()))
}

fn scale(text: &str, number: f64, factor: f64) -> Result<u64, UnitError> {
    let v = (number * factor).round();
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(UnitError::OutOfRange(text.to_string()));
    }
    Ok(v as u64)
}

fn size_factor(unit: &str) -> Option<f64> {
    Some(match unit {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

/// A size in bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (n, unit) = split(text)?;
    let f = size_factor(unit).ok_or_else(|| UnitError::BadUnit {
        text: text.to_string(),
        unit: unit.to_string(),
        expected: SIZE_UNITS,
    })?;
    scale(text, n, f)
}

/// A duration in nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, UnitError> {
    let (n, unit) = split(text)?;
    let f = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => {
            return Err(UnitError::BadUnit {
                text: text.to_string(),
                unit: unit.to_string(),
                expected: TIME_UNITS,
            });
        }
    };
    scale(text, n, f)
}

/// A factor in thousandths (`"2.5"`, `"2.5x"`, `"4×"`: 2 500 and 4 000), exact to a thousandth.
pub fn parse_factor(text: &str) -> Result<u64, UnitError> {
    let (n, unit) = split(text)?;
    match unit {
        "" | "x" | "×" => scale(text, n, 1e3),
        _ => Err(UnitError::BadUnit {
            text: text.to_string(),
            unit: unit.to_string(),
            expected: "none, x or ×",
        }),
    }
}

/// A rate in bytes per second.
pub fn parse_rate(text: &str) -> Result<u64, UnitError> {
    let (n, unit) = split(text)?;
    let bad = || UnitError::BadUnit {
        text: text.to_string(),
        unit: unit.to_string(),
        expected: RATE_UNITS,
    };
    let per = unit.strip_suffix("/s").ok_or_else(bad)?;
    let f = match per {
        "bit" => 1.0 / 8.0,
        "Kbit" | "kbit" => 1e3 / 8.0,
        "Mbit" => 1e6 / 8.0,
        "Gbit" => 1e9 / 8.0,
        "Tbit" => 1e12 / 8.0,
        bytes => size_factor(bytes).ok_or_else(bad)?,
    };
    scale(text, n, f)
}

/// A duration in nanoseconds as a person writes it, exactly: the largest of s, ms, us and ns
/// in which it is at least 1, with as many decimals as needed (`25 s`, `1.5 s`, `250 us`,
/// `0 s`).
pub fn format_duration(ns: u64) -> String {
    let (unit, per) = match ns {
        0 => return "0 s".to_string(),
        n if n >= 1_000_000_000 => ("s", 1_000_000_000u64),
        n if n >= 1_000_000 => ("ms", 1_000_000),
        n if n >= 1_000 => ("us", 1_000),
        _ => ("ns", 1),
    };
    let (whole, frac) = (ns / per, ns % per);
    if frac == 0 {
        return format!("{whole} {unit}");
    }
    let digits = per.ilog10() as usize;
    let decimals = format!("{frac:0digits$}");
    format!("{whole}.{} {unit}", decimals.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_formatted_exactly() {
        assert_eq!(format_duration(25_000_000_000), "25 s");
        assert_eq!(format_duration(1_500_000_000), "1.5 s");
        assert_eq!(format_duration(1_000_000_001), "1.000000001 s");
        assert_eq!(format_duration(250_000), "250 us");
        assert_eq!(format_duration(100_500_000), "100.5 ms");
        assert_eq!(format_duration(7), "7 ns");
        assert_eq!(format_duration(0), "0 s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("800000B"), Ok(800_000));
        assert_eq!(parse_size("15.26MiB"), Ok(16_001_270));
        assert_eq!(parse_size("4 GiB"), Ok(4 << 30));
        assert_eq!(parse_size("1e5B"), Ok(100_000));
        assert_eq!(parse_size("2kB"), Ok(2_000));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms"), Ok(100_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("250µs"), Ok(250_000));
        assert_eq!(parse_duration("0ms"), Ok(0));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10Gbit/s"), Ok(1_250_000_000));
        assert_eq!(parse_rate("4GB/s"), Ok(4_000_000_000));
        assert_eq!(parse_rate("1GiB/s"), Ok(1 << 30));
    }

    #[test]
    fn errors_quote_the_text() {
        assert_eq!(
            parse_size("12 parsecs").unwrap_err().to_string(),
            "`12 parsecs` has unit `parsecs`; expected one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
        );
        assert_eq!(
            parse_duration("fast").unwrap_err(),
            UnitError::NoNumber("fast".into())
        );
        assert!(matches!(
            parse_duration("100"),
            Err(UnitError::BadUnit { .. })
        ));
        assert!(matches!(
            parse_rate("10Gbit"),
            Err(UnitError::BadUnit { .. })
        ));
        assert_eq!(
            parse_size("-3MB"),
            Err(UnitError::OutOfRange("-3MB".into()))
        );
        assert_eq!(
            parse_size("1e30TB"),
            Err(UnitError::OutOfRange("1e30TB".into()))
        );
    }
}
