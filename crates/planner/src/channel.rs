//! Connections from the master (and from workers, for shuffles) to workers, with the timeouts
//! that keep a dead or silent node from hanging a query: connect timeout, HTTP/2 keepalive pings
//! with a deadline, TCP keepalive. There is no per-request timeout: a long query's streams stay
//! open as long as the query's own deadline allows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{ChannelResolver, WorkerChannel};
use tonic::transport::{Channel, Endpoint};
use url::Url;

/// Timeouts of connections to workers.
#[derive(Debug, Clone, Copy)]
pub struct WorkerTimeouts {
    /// Longest wait for a TCP connection.
    pub connect: Duration,
    /// Interval of HTTP/2 keepalive pings, and how long a ping may go unanswered.
    pub keepalive: Duration,
}

impl Default for WorkerTimeouts {
    fn default() -> Self {
        WorkerTimeouts {
            connect: Duration::from_secs(2),
            keepalive: Duration::from_secs(5),
        }
    }
}

/// A [`ChannelResolver`] with [`WorkerTimeouts`]; one lazily connected channel per worker URL.
#[derive(Debug, Default)]
pub struct TimedChannels {
    timeouts: WorkerTimeouts,
    channels: Mutex<HashMap<Url, Channel>>,
}

impl TimedChannels {
    /// Channels with `timeouts`.
    pub fn new(timeouts: WorkerTimeouts) -> TimedChannels {
        TimedChannels {
            timeouts,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// The cached (lazily connected) channel to `url`.
    pub(crate) fn channel(&self, url: &Url) -> Result<Channel, DataFusionError> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(url) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| DataFusionError::Configuration(format!("worker URL {url}: {e}")))?
            .connect_timeout(self.timeouts.connect)
            .tcp_nodelay(true)
            .tcp_keepalive(Some(self.timeouts.keepalive))
            .http2_keep_alive_interval(self.timeouts.keepalive)
            .keep_alive_timeout(self.timeouts.keepalive)
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        channels.insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait::async_trait]
impl ChannelResolver for TimedChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>, DataFusionError> {
        let channel = self.channel(url)?;
        Ok(create_worker_client(BoxCloneSyncChannel::new(channel)))
    }
}
