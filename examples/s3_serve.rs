//! A local S3-compatible server (s3s + s3s-fs) over a folder, for the benchmark and for
//! trying the S3 source without AWS: each folder under ROOT is a bucket.
//!
//! `cargo run --release --example s3_serve -- ROOT [PORT]` serves on 127.0.0.1 (default port
//! 9000) with the access key `AKIAKEYTRAILBENCH001` and secret `keytrail-bench-secret`; point
//! keytrail at it with `AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT` and `--force-path-style`.

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// The credentials the server accepts.
const ACCESS_KEY: &str = "AKIAKEYTRAILBENCH001";
const SECRET_KEY: &str = "keytrail-bench-secret";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: s3_serve ROOT [PORT]"))?;
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(9000);
    let fs = s3s_fs::FileSystem::new(&root)
        .map_err(|e| anyhow::anyhow!("cannot serve {root}: {e:?}"))?;
    let mut b = S3ServiceBuilder::new(fs);
    b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = b.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("s3_serve: serving {root} on http://127.0.0.1:{port}");
    loop {
        let (stream, _) = listener.accept().await?;
        // Without this, Nagle's algorithm and the client's delayed ACKs hold the last small
        // segment of each response for up to 40 ms.
        stream.set_nodelay(true)?;
        let svc = service.clone();
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
