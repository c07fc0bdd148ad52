//! The node's HTTP/1.1 server: the shared Router on hyper, with the limits `axum::serve` leaves
//! out. axum sets no timer on hyper, so hyper's header-read timeout never fires there and a
//! client that sends its headers slowly (or never finishes them) holds a connection forever;
//! here every connection gets [`HEADER_READ_TIMEOUT`] to send a complete request head (the
//! Router itself bounds whole requests, body included, with its 30 s timeout).
//!
//! Lifecycle: `serve` accepts until `stop` is cancelled, then stops accepting, asks every open
//! connection to finish its current request and close, and returns when all have. WebSocket
//! upgrades leave hyper's hands when they upgrade; the feed ends them on the engine's token.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to send a request's head (request line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop`, then drains the open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    header_read_timeout: Duration,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Per-connection failures (reset before accept) and resource limits (EMFILE)
                // are not fatal: pause briefly so a full fd table does not spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn server(timeout: Duration) -> (std::net::SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/ok", axum::routing::get(|| async { "fine" }));
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, app, stop.clone(), timeout));
        (addr, stop)
    }

    /// Reads until the peer closes; bounded so a server that never closes fails the test.
    async fn read_to_close(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
            .await
            .expect("the server should close the connection")
            .unwrap();
        out
    }

    #[tokio::test]
    async fn a_request_head_that_never_ends_is_cut_off() {
        let (addr, stop) = server(Duration::from_millis(200)).await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        let answer = read_to_close(&mut slow).await;
        // hyper answers 408 (or just closes); never the route's body.
        let text = String::from_utf8_lossy(&answer);
        assert!(!text.contains("fine"), "{text}");

        // Others are served as usual.
        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let text = String::from_utf8(read_to_close(&mut ok).await).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("fine"), "{text}");
        stop.cancel();
    }

    #[tokio::test]
    async fn stop_lets_the_open_request_finish_then_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
        let entered = std::sync::Mutex::new(Some(entered_tx));
        let entered = std::sync::Arc::new(entered);
        let app = Router::new().route(
            "/slow",
            axum::routing::get(move || {
                let entered = entered.clone();
                async move {
                    if let Some(tx) = entered.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }
            }),
        );
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app, stop.clone(), HEADER_READ_TIMEOUT));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        entered_rx.await.unwrap();
        stop.cancel();
        // The request in flight is answered, then the connection closes (keep-alive or not).
        let text = String::from_utf8(read_to_close(&mut client).await).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("done"), "{text}");
        tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("serve returns once its connections are done")
            .unwrap();
        // No longer accepting.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
