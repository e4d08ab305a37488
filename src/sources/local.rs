//! Local inputs: expands paths (directories walked recursively, `-` for stdin) and opens
//! each one as a byte stream, inflating gzip (multi-member too) detected from its content.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::Input;
use super::gzip::{BufferPool, GzipReader};

/// The result of expanding the command-line paths.
#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    /// Files under directories passed over because their names are not log files.
    pub ignored_by_name: u64,
    /// Digest files recognized by name (skipped without reading).
    pub digests_by_name: Vec<Input>,
    /// Inputs left to other shards (`--shard`).
    pub other_shards: u64,
    /// Files passed over on purpose, by reason (special files, exports that are not
    /// CloudTrail), with the first few paths.
    pub passed_over: std::collections::BTreeMap<String, u64>,
    /// Entries that could not be walked or read (symlink loops, broken links, no
    /// permission), with the reason: reported and counted as skipped inputs.
    pub unwalkable: Vec<(String, String)>,
    /// Messages about what was passed over.
    pub messages: Vec<String>,
}

impl Expanded {
    /// Counts a file passed over on purpose (the first few are named in messages).
    fn pass_over(&mut self, path: &Path, reason: &str) {
        let n = self.passed_over.entry(reason.to_string()).or_default();
        *n += 1;
        if *n <= 3 {
            self.messages
                .push(format!("{}: passed over: {reason}", path.display()));
        }
    }

    /// Keeps only the inputs of one shard (standard input belongs to shard 0).
    pub fn keep_shard(&mut self, shard: super::shard::Shard) {
        let names: Vec<String> = self.inputs.iter().map(Input::name).collect();
        let keep = shard.select(&names);
        let before = self.inputs.len();
        let mut i = 0;
        self.inputs.retain(|input| {
            let k = match input {
                Input::Stdin => shard.index == 0,
                Input::File(_) => keep[i],
            };
            i += 1;
            k
        });
        self.other_shards += (before - self.inputs.len()) as u64;
    }

    /// What the expansion counted besides the inputs, for the summary.
    pub fn counts(&self) -> crate::pipeline::SourceCounts {
        crate::pipeline::SourceCounts {
            digests_by_name: self.digests_by_name.len() as u64,
            ignored_by_name: self.ignored_by_name,
            other_shards: self.other_shards,
            passed_over: self.passed_over.clone(),
            unwalkable: self.unwalkable.clone(),
            messages: self.messages.clone(),
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
            || n.ends_with(".parquet")
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

/// Walks one directory, sorting entries by name so runs are reproducible. An entry that
/// cannot be walked (a symlink loop, a broken link, no permission) is reported and counted,
/// and the rest of the tree is still read.
fn walk(dir: &Path, out: &mut Expanded) -> Result<(), PathError> {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map_or_else(|| dir.display().to_string(), |p| p.display().to_string());
                let reason = walk_error(&e);
                out.unwalkable.push((path, reason));
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let path = entry.path().to_path_buf();
        if !ft.is_file() {
            out.pass_over(&path, "not a regular file (FIFO, socket or device)");
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if is_digest_name(&path.to_string_lossy()) {
            out.digests_by_name.push(Input::File(path));
        } else if is_log_name(&name) {
            out.inputs.push(Input::File(path));
        } else if is_export_name(&name) {
            match sniff(&path) {
                Sniff::CloudTrail => out.inputs.push(Input::File(path)),
                Sniff::Other => out.pass_over(
                    &path,
                    "not CloudTrail JSON (a .log, .txt or extensionless file)",
                ),
                Sniff::Unreadable(why) => out.unwalkable.push((path.display().to_string(), why)),
            }
        } else {
            out.ignored_by_name += 1;
        }
    }
    Ok(())
}

/// Why a directory entry could not be walked, in words.
fn walk_error(e: &walkdir::Error) -> String {
    if let Some(ancestor) = e.loop_ancestor() {
        return format!(
            "symlink loop (points back to {}); not followed",
            ancestor.display()
        );
    }
    match e.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "broken symlink (its target does not exist)".to_string()
        }
        Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            "permission denied; not read".to_string()
        }
        Some(io) => format!("cannot be read: {io}"),
        None => e.to_string(),
    }
}

/// Names that SIEM exports and saved trails often carry: `.log`, `.txt`, or no extension.
/// Such files are read when their content is CloudTrail.
fn is_export_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    !name.starts_with('.') && (n.ends_with(".log") || n.ends_with(".txt") || !n.contains('.'))
}

/// What the start of a file says it is.
enum Sniff {
    CloudTrail,
    Other,
    Unreadable(String),
}

/// Bytes of a file's (inflated) start looked at to tell CloudTrail JSON.
const SNIFF_BYTES: usize = 64 * 1024;

/// Looks at the start of a file (inflated when gzip): JSON that names CloudTrail's fields.
fn sniff(path: &Path) -> Sniff {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let read = File::open(path)
        .and_then(|f| decode(Box::new(f)))
        .and_then(|r| r.take(SNIFF_BYTES as u64).read_to_end(&mut head));
    if let Err(e) = read {
        // A truncated gzip still shows its start; anything else cannot be read.
        if head.is_empty() {
            return Sniff::Unreadable(format!("cannot be read: {e}"));
        }
    }
    let text = head
        .strip_prefix(&[0xEF, 0xBB, 0xBF])
        .unwrap_or(&head)
        .trim_ascii_start();
    let json = matches!(text.first(), Some(b'{' | b'['));
    let names = [
        &b"\"eventVersion\""[..],
        b"\"eventSource\"",
        b"\"Records\"",
        b"\"CloudTrailEvent\"",
    ];
    if json
        && names
            .iter()
            .any(|n| memchr::memmem::find(text, n).is_some())
    {
        Sniff::CloudTrail
    } else {
        Sniff::Other
    }
}

/// Opens an input as a stream of JSON bytes, inflating it if it starts with the gzip magic
/// (with a buffer from `pool`).
pub fn open(input: &Input, pool: &BufferPool) -> std::io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::File(p) => Box::new(File::open(p)?),
        Input::Stdin => Box::new(std::io::stdin()),
    };
    decode_pooled(raw, pool)
}

/// Wraps a byte stream so gzip content (detected by magic bytes) is inflated. No buffer is
/// put in front: the splitter and the gzip reader read in large blocks of their own.
pub fn decode(raw: Box<dyn Read + Send>) -> std::io::Result<Box<dyn Read + Send>> {
    decode_pooled(raw, &BufferPool::default())
}

/// [`decode`] with the gzip reader's buffer from `pool` (readers of many inputs).
pub fn decode_pooled(
    mut raw: Box<dyn Read + Send>,
    pool: &BufferPool,
) -> std::io::Result<Box<dyn Read + Send>> {
    let mut head = [0u8; 2];
    let mut n = 0;
    while n < head.len() {
        match raw.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = std::io::Cursor::new(head).take(n as u64).chain(raw);
    if n == 2 && head == [0x1f, 0x8b] {
        Ok(Box::new(GzipReader::pooled(stream, pool)))
    } else {
        Ok(Box::new(stream))
    }
}
