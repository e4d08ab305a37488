//! Times the record splitter and the keyword prefilter alone, on a corpus inflated into memory.
//!
//! `cargo run --profile profiling --example split_bench -- DIR [--files N] [--runs N]` reads
//! every `*.json.gz` under DIR (the benchmark corpus, `benches/gen_corpus.py`), inflates them
//! into memory once, then times, on one thread, best of `--runs` (3):
//! - `split`: [`split_records`] over every file, counting records;
//! - `prefilter`: [`Prefilter::is_candidate`] on every record, already split; beside it the
//!   case-insensitive Aho-Corasick search it replaced, and a plain read of the same bytes;
//! - `split+prefilter`: both, as the pipeline does them;
//! - `parse`: simd-json's tape of every record (what the pipeline does to a candidate, and
//!   on a dense corpus every record is one);
//! - `inflate`: the gzip reader alone (one thread), for comparison with the floor;
//!
//! and prints GB/s of JSON per core (on-CPU time of the thread, so other load does not count). Performance is measured here, never asserted in tests.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use keytrail::sources::gzip::GzipReader;
use keytrail::sources::prefilter::Prefilter;
use keytrail::sources::scanner::{Piece, split_records};
use keytrail::transforms::classify::RELEVANT_KEYWORDS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: split_bench DIR [--files N] [--runs N]");
        std::process::exit(2);
    };
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let runs = opt("--runs").unwrap_or(3);
    let mut files = Vec::new();
    collect(Path::new(dir), &mut files);
    files.sort();
    files.truncate(opt("--files").unwrap_or(usize::MAX));
    let gz: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    let json: Vec<Vec<u8>> = gz.iter().map(|g| inflate(g)).collect();
    let total: usize = json.iter().map(Vec::len).sum();
    let gz_total: usize = gz.iter().map(Vec::len).sum();
    println!(
        "{} files, {:.1} MB JSON, {:.1} MB gzip",
        files.len(),
        total as f64 / 1e6,
        gz_total as f64 / 1e6
    );
    let pre = Prefilter::new(RELEVANT_KEYWORDS, true);

    let split = |json: &[Vec<u8>]| {
        let mut n = 0u64;
        for j in json {
            split_records(&j[..], &mut |p| {
                n += matches!(p, Piece::Record { .. }) as u64
            });
        }
        n
    };
    let n = time("split", runs, total, || split(&json));
    println!("  {n} records");
    // The records as slices of the inflated files (offsets in the stream are indices).
    let mut slices: Vec<&[u8]> = Vec::new();
    for j in &json {
        let mut spans = Vec::new();
        split_records(&j[..], &mut |p| {
            if let Piece::Record { offset, bytes, .. } = p {
                spans.push((offset as usize, bytes.len()));
            }
        });
        slices.extend(spans.into_iter().map(|(o, l)| &j[o..o + l]));
    }
    let c = time("prefilter", runs, total, || {
        slices.iter().filter(|s| pre.is_candidate(s)).count() as u64
    });
    println!("  {c} candidates of {} records", slices.len());
    // The keyword search this prefilter replaced (e3c02bd), on the same records.
    let ac = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(RELEVANT_KEYWORDS)
        .expect("static patterns");
    let a = time("aho-corasick (before)", runs, total, || {
        slices.iter().filter(|s| ac.is_match(**s)).count() as u64
    });
    println!("  {a} matches (without the \\u rule)");
    // Reading the records once, XOR-ing 8 bytes at a time: what memory gives one core.
    time("read only (reference)", runs, total, || {
        slices.iter().map(|s| xor_all(s)).fold(0, |a, b| a ^ b)
    });
    let c = time("split+prefilter", runs, total, || {
        let mut c = 0u64;
        for j in &json {
            split_records(&j[..], &mut |p| {
                if let Piece::Record { bytes, .. } = p {
                    c += pre.is_candidate(bytes) as u64;
                }
            });
        }
        c
    });
    println!("  {c} candidates");
    // Parsing every record as the pipeline parses a candidate (a copy, then simd-json's tape
    // with reused buffers): what reading every record's fields costs at least, the floor of
    // a dense corpus, where every record is a candidate.
    let (mut bytes, mut buffers) = (Vec::new(), simd_json::Buffers::new(4096));
    let p = time("parse (simd-json tape)", runs, total, || {
        let mut ok = 0u64;
        for s in &slices {
            bytes.clear();
            bytes.extend_from_slice(s);
            ok += simd_json::to_tape_with_buffers(&mut bytes, &mut buffers).is_ok() as u64;
        }
        ok
    });
    println!("  {p} records parsed");
    time("inflate (gzip reader)", runs, total, || {
        let mut out = vec![0u8; 1 << 20];
        let mut n = 0u64;
        for g in &gz {
            let mut r = GzipReader::new(&g[..]);
            while let Ok(k) = r.read(&mut out) {
                if k == 0 {
                    break;
                }
                n += k as u64;
            }
        }
        n
    });
}

/// Runs `f` `runs` times and prints the best time and GB/s of `bytes`: on-CPU time of this
/// thread (Linux `/proc/thread-self/schedstat`, so that other load on the machine does not
/// count), and wall time.
fn time(name: &str, runs: usize, bytes: usize, mut f: impl FnMut() -> u64) -> u64 {
    let mut best = (f64::MAX, f64::MAX);
    let mut out = 0;
    for _ in 0..runs.max(1) {
        let (t, c) = (Instant::now(), cpu_seconds());
        out = std::hint::black_box(f());
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds().map(|e| e - c.unwrap_or(0.0)).unwrap_or(wall);
        best = (best.0.min(cpu), best.1.min(wall));
    }
    println!(
        "{name:>24}: {:.3} s on CPU ({:.3} s wall)  {:.2} GB/s per core",
        best.0,
        best.1,
        bytes as f64 / best.0 / 1e9
    );
    out
}

/// Seconds this thread has run on a CPU, where Linux says.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// XOR of all 8-byte words of `s` (a plain read of the bytes).
fn xor_all(s: &[u8]) -> u64 {
    let mut w = s.chunks_exact(8);
    let x = w.by_ref().fold(0u64, |a, c| {
        a ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))
    });
    w.remainder().iter().fold(x, |a, &b| a ^ b as u64)
}

/// Inflates one gzip file.
fn inflate(g: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzipReader::new(g).read_to_end(&mut out).expect("gzip");
    out
}

/// Every `*.json.gz` under `dir`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.to_string_lossy().ends_with(".json.gz") {
            out.push(p);
        }
    }
}
