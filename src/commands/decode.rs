//! `keytrail decode`: Bedrock API keys decoded offline, from arguments, files or stdin,
//! whole or embedded in text. Nothing is sent anywhere; no secret is printed.

use std::io::{IsTerminal, Read, Write};

use anyhow::{Context, Result, bail};

use super::{Outcome, screen};
use crate::cli::{DecodeArgs, ReportFormat};
use crate::keys::report::TokenReport;
use crate::keys::token::{Found, find_tokens, redact_candidate};
use crate::output::forensics::{
    DecodeReport, FORENSICS_SCHEMA_VERSION, TokenProblem, write_tokens,
};

/// The texts to search: each argument, each file, or stdin.
fn texts(a: &DecodeArgs, err: &mut dyn Write) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut stdin = a.tokens.is_empty() && a.file.is_empty();
    for (i, t) in a.tokens.iter().enumerate() {
        if t == "-" {
            stdin = true;
        } else {
            out.push((format!("argument {}", i + 1), t.clone()));
        }
    }
    for f in &a.file {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        out.push((
            f.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    if stdin {
        if std::io::stdin().is_terminal() {
            writeln!(
                err,
                "keytrail: reading keys from standard input (end with Ctrl-D)"
            )?;
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        out.push(("<stdin>".into(), s));
    }
    Ok(out)
}

/// Splits what was found into decoded reports and problems.
pub fn decode_texts(texts: &[(String, String)], now: i64) -> DecodeReport {
    let mut r = DecodeReport {
        schema_version: FORENSICS_SCHEMA_VERSION,
        tokens: Vec::new(),
        problems: Vec::new(),
    };
    for (input, text) in texts {
        let found = find_tokens(text);
        if found.is_empty() && !text.trim().is_empty() && !text.contains('\n') {
            // A lone argument that is no key at all: say why, as decode() would.
            if let Err(e) = crate::keys::token::decode(text) {
                r.problems
                    .push(problem(input, 1, text.trim(), e.to_string()));
            }
        }
        for Found {
            offset,
            line,
            result,
        } in found
        {
            match result {
                Ok(t) => {
                    if !r.tokens.iter().any(|x| x.fingerprint == t.fingerprint) {
                        r.tokens.push(TokenReport::new(&t, now));
                    }
                }
                Err(e) => r
                    .problems
                    .push(problem(input, line, &text[offset..], e.to_string())),
            }
        }
    }
    r
}

/// A problem with a redacted view of the candidate (a known prefix and a few characters).
fn problem(input: &str, line: usize, candidate: &str, reason: String) -> TokenProblem {
    let word: String = candidate
        .trim()
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    TokenProblem {
        input: input.to_string(),
        line,
        redacted: redact_candidate(&word),
        reason,
    }
}

/// Decodes and writes (to stdout or `--output FILE`); problems go to stderr too. Exit 3
/// when some candidate was bad, 2 when none decoded (for every format: JSON still gets its
/// document with the problems first).
pub fn run(a: &DecodeArgs, err: &mut dyn Write) -> Result<Outcome> {
    let report = decode_texts(&texts(a, err)?, chrono::Utc::now().timestamp_micros());
    for p in &report.problems {
        writeln!(
            err,
            "keytrail: {} line {}: {}: {}",
            p.input, p.line, p.redacted, p.reason
        )?;
    }
    if report.tokens.is_empty() {
        if report.problems.is_empty() {
            bail!(
                "no Bedrock API key found in the input (looked for ABSK..., bedrock-api-key-..., AEAA..., aws-external-anthropic-api-key-...)"
            );
        }
        if a.format == ReportFormat::Json {
            write_report(a, &report)?;
        }
        bail!("no key could be decoded (see above)");
    }
    write_report(a, &report)?;
    Ok(Outcome {
        partial: !report.problems.is_empty(),
        ..Outcome::default()
    })
}

/// Writes the report where `--output` says.
fn write_report(a: &DecodeArgs, report: &DecodeReport) -> Result<()> {
    let mut out = crate::output::open_output(a.out.output.as_deref()).context("opening output")?;
    write_tokens(&mut *out, a.format, report, &screen(&a.out))?;
    out.flush()?;
    Ok(())
}

/// The one key named by `--token` (`-`: stdin) or `--token-file`: the first key found,
/// decoded, or an error saying what is wrong with it.
pub fn token_arg(
    token: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<crate::keys::token::Token>> {
    let (input, text) = match (token, file) {
        (Some("-"), _) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the key from standard input")?;
            ("<stdin>".to_string(), s)
        }
        (Some(t), _) => ("--token".to_string(), t.to_string()),
        (None, Some(f)) => (
            f.display().to_string(),
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        (None, None) => return Ok(None),
    };
    match find_tokens(&text).into_iter().next() {
        Some(Found { result: Ok(t), .. }) => Ok(Some(t)),
        Some(Found {
            result: Err(e),
            offset,
            ..
        }) => bail!(
            "{input}: {}: {e}",
            redact_candidate(text[offset..].split_whitespace().next().unwrap_or(""))
        ),
        None => match crate::keys::token::decode(&text) {
            Ok(t) => Ok(Some(t)),
            Err(e) => bail!("{input}: {}: {e}", redact_candidate(text.trim())),
        },
    }
}
