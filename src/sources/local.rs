//! Local inputs: expands paths (directories walked recursively, `-` for stdin) and opens
//! each one as a byte stream, inflating gzip (multi-member too) detected from its content.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::Input;

/// The result of expanding the command-line paths.
#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    /// Files under directories passed over because their names are not log files.
    pub ignored_by_name: u64,
    /// Digest files recognized by name (skipped without reading).
    pub digests_by_name: Vec<Input>,
}

impl Expanded {
    /// What the expansion counted besides the inputs, for the summary.
    pub fn counts(&self) -> crate::pipeline::SourceCounts {
        crate::pipeline::SourceCounts {
            digests_by_name: self.digests_by_name.len() as u64,
            ignored_by_name: self.ignored_by_name,
            ..Default::default()
        }
    }
}

/// Error for a path that cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

/// True for names of CloudTrail digest files, which hold hashes, not events.
pub fn is_digest_name(name: &str) -> bool {
    name.contains("CloudTrail-Digest")
}

/// True for file names a directory walk reads: JSON, NDJSON and their gzip forms.
pub fn is_log_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    !name.starts_with('.')
        && (n.ends_with(".json")
            || n.ends_with(".ndjson")
            || n.ends_with(".jsonl")
            || name.ends_with(".gz"))
}

/// Expands paths into inputs; directories are walked in a stable (sorted) order.
pub fn expand(paths: &[String]) -> Result<Expanded, PathError> {
    let mut out = Expanded::default();
    for p in paths {
        if p == "-" {
            out.inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(p);
        let meta = std::fs::metadata(path).map_err(|e| PathError {
            path: p.clone(),
            reason: format!("{e}; check the path"),
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else if is_digest_name(p) {
            out.digests_by_name.push(Input::File(path.to_path_buf()));
        } else {
            out.inputs.push(Input::File(path.to_path_buf()));
        }
    }
    Ok(out)
}

/// Walks one directory, sorting entries by name so runs are reproducible.
fn walk(dir: &Path, out: &mut Expanded) -> Result<(), PathError> {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| PathError {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let path = entry.path().to_path_buf();
        if !is_log_name(&name) {
            out.ignored_by_name += 1;
        } else if is_digest_name(&path.to_string_lossy()) {
            out.digests_by_name.push(Input::File(path));
        } else {
            out.inputs.push(Input::File(path));
        }
    }
    Ok(())
}

/// Opens an input as a stream of JSON bytes, inflating it if it starts with the gzip magic.
pub fn open(input: &Input) -> std::io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::File(p) => Box::new(File::open(p)?),
        Input::Stdin => Box::new(std::io::stdin()),
    };
    decode(raw)
}

/// Wraps a byte stream so gzip content (detected by magic bytes) is inflated.
pub fn decode(raw: Box<dyn Read + Send>) -> std::io::Result<Box<dyn Read + Send>> {
    let mut br = BufReader::with_capacity(256 * 1024, raw);
    let head = br.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(super::gzip::GzipReader::new(br)))
    } else {
        Ok(Box::new(br))
    }
}
