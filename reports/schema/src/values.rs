//! Cell types with a fixed text form: [`Fixed6`] decimals and `0`/`1` flags.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A decimal written with exactly six digits after the point (`12.500000`), so that a run's
/// output is byte-identical whatever the platform's float formatting. Read back as the nearest
/// `f64`; `NaN` and `inf` are written and read as Rust spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Fixed6(pub f64);

impl Fixed6 {
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl From<f64> for Fixed6 {
    fn from(v: f64) -> Fixed6 {
        Fixed6(v)
    }
}

impl fmt::Display for Fixed6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}", self.0)
    }
}

impl Serialize for Fixed6 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fixed6 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fixed6, D::Error> {
        f64::deserialize(deserializer).map(Fixed6)
    }
}

/// A `bool` written as `0` or `1` (use with `#[serde(with = "flag")]`); reading refuses
/// anything else.
pub(crate) mod flag {
    use serde::de::{Error, Unexpected};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(u8::from(*v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<bool, D::Error> {
        match u8::deserialize(deserializer)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(D::Error::invalid_value(
                Unexpected::Unsigned(u64::from(n)),
                &"0 or 1",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fixed6;

    #[test]
    fn fixed6_writes_six_decimals_and_reads_them_back() {
        for (v, text) in [
            (0.0, "0.000000"),
            (1.0, "1.000000"),
            (12.5, "12.500000"),
            (0.1234567, "0.123457"),
            (-3.25, "-3.250000"),
            (123_456_789.0, "123456789.000000"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(Fixed6(v).to_string(), text, "{v}");
            assert_eq!(Fixed6(v).to_string(), format!("{v:.6}"), "{v}");
            assert_eq!(crate::cells(&Fixed6(v)).expect("cells"), [text]);
        }
        let back: Fixed6 = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader("40.125000\n".as_bytes())
            .deserialize()
            .next()
            .expect("a row")
            .expect("a number");
        assert_eq!(back, Fixed6(40.125));
    }
}
