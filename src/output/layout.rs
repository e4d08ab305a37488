//! Tables for people that fit the screen: a bordered table when every column fits at the
//! width of its longest word, else fewer columns (when the caller says which can go), else
//! one record per row (`field  value` lines). Values wrap only at spaces and line breaks:
//! an ARN, a UUID or an account id is never broken. Colour is added after the layout, so it
//! never changes a width.

use std::io::{self, Write};

use super::term::{Screen, Tone};

/// One cell: its text (`\n` separates lines) and how it is shown when colour is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    /// A cell in the given tone.
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text, Tone::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text, Tone::Plain)
    }
}

/// A table to lay out for a screen.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
    /// Per row, the heading of its record when laid out as records.
    titles: Vec<Option<Cell>>,
    /// Columns that may be left out when the table is too wide, the first to go first.
    droppable: Vec<usize>,
    /// Said under a table that lost columns (where to find them).
    dropped_hint: String,
    /// No borders: columns two spaces apart (short lists such as the rules that fired).
    plain: bool,
}

/// What the layout chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A table with these columns (indexes) at these widths.
    Table {
        columns: Vec<usize>,
        widths: Vec<usize>,
    },
    /// One record per row.
    Records,
}

impl Grid {
    /// A grid with these column headers.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Grid {
        Grid {
            header: header.into_iter().map(Into::into).collect(),
            ..Grid::default()
        }
    }

    /// Adds a row (missing cells are empty).
    pub fn row(&mut self, cells: impl IntoIterator<Item = Cell>) -> &mut Grid {
        let mut r: Vec<Cell> = cells.into_iter().collect();
        r.resize(self.header.len(), Cell::default());
        self.rows.push(r);
        self.titles.push(None);
        self
    }

    /// Adds a row with the heading its record gets in the record layout.
    pub fn titled_row(&mut self, title: Cell, cells: impl IntoIterator<Item = Cell>) -> &mut Grid {
        self.row(cells);
        *self.titles.last_mut().expect("just pushed") = Some(title);
        self
    }

    /// Lets these columns be left out, in this order, before falling back to records;
    /// `hint` says where the reader finds them.
    pub fn droppable(&mut self, columns: &[usize], hint: &str) -> &mut Grid {
        self.droppable = columns.to_vec();
        self.dropped_hint = hint.to_string();
        self
    }

    /// Lays the table out without borders, columns two spaces apart.
    pub fn plain(&mut self) -> &mut Grid {
        self.plain = true;
        self
    }

    /// Columns taken by borders and padding around `n` columns.
    fn frame(&self, n: usize) -> usize {
        if self.plain {
            2 * n.saturating_sub(1)
        } else {
            3 * n + 1
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Chooses the layout for `width` columns. A grid with droppable columns first leaves
    /// columns out until every row takes one line; then (any grid) until the longest words
    /// fit, wrapping at spaces; else records.
    pub fn layout(&self, width: usize) -> Layout {
        let all: Vec<usize> = (0..self.header.len()).collect();
        if !self.droppable.is_empty() {
            let fits = |cols: &[usize]| {
                cols.iter().map(|&c| self.longest_line(c)).sum::<usize>() + self.frame(cols.len())
                    <= width
            };
            let mut columns = all.clone();
            let mut dropped = Vec::new();
            for &d in &self.droppable {
                if fits(&columns) || columns.len() == 1 {
                    break;
                }
                columns.retain(|c| *c != d);
                dropped.push(d);
            }
            if fits(&columns) {
                // Take back what still fits, the last dropped (most wanted) first.
                for &d in dropped.iter().rev() {
                    let mut with: Vec<usize> = columns.clone();
                    with.push(d);
                    with.sort_unstable();
                    if fits(&with) {
                        columns = with;
                    }
                }
                let widths = columns.iter().map(|&c| self.longest_line(c)).collect();
                return Layout::Table { columns, widths };
            }
        }
        let mut columns = all;
        let mut drops = self.droppable.iter();
        loop {
            if let Some(widths) = self.fit(&columns, width) {
                return Layout::Table { columns, widths };
            }
            match drops.next() {
                Some(d) if columns.len() > 1 => columns.retain(|c| c != d),
                _ => return Layout::Records,
            }
        }
    }

    /// Widths for `columns` within `width`, or None when their longest words do not fit.
    fn fit(&self, columns: &[usize], width: usize) -> Option<Vec<usize>> {
        let min: Vec<usize> = columns.iter().map(|&c| self.longest_word(c)).collect();
        let natural: Vec<usize> = columns.iter().map(|&c| self.longest_line(c)).collect();
        let frame = self.frame(columns.len());
        let room = width.checked_sub(frame)?;
        let need: usize = min.iter().sum();
        if need > room {
            return None;
        }
        let mut widths = min.clone();
        let mut spare = room - need;
        // Hand out the spare room a column at a time, to the one furthest from its natural
        // width, so short columns stay whole and long ones share the rest.
        while spare > 0 {
            let Some((i, _)) = widths
                .iter()
                .zip(&natural)
                .enumerate()
                .filter(|(_, (w, n))| w < n)
                .max_by_key(|(i, (w, n))| (**n - **w, std::cmp::Reverse(*i)))
            else {
                break;
            };
            widths[i] += 1;
            spare -= 1;
        }
        Some(widths)
    }

    /// The widest word of a column (header included).
    fn longest_word(&self, c: usize) -> usize {
        self.column_texts(c)
            .flat_map(|t| t.split([' ', '\n']))
            .map(text_width)
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// The widest line of a column (header included).
    fn longest_line(&self, c: usize) -> usize {
        self.column_texts(c)
            .flat_map(|t| t.split('\n'))
            .map(text_width)
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// The header and every cell of a column.
    fn column_texts(&self, c: usize) -> impl Iterator<Item = &str> {
        std::iter::once(self.header[c].as_str())
            .chain(self.rows.iter().map(move |r| r[c].text.as_str()))
    }

    /// Writes the grid laid out for `screen`.
    pub fn write(&self, w: &mut dyn Write, screen: &Screen) -> io::Result<()> {
        match self.layout(screen.width) {
            Layout::Table { columns, widths } => {
                self.write_table(w, &columns, &widths, screen.color)?;
                let left: Vec<&str> = (0..self.header.len())
                    .filter(|c| !columns.contains(c))
                    .map(|c| self.header[c].as_str())
                    .collect();
                if !left.is_empty() {
                    let note = format!(
                        "(not shown at {} columns: {}; {})",
                        screen.width,
                        left.join(", "),
                        self.dropped_hint
                    );
                    for line in wrap(&note, screen.width) {
                        writeln!(w, "{}", Tone::Dim.paint(&line, screen.color))?;
                    }
                }
                Ok(())
            }
            Layout::Records => self.write_records(w, screen),
        }
    }

    /// A bordered table; a rule between rows when some row spans several lines.
    fn write_table(
        &self,
        w: &mut dyn Write,
        columns: &[usize],
        widths: &[usize],
        color: bool,
    ) -> io::Result<()> {
        let border = |l: &str, fill: &str, mid: &str, r: &str| {
            let parts: Vec<String> = widths.iter().map(|n| fill.repeat(n + 2)).collect();
            format!("{l}{}{r}", parts.join(mid))
        };
        let wrapped: Vec<Vec<Vec<String>>> = self
            .rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .zip(widths)
                    .map(|(&c, &n)| wrap(&r[c].text, n))
                    .collect()
            })
            .collect();
        let tall = wrapped.iter().any(|r| r.iter().any(|c| c.len() > 1));
        let head: Vec<Vec<String>> = columns
            .iter()
            .zip(widths)
            .map(|(&c, &n)| wrap(&self.header[c], n))
            .collect();
        let bold = vec![Tone::Bold; columns.len()];
        if self.plain {
            write_lines(w, &head, widths, &bold, color, None)?;
            for (row, cells) in self.rows.iter().zip(&wrapped) {
                let tones: Vec<Tone> = columns.iter().map(|&c| row[c].tone).collect();
                write_lines(w, cells, widths, &tones, color, None)?;
            }
            return Ok(());
        }
        let bars = Some(('│', '┆'));
        writeln!(w, "{}", border("┌", "─", "┬", "┐"))?;
        write_lines(w, &head, widths, &bold, color, bars)?;
        writeln!(w, "{}", border("╞", "═", "╪", "╡"))?;
        for (i, (row, cells)) in self.rows.iter().zip(&wrapped).enumerate() {
            if i > 0 && tall {
                writeln!(w, "{}", border("├", "╌", "┼", "┤"))?;
            }
            let tones: Vec<Tone> = columns.iter().map(|&c| row[c].tone).collect();
            write_lines(w, cells, widths, &tones, color, bars)?;
        }
        writeln!(w, "{}", border("└", "─", "┴", "┘"))
    }

    /// One record per row: its title, then `field  value` lines (empty values left out).
    fn write_records(&self, w: &mut dyn Write, screen: &Screen) -> io::Result<()> {
        let label_w = self
            .header
            .iter()
            .map(|h| text_width(h))
            .max()
            .unwrap_or(0)
            .min(screen.width / 3);
        let value_w = screen.width.saturating_sub(label_w + 4).max(1);
        let n = self.rows.len();
        for (i, (row, title)) in self.rows.iter().zip(&self.titles).enumerate() {
            if i > 0 {
                writeln!(w)?;
            }
            let (text, tone) = match title {
                Some(t) => (t.text.clone(), t.tone),
                None => (format!("{} of {n}", i + 1), Tone::Bold),
            };
            for line in wrap(&text, screen.width) {
                writeln!(w, "{}", tone.paint(&line, screen.color))?;
            }
            for (h, cell) in self.header.iter().zip(row) {
                if cell.text.trim().is_empty() {
                    continue;
                }
                let label = Tone::Dim.paint(h, screen.color);
                let pad = " ".repeat(label_w.saturating_sub(text_width(h)));
                let longest = cell
                    .text
                    .split([' ', '\n'])
                    .map(text_width)
                    .max()
                    .unwrap_or(0);
                if text_width(h) > label_w || longest > value_w {
                    // A long label or a long word: the value on the lines below, with the
                    // whole width.
                    writeln!(w, "  {label}")?;
                    for line in wrap(&cell.text, screen.width.saturating_sub(4).max(1)) {
                        writeln!(w, "    {}", cell.tone.paint(&line, screen.color))?;
                    }
                    continue;
                }
                for (j, line) in wrap(&cell.text, value_w).iter().enumerate() {
                    let line = cell.tone.paint(line, screen.color);
                    if j == 0 {
                        writeln!(w, "  {label}{pad}  {line}")?;
                    } else {
                        writeln!(w, "  {}  {line}", " ".repeat(label_w))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes the lines of one table row, padding each cell to its width; `bars` are the
/// outer and inner borders (None: columns two spaces apart, no trailing spaces).
fn write_lines(
    w: &mut dyn Write,
    cells: &[Vec<String>],
    widths: &[usize],
    tones: &[Tone],
    color: bool,
    bars: Option<(char, char)>,
) -> io::Result<()> {
    let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
    for line in 0..height {
        let mut s = String::new();
        if let Some((outer, _)) = bars {
            s.push(outer);
        }
        for (i, (c, n)) in cells.iter().zip(widths).enumerate() {
            let text = c.get(line).map(String::as_str).unwrap_or("");
            let pad = n.saturating_sub(text_width(text));
            let last = i + 1 == cells.len();
            match bars {
                Some((outer, inner)) => {
                    s.push(' ');
                    s.push_str(&tones[i].paint(text, color));
                    s.push_str(&" ".repeat(pad));
                    s.push(' ');
                    s.push(if last { outer } else { inner });
                }
                None => {
                    if i > 0 {
                        s.push_str("  ");
                    }
                    s.push_str(&tones[i].paint(text, color));
                    if !last {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
        }
        writeln!(w, "{}", if bars.is_none() { s.trim_end() } else { &s })?;
    }
    Ok(())
}

/// Columns a text takes on screen (characters; the text is not coloured yet).
pub fn text_width(s: &str) -> usize {
    s.chars().count()
}

/// Wraps text at spaces to `width`, keeping its line breaks. A word longer than the width
/// gets a line of its own and is never cut.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let mut cur = String::new();
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            if cur.is_empty() {
                cur.push_str(word);
            } else if text_width(&cur) + 1 + text_width(word) <= width {
                cur.push(' ');
                cur.push_str(word);
            } else {
                out.push(std::mem::take(&mut cur));
                cur.push_str(word);
            }
        }
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::111122223333:user/BedrockAPIKey-x7k2";
    const UUID: &str = "6f1c2b7e-8a3d-4c55-9e0f-1a2b3c4d5e6f";

    fn sample() -> Grid {
        let mut g = Grid::new(["principal", "calls", "event"]);
        g.row([ARN.into(), "11 ok / 3 denied".into(), UUID.into()]);
        g.row(["short".into(), "1 ok / 0 denied".into(), UUID.into()]);
        g
    }

    fn render(g: &Grid, width: usize) -> String {
        let mut out = Vec::new();
        g.write(
            &mut out,
            &Screen {
                width,
                color: false,
            },
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wrap_breaks_at_spaces_only() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap(ARN, 10), [ARN], "a long word is never cut");
        assert_eq!(wrap("x\ny z", 10), ["x", "y z"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn a_table_that_fits_keeps_every_token_whole_and_the_width() {
        let out = render(&sample(), 120);
        assert!(out.contains(ARN) && out.contains(UUID), "{out}");
        assert!(out.lines().all(|l| text_width(l) <= 120));
        let narrower = render(&sample(), 110);
        assert!(narrower.lines().all(|l| text_width(l) <= 110), "{narrower}");
        assert!(
            narrower.contains(ARN) && narrower.contains(UUID),
            "{narrower}"
        );
        assert!(
            narrower.contains("11 ok /"),
            "the calls column wraps at spaces: {narrower}"
        );
    }

    #[test]
    fn a_table_too_wide_becomes_records() {
        let out = render(&sample(), 70);
        assert_eq!(sample().layout(70), Layout::Records);
        assert!(out.contains(&format!("principal  {ARN}")), "{out}");
        assert!(out.contains(&format!("event      {UUID}")), "{out}");
        assert!(out.contains("1 of 2") && out.contains("2 of 2"));
        // Narrower than a word: the word goes whole on a line of its own below the label.
        let out = render(&sample(), 50);
        assert!(out.contains(&format!("  principal\n    {ARN}\n")), "{out}");
    }

    #[test]
    fn droppable_columns_go_before_records() {
        let mut g = sample();
        g.droppable(&[2], "--format json has every column");
        let out = render(&g, 80);
        assert!(matches!(g.layout(80), Layout::Table { ref columns, .. } if columns == &[0, 1]));
        assert!(out.contains(ARN) && !out.contains(UUID), "{out}");
        assert!(out.contains("not shown at 80 columns: event; --format json has every column"));
    }

    #[test]
    fn colour_does_not_change_the_layout() {
        let mut g = Grid::new(["severity", "rule"]);
        g.row([
            Cell::new("HIGH", Tone::Severity(crate::rules::Severity::High)),
            "x".into(),
        ]);
        let mut plain = Vec::new();
        g.write(
            &mut plain,
            &Screen {
                width: 80,
                color: false,
            },
        )
        .unwrap();
        let mut coloured = Vec::new();
        g.write(
            &mut coloured,
            &Screen {
                width: 80,
                color: true,
            },
        )
        .unwrap();
        let coloured = String::from_utf8(coloured).unwrap();
        assert!(coloured.contains("\x1b[1;31mHIGH\x1b[0m"));
        assert_eq!(
            coloured
                .replace("\x1b[1;31m", "")
                .replace("\x1b[1m", "")
                .replace("\x1b[0m", ""),
            String::from_utf8(plain).unwrap()
        );
    }
}
