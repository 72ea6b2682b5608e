//! Writing and reading the CSV files: headers from the row types' fields, rows with serde.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use csv::StringRecord;
use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::{Row, SchemaError};

/// The field of a row type that stands for the `param.*` columns.
pub const PARAMS_FIELD: &str = "params";

/// The prefix of the column of each workload parameter: `param.<name>`.
pub const PARAM_PREFIX: &str = "param.";

/// The names of a struct's fields in declaration order, as its derived `Deserialize` declares
/// them (empty for a type that is not a struct).
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    /// A deserializer that only records the field list it is asked for.
    struct Probe(&'static [&'static str]);

    /// Ends the probe: there is nothing to deserialize.
    #[derive(Debug)]
    struct Stop;

    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field probe")
        }
    }

    impl std::error::Error for Stop {}

    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Stop {
            Stop
        }
    }

    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = Stop;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = fields;
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut probe = Probe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

/// The columns of a struct written as a CSV row: its field names in order, with a `params`
/// field standing for one `param.<name>` column per name in `param_names`.
///
/// This is how every header of the contract is made; it also serves other row-shaped structs,
/// such as a table printed from some of a row's fields.
pub fn columns<T: DeserializeOwned>(param_names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for field in field_names::<T>() {
        if *field == PARAMS_FIELD {
            out.extend(param_names.iter().map(|n| format!("{PARAM_PREFIX}{n}")));
        } else {
            out.push((*field).to_owned());
        }
    }
    out
}

/// The cells a row is written as, in column order (see [`columns`]).
pub fn cells<T: Serialize>(row: &T) -> Result<Vec<String>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.serialize(row)?;
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    let mut record = StringRecord::new();
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice())
        .read_record(&mut record)?;
    Ok(record.iter().map(str::to_owned).collect())
}

/// How a CSV file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Plain text, `NAME.csv`.
    Plain,
    /// gzip-compressed, `NAME.csv.gz` (read directly by pandas, polars, R and `zcat`). The
    /// bytes are a function of the rows alone: no time or file name is stored in the gzip
    /// header.
    Gzip,
}

/// The suffix of a gzip-compressed CSV file.
pub const GZIP_SUFFIX: &str = ".gz";

impl Encoding {
    /// The file name of `file` (a `*.csv` name) stored this way.
    pub fn file_name(self, file: &str) -> String {
        match self {
            Encoding::Plain => file.to_owned(),
            Encoding::Gzip => format!("{file}{GZIP_SUFFIX}"),
        }
    }
}

/// The file of row type `R` in `dir` and how it is stored: `R::FILE` if it exists, else
/// `R::FILE.gz` if that does; `None` when neither is there.
pub fn stored<R: Row>(dir: &Path) -> Option<(PathBuf, Encoding)> {
    [Encoding::Plain, Encoding::Gzip]
        .into_iter()
        .map(|e| (dir.join(e.file_name(R::FILE)), e))
        .find(|(path, _)| path.is_file())
}

/// Where a [`CsvWriter`] puts its bytes.
enum Sink {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            // What was written is the encoder's; a flush here would only add a sync block to
            // the stream. `finish` writes it all.
            Sink::Gzip(_) => Ok(()),
        }
    }
}

impl Sink {
    /// Writes what is buffered (and, for gzip, the trailer) and flushes the file.
    fn finish(self) -> io::Result<()> {
        let mut file = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish()?,
        };
        file.flush()
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sink::Plain(_) => "Sink::Plain",
            Sink::Gzip(_) => "Sink::Gzip",
        })
    }
}

/// Where a [`CsvReader`] reads its bytes from.
enum Source {
    Plain(BufReader<File>),
    Gzip(flate2::read::MultiGzDecoder<BufReader<File>>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Gzip(r) => r.read(buf),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Plain(_) => "Source::Plain",
            Source::Gzip(_) => "Source::Gzip",
        })
    }
}

/// Writes one CSV file of the contract: the header, then rows of type `R`.
///
/// Cells are written by the rows' `Serialize`; the header by [`columns`]. Nothing is
/// guaranteed to be on disk before [`finish`](CsvWriter::finish).
#[derive(Debug)]
pub struct CsvWriter<R: Row> {
    path: PathBuf,
    writer: csv::Writer<Sink>,
    params: usize,
    row: PhantomData<fn(&R)>,
}

impl<R: Row> CsvWriter<R> {
    /// Creates `dir/R::FILE` and writes its header, with one `param.<name>` column per name
    /// in `param_names` (which must be empty for a row type without them).
    pub fn create(dir: &Path, param_names: &[String]) -> Result<CsvWriter<R>, SchemaError> {
        CsvWriter::create_encoded(dir, param_names, Encoding::Plain)
    }

    /// [`create`](CsvWriter::create), storing the file as `encoding` says (`R::FILE` or
    /// `R::FILE.gz`).
    pub fn create_encoded(
        dir: &Path,
        param_names: &[String],
        encoding: Encoding,
    ) -> Result<CsvWriter<R>, SchemaError> {
        let path = dir.join(encoding.file_name(R::FILE));
        if !param_names.is_empty() && !field_names::<R>().contains(&PARAMS_FIELD) {
            return Err(SchemaError::contract(
                &path,
                None,
                "this file has no param.* columns",
            ));
        }
        let file = BufWriter::new(File::create(&path).map_err(SchemaError::io("creating", &path))?);
        let sink = match encoding {
            Encoding::Plain => Sink::Plain(file),
            Encoding::Gzip => Sink::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(file, flate2::Compression::default()),
            ),
        };
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(sink);
        if let Err(source) = writer.write_record(columns::<R>(param_names)) {
            return Err(SchemaError::Write { path, source });
        }
        Ok(CsvWriter {
            path,
            writer,
            params: param_names.len(),
            row: PhantomData,
        })
    }

    /// Writes one row; it must have one parameter value per `param.*` column.
    pub fn write(&mut self, row: &R) -> Result<(), SchemaError> {
        let n = row.params().map_or(0, <[u64]>::len);
        if n != self.params {
            return Err(SchemaError::contract(
                &self.path,
                None,
                format!(
                    "a row with {n} parameter values where the header has {}",
                    self.params
                ),
            ));
        }
        self.writer
            .serialize(row)
            .map_err(|source| SchemaError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes what is buffered (for gzip, also the trailer) and flushes the file.
    pub fn finish(self) -> Result<(), SchemaError> {
        let CsvWriter { path, writer, .. } = self;
        let sink = writer
            .into_inner()
            .map_err(|e| SchemaError::io("writing", &path)(e.into_error()))?;
        sink.finish().map_err(SchemaError::io("writing", &path))
    }
}

/// Reads one CSV file of the contract, refusing a header that is not exactly the contract's.
#[derive(Debug)]
pub struct CsvReader<R: Row> {
    path: PathBuf,
    reader: csv::Reader<Source>,
    header: StringRecord,
    /// The index of the first `param.*` column.
    param_at: usize,
    param_names: Vec<String>,
    row: PhantomData<fn() -> R>,
}

impl<R: Row> CsvReader<R> {
    /// Opens `dir/R::FILE`, or `dir/R::FILE.gz` when only that exists, and checks its header:
    /// the columns of `R` in order, with any number of `param.<name>` columns where `R` has
    /// them, and without [`Row::ADDED`] in a file written before them.
    pub fn open(dir: &Path) -> Result<CsvReader<R>, SchemaError> {
        let (path, encoding) =
            stored::<R>(dir).unwrap_or_else(|| (dir.join(R::FILE), Encoding::Plain));
        let file = BufReader::new(File::open(&path).map_err(SchemaError::io("reading", &path))?);
        let source = match encoding {
            Encoding::Plain => Source::Plain(file),
            Encoding::Gzip => Source::Gzip(flate2::read::MultiGzDecoder::new(file)),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(source);
        let header = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(csv_error(&path, None, e)),
        };
        let fields = field_names::<R>();
        debug_assert!(fields.ends_with(R::ADDED), "added columns come last");
        // A file written before the columns added last ends without them.
        let older = !R::ADDED.is_empty() && !header.iter().any(|h| R::ADDED.contains(&h));
        let fields = if older {
            &fields[..fields.len() - R::ADDED.len()]
        } else {
            fields
        };
        let (param_at, param_names) = check_header(&path, fields, &header)?;
        Ok(CsvReader {
            path,
            reader,
            header,
            param_at,
            param_names,
            row: PhantomData,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the file's parameters (its `param.*` columns without the prefix), in
    /// column order: the order of each row's `params`.
    pub fn param_names(&self) -> &[String] {
        &self.param_names
    }

    /// The rows, each with its 1-based line in the file; an error names the line and, for a
    /// bad cell, the column.
    pub fn rows(&mut self) -> impl Iterator<Item = Result<(u64, R), SchemaError>> + '_ {
        let CsvReader {
            path,
            reader,
            header,
            param_at,
            param_names,
            ..
        } = self;
        reader.records().map(move |record| {
            let record = record.map_err(|e| csv_error(path, Some(header), e))?;
            let line = record.position().map_or(0, csv::Position::line);
            let mut row: R = record
                .deserialize(Some(header))
                .map_err(|e| csv_error(path, Some(header), e))?;
            if let Some(params) = row.params_mut() {
                params.clear();
                for (k, name) in param_names.iter().enumerate() {
                    let text = record.get(*param_at + k).unwrap_or_default();
                    let value = text.parse::<u64>().map_err(|_| {
                        SchemaError::contract(
                            path,
                            Some(line),
                            format!(
                                "column `{PARAM_PREFIX}{name}`: `{text}` is not a whole number"
                            ),
                        )
                    })?;
                    params.push(value);
                }
            }
            Ok((line, row))
        })
    }
}

/// Checks that `header` is `fields` in order, a `params` field standing for any number of
/// `param.<name>` columns; returns the index of the first of those and their names.
fn check_header(
    path: &Path,
    fields: &[&str],
    header: &StringRecord,
) -> Result<(usize, Vec<String>), SchemaError> {
    let found: Vec<&str> = header.iter().collect();
    let refuse = |message: String| Err(SchemaError::contract(path, Some(1), message));
    let (mut i, mut param_at, mut names) = (0, 0, Vec::new());
    for &field in fields {
        if field == PARAMS_FIELD {
            param_at = i;
            while let Some(name) = found.get(i).and_then(|h| h.strip_prefix(PARAM_PREFIX)) {
                if name.is_empty() {
                    return refuse(format!(
                        "column {} `{PARAM_PREFIX}` has no parameter name",
                        i + 1
                    ));
                }
                names.push(name.to_owned());
                i += 1;
            }
            continue;
        }
        match found.get(i) {
            Some(&h) if h == field => i += 1,
            _ if !found.contains(&field) => {
                return refuse(format!(
                    "missing column `{field}` (the header has: {})",
                    found.join(",")
                ));
            }
            Some(&h) => {
                return refuse(format!(
                    "column {} is `{h}` where the contract has `{field}`",
                    i + 1
                ));
            }
            None => {
                return refuse(format!(
                    "column {} is missing: the contract has `{field}`",
                    i + 1
                ));
            }
        }
    }
    if let Some(extra) = found.get(i) {
        return refuse(format!(
            "unexpected column `{extra}` (column {}): the contract has {} columns",
            i + 1,
            i
        ));
    }
    Ok((param_at, names))
}

/// Turns a csv error into an error naming the file, the line and, for a bad cell, the column.
fn csv_error(path: &Path, header: Option<&StringRecord>, err: csv::Error) -> SchemaError {
    let line = err.position().map(csv::Position::line);
    let text = err.to_string();
    let message = match err.into_kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("malformed row: {len} fields where the header has {expected_len}"),
        csv::ErrorKind::Deserialize { err: de, .. } => {
            let column = de
                .field()
                .and_then(|i| header.and_then(|h| h.get(i as usize)));
            match column {
                Some(c) => format!("column `{c}`: {}", de.kind()),
                None => de.kind().to_string(),
            }
        }
        csv::ErrorKind::Utf8 { err: utf8, .. } => {
            format!("invalid UTF-8 in field {}", utf8.field() + 1)
        }
        csv::ErrorKind::Io(source) => {
            return SchemaError::Io {
                op: "reading",
                path: path.to_path_buf(),
                source,
            };
        }
        _ => text,
    };
    SchemaError::contract(path, line, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use crate::{Fixed6, LatencyRow, SummaryRow, TaskRow, UtilizationRow};
    use serde::Deserialize;

    /// The contract error of `result`, as (line, message).
    fn refused<T: fmt::Debug>(result: Result<T, SchemaError>, file: &str) -> (Option<u64>, String) {
        match result.expect_err("must be refused") {
            SchemaError::Contract {
                path,
                line,
                message,
            } => {
                assert!(path.ends_with(file), "{}", path.display());
                (line, message)
            }
            other => panic!("expected a contract error, got {other:?}"),
        }
    }

    #[test]
    fn gzip_files_hold_the_same_rows_and_the_same_bytes_every_time() {
        let s = Scratch::new("gzip");
        let rows: Vec<UtilizationRow> = (0..500)
            .map(|i| UtilizationRow {
                node: i % 5,
                window_start_ns: u64::from(i) * 1_000,
                window_ns: 1_000,
                busy_fraction: Fixed6(f64::from(i % 4) / 4.0),
            })
            .collect();
        let mut bytes = Vec::new();
        for dir in ["a", "b"] {
            let dir = s.path().join(dir);
            std::fs::create_dir(&dir).expect("mkdir");
            let mut w = CsvWriter::<UtilizationRow>::create_encoded(&dir, &[], Encoding::Gzip)
                .expect("create");
            for r in &rows {
                w.write(r).expect("write");
            }
            w.finish().expect("finish");
            assert!(!dir.join(UtilizationRow::FILE).exists());
            bytes.push(std::fs::read(dir.join("utilization.csv.gz")).expect("read"));
            let mut reader = CsvReader::<UtilizationRow>::open(&dir).expect("open");
            assert!(reader.path().ends_with("utilization.csv.gz"));
            let back: Vec<UtilizationRow> = reader.rows().map(|r| r.expect("row").1).collect();
            assert_eq!(back, rows);
        }
        assert_eq!(bytes[0], bytes[1], "compression must be deterministic");
        // The same rows written plain: the decompressed bytes are the plain file's.
        let plain = s.path().join("plain");
        std::fs::create_dir(&plain).expect("mkdir");
        let mut w = CsvWriter::<UtilizationRow>::create(&plain, &[]).expect("create");
        for r in &rows {
            w.write(r).expect("write");
        }
        w.finish().expect("finish");
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes[0].as_slice())
            .read_to_end(&mut text)
            .expect("gunzip");
        assert_eq!(
            text,
            std::fs::read(plain.join(UtilizationRow::FILE)).expect("read")
        );
        assert!(
            bytes[0].len() * 4 < text.len(),
            "{} of {}",
            bytes[0].len(),
            text.len()
        );
    }

    fn summary_header() -> String {
        columns::<SummaryRow>(&["data_size".to_owned()]).join(",")
    }

    #[test]
    fn a_header_that_is_not_the_contract_is_refused_naming_the_column() {
        let s = Scratch::new("header");
        let util = |text: &str| {
            std::fs::write(s.path().join("utilization.csv"), text).expect("write");
            refused(
                CsvReader::<UtilizationRow>::open(s.path()),
                "utilization.csv",
            )
        };
        assert_eq!(
            util("node,window_start_ns,busy_fraction\n0,0,0.5\n"),
            (
                Some(1),
                "missing column `window_ns` (the header has: node,window_start_ns,busy_fraction)"
                    .to_owned()
            )
        );
        assert_eq!(
            util("node,window_ns,window_start_ns,busy_fraction\n").1,
            "column 2 is `window_ns` where the contract has `window_start_ns`"
        );
        assert_eq!(
            util("node,window_start_ns,window_ns,busy_fraction,colour\n").1,
            "unexpected column `colour` (column 5): the contract has 4 columns"
        );
        assert_eq!(
            util("node,param.size,window_start_ns,window_ns,busy_fraction\n").1,
            "column 2 is `param.size` where the contract has `window_start_ns`"
        );
        assert!(util("").1.starts_with("missing column `node`"));

        let summary = |header: &str| {
            std::fs::write(s.path().join("summary.csv"), format!("{header}\n")).expect("write");
            refused(CsvReader::<SummaryRow>::open(s.path()), "summary.csv")
        };
        assert_eq!(
            summary(&summary_header().replace(",p99_ms", "")).1,
            format!(
                "missing column `p99_ms` (the header has: {})",
                summary_header().replace(",p99_ms", "")
            )
        );
        // Parameter columns belong between `seed` and `datapoints` only.
        assert_eq!(
            summary(
                &summary_header()
                    .replace(",param.data_size", "")
                    .replace("max_ms", "max_ms,param.x")
            )
            .1,
            "column 10 is `param.x` where the contract has `bytes_transferred`"
        );
        assert_eq!(
            summary(&summary_header().replace("param.data_size", "param.")).1,
            "column 4 `param.` has no parameter name"
        );
        // The exact header is accepted, with any number of parameters.
        for names in [vec![], vec!["a".to_owned(), "b".to_owned()]] {
            let header = columns::<SummaryRow>(&names).join(",");
            std::fs::write(s.path().join("summary.csv"), format!("{header}\n")).expect("write");
            let mut reader = CsvReader::<SummaryRow>::open(s.path()).expect("exact header");
            assert_eq!(reader.param_names(), names.as_slice());
            assert_eq!(reader.rows().count(), 0);
        }
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let s = Scratch::new("missing");
        let err = CsvReader::<TaskRow>::open(s.path()).expect_err("no file");
        assert!(
            matches!(&err, SchemaError::Io { op: "reading", path, .. } if path.ends_with("tasks.csv"))
        );
        assert!(err.to_string().contains("tasks.csv"), "{err}");
    }

    #[test]
    fn bad_rows_are_refused_naming_line_and_column() {
        let s = Scratch::new("rows");
        let header = summary_header();
        let good = "r,random,1,800000,10,1.000000,1.000000,1.000000,1.000000,1.000000,0,0,0,0,0,0.5,0.5,0.5,0,0,0,0,0,0,,,0,0.000000";
        let rows = |body: &str| {
            std::fs::write(
                s.path().join("summary.csv"),
                format!("{header}\n{good}\n{body}\n"),
            )
            .expect("write");
            let mut reader = CsvReader::<SummaryRow>::open(s.path()).expect("open");
            refused(reader.rows().collect::<Result<Vec<_>, _>>(), "summary.csv")
        };
        assert_eq!(
            rows(&good.replace(",1.000000,", ",fast,")),
            (
                Some(3),
                "column `mean_ms`: invalid float literal".to_owned()
            )
        );
        assert_eq!(
            rows(&good.replace(",800000,", ",big,")),
            (
                Some(3),
                "column `param.data_size`: `big` is not a whole number".to_owned()
            )
        );
        assert_eq!(
            rows(&good.replace(",0.5,0.5,0.5", "")),
            (
                Some(3),
                "malformed row: 25 fields where the header has 28".to_owned()
            )
        );
        let s2 = Scratch::new("flag");
        let mut w = CsvWriter::<LatencyRow>::create(s2.path(), &[]).expect("create");
        w.write(&LatencyRow::default()).expect("write");
        w.finish().expect("finish");
        let path = s2.path().join("latencies.csv");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace(",0\n", ",2\n")).expect("write");
        let mut reader = CsvReader::<LatencyRow>::open(s2.path()).expect("open");
        let (line, message) = refused(
            reader.rows().collect::<Result<Vec<_>, _>>(),
            "latencies.csv",
        );
        assert_eq!(line, Some(2));
        // serde's own errors (not csv's parse errors) carry no column; the value and what
        // was expected still name the problem.
        assert_eq!(message, "invalid value: integer `2`, expected 0 or 1");
    }

    #[test]
    fn writers_refuse_rows_that_do_not_fit_the_header() {
        let s = Scratch::new("writer");
        let names = ["x".to_owned()];
        let (_, message) = refused(CsvWriter::<TaskRow>::create(s.path(), &names), "tasks.csv");
        assert_eq!(message, "this file has no param.* columns");
        let mut w = CsvWriter::<SummaryRow>::create(s.path(), &names).expect("create");
        let (_, message) = refused(w.write(&SummaryRow::default()), "summary.csv");
        assert_eq!(
            message,
            "a row with 0 parameter values where the header has 1"
        );
    }

    #[test]
    fn columns_and_cells_serve_any_row_shaped_struct() {
        #[derive(Serialize, Deserialize)]
        struct Headline {
            run: String,
            params: Vec<u64>,
            mean_ms: Fixed6,
        }
        let names = ["size".to_owned(), "n".to_owned()];
        assert_eq!(
            columns::<Headline>(&names),
            ["run", "param.size", "param.n", "mean_ms"]
        );
        let row = Headline {
            run: "a,b".into(),
            params: vec![1, 2],
            mean_ms: Fixed6(0.5),
        };
        assert_eq!(cells(&row).expect("cells"), ["a,b", "1", "2", "0.500000"]);
        assert!(columns::<u64>(&names).is_empty());
    }
}
