//! [`ControlClient`]: a node's side of `Control.Session`. It runs the stored configuration from
//! the start, keeps a session to one of its masters (the first that answers; backoff 1 s doubling
//! to 30 s between attempts, back to 1 s after a session that was open), sends heartbeats and
//! exporters, and stores then publishes every configuration the master pushes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tonic::transport::Endpoint;

use super::error::ControlError;
use super::metrics::{ControlClientMetrics, gauge_value};
use super::model::{ControlConfig, UnitRole};
use super::proto::{self, master_message, node_message};
use super::stored::StoredConfig;

/// First wait after a failed attempt.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A node on a master other than its first tries the first every this many heartbeats.
const RETURN_CHECK_HEARTBEATS: u32 = 5;

/// Why a session ended without an error.
enum Ended {
    /// The master closed it.
    ByMaster,
    /// The node's first master answers again: the node goes back to it.
    FirstIsBack,
}

/// Who the node is and where its masters are.
#[derive(Debug, Clone)]
pub struct ControlClientSettings {
    /// `host:port` of each master's control service, tried in order.
    pub masters: Vec<String>,
    /// Sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The unit's name.
    pub name: String,
    /// Its role.
    pub role: UnitRole,
    /// Its proxy group, if known.
    pub group: Option<String>,
    /// Its query address.
    pub query: String,
    /// Its flow listeners.
    pub flows: Vec<String>,
    /// Its metrics / admin address.
    pub metrics: String,
    /// Time between heartbeats.
    pub heartbeat: Duration,
    /// Where received configurations are kept.
    pub stored: StoredConfig,
}

/// What a node reports: counters for the heartbeat, and its flow sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// Flows stored since the node started.
    pub flows_stored: u64,
    /// Exporter addresses it has stored flows of.
    pub exporters: BTreeSet<String>,
}

/// Reads a node's [`NodeStats`] (called off the async threads: it may read the disk).
pub type StatsSource = Arc<dyn Fn() -> NodeStats + Send + Sync>;

/// A running control client.
#[derive(Debug)]
pub struct ControlClient {
    config: watch::Receiver<Option<Arc<ControlConfig>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ControlClient {
    /// Loads the stored configuration (a corrupt one is logged and ignored), then starts the
    /// session task.
    pub async fn start(
        settings: ControlClientSettings,
        stats: StatsSource,
        metrics: Arc<ControlClientMetrics>,
    ) -> ControlClient {
        let stored = settings.stored.clone();
        let loaded = match tokio::task::spawn_blocking(move || stored.load()).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "starting without a stored control configuration");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the stored control configuration failed");
                None
            }
        };
        match &loaded {
            Some(config) => {
                tracing::info!(version = config.version, file = %settings.stored.path().display(),
                    "running the stored control configuration until a master answers");
                metrics.config_version.set(gauge_value(config.version));
            }
            None => tracing::info!("no stored control configuration: waiting for a master"),
        }
        let (sender, config) = watch::channel(loaded.map(Arc::new));
        let session = Session {
            settings,
            stats,
            metrics,
            sender,
        };
        ControlClient {
            config,
            task: tokio::spawn(session.run()),
        }
    }

    /// The configuration the node runs now, and every later one.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<ControlConfig>>> {
        self.config.clone()
    }

    /// The configuration the node runs now.
    pub fn current(&self) -> Option<Arc<ControlConfig>> {
        self.config.borrow().clone()
    }

    /// Ends the session.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// The session task's state.
struct Session {
    settings: ControlClientSettings,
    stats: StatsSource,
    metrics: Arc<ControlClientMetrics>,
    sender: watch::Sender<Option<Arc<ControlConfig>>>,
}

impl Session {
    async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        let masters = self.settings.masters.clone();
        let mut next = 0;
        loop {
            let Some(master) = masters.get(next) else { return };
            let mut opened = false;
            let result = self.session(master, next > 0, &mut opened).await;
            self.metrics.connected.set(0);
            next = (next + 1) % masters.len();
            match result {
                Ok(Ended::ByMaster) => tracing::warn!(master = %master, "the master ended the control session"),
                Ok(Ended::FirstIsBack) => {
                    tracing::info!(master = %master, first = %masters[0], "the first master answers again: moving back to it");
                    next = 0;
                }
                Err(e) => {
                    self.metrics.fail(e.reason());
                    tracing::warn!(error = %e, retry_in = ?backoff, "no control session");
                }
            }
            if opened {
                backoff = MIN_BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Whether the first master accepts a TCP connection now.
    async fn first_answers(&self) -> bool {
        let Some(first) = self.settings.masters.first() else {
            return false;
        };
        let connect = tokio::net::TcpStream::connect(first.as_str());
        matches!(tokio::time::timeout(Duration::from_secs(1), connect).await, Ok(Ok(_)))
    }

    fn version(&self) -> u64 {
        self.sender.borrow().as_ref().map_or(0, |c| c.version)
    }

    fn hello(&self) -> proto::NodeMessage {
        let s = &self.settings;
        proto::NodeMessage {
            kind: Some(node_message::Kind::Hello(proto::Hello {
                name: s.name.clone(),
                role: s.role.to_proto() as i32,
                group: s.group.clone().unwrap_or_default(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                query: s.query.clone(),
                flows: s.flows.clone(),
                metrics: s.metrics.clone(),
                config_version: self.version(),
            })),
        }
    }

    /// One session with `master`, until it ends; `opened` is set once the master accepted it.
    /// With `fallback` (a master after the first), every few heartbeats the first master is
    /// tried, and the session ends once it answers, so the node goes back to it.
    async fn session(&self, master: &str, fallback: bool, opened: &mut bool) -> Result<Ended, ControlError> {
        let transport = |reason: String| ControlError::Transport {
            master: master.to_string(),
            reason,
        };
        let endpoint = Endpoint::from_shared(format!("http://{master}"))
            .map_err(|e| transport(format!("not an address: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect().await.map_err(|e| transport(error_chain(&e)))?;
        let mut client = proto::control_client::ControlClient::new(channel);
        let (outbound, queued) = mpsc::channel::<proto::NodeMessage>(8);
        outbound
            .send(self.hello())
            .await
            .map_err(|_| transport("the session closed".into()))?;
        let stream = futures::stream::unfold(queued, |mut queued| async move {
            queued.recv().await.map(|message| (message, queued))
        });
        let mut request = tonic::Request::new(stream);
        if let Some(token) = &self.settings.token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| ControlError::Unauthenticated("the token is not printable ASCII".into()))?;
            request.metadata_mut().insert("authorization", value);
        }
        let refused = |status: tonic::Status| ControlError::Refused {
            master: master.to_string(),
            status,
        };
        let mut inbound = client.session(request).await.map_err(refused)?.into_inner();
        *opened = true;
        self.metrics.connected.set(1);
        tracing::info!(master = %master, version = self.version(), "control session open");
        let mut ticker = tokio::time::interval(self.settings.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first_check = tokio::time::interval(self.settings.heartbeat * RETURN_CHECK_HEARTBEATS);
        first_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        first_check.tick().await;
        let mut reported: Option<BTreeSet<String>> = None;
        loop {
            tokio::select! {
                message = inbound.message() => match message.map_err(refused)? {
                    Some(proto::MasterMessage { kind: Some(master_message::Kind::Config(config)) }) => {
                        self.apply(&config).await;
                    }
                    Some(_) => {}
                    None => return Ok(Ended::ByMaster),
                },
                _ = first_check.tick(), if fallback => {
                    if self.first_answers().await {
                        return Ok(Ended::FirstIsBack);
                    }
                },
                _ = ticker.tick() => {
                    let stats = Arc::clone(&self.stats);
                    let stats = tokio::task::spawn_blocking(move || stats()).await.unwrap_or_default();
                    let mut messages = vec![node_message::Kind::Heartbeat(proto::Heartbeat {
                        config_version: self.version(),
                        flows_stored: stats.flows_stored,
                    })];
                    if reported.as_ref() != Some(&stats.exporters) {
                        let addresses = stats.exporters.iter().cloned().collect();
                        messages.push(node_message::Kind::Exporters(proto::Exporters { addresses }));
                        reported = Some(stats.exporters);
                    }
                    for kind in messages {
                        outbound
                            .send(proto::NodeMessage { kind: Some(kind) })
                            .await
                            .map_err(|_| transport("the session closed".into()))?;
                    }
                }
            }
        }
    }

    /// Stores and publishes a configuration the master sent, unless the node runs it already.
    async fn apply(&self, message: &proto::Config) {
        let config = match ControlConfig::from_message(message) {
            Ok(config) => config,
            Err(e) => {
                self.metrics.fail(e.reason());
                tracing::error!(error = %e, "configuration from the master refused");
                return;
            }
        };
        if self.sender.borrow().as_deref() == Some(&config) {
            tracing::debug!(version = config.version, "the master's configuration runs already");
            return;
        }
        let stored = self.settings.stored.clone();
        let copy = config.clone();
        match tokio::task::spawn_blocking(move || stored.save(&copy)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the configuration is not stored: a restart will not have it"),
            Err(e) => tracing::error!(error = %e, "storing the configuration failed"),
        }
        let version = config.version;
        self.sender.send_replace(Some(Arc::new(config)));
        self.metrics.config_version.set(gauge_value(version));
        self.metrics.configs_received.inc();
        tracing::info!(
            version,
            "running control configuration version {version} from the master"
        );
    }
}

/// An error and its sources, on one line (a cause that repeats its wrapper's text once).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
