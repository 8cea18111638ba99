//! The one mapping from failures to HTTP responses: a clear bilingual message for people, a
//! stable code for programs, never internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mamori_core::Message;
use serde::Serialize;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Message,
}

/// The JSON body of every API error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `unsupported_media_type`.
    pub code: String,
    /// Japanese message.
    pub message_ja: String,
    /// English message.
    pub message_en: String,
}

/// The envelope: `{"error": {...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

impl ApiError {
    /// An error with a status, a code and a message.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: Message) -> Self {
        Self { status, code, message }
    }

    /// 404 for an unknown API path.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            Message::new("指定されたAPIはありません。", "no such API endpoint"),
        )
    }

    /// 415 for a request body that is not declared as JSON.
    #[must_use]
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Message::new(
                "APIへの送信は Content-Type: application/json のみ受け付けます。",
                "API requests must be sent with Content-Type: application/json",
            ),
        )
    }

    /// 500 for a failure inside the server. The cause is logged, never shown.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            Message::new(
                "サーバー内部でエラーが発生しました。時間をおいて再度お試しください。",
                "the server failed; try again later",
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody { code: self.code.to_owned(), message_ja: self.message.ja, message_en: self.message.en },
        };
        (self.status, Json(body)).into_response()
    }
}
