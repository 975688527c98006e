//! `minimal-server`: the reference point for the emulator's throughput. It
//! answers every request with the emulator's 202 body and does nothing
//! else, on the same hyper/axum stack. Prints `listening on http://HOST:PORT`.

use axum::http::{header, StatusCode};
use axum::Router;

const BODY: &str = r#"{"id":"ch_9LVKD8GnAj7f39DFbn4F16bE","refundId":"rfd_r72Lbce7jZ46y7HgycNJ5Fvrb","message":"Your refund has been processed","status":"successful"}"#;

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> anyhow::Result<()> {
    let app = Router::new().fallback(|| async {
        (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            BODY,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
