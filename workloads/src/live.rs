//! The task kinds' code on real bytes, for a live deployment (node processes), and what a
//! node needs to build it.
//!
//! On the simulator a kind's output is a stamp and a modeled tail (see [`crate::program`]);
//! here every byte exists. An object's data is float64 values, little-endian, each a whole
//! number of [`UNIT`]s (2^-20) below 1, so that every sum the workload computes is exact in
//! any order and can be checked against the seeded data directly. By a kind's `output_size`:
//!
//! - a fixed size with no object argument **generates** its data from the run's seed, the
//!   batch's iteration and the task's index in its stage ([`generated`]);
//! - a fixed size with object arguments **splits and sums**: their values, concatenated, cut
//!   into as many contiguous parts as the output holds values, each part summed;
//! - `input` passes its first object argument through (a copy, as returning an array copies
//!   it into the store), `inputs` concatenates them.
//!
//! Bytes beyond the last whole value are zero. A kind with several outputs returns the same
//! bytes in each. An actor's state is a `u64` total to which each call adds `1 + iteration +`
//! the sum of its object arguments' values in units ([`units`]): a call lost or run twice
//! changes it.

use crate::Workload;
use crate::program::{batch, build_registry, run_record};
use crate::resolve::{Kind, OutputSize, Resolved};
use cohort_runtime::{Payload, Registry, RuntimeError, TaskContext};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The value of one unit of data: 2^-20.
pub const UNIT: f64 = 1.0 / (1u64 << 20) as f64;

/// What a node needs to build the run's code: the workload's text and the overrides the head
/// resolved it with, the run's seed, and the NIC rate to emulate. Crosses the wire as TOML
/// text (numbers as decimal strings: TOML's integers stop at `i64::MAX`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSetup {
    /// The workload file's name (for its error messages).
    pub name: String,
    /// Its text.
    pub text: String,
    /// The `--set` overrides.
    pub sets: BTreeMap<String, String>,
    /// The run's seed.
    #[serde(with = "decimal")]
    pub seed: u64,
    /// The rate each node's data plane sends at, bytes per second (`None`: unlimited).
    #[serde(with = "decimal_option", default)]
    pub nic_rate: Option<u64>,
}

/// A `u64` as a decimal string.
mod decimal {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// An optional `u64` as a decimal string, absent when `None`.
mod decimal_option {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(D::Error::custom))
            .transpose()
    }
}

impl LiveSetup {
    /// As bytes for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        toml::to_string(self)
            .expect("a setup always serializes")
            .into_bytes()
    }

    /// The setup `bytes` hold, the workload it resolves to, and the registry of live code it
    /// describes.
    pub fn load(bytes: &[u8]) -> Result<(LiveSetup, Resolved, Registry), String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("setup is not text: {e}"))?;
        let setup: LiveSetup = toml::from_str(text).map_err(|e| format!("bad setup: {e}"))?;
        let w = Workload::parse(&setup.name, &setup.text)
            .and_then(|w| w.resolve(&setup.sets))
            .map_err(|e| e.to_string())?;
        let r = registry_live(&w, setup.seed).map_err(|e| e.to_string())?;
        Ok((setup, w, r))
    }
}

/// A 64-bit mix (SplitMix64's finaliser): the counter-based generator of the data.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `size` bytes a generating task makes for the batch of `iteration`, as the task of
/// index `index` of its stage, in a run of seed `seed`: `size / 8` values, each a whole
/// number of [`UNIT`]s in [0, 1), then zeros.
pub fn generated(seed: u64, iteration: u64, index: u32, size: u64) -> Vec<u8> {
    let key = mix(mix(seed ^ mix(iteration)) ^ u64::from(index));
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(size);
    for i in 0..(size / 8) as u64 {
        let k = mix(key.wrapping_add(i)) >> 44;
        out.extend_from_slice(&(k as f64 * UNIT).to_le_bytes());
    }
    out.resize(size, 0);
    out
}

/// The values of `bytes` (whole float64s, little-endian; a partial one at the end ignored).
fn values(bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
}

/// The sum of `bytes`' values in [`UNIT`]s (wrapping): exact, since every value is a whole
/// number of units.
pub fn units(bytes: &[u8]) -> u64 {
    values(bytes).fold(0u64, |sum, v| sum.wrapping_add((v / UNIT) as u64))
}

/// `objects`' values, concatenated, cut into `size / 8` contiguous parts (as equal as they
/// can be, the first ones longer), each part summed in order; then zeros up to `size`. One
/// pass over the arguments where they are, as NumPy sums the slices of an array: no copy
/// of them is made.
fn split_sums(objects: &[Payload], size: u64) -> Vec<u8> {
    let parts = (size / 8) as usize;
    if parts == 0 {
        return vec![0; size as usize];
    }
    let count: usize = objects.iter().map(|o| o.bytes().len() / 8).sum();
    let (base, extra) = (count / parts, count % parts);
    let len = |p: usize| base + usize::from(p < extra);
    // The sum of no values, as `Sum` starts it, so that each part is added exactly as
    // `[f64]::iter().sum()` would.
    let empty: f64 = std::iter::empty::<f64>().sum();
    let mut out = Vec::with_capacity(size as usize);
    let (mut part, mut sum, mut left) = (0, empty, len(0));
    for o in objects {
        let bytes: &[u8] = o.bytes();
        let mut rest = &bytes[..bytes.len() / 8 * 8];
        while !rest.is_empty() {
            let take = left.min(rest.len() / 8);
            let (now, later) = rest.split_at(take * 8);
            sum = values(now).fold(sum, |a, v| a + v);
            rest = later;
            left -= take;
            while left == 0 && part < parts {
                out.extend_from_slice(&sum.to_le_bytes());
                part += 1;
                (sum, left) = (empty, len(part));
            }
        }
    }
    // Parts left with no values (more parts than values).
    while part < parts {
        out.extend_from_slice(&sum.to_le_bytes());
        part += 1;
        sum = empty;
    }
    out.resize(size as usize, 0);
    out
}

/// The code of `kind` on real bytes.
fn run_live(
    kind: &Kind,
    seed: u64,
    ctx: &mut TaskContext,
    args: &[Payload],
) -> Result<Vec<Payload>, String> {
    let (iteration, ingest, objects) = batch(args)?;
    run_record(kind, ctx, iteration, ingest);
    if kind.outputs == 0 {
        return Ok(Vec::new());
    }
    let bytes = match kind.output_size {
        OutputSize::Bytes(size) if objects.is_empty() => {
            generated(seed, iteration, ctx.index(), size)
        }
        OutputSize::Bytes(size) => split_sums(objects, size),
        OutputSize::Input => objects.first().map_or(Vec::new(), |o| o.bytes().to_vec()),
        OutputSize::Inputs => objects.iter().flat_map(|o| o.bytes().to_vec()).collect(),
    };
    let output = Payload::from_bytes(bytes);
    Ok((0..kind.outputs).map(|_| output.clone()).collect())
}

/// What a call adds to its actor's total (see the module documentation).
fn contribution(args: &[Payload]) -> Result<u64, String> {
    let (iteration, _, objects) = batch(args)?;
    Ok(objects.iter().fold(1u64.wrapping_add(iteration), |sum, o| {
        sum.wrapping_add(units(o.bytes()))
    }))
}

/// The registry holding the live code of every task and actor kind of `w`, for a run of
/// seed `seed`: the same names, in the same order, as [`crate::registry`]'s.
pub fn registry_live(w: &Resolved, seed: u64) -> Result<Registry, RuntimeError> {
    build_registry(
        w,
        |k| move |ctx: &mut TaskContext, args: &[Payload]| run_live(&k, seed, ctx, args),
        contribution,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`split_sums`] by its definition: the values concatenated, then each part summed.
    fn split_sums_by_definition(objects: &[Payload], size: u64) -> Vec<u8> {
        let parts = (size / 8) as usize;
        let all: Vec<f64> = objects.iter().flat_map(|o| values(o.bytes())).collect();
        let mut out = Vec::new();
        let (base, extra) = (all.len().checked_div(parts), all.len().checked_rem(parts));
        let mut at = 0;
        for p in 0..parts {
            let len = base.unwrap_or(0) + usize::from(p < extra.unwrap_or(0));
            let sum: f64 = all[at..at + len].iter().sum();
            at += len;
            out.extend_from_slice(&sum.to_le_bytes());
        }
        out.resize(size as usize, 0);
        out
    }

    #[test]
    fn split_sums_add_each_part_as_its_definition_does_bit_for_bit() {
        for (sizes, seed) in [
            (&[8 * 1000][..], 1),
            (&[8 * 999 + 3, 5, 8 * 17], 2),
            (&[], 3),
        ] {
            let args: Vec<Payload> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| Payload::from_bytes(generated(seed, 0, i as u32, n)))
                .collect();
            for size in [0, 7, 8, 32, 8 * 333 + 1, 8 * 1000, 8 * 2000] {
                assert_eq!(
                    split_sums(&args, size),
                    split_sums_by_definition(&args, size),
                    "{sizes:?} into {size} bytes"
                );
            }
        }
    }

    #[test]
    fn generated_data_is_seeded_sized_and_in_whole_units() {
        let a = generated(1, 2, 3, 8 * 1000 + 5);
        assert_eq!(a.len(), 8005);
        assert_eq!(a, generated(1, 2, 3, 8005));
        assert_ne!(a, generated(1, 2, 4, 8005));
        assert_ne!(a, generated(1, 3, 3, 8005));
        assert_ne!(a, generated(2, 2, 3, 8005));
        assert_eq!(&a[8000..], &[0; 5]);
        for v in values(&a) {
            assert!((0.0..1.0).contains(&v));
            assert_eq!((v / UNIT).fract(), 0.0);
        }
        // Not all alike.
        assert!(values(&a).any(|v| v != values(&a).next().unwrap()));
    }

    #[test]
    fn split_sums_keep_every_unit() {
        let data = Payload::from_bytes(generated(7, 0, 0, 8 * 1001));
        let parts = split_sums(std::slice::from_ref(&data), 32);
        assert_eq!(parts.len(), 32);
        assert_eq!(units(&parts), units(data.bytes()));
        // 1001 values in 4 parts: 251, 250, 250, 250.
        let first: f64 = values(data.bytes()).take(251).sum();
        assert_eq!(values(&parts).next(), Some(first));
    }

    #[test]
    fn split_sums_cut_the_arguments_as_one_sequence_across_their_boundaries() {
        // 3 + 2 + 4 values (the second argument's partial value ignored) in 3 parts of 3:
        // the second part takes the second argument's two values and the third's first.
        let f = |v: &[f64], tail: usize| {
            let mut b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            b.extend(std::iter::repeat_n(0xff, tail));
            Payload::from_bytes(b)
        };
        let args = [
            f(&[1.0, 2.0, 4.0], 0),
            f(&[8.0, 16.0], 3),
            f(&[32.0, 64.0, 128.0, 256.0], 0),
        ];
        let parts = split_sums(&args, 3 * 8 + 5);
        assert_eq!(values(&parts).collect::<Vec<_>>(), [7.0, 56.0, 448.0]);
        assert_eq!(&parts[24..], &[0; 5]);
        // More parts than values: the last parts are empty sums.
        assert_eq!(split_sums(&args, 7), [0; 7]);
        let parts = split_sums(&args[..1], 5 * 8);
        assert_eq!(
            values(&parts).collect::<Vec<_>>(),
            [1.0, 2.0, 4.0, 0.0, 0.0]
        );
    }

    #[test]
    fn a_setup_round_trips_and_loads_the_same_code_as_the_simulator() {
        let (name, text) = crate::SHIPPED[0];
        let setup = LiveSetup {
            name: name.to_string(),
            text: text.to_string(),
            sets: BTreeMap::from([("data_size".to_string(), "80KB".to_string())]),
            seed: u64::MAX,
            nic_rate: Some(1_250_000_000),
        };
        let (back, _, live) = LiveSetup::load(&setup.to_bytes()).unwrap();
        assert_eq!(back, setup);
        let none = LiveSetup {
            nic_rate: None,
            ..setup.clone()
        };
        assert_eq!(LiveSetup::load(&none.to_bytes()).unwrap().0, none);
        let w = Workload::parse(name, text)
            .unwrap()
            .resolve(&setup.sets)
            .unwrap();
        assert_eq!(live.catalog(), crate::registry(&w).unwrap().catalog());
        let e = LiveSetup::load(b"name = 1").unwrap_err();
        assert!(e.starts_with("bad setup"), "{e}");
    }
}
