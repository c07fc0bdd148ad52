//! The HTTP/1.1 server of the node and of the desktop's gateway listener: a Router on hyper,
//! with the limits `axum::serve` leaves out. axum sets no timer on hyper, so hyper's
//! header-read timeout never fires there and a client that sends its headers slowly (or never
//! finishes them) holds a connection forever; here every connection gets
//! [`HEADER_READ_TIMEOUT`] to send a complete request head (the Router itself bounds whole
//! requests, body included, with its 30 s timeout).
//!
//! Lifecycle: `serve` accepts until `stop` is cancelled, then stops accepting, asks every open
//! connection to finish its current request and close, and returns when all have. If `abort`
//! is cancelled first (the shutdown budget ran out), every connection still open is aborted:
//! its handler is dropped and its socket closed, and `serve` returns once all of them are gone.
//! Dropping the `serve` future aborts them too. Connections live in a `JoinSet` owned by
//! `serve` (finished ones reaped as new ones arrive), so none outlives it.
//!
//! WebSocket upgrades leave hyper's hands when they upgrade: the feed tracks its sessions
//! itself (`flightdeck_api::feed::FeedTasks`) and ends them on the engine's token.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a request's head (request line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop`, then drains the open connections; `abort` cuts
/// the drain short (and, cancelled before `stop`, stops at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    abort: CancellationToken,
    header_read_timeout: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            _ = abort.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while let Some(done) = connections.try_join_next() {
            log_panic(done);
        }
        let (stream, peer) = match accepted {
            Ok((stream, peer)) => (stream, peer),
            Err(error) => {
                // Per-connection failures (reset before accept) and resource limits (EMFILE)
                // are not fatal: pause briefly so a full fd table does not spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Handlers and the auth lockout see the client's address as axum's ConnectInfo.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
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
    let drained = async {
        while let Some(done) = connections.join_next().await {
            log_panic(done);
        }
    };
    tokio::select! {
        () = drained => return,
        () = abort.cancelled() => {}
    }
    let open = connections.len();
    connections.abort_all();
    // Aborted tasks finish at their next poll; waiting here means none runs after `serve`.
    while connections.join_next().await.is_some() {}
    tracing::debug!(open, "aborted the connections still open");
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done
        && error.is_panic()
    {
        tracing::error!(%error, "a connection task panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A running `serve` of `app` on a free loopback port.
    struct Started {
        addr: std::net::SocketAddr,
        stop: CancellationToken,
        abort: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(app: Router, header_read_timeout: Duration) -> Started {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, abort) = (CancellationToken::new(), CancellationToken::new());
        let task = tokio::spawn(serve(
            listener,
            app,
            stop.clone(),
            abort.clone(),
            header_read_timeout,
        ));
        Started {
            addr,
            stop,
            abort,
            task,
        }
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
        let app = Router::new().route("/ok", axum::routing::get(|| async { "fine" }));
        let Started { addr, stop, .. } = start(app, Duration::from_millis(200)).await;
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
        let Started {
            addr,
            stop,
            task: server,
            ..
        } = start(app, HEADER_READ_TIMEOUT).await;
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

    /// A server whose one route never answers; `entered` fires when a request is in the
    /// handler, `dropped` when the handler's future is dropped (the connection aborted).
    fn hanging_app() -> (
        Router,
        tokio::sync::oneshot::Receiver<()>,
        tokio::sync::oneshot::Receiver<()>,
    ) {
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        let slots = std::sync::Arc::new(std::sync::Mutex::new(Some((entered_tx, dropped_tx))));
        let app = Router::new().route(
            "/hang",
            axum::routing::get(move || {
                let slots = slots.clone();
                async move {
                    let Some((entered, dropped)) = slots.lock().unwrap().take() else {
                        return "second";
                    };
                    let _ = entered.send(());
                    // Held across the sleep: dropped (never sent) when the future is.
                    let _dropped = dropped;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "never"
                }
            }),
        );
        (app, entered_rx, dropped_rx)
    }

    async fn hanging_request(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /hang HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        client
    }

    #[tokio::test]
    async fn abort_cuts_the_drain_short_and_closes_the_connection() {
        let (app, entered, dropped) = hanging_app();
        let Started {
            addr,
            stop,
            abort,
            task: server,
        } = start(app, HEADER_READ_TIMEOUT).await;
        let mut client = hanging_request(addr).await;
        entered.await.unwrap();

        stop.cancel();
        // Draining: the request is still in its handler, so `serve` cannot return yet.
        tokio::task::yield_now().await;
        assert!(!server.is_finished());
        abort.cancel();
        tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("serve returns once the drain is cut short")
            .unwrap();
        // The handler was dropped, not left running, and the client got no answer.
        let dropped = tokio::time::timeout(Duration::from_secs(20), dropped)
            .await
            .expect("the handler's future is dropped");
        assert!(dropped.is_err(), "the handler never finished on its own");
        let answer = read_to_close(&mut client).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }

    #[tokio::test]
    async fn dropping_serve_aborts_its_connections() {
        let (app, entered, dropped) = hanging_app();
        let Started {
            addr,
            stop,
            task: server,
            ..
        } = start(app, HEADER_READ_TIMEOUT).await;
        let mut client = hanging_request(addr).await;
        entered.await.unwrap();

        stop.cancel();
        server.abort();
        assert!(server.await.unwrap_err().is_cancelled());
        let dropped = tokio::time::timeout(Duration::from_secs(20), dropped)
            .await
            .expect("the handler's future is dropped");
        assert!(dropped.is_err(), "the handler never finished on its own");
        let answer = read_to_close(&mut client).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
}
