#![allow(dead_code)]
//! Serving a test's own Plivo stand-in (an axum router) on a free port of 127.0.0.1.

use std::net::SocketAddr;

/// Serves `app` in the background on a free local port and returns its address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free local port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
