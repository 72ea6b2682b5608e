//! The ablation table: the write-up's shape claims for several sweeps side by side, one row
//! per variant (e.g. "physical", "ray-v0.6", "ray-v0.6 without chunked transport").

use std::fs;
use std::path::{Path, PathBuf};

use cohort_schema::{Existing, Staging};

use crate::claims::{self, Claim, PublishedShape, ShapeClaims, Verdict};
use crate::doc::{self, Block, Table};
use crate::model::Model;
use crate::{ReportError, ReportOptions, input};

/// The file [`ablation`] writes: the table as Markdown.
pub const ABLATION_MD: &str = "ablation.md";
/// The file [`ablation`] writes: the same table as an HTML fragment (a `<section>`, no
/// `<html>` or `<head>`) to embed in a page.
pub const ABLATION_HTML: &str = "ablation.html";

/// One row of the ablation table: one variant (one sweep), or one combination of the other
/// varying parameters' values of it when they vary.
#[derive(Debug, Clone, PartialEq)]
pub struct AblationRow {
    /// The variant's label as given, followed by the combination (", num_reducers=2") when
    /// the sweep has several.
    pub label: String,
    /// The sweep directory as given.
    pub sweep_dir: PathBuf,
    /// The shape claims; `None` when the sweep does not reproduce "group-scheduling-2018"
    /// with the policies random and group (its cells are then "–").
    pub claims: Option<ShapeClaims>,
    /// How many points of each policy (in sweep order) are unstable: of this combination when
    /// there are claims, of the whole sweep otherwise.
    pub unstable_points: Vec<(String, usize)>,
}

/// What [`ablation`] wrote and the rows behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ablation {
    /// The output directory.
    pub out_dir: PathBuf,
    /// The files written, inside `out_dir`, sorted by name.
    pub files: Vec<PathBuf>,
    /// The write-up's own numbers (the table's first row).
    pub published: PublishedShape,
    /// One row per variant (and combination), in the order given.
    pub rows: Vec<AblationRow>,
}

/// The table's columns.
const COLUMNS: [&str; 11] = [
    "variant",
    "group max/min",
    "random rise (largest/smallest)",
    "random super-linearity",
    "random/group at smallest",
    "random median at largest (ms)",
    "group median at largest (ms)",
    "random mean abs error",
    "group mean abs error",
    "unstable points",
    "verdicts (reproduced/partly/not)",
];

/// A number with two decimals, or "–".
fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

impl Ablation {
    /// The table's cells: the published row, then one per variant. `verdict` writes a
    /// verdict in a cell ("(reproduced)" or a short word).
    fn cells(&self, verdict: fn(Verdict) -> String) -> Table {
        let p = &self.published;
        let mut rows = vec![vec![
            "published (write-up)".to_owned(),
            num(p.group_max_over_min),
            num(p.random_rise),
            num(p.random_superlinearity),
            num(p.smallest_random_over_group),
            p.random_median_ms
                .map_or_else(|| "–".to_owned(), |v| format!("~{v:.0}")),
            p.group_almost_all_below_ms
                .map_or_else(|| "–".to_owned(), |v| format!("almost all < {v:.0}")),
            "–".to_owned(),
            "–".to_owned(),
            "–".to_owned(),
            "–".to_owned(),
        ]];
        for row in &self.rows {
            let unstable = if row.unstable_points.is_empty() {
                "–".to_owned()
            } else {
                row.unstable_points
                    .iter()
                    .map(|(p, n)| format!("{p} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let Some(c) = &row.claims else {
                let mut cells = vec![row.label.clone()];
                cells.extend(std::iter::repeat_n("–".to_owned(), COLUMNS.len() - 3));
                cells.push(unstable);
                cells.push("no claims: not a reproduction".to_owned());
                rows.push(cells);
                continue;
            };
            let claim = |cl: &Claim| format!("{} {}", num(cl.measured), verdict(cl.verdict));
            // A collapse is a rise without bound: say from where.
            let rising = |cl: &Claim| match (cl.measured, c.random_collapsed_from) {
                (None, Some(from)) => format!("unbounded ≥{from:.2} MiB {}", verdict(cl.verdict)),
                _ => claim(cl),
            };
            let median = |policy: &str| {
                c.cdf_of(policy).map_or_else(
                    || "–".to_owned(),
                    |m| {
                        format!(
                            "{} {}",
                            m.p50_ms
                                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
                            verdict(m.verdict)
                        )
                    },
                )
            };
            let error = |policy: &str| {
                c.error_of(policy).map_or_else(
                    || "–".to_owned(),
                    |e| {
                        format!(
                            "{} {}",
                            e.mean_abs_pct
                                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}%")),
                            verdict(e.verdict)
                        )
                    },
                )
            };
            let verdicts: Vec<Verdict> = [
                c.group_max_over_min.verdict,
                c.random_rise.verdict,
                c.random_superlinearity.verdict,
                c.smallest_random_over_group.verdict,
            ]
            .into_iter()
            .chain(c.cdf.iter().map(|m| m.verdict))
            .chain(c.mean_abs_error.iter().map(|e| e.verdict))
            .collect();
            let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
            rows.push(vec![
                row.label.clone(),
                claim(&c.group_max_over_min),
                rising(&c.random_rise),
                rising(&c.random_superlinearity),
                claim(&c.smallest_random_over_group),
                median("random"),
                median("group"),
                error("random"),
                error("group"),
                unstable,
                format!(
                    "{}/{}/{}",
                    count(Verdict::Reproduced),
                    count(Verdict::Partly),
                    count(Verdict::NotReproduced)
                ),
            ]);
        }
        Table {
            header: COLUMNS.map(str::to_owned).to_vec(),
            rows,
            words: false,
        }
    }

    /// The blocks of the table and its notes.
    fn blocks(&self) -> Vec<Block> {
        let mut out = vec![
            Block::Paragraph(
                "The write-up's shape claims measured by each variant's sweep, with the verdict of each claim in parentheses (the rules are those of each report's \"Shape claims\" section). The first row holds the write-up's own numbers, computed the same way from all of its published points (read by eye off its figures). Medians at the largest size are of all measured datapoints there, seeds pooled, and the verdict beside one is that of its policy's whole CDF claim (median, spread and tail); mean absolute errors are of the seed-mean latency against the published points; unstable points count the points with an unstable run (unfinished work, no measured datapoint, or latency rising by more than its mean over the measured window).".to_owned(),
            ),
            Block::Table(self.cells(|v| format!("({})", v.word()))),
        ];
        let sweeps: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{}: {}", r.label, r.sweep_dir.display()))
            .collect();
        out.push(Block::Paragraph("Sweeps:".to_owned()));
        out.push(Block::List(sweeps));
        out
    }

    /// The table as plain text for a terminal, one line per row, columns aligned; verdicts as
    /// "yes", "partly" or "no".
    pub fn table(&self) -> String {
        doc::text_table(&self.cells(|v| v.short().to_owned()))
    }

    /// The table as Markdown: what `ablation.md` holds.
    pub fn markdown(&self) -> String {
        format!(
            "# Ablation: the write-up's shape claims per variant\n{}",
            doc::markdown(&self.blocks(), 2)
        )
    }

    /// The table as an HTML fragment to embed in a page (a `<section>` with a heading, the
    /// notes and the table; no style): what `ablation.html` holds.
    pub fn html(&self) -> String {
        format!(
            "<section class=\"cohort-ablation\">\n<h2>Ablation: the write-up's shape claims per variant</h2>\n{}</section>\n",
            doc::html_blocks(&self.blocks(), 3)
        )
    }
}

/// Loads each variant's sweep (`(label, sweep directory)`, in table order), computes its
/// shape claims (see [`shape_claims`](crate::shape_claims)), and writes the table into `out`
/// as [`ABLATION_MD`] and [`ABLATION_HTML`].
///
/// Every sweep is read before anything is written, and the files are written through a
/// staging directory beside `out`: on error nothing is left. `out` may exist (files of the
/// same names are replaced, others kept). A sweep that does not reproduce the write-up is
/// not an error: its row says so. An empty list of variants is an error.
pub fn ablation(variants: &[(String, PathBuf)], out: &Path) -> Result<Ablation, ReportError> {
    if variants.is_empty() {
        return Err(ReportError::NoVariants);
    }
    let published = claims::published_shape()?;
    let mut rows = Vec::new();
    for (label, dir) in variants {
        let sweep = input::Sweep::read(dir)?;
        let model = Model::load(sweep, &ReportOptions::default())?;
        let all = claims::compute(&model)?;
        if all.is_empty() {
            rows.push(AblationRow {
                label: label.clone(),
                sweep_dir: dir.clone(),
                claims: None,
                unstable_points: claims::unstable_by_policy(&model),
            });
        }
        let several = all.len() > 1;
        for c in all {
            rows.push(AblationRow {
                label: if several {
                    format!("{label}, {}", c.combo)
                } else {
                    label.clone()
                },
                sweep_dir: dir.clone(),
                unstable_points: c.unstable_points.clone(),
                claims: Some(c),
            });
        }
    }
    let mut ablation = Ablation {
        out_dir: out.to_path_buf(),
        files: Vec::new(),
        published,
        rows,
    };
    let staging = Staging::new(out, Existing::Merge)?;
    for (name, text) in [
        (ABLATION_MD, ablation.markdown()),
        (ABLATION_HTML, ablation.html()),
    ] {
        let path = staging.path().join(name);
        fs::write(&path, text).map_err(ReportError::io("writing", &path))?;
    }
    ablation.files = staging.commit()?;
    Ok(ablation)
}
