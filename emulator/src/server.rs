//! Serving HTTP/1.1 with hyper, one task per connection, so that a handler
//! can cut its connection without answering (the drop faults) and a stop
//! can drain connections gracefully.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use axum::Router;
use http::header::HeaderValue;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower_service::Service as _;

use crate::app::App;
use crate::lifecycle;
use crate::stats::bump;

/// Lets a handler close its connection without a response. Handlers find
/// it in the request extensions.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionCut(Arc<Notify>);

impl ConnectionCut {
    /// Closes the connection; the handler future is dropped with it, so
    /// this never returns (without a connection task, it answers 500).
    pub(crate) async fn cut(cut: Option<Self>) -> Response {
        match cut {
            Some(cut) => {
                cut.0.notify_one();
                std::future::pending().await
            }
            None => axum::response::IntoResponse::into_response(crate::reply::ApiError::internal()),
        }
    }
}

/// Accepts connections until the emulator stops.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    app: Arc<App>,
    mut stop: watch::Receiver<u64>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            () = lifecycle::stopped(&mut stop) => {
                // Free the port before `stop` goes, so that a finished
                // graceful stop means the port is free.
                drop(listener);
                return;
            }
        };
        match stream {
            Ok((stream, _peer)) => {
                let task_stop = app.lifecycle.subscribe();
                tokio::spawn(serve_connection(
                    stream,
                    router.clone(),
                    app.clone(),
                    task_stop,
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    app: Arc<App>,
    mut stop: watch::Receiver<u64>,
) {
    let _ = stream.set_nodelay(true);
    let cut = ConnectionCut::default();
    let service = {
        let cut = cut.clone();
        hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            bump(&app.stats.requests);
            req.extensions_mut().insert(cut.clone());
            let mut router = router.clone();
            async move {
                let mut response = match router.call(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                if let Ok(id) = HeaderValue::from_str(&crate::ids::request()) {
                    response.headers_mut().insert("x-request-id", id);
                }
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            // Dropping the connection closes the socket mid-request.
            () = cut.0.notified() => return,
            () = lifecycle::stopped(&mut stop), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}
