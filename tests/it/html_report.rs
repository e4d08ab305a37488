//! `scan --format html` (issue 12): one self-contained file (no load at view time), with
//! the severity headline, the findings by rule and a timeline per key, checked in a real
//! headless browser (Debian's chromium, installed by `.ci/run`): it loads with no console
//! message and renders a real screenshot.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{keytrail, stderr, stdout};

/// The browser: `KEYTRAIL_CHROMIUM`, else `chromium` on PATH. None (with a notice) when
/// absent outside CI; under CI (`CI` set, as `.ci/run` runs) its absence fails the test.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEYTRAIL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("CI").is_some()
            || std::env::var("KEYTRAIL_REQUIRE_SHARED").as_deref() == Ok("1")
        {
            panic!("chromium is not installed (apt-get install chromium; .ci/run does)");
        }
        eprintln!("NOTICE: chromium not found; skipping the browser part of this test");
    }
    found
}

/// What the browser said and made.
struct Browsed {
    log: String,
    status: std::process::ExitStatus,
}

/// Opens `page` in headless chromium with `extra` flags (screenshot or DOM dump), logging
/// console messages to stderr; killed after 90 s.
fn browse(browser: &Path, page: &Path, extra: &[String], work: &Path) -> (Browsed, Vec<u8>) {
    let profile = tempfile::tempdir_in(work).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    (Browsed { log, status }, out.join().unwrap())
}

/// Console messages chromium logged for the page (errors, CSP violations, warnings).
fn console_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// Writes the sample-logs report and returns its path.
fn report(dir: &Path) -> PathBuf {
    let path = dir.join("report.html");
    let o = keytrail(&[
        "scan",
        "sample-logs",
        "--format",
        "html",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    path
}

#[test]
fn the_html_report_is_one_file_with_headline_rules_findings_and_key_timelines() {
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(report(dir.path())).unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout(&keytrail(&[
        "scan",
        "sample-logs",
        "-f",
        "json",
        "-q",
    ])))
    .unwrap();
    let findings = json["findings"].as_array().unwrap();
    let keys: serde_json::Value = serde_json::from_str(&stdout(&keytrail(&[
        "keys",
        "sample-logs",
        "-f",
        "json",
        "-q",
    ])))
    .unwrap();
    let n_keys =
        keys["long_term"].as_array().unwrap().len() + keys["short_term"].as_array().unwrap().len();
    // Self-contained: no script, no stylesheet link, no remote anything; a CSP forbids loads.
    for banned in [
        "<script", "<link", "<img", "<iframe", "src=", "http://", "https://", "url(",
    ] {
        assert!(!html.contains(banned), "the page holds {banned:?}");
    }
    assert!(html.contains("Content-Security-Policy"));
    // The headline: one count per severity, matching the JSON.
    for sev in ["critical", "high", "medium", "low", "info"] {
        let n = findings.iter().filter(|f| f["severity"] == sev).count();
        let needle = format!("id=\"count-{sev}\"><b>{n}</b>");
        assert!(html.contains(&needle), "{needle} not in the headline");
    }
    // A section per rule that fired, most severe first.
    let mut rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    rules.dedup();
    for r in &rules {
        assert!(
            html.contains(&format!("<details open id=\"rule-{r}\">")),
            "no section for {r}"
        );
    }
    let crit = html.find("id=\"rule-key_used_after_revocation\"").unwrap();
    let low = html.find("id=\"rule-short_term_key_use\"").unwrap();
    assert!(crit < low);
    // A plot per key, with ok and denied calls and lifecycle marks.
    assert_eq!(html.matches("<svg ").count(), n_keys);
    assert!(html.contains("<rect class=\"ok\"") && html.contains("<rect class=\"denied\""));
    assert!(html.contains("mark-created") && html.contains("mark-deleted"));
}

#[test]
fn the_html_report_loads_in_chromium_without_console_errors() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = report(dir.path());
    // The page renders: a screenshot of the window's size, with real content.
    let shot = dir.path().join("report.png");
    let (b, _) = browse(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".into(),
        ],
        dir.path(),
    );
    assert!(b.status.success(), "chromium failed:\n{}", b.log);
    assert!(
        console_lines(&b.log).is_empty(),
        "console messages:\n{}",
        b.log
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(png_size(&png), (1280, 2400));
    assert!(
        png.len() > 40_000,
        "a blank page compresses far below this: {} bytes",
        png.len()
    );
    // The browser's DOM holds what the file does (parsed, not rejected).
    let (b, dom) = browse(&browser, &page, &["--dump-dom".into()], dir.path());
    assert!(b.status.success(), "{}", b.log);
    let dom = String::from_utf8_lossy(&dom);
    assert!(
        dom.contains("keytrail report") && dom.matches("<svg ").count() >= 1,
        "{dom}"
    );
    if let Ok(keep) = std::env::var("KEYTRAIL_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn the_console_check_sees_a_page_that_tries_to_load_something() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The same policy as the report, and one remote image: the browser refuses it and says so.
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"></head><body><img src=\"http://127.0.0.1:9/x.png\"></body></html>",
            keytrail::output::html::CSP
        ),
    )
    .unwrap();
    let (b, _) = browse(&browser, &page, &["--dump-dom".into()], dir.path());
    assert!(b.status.success(), "{}", b.log);
    assert!(
        !console_lines(&b.log).is_empty(),
        "no console line for a blocked load:\n{}",
        b.log
    );
}
