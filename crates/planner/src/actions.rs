//! The master's side of the Flight actions a node answers about its own flows (`coverage`,
//! `cluster_count`): a JSON request in, the first result's body as JSON out.

use arrow_flight::Action;
use arrow_flight::flight_service_client::FlightServiceClient;
use futures::TryStreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

/// Sends the action `kind` with `request` (JSON) to the node behind `channel`; its answer.
pub async fn ask_json<Req: Serialize, Ans: DeserializeOwned>(
    channel: Channel,
    kind: &str,
    request: &Req,
) -> Result<Ans, tonic::Status> {
    let body = serde_json::to_vec(request).map_err(|e| tonic::Status::internal(e.to_string()))?;
    let action = Action {
        r#type: kind.to_string(),
        body: body.into(),
    };
    let mut answers = FlightServiceClient::new(channel).do_action(action).await?.into_inner();
    let Some(answer) = answers.try_next().await? else {
        return Err(tonic::Status::internal(format!("the action {kind} returned nothing")));
    };
    serde_json::from_slice(&answer.body)
        .map_err(|e| tonic::Status::internal(format!("an answer to {kind} that does not parse: {e}")))
}
