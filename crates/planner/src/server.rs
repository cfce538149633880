//! Serving only the worker service (a proxy: it stores no flows and answers no client SQL).

use std::future::Future;
use std::time::Duration;

use datafusion_distributed::Worker;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Serves `worker` on `listener` until `shutdown` completes.
pub async fn serve_worker(
    listener: TcpListener,
    worker: Worker,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(30)));
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
