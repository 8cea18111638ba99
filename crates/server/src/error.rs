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
    retry_after: Option<u64>,
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
        Self { status, code, message, retry_after: None }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message for the person.
    #[must_use]
    pub fn message(&self) -> &Message {
        &self.message
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

    /// 401 for any failed login step: one message whatever went wrong (no user enumeration).
    #[must_use]
    pub fn login_failed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "login_failed",
            Message::new(
                "ログインID、パスワードまたは確認コードが正しくありません。",
                "the login ID, password or code is not correct",
            ),
        )
    }

    /// 401 when a request needs a full (two-factor) session and has none.
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            Message::new(
                "ログインしてください（パスワードと確認コードの両方が必要です）。",
                "log in first (a password and a second factor are both needed)",
            ),
        )
    }

    /// 423 when the session is locked for idleness.
    #[must_use]
    pub fn session_locked() -> Self {
        Self::new(
            StatusCode::LOCKED,
            "session_locked",
            Message::new(
                "一定時間操作がなかったため画面をロックしました。パスワードと確認コードでロックを解除してください。",
                "the session was locked after a period without activity; unlock it with your password and a code",
            ),
        )
    }

    /// 403 outside the logon hours of the user's roles (at login, and for a session the
    /// window's end has just closed).
    #[must_use]
    pub fn outside_logon_hours() -> Self {
        Self::forbidden(
            "outside_logon_hours",
            Message::new(
                "現在はログインできる時間帯ではありません。管理者に確認してください。",
                "logins are not allowed at this time for your roles; ask your administrator",
            ),
        )
    }

    /// 429 while a failed attempt's delay runs.
    #[must_use]
    pub fn retry_later(seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "retry_later",
            Message::new(
                format!("{seconds}秒ほど待ってから再度お試しください。"),
                format!("wait about {seconds} seconds before trying again"),
            ),
        );
        e.retry_after = Some(seconds);
        e
    }

    /// 401 while the login ID is locked out.
    #[must_use]
    pub fn locked_out(minutes: u64) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "locked_out",
            Message::new(
                format!(
                    "ログインの失敗が続いたため一時的にログインできません。約{minutes}分後に再度お試しいただくか、管理者に連絡してください。"
                ),
                format!(
                    "too many failed attempts: login is blocked for about {minutes} minutes, or until an administrator unlocks it"
                ),
            ),
        )
    }

    /// 403 with a message.
    #[must_use]
    pub fn forbidden(code: &'static str, message: Message) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 409 with a message.
    #[must_use]
    pub fn conflict(code: &'static str, message: Message) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 404 for a thing that does not exist in the caller's institution.
    #[must_use]
    pub fn no_such(what_ja: &str, what_en: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            Message::new(format!("{what_ja}が見つかりません。"), format!("no such {what_en}")),
        )
    }

    /// 403 for an action the user's roles do not grant.
    #[must_use]
    pub fn denied(denied: mamori_core::authz::Denied) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", denied.message())
    }

    /// 400 with a message naming the field.
    #[must_use]
    pub fn bad_request(message: Message) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
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

impl From<mamori_store::StoreError> for ApiError {
    fn from(e: mamori_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let body = ErrorEnvelope {
            error: ErrorBody { code: self.code.to_owned(), message_ja: self.message.ja, message_en: self.message.en },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}
