//! A small HTTP/1.1 server for the tests' stand-ins (LookupEvents, STS): each request is
//! read whole and handed to a handler that returns the response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A request with its body read.
pub type Req = Request<Bytes>;
/// What a handler answers.
pub type Resp = Response<Full<Bytes>>;

/// Serves `handler` on 127.0.0.1 (a free port) until the runtime ends; returns the address.
pub async fn serve<H>(handler: H) -> SocketAddr
where
    H: Fn(Req) -> Resp + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let h = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let h = h.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, Infallible>(h(Request::from_parts(parts, bytes)))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A response with a status, a content type and a body.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "00000000-0000-4000-8000-000000000000")
        .body(Full::new(body.into()))
        .expect("response")
}

/// The access key id and region from a SigV4 `Authorization` header, if it is one.
pub fn sigv4_scope(req: &Req) -> Option<(String, String, String)> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    let cred = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")?
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    let mut parts = cred.split('/');
    let akid = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((akid, region, service))
}
