//! Packaging (issue 12): `--version` names the commit and the built-in rule set, shell
//! completions work in a real bash, and the man pages render from the same definitions.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::{keytrail, keytrail_exe, root, stderr, stdout};

/// The rules hash as build.rs computes it: SHA-256 over the sorted relative paths and
/// contents of every `*.sql` under `queries/`, first 12 hex digits.
fn rules_hash() -> String {
    fn collect(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                collect(base, &p, out);
            } else if p.extension().is_some_and(|x| x == "sql") {
                let rel = p.strip_prefix(base).unwrap();
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let dir = root().join("queries");
    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        let bytes = std::fs::read(dir.join(rel)).unwrap();
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

#[test]
fn version_names_the_commit_and_the_rule_set() {
    let o = keytrail(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let v = stdout(&o);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let expected = format!(
        "keytrail {} (commit {commit}, rules {})\n",
        env!("CARGO_PKG_VERSION"),
        rules_hash()
    );
    assert_eq!(v, expected);
}

/// Runs bash with keytrail's completion script loaded, completing `line`; returns the
/// candidates.
fn complete(line: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("keytrail.bash");
    let o = keytrail(&["completions", "bash", "-o", script.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let words: Vec<&str> = line.split(' ').collect();
    let program = format!(
        r#"source "$1"
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
_keytrail keytrail "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
    );
    let o = Command::new("bash")
        .args([
            "--norc",
            "--noprofile",
            "-c",
            &program,
            "bash",
            script.to_str().unwrap(),
        ])
        .env(
            "PATH",
            format!(
                "{}:{}",
                keytrail_exe().parent().unwrap().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .output()
        .expect("bash is needed for the completion test");
    assert!(
        o.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_commands_flags_and_format_values() {
    assert!(complete("keytrail sc").contains(&"scan".to_string()));
    let flags = complete("keytrail scan --min");
    assert_eq!(flags, ["--min-severity"]);
    let mut formats = complete("keytrail scan --format ");
    formats.sort();
    assert_eq!(formats, ["csv", "html", "json", "ndjson", "table"]);
    let mut keys = complete("keytrail keys --format ");
    keys.sort();
    assert_eq!(keys, ["json", "ndjson", "table"]);
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    let zsh = stdout(&keytrail(&["completions", "zsh"]));
    assert!(
        zsh.starts_with("#compdef keytrail"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    let fish = stdout(&keytrail(&["completions", "fish"]));
    for cmd in [
        "scan",
        "events",
        "query",
        "decode",
        "keys",
        "investigate",
        "remediate",
        "doctor",
        "run",
        "rules",
        "completions",
        "man",
    ] {
        assert!(zsh.contains(&format!("'{cmd}:")), "zsh lacks {cmd}");
        assert!(fish.contains(&format!("-a \"{cmd}\"")), "fish lacks {cmd}");
    }
}

#[test]
fn man_pages_cover_every_command() {
    let page = stdout(&keytrail(&["man"]));
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH keytrail 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains(".TH keytrail 1"));
    for cmd in ["scan", "events", "investigate", "completions", "man"] {
        assert!(
            page.contains(&format!("keytrail\\-{cmd}(1)")),
            "no {cmd} in the page"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let o = keytrail(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "keytrail.1",
        "keytrail-scan.1",
        "keytrail-rules.1",
        "keytrail-rules-lint.1",
    ] {
        let text =
            std::fs::read_to_string(dir.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(text.contains(".TH "), "{f} is not a man page");
    }
    let scan = std::fs::read_to_string(dir.path().join("keytrail-scan.1")).unwrap();
    assert!(
        scan.contains("min\\-severity"),
        "the scan page lists its flags"
    );
}
