//! `ApiJson`: the JSON body extractor whose refusals speak the API's error format.

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use mamori_core::Message;
use serde::de::DeserializeOwned;

/// A JSON request body. A body that is not valid JSON of the expected shape is refused with
/// 400 and a message naming the problem (never echoing the input).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                tracing::debug!(status = %rejection.status(), "JSON body refused");
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    return Err(ApiError::new(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        Message::new("送信されたデータが大きすぎます。", "the request body is too large"),
                    ));
                }
                Err(ApiError::bad_request(Message::new(
                    "リクエストの内容がJSONとして正しくないか、必要な項目が欠けています。",
                    "the request body is not valid JSON of the expected shape (a field is missing, mistyped or unknown)",
                )))
            }
        }
    }
}
