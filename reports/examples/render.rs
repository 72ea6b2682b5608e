//! Renders the report of an existing sweep directory, for trying the crate without the
//! harness: `cargo run -p cohort-reports --example render -- SWEEP_DIR OUT_DIR [X_PARAM]`
//! (without X_PARAM, the sweep's first swept parameter).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (sweep, out) = match args.as_slice() {
        [sweep, out] | [sweep, out, _] => (PathBuf::from(sweep), PathBuf::from(out)),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "usage: render SWEEP_DIR OUT_DIR [X_PARAM]"
            );
            return ExitCode::from(2);
        }
    };
    let mut options = cohort_reports::ReportOptions::default();
    if let Some(x) = args.get(2) {
        options.x_param = Some(x.clone());
    }
    match cohort_reports::render(&sweep, &out, &options) {
        Ok(summary) => {
            let mut stdout = std::io::stdout().lock();
            let _ = write!(stdout, "{}", summary.table());
            for f in &summary.findings {
                let _ = writeln!(stdout, "\n[{}] {}", f.section, f.text);
            }
            let _ = writeln!(
                stdout,
                "\nwrote {} files to {}",
                summary.files.len(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}
