//! A small Flight SQL client: run one statement against a server and collect its results
//! (used by `flowfold sql --connect` and the tests).

use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightDescriptor, FlightInfo};
use futures::TryStreamExt;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not a valid endpoint.
    #[error("bad server address {addr}: {source}")]
    Address {
        /// The address given.
        addr: String,
        /// The cause.
        #[source]
        source: tonic::transport::Error,
    },
    /// The server could not be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address given.
        addr: String,
        /// The cause.
        #[source]
        source: tonic::transport::Error,
    },
    /// The server answered with an error.
    #[error("{} ({:?})", .0.message(), .0.code())]
    Server(Box<tonic::Status>),
    /// The result stream could not be decoded.
    #[error("reading results: {0}")]
    Decode(FlightError),
}

impl From<FlightError> for ClientError {
    fn from(e: FlightError) -> Self {
        match e {
            FlightError::Tonic(status) => ClientError::Server(status),
            other => ClientError::Decode(other),
        }
    }
}

/// A connection to a Flight SQL server.
#[derive(Debug, Clone)]
pub struct SqlClient {
    inner: FlightServiceClient<Channel>,
    partial: bool,
}

/// A query's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The result schema the server planned.
    pub schema: SchemaRef,
    /// The result rows.
    pub batches: Vec<RecordBatch>,
    /// The metadata of the streamed schema (on a master: `flowfold.served_by`, and
    /// `flowfold.missing` for a partial answer).
    pub metadata: std::collections::HashMap<String, String>,
}

impl SqlClient {
    /// Connects to `addr` (`host:port` or `http://host:port`).
    pub async fn connect(addr: &str) -> Result<SqlClient, ClientError> {
        let url = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let endpoint = Endpoint::from_shared(url).map_err(|source| ClientError::Address {
            addr: addr.to_string(),
            source,
        })?;
        let channel = endpoint
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(20))
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let inner = FlightServiceClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Ok(SqlClient { inner, partial: false })
    }

    /// Asks a master for partial answers: when no proxy group of a source group can answer, the
    /// answer leaves that source group out (named in [`Answer::metadata`]) instead of failing.
    pub fn with_partial_results(mut self, partial: bool) -> SqlClient {
        self.partial = partial;
        self
    }

    /// Plans `sql` on the server: the result schema and the endpoints to fetch.
    pub async fn info(&mut self, sql: &str) -> Result<FlightInfo, ClientError> {
        let cmd = CommandStatementQuery {
            query: sql.to_string(),
            transaction_id: None,
        };
        let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
        let info = self
            .inner
            .get_flight_info(descriptor)
            .await
            .map_err(|s| ClientError::Server(Box::new(s)))?;
        Ok(info.into_inner())
    }

    /// Runs `sql` and collects every result batch, with the result schema.
    pub async fn query(&mut self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), ClientError> {
        let answer = self.answer(sql).await?;
        Ok((answer.schema, answer.batches))
    }

    /// Runs `sql` and collects its whole answer.
    pub async fn answer(&mut self, sql: &str) -> Result<Answer, ClientError> {
        let info = self.info(sql).await?;
        let schema = std::sync::Arc::new(
            info.clone()
                .try_decode_schema()
                .map_err(|e| ClientError::Decode(e.into()))?,
        );
        let mut batches = Vec::new();
        let mut metadata = std::collections::HashMap::new();
        for endpoint in info.endpoint {
            let Some(ticket) = endpoint.ticket else { continue };
            let mut request = tonic::Request::new(ticket);
            if self.partial {
                request.metadata_mut().insert(
                    planner::PARTIAL_HEADER,
                    tonic::metadata::MetadataValue::from_static("true"),
                );
            }
            let response = self
                .inner
                .do_get(request)
                .await
                .map_err(|s| ClientError::Server(Box::new(s)))?;
            let stream = response.into_inner().map_err(|s| FlightError::Tonic(Box::new(s)));
            let mut decoded = FlightRecordBatchStream::new_from_flight_data(stream);
            while let Some(batch) = decoded.try_next().await? {
                batches.push(batch);
            }
            if let Some(streamed) = decoded.schema() {
                metadata.extend(streamed.metadata().clone());
            }
        }
        Ok(Answer {
            schema,
            batches,
            metadata,
        })
    }
}
