//! Helpers shared by the integration tests: run the binary, find the shared datasets.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `keytrail` with `args` in the repo root.
pub fn keytrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keytrail"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run keytrail")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `../shared/datasets`, or None with a visible notice; absence fails when
/// `KEYTRAIL_REQUIRE_SHARED=1` (set by `.ci/run`).
pub fn shared_datasets() -> Option<PathBuf> {
    let p = root().join("../shared/datasets");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("KEYTRAIL_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("KEYTRAIL_REQUIRE_SHARED=1 but {} is missing", p.display());
    }
    eprintln!(
        "NOTICE: {} not found; skipping the real-dataset checks of this test",
        p.display()
    );
    None
}
