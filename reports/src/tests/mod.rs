//! Tests on synthetic sweeps written by [`fixture::FakeSweep`].

mod claims;
pub(crate) mod fixture;

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use self::fixture::{FakeFaults, FakeSweep, TempDir};
use crate::figures::Axis;
use crate::model::XAxis;
use crate::{ReportError, ReportOptions, ReportSummary, render};

const STEMS: [&str; 5] = [
    "mean-latency",
    "latency-cdf",
    "p99-latency",
    "bytes-moved",
    "cpu-utilization",
];

/// Writes the small fixture into `<tmp>/sweep` and renders it into `<tmp>/report`.
fn render_small(tmp: &TempDir) -> (PathBuf, PathBuf, ReportSummary) {
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    FakeSweep::small().write(&sweep);
    let out = tmp.path().join("report");
    let summary = render(&sweep, &out, &ReportOptions::default()).expect("render");
    (sweep, out, summary)
}

fn finding<'a>(summary: &'a ReportSummary, section: &str) -> &'a str {
    &summary
        .findings
        .iter()
        .find(|f| f.section == section)
        .expect("finding")
        .text
}

/// Names in `dir` that look like leftover staging directories (`.<name>.tmp-<pid>-<n>`).
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".tmp-"))
        .collect()
}

/// Width and height from a PNG's signature and IHDR chunk, decoding the whole image with the
/// `png` crate; also whether any pixel is not white.
fn decode_png(path: &Path) -> (u32, u32, bool) {
    let bytes = fs::read(path).expect("read png");
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} has no PNG signature",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let drawn = buf[..info.buffer_size()].iter().any(|&b| b != 255);
    (info.width, info.height, drawn)
}

#[test]
fn renders_every_file_and_leaves_no_staging_directory() {
    let tmp = TempDir::new("files");
    let (_, out, summary) = render_small(&tmp);
    let mut expected: Vec<PathBuf> = STEMS
        .iter()
        .flat_map(|s| [out.join(format!("{s}.png")), out.join(format!("{s}.svg"))])
        .chain([out.join("report.html"), out.join("report.md")])
        .collect();
    expected.sort();
    assert_eq!(summary.files, expected);
    for f in &summary.files {
        assert!(
            fs::metadata(f).expect("written file").len() > 100,
            "{} is nearly empty",
            f.display()
        );
    }
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn pngs_decode_at_the_figure_size_and_are_not_blank() {
    let tmp = TempDir::new("png");
    let (_, out, _) = render_small(&tmp);
    for stem in STEMS {
        let (w, h, drawn) = decode_png(&out.join(format!("{stem}.png")));
        assert_eq!((w, h), crate::figures::SIZE, "{stem}");
        assert!(drawn, "{stem}.png is all white");
    }
}

#[test]
fn svgs_are_svg_documents_naming_their_series() {
    let tmp = TempDir::new("svg");
    let (_, out, _) = render_small(&tmp);
    let read = |stem: &str| fs::read_to_string(out.join(format!("{stem}.svg"))).expect("svg");
    let mean = read("mean-latency");
    assert!(mean.contains("<svg") && mean.trim_end().ends_with("</svg>"));
    // plotters writes each text element's content on a line of its own.
    for name in ["random", "group", "random (published)", "group (published)"] {
        assert!(
            mean.contains(&format!("\n{name}\n")),
            "mean-latency.svg lacks {name:?}"
        );
    }
    assert!(mean.contains("\nmean latency (ms)\n"));
    for stem in ["latency-cdf", "p99-latency", "bytes-moved"] {
        let svg = read(stem);
        assert!(
            svg.contains("<svg") && svg.contains("\nrandom\n") && svg.contains("\ngroup\n"),
            "{stem}"
        );
        assert!(
            !svg.contains("(published)"),
            "{stem} should not draw the published points"
        );
    }
    let cpu = read("cpu-utilization");
    for node in 0..5 {
        assert!(
            cpu.contains(&format!("\nnode {node}\n")),
            "cpu-utilization.svg lacks node {node}"
        );
    }
    assert!(read("latency-cdf").contains("Latency CDF at 15.26 MiB"));
}

#[test]
fn html_is_self_contained_with_one_decodable_image_per_figure() {
    let tmp = TempDir::new("html");
    let (_, out, summary) = render_small(&tmp);
    let html = fs::read_to_string(out.join("report.html")).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    let prefix = "<img src=\"data:image/png;base64,";
    assert_eq!(html.matches("<img ").count(), STEMS.len());
    assert_eq!(html.matches(prefix).count(), STEMS.len());
    for chunk in html.split(prefix).skip(1) {
        let data = &chunk[..chunk.find('"').expect("closing quote")];
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
    for stem in STEMS {
        assert!(
            html.contains(&format!("id=\"{stem}\"")),
            "no section for {stem}"
        );
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external reference in the HTML"
    );
    assert!(!html.contains("<link") && !html.contains("src=\"http"));
    assert!(
        html.contains("dataset") && html.contains("imagesLoaded") && html.contains("consoleErrors")
    );
    for fact in [
        "writeup",
        "abc1234",
        "0.1.0",
        "virtual",
        "1, 2",
        "random, group",
    ] {
        assert!(html.contains(fact), "facts lack {fact}");
    }
    // Every paragraph appears, HTML-escaped.
    for f in &summary.findings {
        assert!(
            html.contains(&f.text.replace('\'', "&#39;")),
            "HTML lacks: {}",
            f.text
        );
    }
    // The summary table: one row per policy and size.
    let (_, table) = html
        .split_once("<h2>Summary (seed-averaged)</h2>")
        .expect("the summary table");
    assert_eq!(table.matches("<tr><td class=\"l\">").count(), 6);
}

#[test]
fn mean_latency_sentences_state_the_fixture_numbers() {
    let tmp = TempDir::new("mean");
    let (_, _, summary) = render_small(&tmp);
    let text = finding(&summary, "mean-latency");
    for expected in [
        "group's mean latency stays between 60.0 and 70.0 ms across the 3 sizes (max/min = 1.17).",
        "random's mean latency goes from 25.0 ms at 0.76 MiB to 600.0 ms at 15.26 MiB (range 25.0–600.0 ms, max/min = 24.00); it rises from one size to the next at 2 of 2 steps.",
        "random's mean latency is below group's up to 0.76 MiB and above it from 7.63 MiB on: the curves cross between 0.76 MiB and 7.63 MiB.",
        "At the smallest size, 0.76 MiB, random's mean latency (25.0 ms) is the lowest; group's (70.0 ms) is 2.80× that.",
        "At the largest size, 15.26 MiB, group's mean latency (65.0 ms) is the lowest; random's (600.0 ms) is 9.23× that.",
        "Across seeds, the widest min–max range of a point is 20.0 ms (random at 15.26 MiB, 590.0–610.0 ms)",
        "random from 27 ms at 0.76 MiB to 663 ms at 15.26 MiB (range 27–663 ms); group from 77 ms at 0.76 MiB to 67 ms at 15.26 MiB (range 61–77 ms).",
        "At 0.76 MiB we measure 25.0 ms for random (published: 27 ms) and 70.0 ms for group (published: 77 ms).",
        "At 15.26 MiB we measure 600.0 ms for random (published: 663 ms) and 65.0 ms for group (published: 67 ms).",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn other_sentences_state_the_fixture_numbers() {
    let tmp = TempDir::new("other");
    let (_, _, summary) = render_small(&tmp);
    let cdf = finding(&summary, "latency-cdf");
    // 2 seeds x 32 measured datapoints; the largest is 1.484375 x 610 ms. The warm-up
    // datapoints (10x the mean) must not show.
    assert!(
        cdf.contains("random (2 runs, 64 datapoints): median "),
        "{cdf}"
    );
    assert!(cdf.contains("max 905.5 ms"), "{cdf}");
    assert!(cdf.contains("group (2 runs, 64 datapoints)"), "{cdf}");
    assert!(!cdf.contains("6100"), "warm-up leaked into the CDF: {cdf}");
    let bytes = finding(&summary, "bytes-moved");
    for expected in [
        "random moves 76.3 MiB per run at 0.76 MiB and 1.5 GiB at 15.26 MiB.",
        "group moves no bytes over the network at any size.",
        "At 15.26 MiB, group moves the fewest bytes (0 B); random moves 1.5 GiB.",
    ] {
        assert!(
            bytes.contains(expected),
            "missing {expected:?} in:\n{bytes}"
        );
    }
    let cpu = finding(&summary, "cpu-utilization");
    assert!(
        cpu.starts_with("The figure shows run random-size02-seed1 (random, seed 1, 15.26 MiB)."),
        "{cpu}"
    );
    assert!(cpu.contains("Over 10 windows of 100 ms (1.0 s)"), "{cpu}");
    assert!(cpu.contains("It ranges from"), "{cpu}");
    let p99 = finding(&summary, "p99-latency");
    assert!(p99.contains("group's p99 latency stays between"), "{p99}");
    assert!(p99.contains("At 15.26 MiB, the p99 is "), "{p99}");
    assert_eq!(
        finding(&summary, "runs"),
        "12 runs, 384 measured datapoints in all (warm-up excluded). No run reports failed tasks."
    );
}

#[test]
fn markdown_links_each_png_and_repeats_the_paragraphs() {
    let tmp = TempDir::new("md");
    let (_, out, summary) = render_small(&tmp);
    let md = fs::read_to_string(out.join("report.md")).expect("md");
    for stem in STEMS {
        assert!(
            md.contains(&format!("]({stem}.png)")),
            "no link to {stem}.png"
        );
    }
    assert!(md.contains("group's mean latency stays between 60.0 and 70.0 ms"));
    assert_eq!(
        md.matches("\n| random | ").count() + md.matches("\n| group | ").count(),
        6
    );
    assert_eq!(summary.findings.len(), 6);
}

#[test]
fn terminal_table_has_a_row_per_point() {
    let tmp = TempDir::new("table");
    let (_, _, summary) = render_small(&tmp);
    let table = summary.table();
    assert_eq!(table.lines().count(), 7, "{table}");
    assert!(
        table
            .lines()
            .next()
            .expect("header")
            .contains("data size (MiB)")
    );
    assert!(table.contains("70.0 (69.0-71.0)"), "{table}");
}

/// Renders a broken sweep into an output directory that already holds a file, and checks
/// that the error is as expected and nothing was written.
fn assert_fails_cleanly(sweep: &Path, tmp: &TempDir) -> ReportError {
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).expect("mkdir out");
    fs::write(out.join("keep.txt"), "keep").expect("write");
    let err = render(sweep, &out, &ReportOptions::default()).expect_err("bad input must fail");
    let names: Vec<_> = fs::read_dir(&out)
        .expect("read out")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("keep.txt")],
        "output was written despite {err}"
    );
    assert!(leftovers(tmp.path()).is_empty());
    // A fresh output directory is not even created.
    let fresh = tmp.path().join("fresh");
    render(sweep, &fresh, &ReportOptions::default()).expect_err("bad input must fail");
    assert!(!fresh.exists());
    assert!(leftovers(tmp.path()).is_empty());
    err
}

fn small_sweep(tmp: &TempDir) -> PathBuf {
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    FakeSweep::small().write(&sweep);
    sweep
}

fn edit_summary(sweep: &Path, edit: impl FnOnce(Vec<String>) -> Vec<String>) {
    let path = sweep.join("summary.csv");
    let lines: Vec<String> = fs::read_to_string(&path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect();
    fs::write(&path, edit(lines).join("\n") + "\n").expect("write");
}

fn input_error(err: &ReportError) -> (&Path, Option<u64>, &str) {
    match err {
        ReportError::Input {
            path,
            line,
            message,
        } => (path.as_path(), *line, message.as_str()),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn missing_summary_is_an_error_naming_the_file() {
    let tmp = TempDir::new("nosummary");
    let sweep = small_sweep(&tmp);
    fs::remove_file(sweep.join("summary.csv")).expect("rm");
    let err = assert_fails_cleanly(&sweep, &tmp);
    match &err {
        ReportError::Io { path, .. } => assert!(path.ends_with("summary.csv")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(err.to_string().contains("summary.csv"), "{err}");
}

#[test]
fn malformed_row_is_an_error_naming_file_and_line() {
    let tmp = TempDir::new("malformed");
    let sweep = small_sweep(&tmp);
    edit_summary(&sweep, |mut lines| {
        lines[2] = lines[2].rsplitn(3, ',').nth(2).expect("fields").to_owned();
        lines
    });
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (path, line, message) = input_error(&err);
    assert!(path.ends_with("summary.csv"));
    assert_eq!(line, Some(3));
    assert!(
        message.contains("malformed row: 27 fields where the header has 29"),
        "{message}"
    );
    assert!(err.to_string().contains("summary.csv:3: "), "{err}");
}

#[test]
fn value_that_is_not_a_number_names_the_column_and_line() {
    let tmp = TempDir::new("nan");
    let sweep = small_sweep(&tmp);
    edit_summary(&sweep, |mut lines| {
        let mut fields: Vec<&str> = lines[4].split(',').collect();
        fields[6] = "fast";
        lines[4] = fields.join(",");
        lines
    });
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (_, line, message) = input_error(&err);
    assert_eq!(line, Some(5));
    assert!(message.starts_with("column `mean_ms`"), "{message}");

    let tmp = TempDir::new("badparam");
    let sweep = small_sweep(&tmp);
    edit_summary(&sweep, |mut lines| {
        lines[1] = lines[1].replacen(",800000,", ",big,", 1);
        lines
    });
    let err = assert_fails_cleanly(&sweep, &tmp);
    assert_eq!(
        input_error(&err),
        (
            sweep.join("summary.csv").as_path(),
            Some(2),
            "column `param.data_size`: `big` is not a whole number"
        )
    );
}

#[test]
fn missing_column_is_an_error_naming_the_column() {
    let tmp = TempDir::new("nocolumn");
    let sweep = small_sweep(&tmp);
    edit_summary(&sweep, |lines| {
        lines
            .iter()
            .map(|l| {
                let mut fields: Vec<&str> = l.split(',').collect();
                fields.remove(9); // p99_ms
                fields.join(",")
            })
            .collect()
    });
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (path, line, message) = input_error(&err);
    assert!(path.ends_with("summary.csv"));
    assert_eq!(line, Some(1));
    assert!(message.starts_with("missing column `p99_ms`"), "{message}");
}

#[test]
fn a_column_the_contract_does_not_have_is_refused_naming_it() {
    // The header must be exactly the contract's: an extra column is not ignored.
    let tmp = TempDir::new("extracolumn");
    let sweep = small_sweep(&tmp);
    edit_summary(&sweep, |lines| {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{l},{}", if i == 0 { "colour" } else { "red" }))
            .collect()
    });
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (path, line, message) = input_error(&err);
    assert!(path.ends_with("summary.csv"));
    assert_eq!(line, Some(1));
    assert_eq!(
        message,
        "unexpected column `colour` (column 30): the contract has 29 columns"
    );
    assert!(err.to_string().contains("summary.csv:1: "), "{err}");

    // Nor may a run file's columns come in another order.
    let tmp = TempDir::new("swapcolumns");
    let sweep = small_sweep(&tmp);
    let path = sweep
        .join("runs")
        .join(FakeSweep::small().run_id("group", 2, 1))
        .join("latencies.csv");
    let text = fs::read_to_string(&path).expect("read");
    fs::write(
        &path,
        text.replacen("latency_ns,warmup", "warmup,latency_ns", 1),
    )
    .expect("write");
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (p, line, message) = input_error(&err);
    assert_eq!((p, line), (path.as_path(), Some(1)));
    assert_eq!(
        message,
        "column 10 is `warmup` where the contract has `latency_ns`"
    );
}

#[test]
fn a_run_id_that_is_not_a_plain_name_is_refused_naming_its_line() {
    let tmp = TempDir::new("runid");
    let sweep = small_sweep(&tmp);
    edit_summary(&sweep, |mut lines| {
        lines[7] = lines[7].replacen("group-", "../group-", 1);
        lines
    });
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (path, line, message) = input_error(&err);
    assert!(path.ends_with("summary.csv"));
    assert_eq!(line, Some(8));
    assert!(
        message.starts_with("run id `../group-")
            && message.ends_with("is not a plain directory name"),
        "{message}"
    );
}

#[test]
fn missing_x_parameter_is_an_error_naming_it() {
    let tmp = TempDir::new("nox");
    let sweep = small_sweep(&tmp);
    let out = tmp.path().join("out");
    let options = ReportOptions {
        x_param: Some("num_maps".to_owned()),
        ..ReportOptions::default()
    };
    let err = render(&sweep, &out, &options).expect_err("no such parameter");
    let (_, line, message) = input_error(&err);
    assert_eq!(line, Some(1));
    assert!(
        message.contains("`param.num_maps`")
            && message.contains("param.data_size, param.num_reducers"),
        "{message}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_run_csv_is_an_error_naming_that_file_and_line() {
    let tmp = TempDir::new("badlatency");
    let sweep = small_sweep(&tmp);
    let fx = FakeSweep::small();
    let path = sweep
        .join("runs")
        .join(fx.run_id("group", 2, 2))
        .join("latencies.csv");
    let mut text = fs::read_to_string(&path).expect("read");
    text.push_str("group,2,16000000,4,99,0,0,0,0,-5,0\n");
    fs::write(&path, &text).expect("write");
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (p, line, message) = input_error(&err);
    assert_eq!(p, path.as_path());
    assert_eq!(line, Some(text.lines().count() as u64));
    assert!(message.starts_with("column `latency_ns`"), "{message}");

    let tmp = TempDir::new("badutil");
    let sweep = small_sweep(&tmp);
    let path = sweep
        .join("runs")
        .join(fx.run_id("random", 2, 1))
        .join("utilization.csv");
    fs::write(&path, "node,window_start_ns,busy_fraction\n0,0,0.5\n").expect("write");
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (p, line, message) = input_error(&err);
    assert_eq!((p, line), (path.as_path(), Some(1)));
    assert!(
        message.starts_with("missing column `window_ns`"),
        "{message}"
    );
}

#[test]
fn malformed_sweep_toml_names_the_line() {
    let tmp = TempDir::new("badtoml");
    let sweep = small_sweep(&tmp);
    fs::write(
        sweep.join("sweep.toml"),
        "workload = \"writeup\"\npolicies = [\"random\"\n",
    )
    .expect("write");
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (p, line, _) = input_error(&err);
    assert!(p.ends_with("sweep.toml"));
    assert!(matches!(line, Some(2) | Some(3)), "{line:?}");
}

#[test]
fn renders_again_into_an_existing_directory_and_into_the_sweep_itself() {
    let tmp = TempDir::new("again");
    let (sweep, out, first) = render_small(&tmp);
    fs::write(out.join("notes.txt"), "mine").expect("write");
    let second = render(&sweep, &out, &ReportOptions::default()).expect("second render");
    assert_eq!(first.files, second.files);
    assert_eq!(
        fs::read_to_string(out.join("notes.txt")).expect("kept"),
        "mine"
    );
    let inside = render(&sweep, &sweep, &ReportOptions::default()).expect("render into the sweep");
    assert!(inside.files.iter().all(|f| f.starts_with(&sweep)));
    assert!(sweep.join("report.html").is_file() && sweep.join("summary.csv").is_file());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn single_run_without_sweep_toml_renders_from_the_manifest() {
    let tmp = TempDir::new("single");
    let sweep = tmp.path().join("one");
    fs::create_dir_all(&sweep).expect("mkdir");
    let mut fx = FakeSweep::small();
    fx.policies = vec!["group"];
    fx.seeds = vec![7];
    fx.sizes = vec![8_000_000];
    fx.write_sweep_toml = false;
    fx.write(&sweep);
    let out = tmp.path().join("report");
    let summary = render(&sweep, &out, &ReportOptions::default()).expect("render");
    assert_eq!(summary.points.len(), 1);
    assert_eq!(summary.points[0].runs, 1);
    let text = finding(&summary, "mean-latency");
    assert!(
        text.starts_with("group's mean latency is 71.0 ms at 7.63 MiB."),
        "{text}"
    );
    let html = fs::read_to_string(out.join("report.html")).expect("html");
    assert!(html.contains("writeup") && html.contains("abc1234"));
    assert_eq!(html.matches("<img ").count(), STEMS.len());
}

/// Writes into `dir` one run (random, seed 3, 16 MB) as `cohort run` does: its CSVs beside
/// its one-row summary.csv, without runs/; its manifest declares `reproduces`.
fn write_flat_run(dir: &Path, reproduces: Option<&'static str>) {
    let mut fx = FakeSweep::small();
    fx.policies = vec!["random"];
    fx.seeds = vec![3];
    fx.sizes = vec![16_000_000];
    fx.write_sweep_toml = false;
    fx.reproduces = reproduces;
    fx.write(dir);
    let nested = dir.join("runs").join(fx.run_id("random", 0, 3));
    for entry in fs::read_dir(&nested).expect("run dir") {
        let entry = entry.expect("entry");
        fs::rename(entry.path(), dir.join(entry.file_name())).expect("move up");
    }
    fs::remove_dir_all(dir.join("runs")).expect("rm runs");
}

#[test]
fn a_single_run_written_flat_renders() {
    // `cohort run` writes one run's CSVs beside its one-row summary.csv, without runs/.
    let tmp = TempDir::new("flat");
    let dir = tmp.path().join("run");
    fs::create_dir_all(&dir).expect("mkdir");
    write_flat_run(&dir, Some("group-scheduling-2018"));
    let summary = render(&dir, &dir.join("report"), &ReportOptions::default()).expect("render");
    assert!(finding(&summary, "latency-cdf").contains("random (1 run, 32 datapoints)"));
    assert!(
        finding(&summary, "cpu-utilization")
            .starts_with("The figure shows run random-size00-seed3")
    );
}

#[test]
fn utilization_run_can_be_chosen_and_must_exist() {
    let tmp = TempDir::new("utilrun");
    let sweep = small_sweep(&tmp);
    let run = FakeSweep::small().run_id("group", 0, 2);
    let options = ReportOptions {
        utilization_run: Some(run.clone()),
        ..ReportOptions::default()
    };
    let summary = render(&sweep, &tmp.path().join("a"), &options).expect("render");
    assert!(finding(&summary, "cpu-utilization").starts_with(&format!(
        "The figure shows run {run} (group, seed 2, 0.76 MiB)."
    )));
    let options = ReportOptions {
        utilization_run: Some("nope".to_owned()),
        ..ReportOptions::default()
    };
    let err = render(&sweep, &tmp.path().join("b"), &options).expect_err("unknown run");
    assert!(input_error(&err).2.contains("no run `nope`"));
}

#[test]
fn several_crossings_are_listed() {
    let tmp = TempDir::new("cross");
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    let mut fx = FakeSweep::small();
    fx.sizes = vec![1_048_576, 2_097_152, 3_145_728, 4_194_304];
    fx.seeds = vec![1];
    fx.mean_ms = |policy, i, _| match policy {
        "random" => [10.0, 30.0, 10.0, 30.0][i],
        _ => 20.0,
    };
    fx.write(&sweep);
    let options = ReportOptions {
        published_reference: false,
        ..ReportOptions::default()
    };
    let summary = render(&sweep, &tmp.path().join("out"), &options).expect("render");
    let text = finding(&summary, "mean-latency");
    assert!(
        text.contains("random's and group's mean latencies cross 3 times: between 1.00 MiB and 2.00 MiB (random goes above), between 2.00 MiB and 3.00 MiB (random goes below), between 3.00 MiB and 4.00 MiB (random goes above); at 4.00 MiB random's is above group's."),
        "{text}"
    );
    assert!(!text.contains("published"));
    assert!(
        !fs::read_to_string(tmp.path().join("out/mean-latency.svg"))
            .expect("svg")
            .contains("(published)")
    );
}

#[test]
fn writeup_like_sweep_renders_with_log_latency_axes() {
    let tmp = TempDir::new("writeup");
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    FakeSweep::writeup_like().write(&sweep);
    // Set COHORT_REPORTS_FIXTURE_OUT=/some/dir to keep this report for a look at the figures.
    let out = std::env::var_os("COHORT_REPORTS_FIXTURE_OUT")
        .map_or_else(|| tmp.path().join("out"), PathBuf::from);
    let summary = render(&sweep, &out, &ReportOptions::default()).expect("render");
    assert_eq!(summary.points.len(), 60);
    let svg = fs::read_to_string(out.join("mean-latency.svg")).expect("svg");
    assert!(svg.contains("mean latency (ms, log scale)"));
    assert!(
        fs::read_to_string(out.join("latency-cdf.svg"))
            .expect("svg")
            .contains("latency (ms, log scale)")
    );
    assert!(finding(&summary, "mean-latency").contains("group's mean latency stays between"));
}

#[test]
fn axis_goes_log_only_past_one_and_a_half_decades_of_positive_values() {
    assert!(Axis::fit([10.0, 400.0], true, true).log);
    // Log axes reach out to a near power of ten, so both ends carry a label.
    assert_eq!(
        Axis::fit([20.0, 800.0], true, true),
        Axis {
            lo: 10.0,
            hi: 1000.0,
            log: true
        }
    );
    assert!(!Axis::fit([10.0, 300.0], true, true).log);
    assert!(!Axis::fit([0.0, 10.0, 1000.0], true, true).log);
    assert!(!Axis::fit([10.0, 1000.0], true, false).log);
    let linear = Axis::fit([60.0, 70.0], true, true);
    assert_eq!(linear.lo, 0.0);
    assert!(linear.hi > 70.0);
    assert_eq!(
        Axis::fit(std::iter::empty(), true, true),
        Axis::fixed(0.0, 1.0)
    );
}

#[test]
fn x_axis_units_follow_the_parameter_name() {
    let size = XAxis::new("data_size");
    assert_eq!(
        (size.label.as_str(), size.fmt(16_000_000.0).as_str()),
        ("data size (MiB)", "15.26 MiB")
    );
    let delay = XAxis::new("submit_delay_ns");
    assert_eq!(
        (delay.label.as_str(), delay.fmt(100_000_000.0).as_str()),
        ("submit delay (ms)", "100 ms")
    );
    let maps = XAxis::new("num_maps");
    assert_eq!(
        (
            maps.label.as_str(),
            maps.fmt(3.0).as_str(),
            maps.plural.as_str()
        ),
        ("num maps", "3", "values of num_maps")
    );
}

#[test]
fn published_points_are_the_twenty_readoffs_per_policy() {
    let points = crate::published_eval_line().expect("embedded data parses");
    assert_eq!(points.len(), 40);
    assert_eq!(points.iter().filter(|p| p.policy == "random").count(), 20);
    assert_eq!(
        (
            points[0].policy.as_str(),
            points[0].data_mib,
            points[0].mean_latency_ms
        ),
        ("random", 0.76, 27.0)
    );
    let last = points.last().expect("points");
    assert_eq!(
        (last.policy.as_str(), last.data_mib, last.mean_latency_ms),
        ("group", 15.26, 67.0)
    );
}

/// Writes `fx` into `<tmp>/sweep` and renders it with `options` into `<tmp>/report`.
fn render_fx(
    tmp: &TempDir,
    fx: &FakeSweep,
    options: &ReportOptions,
) -> (PathBuf, PathBuf, ReportSummary) {
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    fx.write(&sweep);
    let out = tmp.path().join("report");
    let summary = render(&sweep, &out, options).expect("render");
    (sweep, out, summary)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn published_points_only_when_the_sweep_reproduces_the_writeup() {
    // A data_size axis alone is not enough: the sweep must declare what it reproduces.
    let tmp = TempDir::new("noreproduces");
    let mut fx = FakeSweep::small();
    fx.reproduces = None;
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let text = finding(&summary, "mean-latency");
    assert!(
        !text.contains("published") && !text.contains("663"),
        "{text}"
    );
    for stem in STEMS {
        assert!(!read(&out.join(format!("{stem}.svg"))).contains("(published)"));
    }
    let md = read(&out.join("report.md"));
    assert!(
        !md.contains("published") && !md.contains("write-up"),
        "{md}"
    );

    let tmp = TempDir::new("reproduces");
    let (_, out, summary) = render_fx(&tmp, &FakeSweep::small(), &ReportOptions::default());
    let text = finding(&summary, "mean-latency");
    assert!(
        text.contains("The dashed lines are the write-up's published points")
            && text.contains("(published: 663 ms)"),
        "{text}"
    );
    let svg = read(&out.join("mean-latency.svg"));
    assert!(svg.contains("\nrandom (published)\n") && svg.contains("\ngroup (published)\n"));
    assert!(read(&out.join("report.md")).contains("| published reference | "));
}

#[test]
fn a_flat_run_draws_published_points_only_when_its_manifest_reproduces_them() {
    for reproduces in [None, Some("group-scheduling-2018")] {
        let tmp = TempDir::new("flatref");
        let dir = tmp.path().join("run");
        fs::create_dir_all(&dir).expect("mkdir");
        write_flat_run(&dir, reproduces);
        let summary = render(&dir, &dir.join("report"), &ReportOptions::default()).expect("render");
        let svg = read(&dir.join("report/mean-latency.svg"));
        assert_eq!(
            svg.contains("\nrandom (published)\n"),
            reproduces.is_some(),
            "{reproduces:?}"
        );
        assert_eq!(
            finding(&summary, "mean-latency").contains("published: 663 ms"),
            reproduces.is_some()
        );
    }
}

#[test]
fn an_unknown_or_mismatched_published_data_set_is_said_and_not_drawn() {
    let tmp = TempDir::new("unknownref");
    let mut fx = FakeSweep::small();
    fx.reproduces = Some("other-paper-2020");
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let text = finding(&summary, "mean-latency");
    assert!(
        text.ends_with(
            "The workload declares that it reproduces `other-paper-2020`, but cohort has no published data for `other-paper-2020`, so no published points are drawn."
        ),
        "{text}"
    );
    assert!(!text.contains("663"));
    assert!(!read(&out.join("mean-latency.svg")).contains("(published)"));
    assert!(read(&out.join("report.md")).contains(
        "| published reference | none: the workload reproduces \\`other-paper-2020\\`, for which cohort has no published data |"
    ));

    // The write-up's points are against data_size: not drawn on another x axis.
    let tmp = TempDir::new("otheraxis");
    let mut fx = FakeSweep::small();
    fx.sizes = vec![8_000_000];
    fx.reducers = vec![2, 4, 8];
    fx.swept = Some(vec!["num_reducers"]);
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let text = finding(&summary, "mean-latency");
    assert!(
        text.ends_with("The workload reproduces `group-scheduling-2018`, whose published points are against data_size; with num_reducers on the x axis they are not drawn."),
        "{text}"
    );
    assert!(!read(&out.join("mean-latency.svg")).contains("(published)"));

    // The option still turns the points off, silently.
    let tmp = TempDir::new("refoff");
    let options = ReportOptions {
        published_reference: false,
        ..ReportOptions::default()
    };
    let mut fx = FakeSweep::small();
    fx.reproduces = Some("other-paper-2020");
    let (_, out, summary) = render_fx(&tmp, &fx, &options);
    assert!(!finding(&summary, "mean-latency").contains("published"));
    assert!(!read(&out.join("report.md")).contains("published reference"));
}

#[test]
fn the_x_axis_defaults_to_the_first_swept_parameter() {
    let tmp = TempDir::new("sweptx");
    let mut fx = FakeSweep::small();
    fx.sizes = vec![8_000_000];
    fx.reducers = vec![2, 4, 8];
    fx.swept = Some(vec!["num_reducers"]);
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert_eq!(summary.x_param, "num_reducers");
    assert_eq!(summary.points.len(), 6);
    assert!(summary.points.iter().all(|p| p.runs == 2));
    let text = finding(&summary, "mean-latency");
    assert!(
        text.contains("group's mean latency goes from 35.0 ms at 2 to 140.0 ms at 8"),
        "{text}"
    );
    assert!(
        text.contains("it rises from one value of num_reducers to the next at 2 of 2 steps"),
        "{text}"
    );
    assert!(
        summary
            .table()
            .lines()
            .next()
            .expect("header")
            .contains("num reducers")
    );
    assert!(
        read(&out.join("mean-latency.svg"))
            .contains("Mean end-to-end latency against num reducers")
    );
    assert!(read(&out.join("latency-cdf.svg")).contains("Latency CDF at 8"));
    // data_size does not vary: it is a fact, in its unit.
    assert!(read(&out.join("report.md")).contains("| parameter data\\_size | 7.63 MiB |"));
}

#[test]
fn without_swept_the_x_axis_is_the_first_parameter_that_varies() {
    // An older directory: no swept, no param_units, no reproduces.
    let tmp = TempDir::new("varyx");
    let mut fx = FakeSweep::small();
    fx.sizes = vec![8_000_000];
    fx.reducers = vec![2, 4];
    fx.swept = None;
    fx.param_units = false;
    fx.reproduces = None;
    let (_, _, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert_eq!(summary.x_param, "num_reducers");
    assert_eq!(summary.points.len(), 4);

    // Nothing varies (one run): the first parameter column; sizes by the name rule.
    let tmp = TempDir::new("onex");
    let mut fx = FakeSweep::small();
    fx.policies = vec!["group"];
    fx.seeds = vec![7];
    fx.sizes = vec![8_000_000];
    fx.swept = None;
    fx.param_units = false;
    fx.write_sweep_toml = false;
    let (_, _, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert_eq!(summary.x_param, "data_size");
    assert!(
        finding(&summary, "mean-latency")
            .starts_with("group's mean latency is 71.0 ms at 7.63 MiB.")
    );
}

#[test]
fn a_swept_parameter_that_is_not_a_column_is_an_error_naming_it() {
    let tmp = TempDir::new("badswept");
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    let mut fx = FakeSweep::small();
    fx.swept = Some(vec!["num_maps"]);
    fx.write(&sweep);
    let err = assert_fails_cleanly(&sweep, &tmp);
    let (path, line, message) = input_error(&err);
    assert!(path.ends_with("summary.csv"));
    assert_eq!(line, Some(1));
    assert!(
        message.contains("`param.num_maps`")
            && message.contains("the first of `swept` in sweep.toml")
            && message.contains("param.data_size, param.num_reducers"),
        "{message}"
    );
}

#[test]
fn other_varying_parameters_get_a_series_each_and_are_never_averaged_across() {
    let tmp = TempDir::new("twod");
    let mut fx = FakeSweep::small();
    fx.reducers = vec![2, 4];
    fx.swept = Some(vec!["data_size", "num_reducers"]);
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert_eq!(summary.x_param, "data_size");
    // 2 policies x 2 reducer counts x 3 sizes, each over its 2 seeds only.
    assert_eq!(summary.points.len(), 12);
    assert!(summary.points.iter().all(|p| p.runs == 2));
    let p = &summary.points[0];
    assert_eq!(
        (p.series.as_str(), p.others.as_slice(), p.x, p.mean_ms.mean),
        (
            "random, num_reducers=2",
            &[("num_reducers".to_owned(), 2.0)][..],
            800_000.0,
            12.5
        )
    );
    let svg = read(&out.join("mean-latency.svg"));
    for name in [
        "random, num_reducers=2",
        "random, num_reducers=4",
        "group, num_reducers=2",
        "group, num_reducers=4",
    ] {
        assert!(
            svg.contains(&format!("\n{name}\n")),
            "mean-latency.svg lacks {name}"
        );
    }
    let text = finding(&summary, "mean-latency");
    assert!(
        text.contains("At the smallest size, 0.76 MiB with num_reducers=2, random's mean latency (12.5 ms) is the lowest; group's (35.0 ms) is 2.80× that."),
        "{text}"
    );
    assert!(text.contains("group, num_reducers=4's mean latency stays between 60.0 and 70.0 ms"));
    assert!(
        finding(&summary, "cpu-utilization").starts_with(
            "The figure shows run random-size02-r2-seed1 (random, seed 1, 15.26 MiB, num_reducers=2)."
        ),
        "{}",
        finding(&summary, "cpu-utilization")
    );
    let table = summary.table();
    assert!(
        table
            .lines()
            .next()
            .expect("header")
            .contains("num reducers"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 13);
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("| policy | num reducers | data size (MiB) | runs |"),
        "{md}"
    );
    assert!(
        md.contains("| parameter num\\_reducers | 2 values: 2, 4 |"),
        "{md}"
    );
}

#[test]
fn units_follow_the_declared_kind_not_the_name() {
    let tmp = TempDir::new("kinds");
    let mut fx = FakeSweep::small();
    fx.fixed = vec![
        ("heartbeat", 100_000_000, "duration"),
        ("duration", 100_000_000_000, "duration"),
        ("submit_cost", 100_000, "duration"),
        ("nic", 1_250_000_000, "rate"),
        ("disk", 50_000_000, "rate"),
        ("block_size", 4096, "count"),
        ("store", 5_153_960_755, "size"),
    ];
    let (_, out, _) = render_fx(&tmp, &fx, &ReportOptions::default());
    let md = read(&out.join("report.md"));
    for fact in [
        "| parameter heartbeat | 100 ms |",
        "| parameter duration | 100 s |",
        "| parameter submit\\_cost | 100 µs |",
        "| parameter nic | 10 Gbit/s |",
        "| parameter disk | 400 Mbit/s |",
        "| parameter block\\_size | 4096 |",
        "| parameter store | 4.80 GiB |",
        "| parameter num\\_reducers | 4 |",
    ] {
        assert!(md.contains(fact), "facts lack {fact:?}:\n{md}");
    }

    // A size axis takes one unit from its largest value.
    let tmp = TempDir::new("kib");
    let mut fx = FakeSweep::small();
    fx.sizes = vec![512, 256_000, 512_000];
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert!(read(&out.join("mean-latency.svg")).contains("data size (KiB)"));
    assert!(
        finding(&summary, "mean-latency").contains("at 0.50 KiB to 600.0 ms at 500.00 KiB"),
        "{}",
        finding(&summary, "mean-latency")
    );
    assert!(summary.table().contains("data size (KiB)"));

    // A parameter declared a count is a plain number even when its name ends in "size".
    let tmp = TempDir::new("countx");
    let mut fx = FakeSweep::small();
    fx.sizes = vec![8_000_000];
    fx.reducers = vec![2, 4];
    fx.fixed = vec![("batch_size", 64, "count")];
    fx.swept = Some(vec!["num_reducers"]);
    let (_, out, _) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert!(read(&out.join("report.md")).contains("| parameter batch\\_size | 64 |"));
}

#[test]
fn param_units_pick_units_by_kind_and_largest_value() {
    use crate::units::{ParamKind, ParamUnit};
    let fmt = |kind, max: f64, raw: f64| ParamUnit::choose(Some(kind), max).fmt(raw);
    assert_eq!(fmt(ParamKind::Size, 16_000_000.0, 800_000.0), "0.76 MiB");
    assert_eq!(fmt(ParamKind::Size, 1000.0, 512.0), "512 B");
    assert_eq!(fmt(ParamKind::Size, 2e9, 1_073_741_824.0), "1.00 GiB");
    assert_eq!(fmt(ParamKind::Duration, 2e8, 1e8), "100 ms");
    assert_eq!(fmt(ParamKind::Duration, 1e11, 2.5e10), "25 s");
    assert_eq!(fmt(ParamKind::Duration, 0.0, 0.0), "0 ms");
    assert_eq!(fmt(ParamKind::Duration, 500.0, 500.0), "500 ns");
    assert_eq!(fmt(ParamKind::Rate, 1.25e9, 1.25e9), "10 Gbit/s");
    assert_eq!(fmt(ParamKind::Rate, 1e8, 6.25e7), "500 Mbit/s");
    assert_eq!(fmt(ParamKind::Count, 61426.0, 61426.0), "61426");
}

#[test]
fn bad_contract_keys_are_errors_naming_the_file() {
    for (line, expected) in [
        ("reproduces = 3\n", "`reproduces` must be a string"),
        ("swept = \"data_size\"\n", "`swept` must be an array"),
        (
            "[param_units]\ndata_size = \"bytes\"\n",
            "param_units.data_size is \"bytes\": the kinds are \"size\", \"duration\", \"rate\", \"count\"",
        ),
    ] {
        let tmp = TempDir::new("badkeys");
        let sweep = tmp.path().join("sweep");
        fs::create_dir_all(&sweep).expect("mkdir");
        let mut fx = FakeSweep::small();
        fx.reproduces = None;
        fx.swept = None;
        fx.param_units = false;
        fx.write(&sweep);
        let path = sweep.join("sweep.toml");
        let text = read(&path);
        let text = if line.starts_with('[') {
            format!("{text}\n{line}")
        } else {
            format!("{line}{text}")
        };
        fs::write(&path, text).expect("write");
        let err = assert_fails_cleanly(&sweep, &tmp);
        let (p, _, message) = input_error(&err);
        assert!(p.ends_with("sweep.toml"));
        assert!(message.starts_with(expected), "{message}");
    }
}

#[test]
fn counts_are_whole_numbers_in_the_table() {
    let tmp = TempDir::new("counts");
    let (_, out, _) = render_small(&tmp);
    let md = read(&out.join("report.md"));
    // random moves 100 objects per run and evicts none; group moves none.
    let row = md
        .lines()
        .find(|l| l.starts_with("| random | 0.76 | 2 |"))
        .expect("random's first row");
    assert!(row.contains("| 76.3 | 100 | 0 |"), "{row}");
    assert!(!md.contains(".0 | 0.0 |"), "{md}");
}

#[test]
fn bands_and_seed_counts_are_stated_when_every_point_has_the_same_seeds() {
    let tmp = TempDir::new("seeds");
    let (_, out, summary) = render_small(&tmp);
    for (stem, section) in [
        ("mean-latency", "mean-latency"),
        ("p99-latency", "p99-latency"),
        ("bytes-moved", "bytes-moved"),
    ] {
        let svg = read(&out.join(format!("{stem}.svg")));
        assert!(
            svg.contains("each point: mean of 2 seeds; band: min–max across seeds"),
            "{stem}"
        );
        assert!(svg.contains("<polygon"), "{stem} draws no band");
        assert!(
            finding(&summary, section).contains(
                "Each point is the mean of 2 seeds (one run each); the shaded band spans the min–max across them."
            ),
            "{}",
            finding(&summary, section)
        );
    }

    let tmp = TempDir::new("oneseed");
    let mut fx = FakeSweep::small();
    fx.seeds = vec![1];
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    assert!(read(&out.join("p99-latency.svg")).contains("\none seed per point\n"));
    assert!(
        finding(&summary, "p99-latency")
            .ends_with("Each point is one run (one seed), so there is no band across seeds.")
    );
}

#[test]
fn points_with_fewer_seeds_are_named() {
    let tmp = TempDir::new("missingseed");
    let mut fx = FakeSweep::small();
    fx.seeds = vec![1, 2, 3];
    fx.missing = vec![("random", 2, 3)];
    let (_, out, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let odd = summary
        .points
        .iter()
        .find(|p| p.policy == "random" && p.x == 16_000_000.0)
        .expect("point");
    assert_eq!(odd.runs, 2);
    for stem in ["mean-latency", "p99-latency", "bytes-moved"] {
        let svg = read(&out.join(format!("{stem}.svg")));
        assert!(
            svg.contains(
                "\nmean of 3 seeds per point, except random at 15.26 MiB: 2; band: min–max across seeds"
            ),
            "{stem}"
        );
        assert!(
            finding(&summary, stem).contains(
                "Points average 3 seeds each (one run per seed), except random at 15.26 MiB: 2 seeds (the other runs are not in summary.csv); the shaded band spans the min–max across a point's seeds."
            ),
            "{}",
            finding(&summary, stem)
        );
    }
}

/// FNV-1a, 64 bits: a fingerprint of a file's bytes for the pins below.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The fingerprint of every file a render wrote, by name, and of its table and paragraphs.
fn fingerprints(summary: &ReportSummary) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = summary
        .files
        .iter()
        .map(|f| {
            let name = f.file_name().expect("name").to_string_lossy().into_owned();
            (name, fnv1a(&fs::read(f).expect("read output")))
        })
        .collect();
    out.push(("table".to_owned(), fnv1a(summary.table().as_bytes())));
    for f in &summary.findings {
        out.push((format!("finding {}", f.section), fnv1a(f.text.as_bytes())));
    }
    out
}

/// The fingerprints of the small fixture's report, as rendered before faults existed, but for
/// `report.html` and `report.md`, which have had the "Shape claims" section since it exists (the
/// fixture reproduces the write-up); see `claims::PINNED_NOT_REPRODUCING` for a whole report
/// pinned from before.
const PINNED_SMALL: &[(&str, u64)] = &[
    ("bytes-moved.png", 0xc4e5710218f3306c),
    ("bytes-moved.svg", 0x79d1955b9843aaeb),
    ("cpu-utilization.png", 0x5834390fabeeb72b),
    ("cpu-utilization.svg", 0x732e5718b485ce14),
    ("latency-cdf.png", 0xd092d9c69eb94557),
    ("latency-cdf.svg", 0xe7caf33bb0f7d812),
    ("mean-latency.png", 0xe819a567251a803c),
    ("mean-latency.svg", 0x88d00896843958c8),
    ("p99-latency.png", 0x5840a703d83965a4),
    ("p99-latency.svg", 0x40533353f7fa5d3e),
    ("report.html", 0x4951cc0f363cbf2b),
    ("report.md", 0xd321241e09c475e5),
    ("table", 0x022497540707f1bc),
    ("finding mean-latency", 0xee9f1bf2e07e5161),
    ("finding latency-cdf", 0x0e0764e9ca208619),
    ("finding p99-latency", 0x66da92b25505ced8),
    ("finding bytes-moved", 0x1df2da711a7ebb78),
    ("finding cpu-utilization", 0x2303226e54ddc99d),
    ("finding runs", 0xdf557b703011432e),
];

/// The fingerprints of a report with a second varying parameter and a point short of a seed,
/// as rendered before faults existed (`report.html` and `report.md` with the "Shape claims"
/// section, as above).
const PINNED_TWO_PARAMETERS: &[(&str, u64)] = &[
    ("bytes-moved.png", 0x7ab98ad5d4098ad0),
    ("bytes-moved.svg", 0xf51e78759402d991),
    ("cpu-utilization.png", 0x519cd4e7f66ab57a),
    ("cpu-utilization.svg", 0x2607ede6614f86e8),
    ("latency-cdf.png", 0xc345085b56a84ded),
    ("latency-cdf.svg", 0xac2cd274945f6bab),
    ("mean-latency.png", 0x54ddc0311817bc28),
    ("mean-latency.svg", 0x480836d29a07c65a),
    ("p99-latency.png", 0x1ad25126c29894dd),
    ("p99-latency.svg", 0x5ce5c333e98c2846),
    ("report.html", 0x6bf6b56f52ff3e9e),
    ("report.md", 0x14bee5f107f5f738),
    ("table", 0x272ab64563c05d96),
    ("finding mean-latency", 0xbf205d562fb7e2cf),
    ("finding latency-cdf", 0x0bbc809fb84a3230),
    ("finding p99-latency", 0x89679040215d9e07),
    ("finding bytes-moved", 0xe453f0e32ef9e545),
    ("finding cpu-utilization", 0x9cc1f35cb99868e6),
    ("finding runs", 0xd6b3b291038e784a),
];

/// The fixture with `num_reducers` varying too, three seeds, and one run missing.
fn two_parameter_fixture() -> FakeSweep {
    let mut fx = FakeSweep::small();
    fx.reducers = vec![2, 4];
    fx.swept = Some(vec!["data_size", "num_reducers"]);
    fx.seeds = vec![1, 2, 3];
    fx.missing = vec![("random", 2, 3)];
    fx
}

/// Compares a render's fingerprints with pinned ones, naming every file that differs.
fn assert_pinned(what: &str, summary: &ReportSummary, pinned: &[(&str, u64)]) {
    let got = fingerprints(summary);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = pinned.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected, "{what}: other files or paragraphs");
    let differ: Vec<&str> = got
        .iter()
        .zip(pinned)
        .filter(|((_, g), (_, p))| g != p)
        .map(|((n, _), _)| n.as_str())
        .collect();
    assert!(differ.is_empty(), "{what}: changed: {differ:?}");
}

#[test]
fn fault_free_reports_are_byte_identical_to_before_faults() {
    // Every file, the table and each paragraph, pinned by fingerprint: a sweep without faults
    // (no faults.csv, recovery counters all zero) renders exactly as it did before the fault
    // timeline and the recovery columns existed.
    let tmp = TempDir::new("pin");
    let (_, _, summary) = render_small(&tmp);
    assert_pinned("small", &summary, PINNED_SMALL);
    let tmp = TempDir::new("pin2");
    let (_, _, summary) = render_fx(&tmp, &two_parameter_fixture(), &ReportOptions::default());
    assert_pinned("two parameters", &summary, PINNED_TWO_PARAMETERS);
}

/// Renders the sweep with faults (or a variant of it) into `<tmp>/report`.
fn render_faults(tmp: &TempDir, fx: &FakeSweep) -> (PathBuf, PathBuf, ReportSummary) {
    render_fx(tmp, fx, &ReportOptions::default())
}

#[test]
fn faults_draw_a_timeline_of_one_run_per_policy_with_the_faults_shaded() {
    let tmp = TempDir::new("timeline");
    let (_, out, summary) = render_faults(&tmp, &FakeSweep::with_faults());
    let png = out.join("fault-timeline.png");
    let svg = out.join("fault-timeline.svg");
    assert!(summary.files.contains(&png) && summary.files.contains(&svg));
    assert_eq!(summary.files.len(), 2 * (STEMS.len() + 1) + 2);
    let (w, h, drawn) = decode_png(&png);
    assert_eq!((w, h), crate::figures::SIZE);
    assert!(drawn, "fault-timeline.png is all white");
    let svg = read(&svg);
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in [
        "Latency over time around the faults, one run per policy",
        "each policy's first seed at the first grid point with faults; every datapoint; warm-up excluded; breaks: no arrivals; shaded: the faults",
        "arrival time since the run's start (s)",
        "end-to-end latency (ms, log scale)",
        "random",
        "group",
        // A label per fault, where it starts, and a legend entry per kind of span.
        "kill node 2",
        "slow_cpu node 1 ×2",
        "drop_link 0–3",
        "kill, undetected",
        "kill, declared dead",
        "slow_cpu",
        "drop_link",
    ] {
        assert!(
            // plotters escapes an apostrophe in SVG text.
            svg.contains(&format!("\n{}\n", text.replace('\'', "&apos;"))),
            "fault-timeline.svg lacks {text:?}"
        );
    }
    // Four spans: the dropped link, the kill before and after it is declared, the slowdown.
    assert!(!svg.contains("\nslow_nic\n"));
    let text = finding(&summary, "fault-timeline");
    for expected in [
        "the one at the smallest size (then the smallest values of any other varying parameter) with the first seed in the sweep's order",
        "Each line joins its run's measured datapoints (warm-up excluded) in arrival order, broken where none arrives for more than 10 times the run's mean interval between arrivals.",
        "The shaded spans are the faults of faults.csv: the link between nodes 0 and 3 dropped from 3 s to 3.5 s; node 2 killed at 5 s, declared dead at 6.5 s (1.5 s undetected), back at 9 s; node 1's CPUs 2× slower from 10 s to 11 s.",
        "random (run random-size00-seed1, seed 1, 0.76 MiB): median latency 12.6 ms before its first fault (at 3 s); from then on the largest is 1721.2 ms, arriving at 6.721 s",
        "group (run group-size00-seed1, seed 1, 0.76 MiB): median latency 36.1 ms before its first fault (at 3 s)",
        "; 2 datapoints lost.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("differ"), "{text}");
    // The timeline's paragraph comes after the other figures', before the runs'.
    let sections: Vec<&str> = summary
        .findings
        .iter()
        .map(|f| f.section.as_str())
        .collect();
    assert_eq!(
        sections,
        [
            "mean-latency",
            "latency-cdf",
            "p99-latency",
            "bytes-moved",
            "cpu-utilization",
            "fault-timeline",
            "runs"
        ]
    );
}

#[test]
fn the_html_embeds_the_fault_timeline_and_the_markdown_links_it() {
    let tmp = TempDir::new("timelinehtml");
    let (_, out, summary) = render_faults(&tmp, &FakeSweep::with_faults());
    let html = read(&out.join("report.html"));
    assert_eq!(html.matches("<img ").count(), STEMS.len() + 1);
    let section = html
        .split("<h2 id=\"fault-timeline\">")
        .nth(1)
        .expect("a section for the fault timeline");
    assert!(section.starts_with("Latency over time around the faults</h2>"));
    let prefix = "<img src=\"data:image/png;base64,";
    let data = section.split(prefix).nth(1).expect("an embedded image");
    let data = &data[..data.find('"').expect("closing quote")];
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    assert_eq!(png, fs::read(out.join("fault-timeline.png")).expect("png"));
    assert!(section.contains("<a href=\"fault-timeline.svg\">"));
    let paragraph = finding(&summary, "fault-timeline");
    assert!(html.contains(&paragraph.replace('\'', "&#39;")));
    let md = read(&out.join("report.md"));
    assert!(md.contains("\n## Latency over time around the faults\n"));
    assert!(md.contains(
        "![Latency over time around the faults, one run per policy](fault-timeline.png)"
    ));
}

#[test]
fn recovery_columns_show_in_the_tables_and_the_text_when_runs_recovered() {
    let tmp = TempDir::new("recovery");
    let (_, out, summary) = render_faults(&tmp, &FakeSweep::with_faults());
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("| failed tasks | re-executed tasks | objects reconstructed | actor restarts | spilled | restored | datapoints lost | recovery first ms | recovery last ms |"),
        "{md}"
    );
    let row = |start: &str| {
        md.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no row {start:?} in:\n{md}"))
            .to_owned()
    };
    // Seed means: random recovers the same way in each run; the recovery times are its runs'.
    let random = row("| random | 0.76 | 2 |");
    assert!(
        random.ends_with("| 0 | 12 | 3 | 1 | 4.0 KiB | 2.0 KiB | 2 | 1718.8 | 1781.5 |"),
        "{random}"
    );
    let group = row("| group | 0.76 | 2 |");
    assert!(
        group.ends_with("| 0 | 8 | 0 | 0 | 0 B | 0 B | 0 | 1602.6 | 1671.9 |"),
        "{group}"
    );
    let html = read(&out.join("report.html"));
    assert!(html.contains("<th>re-executed tasks</th><th>objects reconstructed</th>"));
    assert!(
        html.contains(
            "<td>4.0 KiB</td><td>2.0 KiB</td><td>2</td><td>1718.8</td><td>1781.5</td></tr>"
        )
    );
    let table = summary.table();
    let header = table.lines().next().expect("header");
    for column in [
        "re-exec",
        "rebuilt",
        "restarts",
        "spilled",
        "restored",
        "lost",
        "recovery ms",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        table
            .lines()
            .nth(1)
            .expect("a row")
            .ends_with("      12        3        1    4.0 KiB    2.0 KiB      2     1718.8-1781.5"),
        "{table}"
    );
    let runs = finding(&summary, "runs");
    assert!(
        runs.ends_with(
            "No run reports failed tasks. Recovery, over all runs: 120 tasks re-executed, 18 objects reconstructed, 6 actor restarts, 24.0 KiB spilled to disk and 12.0 KiB restored, 12 datapoints lost. In 12 runs a datapoint was in flight during an outage: from the first kill, the first such datapoint arrives after 19.6–1761.6 ms and the last after 1662.0–2307.2 ms (min–max over those runs)."
        ),
        "{runs}"
    );
}

#[test]
fn recovery_counters_without_faults_show_the_columns_but_no_timeline() {
    // A sweep without faults.csv whose runs spilled: the counters show, no timeline is drawn.
    let tmp = TempDir::new("spillonly");
    let mut fx = FakeSweep::small();
    fx.faults = Some(FakeFaults {
        rows: Vec::new(),
        counters: |policy| {
            if policy == "random" {
                [0, 0, 0, 1 << 20, 0, 0]
            } else {
                [0; 6]
            }
        },
        ..FakeFaults::kill_slow_and_drop()
    });
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    fx.write(&sweep);
    for entry in fs::read_dir(sweep.join("runs")).expect("runs") {
        fs::remove_file(entry.expect("run").path().join("faults.csv.gz")).expect("rm faults");
    }
    let out = tmp.path().join("report");
    let summary = render(&sweep, &out, &ReportOptions::default()).expect("render");
    assert!(!out.join("fault-timeline.png").exists());
    assert_eq!(summary.files.len(), 2 * STEMS.len() + 2);
    assert!(
        summary
            .findings
            .iter()
            .all(|f| f.section != "fault-timeline")
    );
    let md = read(&out.join("report.md"));
    let row = md
        .lines()
        .find(|l| l.starts_with("| random | 0.76 | 2 |"))
        .expect("random's first row");
    assert!(
        row.ends_with("| 0 | 0 | 0 | 0 | 1.0 MiB | 0 B | 0 | – | – |"),
        "{row}"
    );
    assert!(
        finding(&summary, "runs").ends_with(
            "Recovery, over all runs: 0 tasks re-executed, 0 objects reconstructed, 0 actor restarts, 6.0 MiB spilled to disk and 0 B restored, 0 datapoints lost."
        ),
        "{}",
        finding(&summary, "runs")
    );
}

#[test]
fn a_header_only_faults_csv_changes_nothing() {
    // A faults.csv without rows (plain here) is a run without faults: the pinned report.
    let tmp = TempDir::new("nofaultrows");
    let mut fx = FakeSweep::small();
    fx.faults = Some(FakeFaults {
        rows: Vec::new(),
        encoding: cohort_schema::Encoding::Plain,
        counters: |_| [0; 6],
        ..FakeFaults::kill_slow_and_drop()
    });
    let (sweep, _, summary) = render_fx(&tmp, &fx, &ReportOptions::default());
    let run = sweep.join("runs").join(fx.run_id("random", 0, 1));
    assert_eq!(
        read(&run.join("faults.csv")),
        "kind,node,peer,factor,at_ns,until_ns,declared_ns\n"
    );
    assert_pinned("header-only faults.csv", &summary, PINNED_SMALL);
}

#[test]
fn faults_csv_is_read_plain_or_gzip_alike() {
    let tmp = TempDir::new("gzfaults");
    let gzip = FakeSweep::with_faults();
    let (sweep, _, zipped) = render_faults(&tmp, &gzip);
    let run = sweep.join("runs").join(gzip.run_id("random", 0, 1));
    assert!(run.join("faults.csv.gz").is_file() && !run.join("faults.csv").exists());
    let tmp2 = TempDir::new("plainfaults");
    let mut plain = FakeSweep::with_faults();
    if let Some(f) = plain.faults.as_mut() {
        f.encoding = cohort_schema::Encoding::Plain;
    }
    let (sweep, _, unzipped) = render_faults(&tmp2, &plain);
    let run = sweep.join("runs").join(plain.run_id("random", 0, 1));
    assert!(run.join("faults.csv").is_file() && !run.join("faults.csv.gz").exists());
    assert_eq!(fingerprints(&zipped), fingerprints(&unzipped));
}

#[test]
fn a_malformed_faults_csv_is_an_error_naming_file_and_line() {
    let plain = || {
        let mut fx = FakeSweep::with_faults();
        if let Some(f) = fx.faults.as_mut() {
            f.encoding = cohort_schema::Encoding::Plain;
        }
        fx
    };
    // A run that is not drawn: every run's faults.csv is read before anything is written.
    let broken = |tag: &str, edit: &dyn Fn(String) -> String| {
        let tmp = TempDir::new(tag);
        let sweep = tmp.path().join("sweep");
        fs::create_dir_all(&sweep).expect("mkdir");
        let fx = plain();
        fx.write(&sweep);
        let path = sweep
            .join("runs")
            .join(fx.run_id("group", 2, 2))
            .join("faults.csv");
        let text = edit(read(&path));
        fs::write(&path, text).expect("write");
        let err = assert_fails_cleanly(&sweep, &tmp);
        let (p, line, message) = input_error(&err);
        assert_eq!(p, path.as_path());
        (line, message.to_owned(), err.to_string())
    };
    let (line, message, shown) = broken("faultnumber", &|t| {
        t.replacen("kill,2,,,5000000000,", "kill,2,,,soon,", 1)
    });
    assert_eq!(line, Some(2));
    assert!(message.starts_with("column `at_ns`"), "{message}");
    assert!(shown.contains("faults.csv:2: "), "{shown}");
    let (line, message, _) = broken("faultkind", &|t| t.replacen("slow_cpu,", "slow_gpu,", 1));
    assert_eq!(line, Some(3));
    assert_eq!(
        message,
        "column `kind`: `slow_gpu` is not a fault kind (the kinds are kill, slow_cpu, slow_nic, drop_link)"
    );
    let (line, message, _) = broken("faulttime", &|t| {
        t.replacen(",9000000000,", ",4000000000,", 1)
    });
    assert_eq!(line, Some(2));
    assert_eq!(
        message,
        "column `until_ns`: 4000000000 is before at_ns (5000000000)"
    );
    let (line, message, _) = broken("faultfields", &|t| format!("{t}kill,1\n"));
    assert_eq!(line, Some(5));
    assert!(message.contains("malformed row"), "{message}");
    let (line, message, _) = broken("faultheader", &|t| {
        t.replacen("peer,factor", "factor,peer", 1)
    });
    assert_eq!(line, Some(1));
    assert_eq!(
        message,
        "column 3 is `factor` where the contract has `peer`"
    );

    // Compressed, the error names the .gz file.
    let tmp = TempDir::new("faultgz");
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    let fx = FakeSweep::with_faults();
    fx.write(&sweep);
    let run = sweep.join("runs").join(fx.run_id("random", 1, 1));
    let path = run.join("faults.csv.gz");
    fs::remove_file(&path).expect("rm");
    let mut w = cohort_schema::CsvWriter::<cohort_schema::FaultRow>::create_encoded(
        &run,
        &[],
        cohort_schema::Encoding::Gzip,
    )
    .expect("create");
    w.write(&cohort_schema::FaultRow {
        kind: "drop_link".into(),
        ..cohort_schema::FaultRow::default()
    })
    .expect("write");
    w.finish().expect("finish");
    let err = assert_fails_cleanly(&sweep, &tmp);
    assert_eq!(
        input_error(&err),
        (
            path.as_path(),
            Some(2),
            "a drop_link fault without a `peer`"
        )
    );
}

#[test]
fn the_timeline_run_is_the_first_seed_at_the_first_grid_point_with_faults() {
    // random's first seed at the smallest size did not finish, and group's runs have no
    // faults: random's line is its second seed's run there, and group has no line.
    let tmp = TempDir::new("timelinepick");
    let mut fx = FakeSweep::with_faults();
    fx.missing = vec![("random", 0, 1)];
    fx.fault_free = vec!["group"];
    let (_, out, summary) = render_faults(&tmp, &fx);
    let svg = read(&out.join("fault-timeline.svg"));
    assert!(svg.contains("\nrandom\n") && !svg.contains("\ngroup\n"));
    let text = finding(&summary, "fault-timeline");
    assert!(
        text.contains("random (run random-size00-seed2, seed 2, 0.76 MiB): "),
        "{text}"
    );
    assert!(!text.contains("group ("), "{text}");
    // group recovered from nothing: its rows show zeros and no recovery times.
    let md = read(&out.join("report.md"));
    let row = md
        .lines()
        .find(|l| l.starts_with("| group | 0.76 | 2 |"))
        .expect("group's first row");
    assert!(
        row.ends_with("| 0 | 0 | 0 | 0 | 0 B | 0 B | 0 | – | – |"),
        "{row}"
    );
}

#[test]
fn long_runs_are_drawn_as_the_largest_latency_per_window() {
    // 5000 datapoints over 50 s, one spike: 2000 windows of 25 ms, each keeping its largest.
    let points: Vec<(f64, f64)> = (0..5000)
        .map(|k| {
            let t = k as f64 * 0.01;
            (
                t,
                if k == 2345 {
                    900.0
                } else {
                    10.0 + (k % 7) as f64
                },
            )
        })
        .collect();
    let thinned = crate::figures::window_maxima(&points);
    assert!(thinned.len() <= crate::figures::TIMELINE_POINTS && thinned.len() > 1900);
    assert!(thinned.contains(&points[2345]));
    assert!(thinned.windows(2).all(|w| w[0].0 < w[1].0));
    // The first window holds the first three datapoints; the third has the largest latency.
    assert_eq!(thinned[0], points[2]);

    let tmp = TempDir::new("longtimeline");
    let mut fx = FakeSweep::with_faults();
    fx.policies = vec!["group"];
    fx.seeds = vec![1];
    fx.sizes = vec![800_000];
    fx.datapoints = 2400;
    let (_, out, summary) = render_faults(&tmp, &fx);
    assert!(
        read(&out.join("fault-timeline.svg")).contains(
            "each point: the largest latency in one of 2000 equal windows of arrival time"
        )
    );
    assert!(finding(&summary, "fault-timeline").contains(
        "in arrival order; a run with more than 2000 shows the largest latency in each of 2000 equal windows of arrival time, broken where"
    ));
}

#[test]
fn runs_with_different_faults_are_shaded_with_their_union() {
    // group's drawn run has no slowdown: the slowdown is still shaded (random's run has it),
    // and the paragraph says the runs' faults differ.
    let tmp = TempDir::new("faultunion");
    let sweep = tmp.path().join("sweep");
    fs::create_dir_all(&sweep).expect("mkdir");
    let mut fx = FakeSweep::with_faults();
    if let Some(f) = fx.faults.as_mut() {
        f.encoding = cohort_schema::Encoding::Plain;
    }
    fx.write(&sweep);
    let path = sweep
        .join("runs")
        .join(fx.run_id("group", 0, 1))
        .join("faults.csv");
    let text: String = read(&path)
        .lines()
        .filter(|l| !l.starts_with("slow_cpu,"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&path, text).expect("write");
    let out = tmp.path().join("report");
    let summary = render(&sweep, &out, &ReportOptions::default()).expect("render");
    let svg = read(&out.join("fault-timeline.svg"));
    assert!(svg.contains("\nslow_cpu node 1 ×2\n") && svg.contains("\nslow_cpu\n"));
    let text = finding(&summary, "fault-timeline");
    assert!(
        text.contains("node 1's CPUs 2× slower from 10 s to 11 s."),
        "{text}"
    );
    assert!(
        text.contains("The runs' faults differ; the shading is their union."),
        "{text}"
    );
}
