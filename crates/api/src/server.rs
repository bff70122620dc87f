//! The HTTP server loop, on hyper-util, with the limits `axum::serve` does not have.
//!
//! `axum::serve` accepts every connection, waits for headers forever and lets a body trickle
//! in at any pace: 40 stalled uploads were enough to hold hundreds of MiB and connections for
//! minutes. Here every connection counts against a cap (beyond it, connections wait in the
//! kernel's backlog), headers must arrive within a timeout, a request body must keep moving
//! (idle timeout) and finish within a total deadline, and each connection's read buffer is
//! bounded. Request bodies held in memory are bounded separately, by the multipart reader's
//! budget.

use axum::Router;
use axum::extract::ConnectInfo;
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection-level limits. The defaults are for Cloud Run (512 MiB, concurrency 80) and for
/// the embedded server on a small machine; each says why.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Time for a request's headers to arrive, and for an idle keep-alive connection to send
    /// its next request. Browsers send headers in one write; 10 s covers a very slow first
    /// packet and closes half-sent headers (slowloris) quickly.
    pub header_read_timeout: Duration,
    /// Longest pause allowed between two pieces of a request body. 20 s rides out a mobile
    /// link's stall; a client silent for longer is gone.
    pub body_idle_timeout: Duration,
    /// Deadline for a whole request body, from its headers. 6 MiB at 0.5 Mbit/s takes about
    /// 100 s; 120 s lets such a client finish while bounding how long a trickle holds memory.
    pub body_total_timeout: Duration,
    /// Open connections at once. Cloud Run sends at most 80 requests at a time per instance;
    /// 256 leaves room for idle keep-alive connections, and at 64 KiB of read buffer each
    /// they cost at most 16 MiB.
    pub max_connections: usize,
    /// Per-connection read buffer cap (also the largest header block accepted).
    pub max_buf_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(20),
            body_total_timeout: Duration::from_secs(120),
            max_connections: 256,
            max_buf_bytes: 64 * 1024,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, asks every
/// open connection to finish its in-flight request, and returns once they all have. (The
/// caller bounds that wait.) Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let cap = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(cap));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_buf_bytes.max(8192));
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    let mut at_cap = false;
    loop {
        if slots.available_permits() == 0 && !at_cap {
            tracing::warn!(max_connections = cap, "connection_cap_reached");
        }
        at_cap = slots.available_permits() == 0;
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the slots are never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept_failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        let (idle, total) = (limits.body_idle_timeout, limits.body_total_timeout);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let (mut parts, body) = req.into_parts();
                        parts.extensions.insert(ConnectInfo(peer));
                        let body = timed_body(axum::body::Body::new(body), idle, total);
                        router.oneshot(http::Request::from_parts(parts, body)).await
                    }
                });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stopped = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            let finished = tokio::select! {
                r = conn.as_mut() => Some(r),
                () = stopped => None,
            };
            let result = match finished {
                Some(r) => r,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection_error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends.
    let _all = slots.acquire_many(cap as u32).await;
    Ok(())
}

/// The request body, failing with a timeout error when it pauses longer than `idle` or is
/// not finished `total` after its headers. The handler sees an ordinary body error (the form
/// reader answers it like any broken body).
fn timed_body(body: axum::body::Body, idle: Duration, total: Duration) -> axum::body::Body {
    let deadline = Instant::now() + total;
    let stream =
        futures_util::stream::unfold(Some(body.into_data_stream()), move |state| async move {
            let mut stream = state?;
            let wait = (Instant::now() + idle).min(deadline);
            match tokio::time::timeout_at(wait, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => {
                    let which = if Instant::now() >= deadline {
                        "total"
                    } else {
                        "idle"
                    };
                    tracing::warn!(timeout = which, "body_read_timeout");
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request body read timed out",
                    );
                    Some((Err(axum::Error::new(e)), None))
                }
            }
        });
    // Fused: body readers may poll again after the end.
    axum::body::Body::from_stream(stream.fuse())
}
