//! The accept loop: the Router on hyper's HTTP/1.1 connections, with `TCP_NODELAY` (stream
//! deltas leave at once) and pipelined responses flushed together (wrk).
//!
//! Invariant: stopping is immediate, not graceful. Once `stop` is cancelled no connection is
//! accepted and every open one is dropped (handler, body and socket), hanging and stalled
//! answers included; `serve` returns only when all are gone. No logging per request or
//! connection: the server is also a latency benchmark's backend.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Serves `app` on `listener` until `stop` is cancelled.
pub(crate) async fn serve(listener: TcpListener, app: Router, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Resets before accept and a full fd table (EMFILE) are not fatal; pause so
                // the latter does not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let conn = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = stop.cancelled() => {}
            }
        });
    }
    drop(listener);
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
