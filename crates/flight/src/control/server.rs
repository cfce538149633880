//! [`ControlService`]: the master's side of `Control.Session`, and [`serve_control`], the tonic
//! server on the control port.
//!
//! A session: check the token, wait (at most [`HELLO_WAIT`]) for the `Hello` and check it,
//! register the unit, then one task per session forwards every published configuration to the
//! node and records its heartbeats and exporters, until either side ends the stream.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, watch};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::error::ControlError;
use super::metrics::ControlServerMetrics;
use super::model::{ControlConfig, UnitRole};
use super::proto::{self, master_message, node_message};
use super::publisher::ConfigPublisher;
use super::registry::UnitRegistry;

/// How long a new session may take to send its `Hello`.
pub const HELLO_WAIT: Duration = Duration::from_secs(10);

/// Messages queued to one node before its session task waits (configurations only: a slow node
/// delays its own pushes, nobody else's).
const OUTBOUND_QUEUE: usize = 4;

/// The master's control service.
#[derive(Debug, Clone)]
pub struct ControlService {
    token: Option<Arc<str>>,
    registry: Arc<UnitRegistry>,
    publisher: Arc<ConfigPublisher>,
    metrics: Arc<ControlServerMetrics>,
}

impl ControlService {
    /// A service accepting nodes with `token` (`None`: any node, with a warning now).
    pub fn new(
        token: Option<String>,
        registry: Arc<UnitRegistry>,
        publisher: Arc<ConfigPublisher>,
        metrics: Arc<ControlServerMetrics>,
    ) -> ControlService {
        if token.is_none() {
            tracing::warn!("the control service has no token configured: any node may register");
        }
        ControlService {
            token: token.map(Arc::from),
            registry,
            publisher,
            metrics,
        }
    }

    fn authenticate(&self, metadata: &MetadataMap) -> Result<(), ControlError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let value = metadata
            .get("authorization")
            .ok_or_else(|| ControlError::Unauthenticated("no authorization token (Bearer) was sent".into()))?;
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ControlError::Unauthenticated("the authorization metadata is not `Bearer <token>`".into())
            })?;
        match same_bytes(presented.as_bytes(), token.as_bytes()) {
            true => Ok(()),
            false => Err(ControlError::Unauthenticated("wrong token".into())),
        }
    }

    fn refuse(&self, err: ControlError, peer: Option<std::net::SocketAddr>) -> Status {
        tracing::warn!(peer = ?peer, error = %err, "control session refused");
        self.metrics.reject(err.reason());
        err.to_status()
    }
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The checked `Hello` of a first message.
fn check_hello(first: Option<proto::NodeMessage>) -> Result<(proto::Hello, UnitRole), ControlError> {
    let hello = match first.and_then(|m| m.kind) {
        Some(node_message::Kind::Hello(hello)) => hello,
        Some(node_message::Kind::Heartbeat(_)) => return Err(ControlError::NoHello("Heartbeat")),
        Some(node_message::Kind::Exporters(_)) => return Err(ControlError::NoHello("Exporters")),
        None => return Err(ControlError::NoHello("an empty message or the end of the stream")),
    };
    if hello.name.trim().is_empty() {
        return Err(ControlError::BadHello("the unit name is empty".into()));
    }
    let role = UnitRole::from_proto(hello.role)?;
    Ok((hello, role))
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<proto::MasterMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl proto::control_server::Control for ControlService {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<proto::NodeMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let peer = request.remote_addr();
        self.authenticate(request.metadata())
            .map_err(|e| self.refuse(e, peer))?;
        let mut inbound = request.into_inner();
        let first = match tokio::time::timeout(HELLO_WAIT, inbound.message()).await {
            Ok(Ok(first)) => first,
            Ok(Err(status)) => return Err(status),
            Err(_) => {
                let err = ControlError::NoHello("nothing within 10 s");
                return Err(self.refuse(err, peer));
            }
        };
        let (hello, role) = check_hello(first).map_err(|e| self.refuse(e, peer))?;
        let session = self.registry.hello(&hello, role);
        self.metrics.sessions.inc();
        self.metrics.connected.set(self.registry.connected() as i64);
        tracing::info!(
            unit = %hello.name, role = role.name(), group = %hello.group, version = %hello.version,
            config_version = hello.config_version, peer = ?peer, "unit registered"
        );
        let (outbound, queued) = mpsc::channel(OUTBOUND_QUEUE);
        let task = SessionTask {
            name: hello.name,
            session,
            registry: Arc::clone(&self.registry),
            metrics: Arc::clone(&self.metrics),
            configs: self.publisher.subscribe(),
            outbound,
        };
        tokio::spawn(task.run(inbound));
        let stream = futures::stream::unfold(queued, |mut queued| async move {
            queued.recv().await.map(|message| (message, queued))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// One node's open session.
struct SessionTask {
    name: String,
    session: u64,
    registry: Arc<UnitRegistry>,
    metrics: Arc<ControlServerMetrics>,
    configs: watch::Receiver<Arc<ControlConfig>>,
    outbound: mpsc::Sender<Result<proto::MasterMessage, Status>>,
}

impl SessionTask {
    async fn run(mut self, mut inbound: Streaming<proto::NodeMessage>) {
        let end = self.serve(&mut inbound).await;
        self.registry.disconnected(&self.name, self.session);
        self.metrics.connected.set(self.registry.connected() as i64);
        match end {
            Ok(()) => tracing::info!(unit = %self.name, "control session ended"),
            Err(status) => {
                tracing::warn!(unit = %self.name, error = %status.message(), "control session ended");
                let _ = self.outbound.send(Err(status)).await;
            }
        }
    }

    /// Pushes the current configuration, then every new one, and records what the node sends.
    async fn serve(&mut self, inbound: &mut Streaming<proto::NodeMessage>) -> Result<(), Status> {
        let current = Arc::clone(&self.configs.borrow_and_update());
        if !self.push(&current).await {
            return Ok(());
        }
        loop {
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(message)) => self.record(message)?,
                    Ok(None) => return Ok(()),
                    Err(status) => {
                        tracing::debug!(unit = %self.name, error = %status, "control stream broken");
                        return Ok(());
                    }
                },
                changed = self.configs.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let config = Arc::clone(&self.configs.borrow_and_update());
                    if !self.push(&config).await {
                        return Ok(());
                    }
                }
                () = self.outbound.closed() => return Ok(()),
            }
        }
    }

    /// Sends `config`; `false` when the node is gone.
    async fn push(&self, config: &ControlConfig) -> bool {
        let message = config.to_message().map(|c| proto::MasterMessage {
            kind: Some(master_message::Kind::Config(c)),
        });
        let message = message.map_err(|e| {
            tracing::error!(error = %e, "cannot send the configuration");
            e.to_status()
        });
        self.outbound.send(message).await.is_ok()
    }

    fn record(&self, message: proto::NodeMessage) -> Result<(), Status> {
        match message.kind {
            Some(node_message::Kind::Heartbeat(heartbeat)) => {
                self.registry.heartbeat(&self.name, self.session, &heartbeat);
                Ok(())
            }
            Some(node_message::Kind::Exporters(exporters)) => {
                tracing::info!(unit = %self.name, exporters = exporters.addresses.len(), "exporters reported");
                self.registry.exporters(&self.name, self.session, &exporters);
                Ok(())
            }
            Some(node_message::Kind::Hello(_)) => {
                self.metrics.reject("invalid_argument");
                Err(ControlError::BadHello("a second Hello in one session".into()).to_status())
            }
            None => Ok(()),
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes, with TCP and HTTP/2 keepalives so
/// a vanished node's session ends.
pub async fn serve_control(
    listener: tokio::net::TcpListener,
    service: ControlService,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    planner::server::server()
        .add_service(proto::control_server::ControlServer::new(service))
        .serve_with_incoming_shutdown(planner::server::incoming(listener), shutdown)
        .await
}
