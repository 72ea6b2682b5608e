//! A small document model for the generated sections (the shape claims, the ablation table):
//! headings, paragraphs, lists and tables, written as Markdown, HTML or plain text alike.

use std::fmt::Write as _;

use crate::report::{html, md};

/// A table: a header and rows of cells (plain text). The first column is left-aligned, the
/// others right-aligned unless `words` (cells of text rather than numbers: all left-aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub words: bool,
}

/// One block of a generated section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    /// A heading one level below the section's.
    Heading(String),
    /// A paragraph of plain text.
    Paragraph(String),
    /// A bulleted list of plain-text items.
    List(Vec<String>),
    /// A table.
    Table(Table),
}

/// The blocks as Markdown, headings at `level` (`###` for 3). Ends with a newline.
pub(crate) fn markdown(blocks: &[Block], level: usize) -> String {
    let mut m = String::new();
    for block in blocks {
        m.push('\n');
        match block {
            Block::Heading(h) => {
                let _ = writeln!(m, "{} {}", "#".repeat(level), md(h));
            }
            Block::Paragraph(p) => {
                let _ = writeln!(m, "{}", md(p));
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(m, "- {}", md(item));
                }
            }
            Block::Table(t) => m.push_str(&markdown_table(t)),
        }
    }
    m
}

/// A table as Markdown lines.
pub(crate) fn markdown_table(t: &Table) -> String {
    let cells = |row: &[String]| row.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ");
    let mut m = format!(
        "| {} |\n|{}\n",
        cells(&t.header),
        " --- |".repeat(t.header.len())
    );
    for row in &t.rows {
        let _ = writeln!(m, "| {} |", cells(row));
    }
    m
}

/// The blocks as HTML, headings as `<h{level}>`.
pub(crate) fn html_blocks(blocks: &[Block], level: usize) -> String {
    let mut h = String::new();
    for block in blocks {
        match block {
            Block::Heading(text) => {
                let _ = writeln!(h, "<h{level}>{}</h{level}>", html(text));
            }
            Block::Paragraph(p) => {
                let _ = writeln!(h, "<p>{}</p>", html(p));
            }
            Block::List(items) => {
                h.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(h, "<li>{}</li>", html(item));
                }
                h.push_str("</ul>\n");
            }
            Block::Table(t) => h.push_str(&html_table(t)),
        }
    }
    h
}

/// A table as an HTML `<table>`.
pub(crate) fn html_table(t: &Table) -> String {
    let mut h = String::from("<table>\n<tr>");
    let class = |i: usize| {
        if i == 0 || t.words {
            " class=\"l\""
        } else {
            ""
        }
    };
    for (i, c) in t.header.iter().enumerate() {
        let _ = write!(h, "<th{}>{}</th>", class(i), html(c));
    }
    h.push_str("</tr>\n");
    for row in &t.rows {
        h.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(h, "<td{}>{}</td>", class(i), html(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

/// A table as plain text for a terminal: columns padded to their widest cell (counted in
/// characters), the first left-aligned, the others right-aligned, two spaces apart.
pub(crate) fn text_table(t: &Table) -> String {
    let columns = t
        .rows
        .iter()
        .map(Vec::len)
        .chain([t.header.len()])
        .max()
        .unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in t.rows.iter().chain([&t.header]) {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in [&t.header].into_iter().chain(&t.rows) {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            if i == 0 || t.words {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            header: vec!["variant".into(), "ratio".into()],
            rows: vec![
                vec!["a|b".into(), "1.50".into()],
                vec!["longer".into(), "12.25".into()],
            ],
            words: false,
        }
    }

    #[test]
    fn tables_render_as_markdown_html_and_aligned_text() {
        assert_eq!(
            markdown_table(&table()),
            "| variant | ratio |\n| --- | --- |\n| a\\|b | 1.50 |\n| longer | 12.25 |\n"
        );
        assert!(html_table(&table()).contains("<td class=\"l\">a|b</td><td>1.50</td>"));
        assert_eq!(
            text_table(&table()),
            "variant  ratio\na|b       1.50\nlonger   12.25\n"
        );
        let blocks = [
            Block::Heading("Rules".into()),
            Block::List(vec!["one <rule>".into()]),
        ];
        assert_eq!(markdown(&blocks, 3), "\n### Rules\n\n- one \\<rule\\>\n");
        assert_eq!(
            html_blocks(&blocks, 3),
            "<h3>Rules</h3>\n<ul>\n<li>one &lt;rule&gt;</li>\n</ul>\n"
        );
    }
}
