//! Serving the Flight SQL service (and the engine's worker service) on a bound TCP listener
//! until a shutdown signal.

use std::future::Future;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion_distributed::Worker;
use tokio::net::TcpListener;

use crate::service::FlowSqlService;

/// Largest request message accepted (a bound parameter row, a long SQL text).
const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Serves `service`, and the engine's `worker` service if given, on `listener` until `shutdown`
/// completes (gRPC multiplexes both on one port). TCP and HTTP/2 keepalives detect a client that
/// vanished without closing, so its query is dropped (and stopped) too.
pub async fn serve(
    listener: TcpListener,
    service: FlowSqlService,
    worker: Option<Worker>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    planner::server::server()
        .add_service(FlightServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES))
        .add_optional_service(worker.map(Worker::into_worker_server))
        .serve_with_incoming_shutdown(planner::server::incoming(listener), shutdown)
        .await
}
