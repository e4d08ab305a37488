//! keytrail under a pseudo-terminal, as a person runs it (issue 12): on a folder of many
//! files the progress bar draws and the run ends (it used to hang forever with a blank
//! screen); the table report fits 80 and 140 columns, in colour unless NO_COLOR is set.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::{keytrail_exe, root};

/// How long a run may take under the terminal before it counts as hung (debug build, two
/// shared cores: generous).
const DEADLINE: Duration = Duration::from_secs(180);

/// A pseudo-terminal pair of the given size.
fn openpty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors, which we own from here on.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are not owned elsewhere.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// What a run under the terminal printed (stdout and stderr, as the screen got them).
struct Screenful {
    text: String,
    status: ExitStatus,
}

/// Runs keytrail with stdin, stdout and stderr on a new terminal of `cols` columns; kills
/// it and fails when it has not ended by [`DEADLINE`].
fn run_in_terminal(args: &[&str], cols: u16, env: &[(&str, &str)]) -> Screenful {
    let (master, slave) = openpty(cols, 40);
    let mut cmd = Command::new(keytrail_exe());
    cmd.args(args)
        .current_dir(root())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start keytrail");
    // Close our copies of the terminal's slave side, so reading ends when the child does.
    drop(cmd);
    let mut master = File::from(master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        // EIO once the child's side is closed: the end of the output.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "keytrail {args:?} did not end within {DEADLINE:?} under a terminal (killed): the hang of issue 12"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let bytes = reader.join().expect("reader");
    Screenful {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        status,
    }
}

/// A CloudTrail delivery file with a few Bedrock events.
fn trail_file(i: usize) -> String {
    let rec = |j: usize| {
        format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-ab12","accountId":"111122223333","userName":"BedrockAPIKey-ab12"}},"eventTime":"2026-11-18T10:{:02}:{:02}Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.5","userAgent":"curl/8.5.0","requestParameters":{{"modelId":"amazon.nova-pro-v1:0"}},"responseElements":null,"additionalEventData":{{"callWithBearerToken":true}},"eventID":"tty-{i}-{j}","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#,
            i % 60,
            j
        )
    };
    let recs: Vec<String> = (0..5).map(rec).collect();
    format!(r#"{{"Records":[{}]}}"#, recs.join(","))
}

/// A folder of `n` small delivery files.
fn many_files(dir: &Path, n: usize) {
    for i in 0..n {
        let name = format!(
            "111122223333_CloudTrail_us-east-1_20261118T10{:02}Z_{i:04}.json",
            i % 60
        );
        File::create(dir.join(name))
            .and_then(|mut f| f.write_all(trail_file(i).as_bytes()))
            .expect("write file");
    }
}

/// Removes ANSI escape sequences (CSI, and the two-byte ones) and carriage returns.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\x1b' => {
                if it.next() == Some('[') {
                    for d in it.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn the_progress_bar_draws_under_a_terminal_and_every_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    many_files(dir.path(), 60);
    let path = dir.path().to_str().unwrap();
    for cmd in ["scan", "events", "keys"] {
        let out = run_in_terminal(&[cmd, path], 100, &[]);
        assert!(
            out.status.success(),
            "keytrail {cmd} under a terminal: {:?}\n{}",
            out.status,
            out.text
        );
        assert!(
            out.text.contains("/60 files"),
            "keytrail {cmd}: the progress bar never drew on the terminal:\n{}",
            out.text
        );
    }
    // --quiet: no bar, and the run still ends.
    let out = run_in_terminal(&["scan", path, "--quiet"], 100, &[]);
    assert!(out.status.success(), "{}", out.text);
    assert!(!out.text.contains("/60 files"), "{}", out.text);
}

#[test]
fn the_report_fits_80_and_140_columns_in_colour_with_the_headline_first() {
    for cols in [80usize, 140] {
        // -q: the report alone (sample-logs has more than 20 files, so a bar would draw).
        let out = run_in_terminal(&["scan", "sample-logs", "-q"], cols as u16, &[]);
        assert!(out.status.success(), "{}", out.text);
        assert!(
            out.text.contains("\x1b[1;97;41m"),
            "critical is coloured on a terminal"
        );
        let plain = strip_ansi(&out.text);
        let first = plain.lines().next().unwrap_or("");
        let (count, rest) = first.split_once(" findings: ").unwrap_or(("", ""));
        assert!(
            count.parse::<u32>().is_ok() && rest.contains(" critical, "),
            "the headline (counts per severity) comes first: {first:?}"
        );
        for line in plain.lines() {
            assert!(
                line.chars().count() <= cols,
                "a line wider than {cols} columns: {line:?}"
            );
        }
        let crit = plain.find("[CRITICAL]").expect("critical section");
        let high = plain.find("[HIGH]").expect("high section");
        let low = plain.find("[LOW]").expect("low section");
        assert!(crit < high && high < low, "sections most severe first");
    }
}

#[test]
fn no_color_and_color_never_keep_the_terminal_output_plain() {
    for (args, env) in [
        (vec!["scan", "sample-logs", "-q"], vec![("NO_COLOR", "1")]),
        (
            vec!["scan", "sample-logs", "-q", "--color", "never"],
            vec![],
        ),
    ] {
        let out = run_in_terminal(&args, 120, &env);
        assert!(out.status.success(), "{}", out.text);
        assert!(
            !out.text.contains('\x1b'),
            "{args:?} {env:?} printed escapes"
        );
    }
}
