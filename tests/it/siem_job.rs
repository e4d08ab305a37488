//! The scheduled job (`keytrail run`) with a Splunk HEC sink, reading the in-process S3
//! server: each finding reaches the collector once across runs, a retried 503 loses
//! nothing, and a batch the collector refused is the only thing sent again next run.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::receivers::{HttpReceiver, http_receiver};
use crate::common::s3_server::{self, ACCESS_KEY, S3Server, SECRET_KEY};
use crate::common::{root, run_isolated, sample_logs_lookback, stderr};

const TOKEN: &str = "job-hec-token-8c1d2e";

/// A job configuration reading `s3://trail` with one splunk-hec sink.
fn config(dir: &Path, hec: &HttpReceiver, batch_size: usize) -> std::path::PathBuf {
    let text = format!(
        "inputs = [\"s3://trail\"]\nstate = \"{}\"\nlookback = \"{lb}\"\nhistory = \"{lb}\"\nretry_delay = \"10ms\"\n[aws]\nforce_path_style = true\n[[sink]]\nkind = \"splunk-hec\"\nurl = \"{}\"\ntoken_env = \"SPLUNK_HEC_TOKEN\"\nbatch_size = {batch_size}\n",
        dir.join("state.sqlite").display(),
        hec.url,
        lb = sample_logs_lookback(),
    );
    let p = dir.join("keytrail.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `keytrail run` once against the server, with the HEC token in the environment.
async fn run_job(s3: &S3Server, cfg: &Path) -> std::process::Output {
    run_with(s3, cfg, &[], &[("SPLUNK_HEC_TOKEN", TOKEN)]).await
}

/// Runs `keytrail run` with extra arguments and environment.
async fn run_with(
    s3: &S3Server,
    cfg: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut a = vec!["run", "--config", cfg.to_str().unwrap()];
    a.extend_from_slice(args);
    let mut e = vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
    ];
    e.extend_from_slice(env);
    run_isolated(&a, &e).await
}

/// The finding ids in requests `from..` of the receiver, in order.
fn sent_ids(hec: &HttpReceiver, from: usize) -> Vec<String> {
    hec.requests()[from..]
        .iter()
        .flat_map(|r| {
            serde_json::Deserializer::from_slice(&r.body)
                .into_iter::<serde_json::Value>()
                .map(|e| {
                    e.unwrap()["event"]["finding_id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_a_splunk_hec_sink_sends_each_finding_once() {
    let s3 = s3_server::start().await;
    s3.put_tree("trail", "AWSLogs/", &root().join("sample-logs/AWSLogs"));
    let hec = http_receiver(|n, _| match n {
        0 => (503, r#"{"text":"Server is busy","code":9}"#.into()),
        _ => (200, r#"{"text":"Success","code":0}"#.into()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &hec, 100);

    // A dry run needs no token and contacts no sink.
    let dry = run_with(&s3, &cfg, &["--dry-run"], &[]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(hec.requests().is_empty(), "a dry run sends nothing");
    let would = common::stdout(&dry).lines().count();

    let first = run_with(&s3, &cfg, &["--init"], &[("SPLUNK_HEC_TOKEN", TOKEN)]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let reqs = hec.requests();
    assert_eq!(reqs.len(), 2, "a 503, then the same batch delivered");
    assert_eq!(reqs[0].body, reqs[1].body);
    for r in &reqs {
        assert_eq!(r.path, "/services/collector/event");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Splunk {TOKEN}").as_str())
        );
    }
    let delivered = sent_ids(&hec, 1);
    assert!(delivered.len() >= 8, "{}", delivered.len());
    assert_eq!(
        delivered.len(),
        would,
        "what the dry run said would be sent"
    );
    let unique: BTreeSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "no finding twice in one run");
    let err = stderr(&first);
    assert!(
        err.contains(&format!("splunk-hec:{}: {} sent", hec.url, delivered.len())),
        "{err}"
    );
    assert!(!err.contains(TOKEN) && !common::stdout(&first).contains(TOKEN));

    let second = run_job(&s3, &cfg).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(hec.requests().len(), 2, "nothing new: nothing sent");
    assert!(stderr(&second).contains(": 0 sent"), "{}", stderr(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_the_only_thing_sent_again_next_run() {
    let s3 = s3_server::start().await;
    s3.put_tree("trail", "AWSLogs/", &root().join("sample-logs/AWSLogs"));
    // The second request of the first run is refused for good; everything else is taken.
    let hec = http_receiver(|n, _| match n {
        1 => (400, r#"{"text":"Invalid data format","code":6}"#.into()),
        _ => (200, r#"{"text":"Success","code":0}"#.into()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &hec, 3);

    let first = run_with(&s3, &cfg, &["--init"], &[("SPLUNK_HEC_TOKEN", TOKEN)]).await;
    assert_eq!(first.status.code(), Some(5), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(
        err.contains("3 NOT delivered (HTTP 400 Bad Request"),
        "{err}"
    );
    let first_reqs = hec.requests().len();
    let refused = sent_ids(&hec, 1)[..3].to_vec();
    let all_first_run = sent_ids(&hec, 0);

    let second = run_job(&s3, &cfg).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        sent_ids(&hec, first_reqs),
        refused,
        "only the refused batch goes again"
    );
    assert!(stderr(&second).contains(": 3 sent"), "{}", stderr(&second));
    let mut every: Vec<String> = all_first_run
        .iter()
        .filter(|id| !refused.contains(id))
        .cloned()
        .collect();
    every.extend(refused.iter().cloned());
    let unique: BTreeSet<&String> = every.iter().collect();
    assert_eq!(
        unique.len(),
        every.len(),
        "each finding acknowledged exactly once"
    );

    let third = run_job(&s3, &cfg).await;
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert_eq!(hec.requests().len(), first_reqs + 1, "nothing left to send");
}

#[test]
fn secrets_planted_in_a_job_configuration_never_appear_in_any_output() {
    let planted = [
        "Pl4ntedPass",
        "hec-planted-tok3n",
        "wJalrXUtnFEMIplanted",
        "es-planted-key",
    ];
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keytrail.toml");
    let head = format!(
        "inputs = [\"{}\"]\nstate = \"{}\"\n",
        root().join("sample-logs").display(),
        dir.path().join("s.sqlite").display()
    );
    let cases = [
        // A password in a syslog address: refused (dry run and real run), masked.
        "[[sink]]\nkind = \"syslog\"\naddress = \"tcp://user:Pl4ntedPass@127.0.0.1:6514\"\n".to_string(),
        // Credentials in an Elasticsearch URL.
        "[[sink]]\nkind = \"elastic\"\nurl = \"http://keytrail:Pl4ntedPass@127.0.0.1:9200\"\nindex = \"k\"\n".to_string(),
        // A token written where it does not belong; a TOML error on a line holding a secret.
        "[[sink]]\nkind = \"splunk-hec\"\nurl = \"http://127.0.0.1:8088\"\nhec_token = \"hec-planted-tok3n\"\n".to_string(),
        "secret_access_key = \"wJalrXUtnFEMIplanted\"\n".to_string(),
        "retries = \"es-planted-key\"\n".to_string(),
        "[[sink]]\nkind = \"splunk-hec\"\ntoken = \"hec-planted-tok3n\n".to_string(),
    ];
    for case in &cases {
        std::fs::write(&cfg, format!("{head}{case}")).unwrap();
        for extra in [&["--dry-run"][..], &["--init"][..]] {
            let mut a = vec!["run", "--config", cfg.to_str().unwrap()];
            a.extend_from_slice(extra);
            let o = common::keytrail_isolated(&a, &[]);
            assert_eq!(o.status.code(), Some(2), "{case}: {}", stderr(&o));
            let all = format!("{}{}", common::stdout(&o), stderr(&o));
            for p in planted {
                assert!(!all.contains(p), "{case}: a secret in the output: {all}");
            }
        }
    }
    // The refusal says where and why.
    std::fs::write(&cfg, format!("{head}{}", cases[0])).unwrap();
    let o = common::keytrail_isolated(
        &["run", "--config", cfg.to_str().unwrap(), "--dry-run"],
        &[],
    );
    assert!(
        stderr(&o).contains("tcp://user:***@127.0.0.1:6514"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&cfg, format!("{head}{}", cases[3])).unwrap();
    let o = common::keytrail_isolated(&["run", "--config", cfg.to_str().unwrap()], &[]);
    assert!(
        stderr(&o).contains("line 3") && stderr(&o).contains("secret_access_key"),
        "{}",
        stderr(&o)
    );
}
