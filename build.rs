//! Build script: records what `keytrail --version` reports besides the crate version.
//!
//! - `KEYTRAIL_GIT_COMMIT`: `git rev-parse --short HEAD` when built from a git checkout,
//!   `unknown` otherwise (a source tarball, no git installed).
//! - `KEYTRAIL_RULES_HASH`: the first 12 hex digits of a SHA-256 over every `*.sql` file
//!   under `queries/` (relative path and content, in sorted order), so a changed, added or
//!   removed rule changes the version line.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rustc-env=KEYTRAIL_GIT_COMMIT={}", git_commit(&root));
    println!(
        "cargo:rustc-env=KEYTRAIL_RULES_HASH={}",
        rules_hash(&root.join("queries"))
    );
    // A directory makes cargo look at every file below it.
    println!("cargo:rerun-if-changed=queries");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Runs git in `root` and returns its trimmed output, or None.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The short commit hash, and rerun-if-changed lines for what moves it (HEAD, refs).
fn git_commit(root: &Path) -> String {
    let Some(commit) = git(root, &["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    // In a worktree HEAD lives in the worktree's git dir, refs in the common one.
    for (flag, files) in [
        ("--git-dir", &["HEAD"][..]),
        ("--git-common-dir", &["refs/heads", "packed-refs"][..]),
    ] {
        if let Some(dir) = git(root, &["rev-parse", flag]) {
            let dir = root.join(dir);
            for f in files {
                let p = dir.join(f);
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
    }
    commit
}

/// SHA-256 over every `*.sql` file under `dir` (sorted relative paths, then contents).
fn rules_hash(dir: &Path) -> String {
    let mut files = Vec::new();
    collect_sql(dir, dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        let bytes = std::fs::read(dir.join(rel)).unwrap_or_default();
        h.update(rel.as_bytes());
        h.update([0u8]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Relative paths (with `/`) of the `*.sql` files below `dir`.
fn collect_sql(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_sql(base, &p, out);
        } else if p.extension().is_some_and(|x| x == "sql")
            && let Ok(rel) = p.strip_prefix(base)
        {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
}
