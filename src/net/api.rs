//! HTTP calls to the worker API, with its typed errors turned into readable ones.

use gloo_net::http::{Request, Response};
use protocol::api::{CreateAuthorization, CreateRoomRequest, CreateRoomResponse};
use protocol::error::{ErrorBody, ErrorCode, HttpError};
use protocol::identity::PublicKey;
use protocol::ids::RoomId;
use serde::de::DeserializeOwned;

/// Decodes a success body, or the server's typed error.
async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ErrorBody> {
    if response.ok() {
        return response
            .json::<T>()
            .await
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("unexpected answer from the server: {e}")));
    }
    let status = response.status();
    match response.json::<HttpError>().await {
        Ok(HttpError { error }) => Err(error),
        Err(_) => Err(ErrorBody::new(ErrorCode::Unavailable, format!("the server answered HTTP {status}"))),
    }
}

fn network_error(e: gloo_net::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Unavailable, format!("cannot reach the server: {e}"))
}

/// Registers a new room owned by `owner`, authorised by the server's admin secret.
pub async fn create_room(
    room: &RoomId,
    owner: &PublicKey,
    admin_secret: &str,
) -> Result<CreateRoomResponse, ErrorBody> {
    let body = CreateRoomRequest {
        room: room.clone(),
        owner: *owner,
        auth: CreateAuthorization::AdminSecret { secret: admin_secret.to_owned() },
    };
    let request = Request::post("/api/rooms").json(&body).map_err(network_error)?;
    decode(request.send().await.map_err(network_error)?).await
}
