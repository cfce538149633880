//! The tonic server of a query port: TCP keepalive and no-delay on accepted connections,
//! HTTP/2 keepalive pings, so a client or coordinator that vanished is noticed. [`serve_worker`]
//! serves only the worker service (a proxy); `flowfold_flight::serve` adds Flight SQL.

use std::future::Future;
use std::time::Duration;

use datafusion_distributed::Worker;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// Accepted connections of `listener`, with TCP no-delay and keepalive.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(30)))
}

/// A server builder with HTTP/2 keepalive pings.
pub fn server() -> Server {
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
}

/// Serves `worker` on `listener` until `shutdown` completes.
pub async fn serve_worker(
    listener: TcpListener,
    worker: Worker,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    server()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
}
