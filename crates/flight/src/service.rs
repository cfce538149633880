//! The Flight SQL service on the query port: statements, prepared statements with parameters,
//! catalog listings and SqlInfo, over a [`QueryRunner`].
//!
//! Statement tickets carry the SQL text itself, so any server can answer them and nothing is kept
//! between GetFlightInfo and DoGet. Prepared statements live in a bounded table on the server.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::metadata::{GetCatalogsBuilder, SqlInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use bytes::Bytes;
use engine::row_counts::RowCounts;
use engine::snapshot::Channels;
use engine::sql::FlowsTable;
use futures::{Stream, TryStreamExt};
use planner::cluster_count::{COUNT_ACTION, CountAnswer, CountRequest};
use planner::coverage::{COVERAGE_ACTION, Coverage, CoverageRequest};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::catalog_listing;
use crate::error::{QueryError, to_status};
use crate::params::params_from_batch;
use crate::prepared::PreparedStatements;
use crate::runner::{QueryRunner, result_schema};
use crate::sql_info::sql_info;

type FlightDataStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

/// The Flight SQL service of a node.
pub struct FlowSqlService {
    runner: Arc<QueryRunner>,
    prepared: PreparedStatements,
    sql_info: SqlInfoData,
    /// On a node storing flows: its data directory, whose time coverage and row count it tells
    /// a master.
    data_dir: Option<PathBuf>,
    /// Row counts of its sealed parts, remembered between counts.
    row_counts: Arc<RowCounts>,
}

impl FlowSqlService {
    /// A service answering with `runner`.
    pub fn new(runner: Arc<QueryRunner>) -> FlowSqlService {
        FlowSqlService {
            runner,
            prepared: PreparedStatements::new(1024),
            sql_info: sql_info(),
            data_dir: None,
            row_counts: Arc::new(RowCounts::new()),
        }
    }

    /// The same service answering the actions [`COVERAGE_ACTION`] and [`COUNT_ACTION`] with the
    /// time coverage and the number of the flows stored in `data_dir`.
    pub fn with_data_dir(mut self, data_dir: PathBuf) -> FlowSqlService {
        self.data_dir = Some(data_dir);
        self
    }

    /// The node's data directory and the request in `action`'s body (JSON; empty: the
    /// default), for the action named `what`.
    fn local_request<T: serde::de::DeserializeOwned + Default>(
        &self,
        action: &arrow_flight::Action,
        what: &str,
    ) -> Result<(PathBuf, T), Status> {
        let Some(data_dir) = self.data_dir.clone() else {
            return Err(Status::unimplemented(format!("this node stores no flows: no {what}")));
        };
        let request = match action.body.is_empty() {
            true => T::default(),
            false => serde_json::from_slice(&action.body)
                .map_err(|e| Status::invalid_argument(format!("a {what} request that does not parse: {e}")))?,
        };
        Ok((data_dir, request))
    }

    /// The time coverage of the node's flows, as asked by `action`'s body.
    async fn coverage(&self, action: &arrow_flight::Action) -> Result<Bytes, Status> {
        let (data_dir, request): (_, CoverageRequest) = self.local_request(action, "time coverage")?;
        let coverage = tokio::task::spawn_blocking(move || Coverage::of(&data_dir, &request))
            .await
            .map_err(|e| Status::internal(format!("listing the time coverage: {e}")))?
            .map_err(|e| Status::internal(format!("listing the time coverage: {e}")))?;
        let body = serde_json::to_vec(&coverage).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Bytes::from(body))
    }

    /// The number of the node's flows (of one channel, if `action`'s body names one), from its
    /// footers' row counts and its open windows.
    async fn count(&self, action: &arrow_flight::Action) -> Result<Bytes, Status> {
        let (data_dir, request): (_, CountRequest) = self.local_request(action, "row count")?;
        let channels = match &request.channel {
            None => Channels::All,
            Some(name) => Channels::Only(engine::sql::find_channel(&data_dir, name).into_iter().collect()),
        };
        let rows = FlowsTable::new(&data_dir, channels)
            .count_rows(Arc::clone(&self.row_counts))
            .await
            .map_err(|e| Status::internal(format!("counting the flows: {e}")))?;
        let body = serde_json::to_vec(&CountAnswer { rows }).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Bytes::from(body))
    }

    /// Runs a plan and streams its results as Flight data.
    async fn stream(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        params: Option<datafusion::common::ParamValues>,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Response<FlightDataStream>, Status> {
        let running = self.runner.run_with(plan, params, wants_partial(metadata)).await?;
        let batches = running.map_err(|e| FlightError::Tonic(Box::new(to_status(&e))));
        let encoded = FlightDataEncoderBuilder::new().build(batches).map_err(Status::from);
        Ok(Response::new(Box::pin(encoded)))
    }
}

/// Whether the request asks for a partial answer (header `x-flowfold-partial-results: true`).
fn wants_partial(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata
        .get(planner::PARTIAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A FlightInfo for `schema` whose one endpoint's ticket is `ticket`.
fn flight_info(schema: &Schema, ticket: Bytes, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("encoding the result schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor)
        .with_total_records(-1)
        .with_total_bytes(-1))
}

/// A one-batch Flight data stream.
fn batch_stream(batch: arrow::array::RecordBatch) -> Response<FlightDataStream> {
    let encoded = FlightDataEncoderBuilder::new()
        .build(futures::stream::once(async { Ok(batch) }))
        .map_err(Status::from);
    Response::new(Box::pin(encoded))
}

fn schema_ipc(schema: &Schema) -> Result<Bytes, Status> {
    let options = IpcWriteOptions::default();
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &options)
        .try_into()
        .map_err(|e| Status::internal(format!("encoding a schema: {e}")))?;
    Ok(bytes)
}

fn sql_text(handle: &[u8]) -> Result<&str, Status> {
    std::str::from_utf8(handle).map_err(|_| to_status(&QueryError::BadRequest("statement ticket is not UTF-8".into())))
}

#[tonic::async_trait]
impl FlightSqlService for FlowSqlService {
    type FlightService = FlowSqlService;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let plan = self.runner.plan(&query.query).await?;
        let ticket = TicketStatementQuery {
            statement_handle: Bytes::from(query.query.into_bytes()),
        };
        let info = flight_info(
            &result_schema(&plan),
            ticket.as_any().encode_to_vec().into(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let plan = self.runner.plan(sql_text(&ticket.statement_handle)?).await?;
        self.stream(plan, None, request.metadata()).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let prepared = self.prepared.get(&query.prepared_statement_handle)?;
        let schema = result_schema(&prepared.plan);
        let info = flight_info(&schema, query.as_any().encode_to_vec().into(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let prepared = self.prepared.get(&query.prepared_statement_handle)?;
        self.stream(prepared.plan, prepared.params, request.metadata()).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let plan = self.runner.plan(&query.query).await?;
        let dataset_schema = schema_ipc(&result_schema(&plan))?;
        let parameter_schema = schema_ipc(&crate::params::parameter_schema(&plan)?)?;
        let handle = self.prepared.insert(plan);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle,
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let stream = request.into_inner().map_err(FlightError::from);
        let batches: Vec<_> = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream)
            .try_collect()
            .await
            .map_err(Status::from)?;
        let params = params_from_batch(&batches)?;
        self.prepared.bind(&query.prepared_statement_handle, params)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<arrow_flight::Action>,
    ) -> Result<Response<<Self as arrow_flight::flight_service_server::FlightService>::DoActionStream>, Status> {
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            COVERAGE_ACTION => self.coverage(&action).await?,
            COUNT_ACTION => self.count(&action).await?,
            other => return Err(Status::invalid_argument(format!("unknown action {other:?}"))),
        };
        let answer = futures::stream::once(async move { Ok(arrow_flight::Result { body }) });
        Ok(Response::new(Box::pin(answer)))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<arrow_flight::ActionType, Status>>> {
        let action = |kind: &str, description: &str| {
            Ok(arrow_flight::ActionType {
                r#type: kind.to_string(),
                description: description.to_string(),
            })
        };
        self.data_dir.is_some().then(|| {
            vec![
                action(
                    COVERAGE_ACTION,
                    "the time spans of the flows this node stores, per channel (JSON)",
                ),
                action(
                    COUNT_ACTION,
                    "the number of flows this node stores, or one channel's (JSON)",
                ),
            ]
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        self.prepared.remove(&query.prepared_statement_handle);
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        let info = flight_info(&schema, query.as_any().encode_to_vec().into(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_catalogs(
        &self,
        _query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let mut builder = GetCatalogsBuilder::new();
        for name in catalog_listing::catalogs(self.runner.session()) {
            builder.append(name);
        }
        Ok(batch_stream(
            builder.build().map_err(|e| Status::internal(e.to_string()))?,
        ))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        let info = flight_info(&schema, query.as_any().encode_to_vec().into(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let mut builder = query.into_builder();
        for (catalog, schema) in catalog_listing::schemas(self.runner.session()) {
            builder.append(catalog, schema);
        }
        Ok(batch_stream(
            builder.build().map_err(|e| Status::internal(e.to_string()))?,
        ))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        let info = flight_info(&schema, query.as_any().encode_to_vec().into(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let mut builder = query.into_builder();
        for table in catalog_listing::tables(self.runner.session()).await? {
            builder
                .append(
                    &table.catalog,
                    &table.schema,
                    &table.name,
                    table.kind,
                    &table.arrow_schema,
                )
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(batch_stream(
            builder.build().map_err(|e| Status::internal(e.to_string()))?,
        ))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        let info = flight_info(&schema, query.as_any().encode_to_vec().into(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let mut builder = query.into_builder();
        for kind in catalog_listing::TABLE_TYPES {
            builder.append(kind);
        }
        Ok(batch_stream(
            builder.build().map_err(|e| Status::internal(e.to_string()))?,
        ))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self.sql_info.schema();
        let info = flight_info(&schema, query.as_any().encode_to_vec().into(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightDataStream>, Status> {
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(batch_stream(batch))
    }

    async fn do_get_fallback(
        &self,
        _request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<FlightDataStream>, Status> {
        Err(Status::unimplemented(format!(
            "flowfold does not serve {} (read-only Flight SQL: statements, prepared statements, catalog listings, SqlInfo)",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests {
    use arrow_flight::flight_service_server::FlightService;
    use futures::StreamExt;

    use super::*;
    use crate::limits::QueryLimits;
    use crate::metrics::QueryMetrics;

    fn service() -> FlowSqlService {
        let ctx = datafusion::prelude::SessionContext::new();
        FlowSqlService::new(Arc::new(QueryRunner::new(
            ctx,
            QueryLimits::default(),
            QueryMetrics::new(),
        )))
    }

    async fn act(service: &FlowSqlService, kind: &str, body: &[u8]) -> Result<Vec<u8>, Status> {
        let action = arrow_flight::Action {
            r#type: kind.to_string(),
            body: Bytes::copy_from_slice(body),
        };
        let mut answers = service.do_action(Request::new(action)).await?.into_inner();
        let first = answers.next().await.expect("one answer")?;
        Ok(first.body.to_vec())
    }

    #[tokio::test]
    async fn the_coverage_action_answers_on_a_node_with_data_and_refuses_clearly_otherwise() {
        let none = act(&service(), COVERAGE_ACTION, b"").await.unwrap_err();
        assert_eq!(none.code(), tonic::Code::Unimplemented, "{none}");

        let tmp = tempfile::tempdir().unwrap();
        let channel = tmp.path().join("flows/exporter=10.0.0.1");
        std::fs::create_dir_all(channel.join("date=2026-11-01/hour=10")).unwrap();
        engine::outliers::complete(&channel).unwrap();
        let node = service().with_data_dir(tmp.path().to_path_buf());

        let body = act(&node, COVERAGE_ACTION, b"").await.unwrap();
        let coverage: Coverage = serde_json::from_slice(&body).unwrap();
        let ten = 1_793_527_200_000; // 2026-11-01 10:00 UTC
        assert_eq!(
            coverage.channels["exporter_10_0_0_1"],
            vec![(ten - 10 * 3_600_000, ten + 14 * 3_600_000 - 1)],
            "the whole day"
        );
        let within = serde_json::to_vec(&CoverageRequest {
            within: Some((ten + 3_600_000, ten + 7_200_000)),
        })
        .unwrap();
        let later: Coverage = serde_json::from_slice(&act(&node, COVERAGE_ACTION, &within).await.unwrap()).unwrap();
        assert!(later.channels["exporter_10_0_0_1"].is_empty(), "nothing at 11:00");

        let garbled = act(&node, COVERAGE_ACTION, b"{within").await.unwrap_err();
        assert_eq!(garbled.code(), tonic::Code::InvalidArgument);
        assert!(garbled.message().contains("does not parse"), "{garbled}");
        let counted: CountAnswer = serde_json::from_slice(&act(&node, COUNT_ACTION, b"").await.unwrap()).unwrap();
        assert_eq!(counted.rows, 0, "an empty hour directory holds no flow");
        let none = act(&service(), COUNT_ACTION, b"").await.unwrap_err();
        assert_eq!(none.code(), tonic::Code::Unimplemented, "{none}");

        let unknown = act(&node, "flowfold.nope", b"").await.unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
        assert!(unknown.message().contains("flowfold.nope"), "{unknown}");
    }
}
