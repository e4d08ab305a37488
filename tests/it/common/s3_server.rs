//! A real S3-compatible server for the tests: s3s with the s3s-fs file-system backend,
//! in-process on 127.0.0.1, checking SigV4 signatures against one access key. It records
//! every request so tests can check what was listed and fetched.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

/// The only credentials the server accepts.
pub const ACCESS_KEY: &str = "AKIAKEYTRAILS3TEST01";
pub const SECRET_KEY: &str = "keytrail-s3-test-secret-000000000000000";

/// One HTTP request the server got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
}

/// The running server and its storage folder (bucket = folder, key = path).
pub struct S3Server {
    pub endpoint: String,
    pub root: PathBuf,
    pub requests: Arc<Mutex<Vec<Seen>>>,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// Writes an object.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let p = self.root.join(bucket).join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    /// Creates an empty bucket.
    pub fn bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root.join(bucket)).unwrap();
    }

    /// Copies every file under `dir` into `bucket` under `prefix`, keeping relative paths.
    pub fn put_tree(&self, bucket: &str, prefix: &str, dir: &Path) {
        for e in super::files_under(dir) {
            let rel = e
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            self.put(
                bucket,
                &format!("{prefix}{rel}"),
                &std::fs::read(&e).unwrap(),
            );
        }
    }

    /// Object keys fetched with GetObject (not listings), in request order.
    pub fn fetched(&self, bucket: &str) -> Vec<String> {
        let head = format!("/{bucket}/");
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                r.method == "GET" && !r.query.contains("list-type") && r.path.starts_with(&head)
            })
            .map(|r| percent_decode(&r.path[head.len()..]))
            .collect()
    }

    /// ListObjectsV2 prefixes asked for, in request order.
    pub fn listed_prefixes(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.query.contains("list-type=2"))
            .map(|r| {
                r.query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("prefix="))
                    .map(percent_decode)
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Percent-decoding of a URL path or query value.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts the server on a free port with an empty storage folder.
pub async fn start() -> S3Server {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs");
    let mut b = S3ServiceBuilder::new(fs);
    b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = b.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (svc, log) = (service.clone(), log.clone());
            tokio::spawn(async move {
                let logged = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    log.lock().unwrap().push(Seen {
                        method: req.method().to_string(),
                        path: req.uri().path().to_string(),
                        query: req.uri().query().unwrap_or("").to_string(),
                    });
                    Service::call(&svc, req)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), logged)
                    .await;
            });
        }
    });
    S3Server {
        endpoint: format!("http://{addr}"),
        root,
        requests,
        _dir: dir,
    }
}
