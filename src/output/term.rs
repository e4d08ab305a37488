//! What the reader's screen allows: the width tables are laid out for, and whether to colour.
//!
//! Colour is used only in table output, only on a terminal (unless `--color always`), never
//! when `NO_COLOR` is set to something non-empty (unless `--color always`), never for
//! `TERM=dumb`, and never in JSON, NDJSON, CSV or Parquet.

use std::io::IsTerminal;

use crate::rules::Severity;

/// Width used when stdout is not a terminal (a file, a pipe) and `COLUMNS` is not set.
pub const FILE_WIDTH: usize = 120;
/// Narrowest width laid out for; below it, tables are laid out as if this wide.
pub const MIN_WIDTH: usize = 40;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    /// Always colour (also into files and pipes).
    Always,
    /// Never colour.
    Never,
}

/// How human-readable output is laid out: width in columns and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    pub width: usize,
    pub color: bool,
}

impl Default for Screen {
    /// A file: [`FILE_WIDTH`] columns, no colour.
    fn default() -> Screen {
        Screen {
            width: FILE_WIDTH,
            color: false,
        }
    }
}

impl Screen {
    /// The screen for output written to stdout (`to_file` false) or to a file.
    pub fn detect(choice: ColorChoice, to_file: bool) -> Screen {
        let tty = !to_file && std::io::stdout().is_terminal();
        let env = |k: &str| std::env::var(k).ok();
        let term_cols = if tty {
            console::Term::stdout()
                .size_checked()
                .map(|(_, c)| c as usize)
        } else {
            None
        };
        Screen {
            width: width(env("COLUMNS").as_deref(), term_cols),
            color: color_enabled(
                choice,
                tty,
                env("NO_COLOR").as_deref(),
                env("TERM").as_deref(),
            ),
        }
    }
}

/// The layout width: `COLUMNS` when it holds a number, else the terminal's width, else
/// [`FILE_WIDTH`]; never below [`MIN_WIDTH`].
pub fn width(columns_env: Option<&str>, terminal: Option<usize>) -> usize {
    columns_env
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
        .or(terminal.filter(|c| *c > 0))
        .unwrap_or(FILE_WIDTH)
        .max(MIN_WIDTH)
}

/// Whether to colour: `always` and `never` decide; `auto` needs a terminal, no non-empty
/// `NO_COLOR` and a `TERM` other than `dumb`.
pub fn color_enabled(
    choice: ColorChoice,
    tty: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            tty && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
        }
    }
}

/// How a piece of text is shown when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    Severity(Severity),
    /// Something that went through (a call that succeeded).
    Good,
    /// Something that failed or was denied.
    Bad,
    /// Secondary text.
    Dim,
    /// Headings.
    Bold,
}

impl Tone {
    /// The ANSI SGR parameters of the tone; None for plain text.
    pub fn sgr(self) -> Option<&'static str> {
        Some(match self {
            Tone::Plain => return None,
            Tone::Severity(Severity::Critical) => "1;97;41",
            Tone::Severity(Severity::High) => "1;31",
            Tone::Severity(Severity::Medium) => "33",
            Tone::Severity(Severity::Low) => "36",
            Tone::Severity(Severity::Info) => "2",
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Dim => "2",
            Tone::Bold => "1",
        })
    }

    /// `text` in this tone when `color` is on, else as is.
    pub fn paint(self, text: &str, color: bool) -> String {
        match self.sgr() {
            Some(p) if color && !text.is_empty() => format!("\x1b[{p}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        use ColorChoice::*;
        assert!(color_enabled(Auto, true, None, Some("xterm-256color")));
        assert!(!color_enabled(Auto, false, None, None), "a pipe or file");
        assert!(!color_enabled(Auto, true, Some("1"), None), "NO_COLOR=1");
        assert!(
            color_enabled(Auto, true, Some(""), None),
            "an empty NO_COLOR does not count"
        );
        assert!(!color_enabled(Auto, true, None, Some("dumb")));
        assert!(color_enabled(Always, false, Some("1"), None));
        assert!(!color_enabled(Never, true, None, None));
    }

    #[test]
    fn width_prefers_columns_then_the_terminal_then_the_file_cap() {
        assert_eq!(width(Some("80"), Some(200)), 80);
        assert_eq!(width(None, Some(140)), 140);
        assert_eq!(width(Some("junk"), None), FILE_WIDTH);
        assert_eq!(width(None, None), FILE_WIDTH);
        assert_eq!(width(Some("10"), None), MIN_WIDTH);
    }

    #[test]
    fn paint_wraps_only_when_colour_is_on() {
        let t = Tone::Severity(Severity::High);
        assert_eq!(t.paint("HIGH", false), "HIGH");
        assert_eq!(t.paint("HIGH", true), "\x1b[1;31mHIGH\x1b[0m");
        assert_eq!(Tone::Plain.paint("x", true), "x");
    }
}
