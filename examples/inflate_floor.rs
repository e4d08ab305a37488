//! The inflate floor of the benchmark: inflate every gzip file under a folder with
//! flate2 (zlib-rs, the backend keytrail uses) on N threads, and nothing else. No JSON is
//! split or parsed, so no scan of the same files can be faster than this.
//!
//! `inflate_floor DIR [--threads N]` (default 2) reads each `*.gz` file whole (from the page
//! cache once it is warm), inflates every gzip member into a 256 KiB buffer that is thrown
//! away, and prints one line: files, compressed and inflated bytes, threads, seconds and
//! inflated MB/s. Files are handed to the threads largest first, so one late big file does
//! not leave a core idle at the end. Exit code 1 when a file cannot be read or inflated.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use flate2::bufread::MultiGzDecoder;

/// Totals over all threads.
#[derive(Default)]
struct Totals {
    gz_bytes: AtomicU64,
    raw_bytes: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let usage = "usage: inflate_floor DIR [--threads N]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut threads = 2usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => {
                let n = it.next().ok_or_else(|| anyhow::anyhow!(usage))?;
                threads = n
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--threads {n}: not a number; {usage}"))?;
            }
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(());
            }
            other if dir.is_none() => dir = Some(PathBuf::from(other)),
            other => anyhow::bail!("unexpected argument {other:?}; {usage}"),
        }
    }
    let dir = dir.ok_or_else(|| anyhow::anyhow!(usage))?;
    anyhow::ensure!(threads >= 1, "--threads must be at least 1");
    let files = gz_files(&dir)?;
    anyhow::ensure!(
        !files.is_empty(),
        "{}: no *.gz file under it",
        dir.display()
    );

    let totals = Totals::default();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| worker(&files, &next, &totals, &failures));
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let failures = failures.into_inner().expect("no thread panicked");
    for f in &failures {
        eprintln!("inflate_floor: {f}");
    }
    let raw = totals.raw_bytes.load(Ordering::Relaxed);
    println!(
        "inflate_floor: {} files, {:.1} MB gzip -> {:.1} MB inflated, {threads} threads, {secs:.3} s, {:.0} MB/s",
        files.len(),
        totals.gz_bytes.load(Ordering::Relaxed) as f64 / 1e6,
        raw as f64 / 1e6,
        raw as f64 / 1e6 / secs.max(1e-9),
    );
    anyhow::ensure!(failures.is_empty(), "{} file(s) failed", failures.len());
    Ok(())
}

/// Every `*.gz` file under `dir`, largest first.
fn gz_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e?;
        if e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(".gz") {
            out.push((e.path().to_path_buf(), e.metadata()?.len()));
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Takes files from the shared list until none is left; inflates each.
fn worker(
    files: &[(PathBuf, u64)],
    next: &AtomicUsize,
    totals: &Totals,
    failures: &Mutex<Vec<String>>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((path, _)) = files.get(i) else {
            return;
        };
        match inflate(path, &mut buf) {
            Ok((gz, raw)) => {
                totals.gz_bytes.fetch_add(gz, Ordering::Relaxed);
                totals.raw_bytes.fetch_add(raw, Ordering::Relaxed);
            }
            Err(e) => failures
                .lock()
                .expect("no thread panicked")
                .push(format!("{}: {e}", path.display())),
        }
    }
}

/// Reads one file whole and inflates all its gzip members; returns (compressed, inflated)
/// byte counts.
fn inflate(path: &Path, buf: &mut [u8]) -> std::io::Result<(u64, u64)> {
    let gz = std::fs::read(path)?;
    let mut dec = MultiGzDecoder::new(gz.as_slice());
    let mut raw = 0u64;
    loop {
        match dec.read(buf)? {
            0 => return Ok((gz.len() as u64, raw)),
            n => raw += n as u64,
        }
    }
}
