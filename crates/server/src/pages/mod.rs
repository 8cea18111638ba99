//! Server-rendered pages (askama, escaped by default).

pub mod admin;
pub mod audit;
pub mod compliance;
pub mod login;
pub mod patients;
pub mod records;
pub mod registers;
pub mod vendors;

use crate::i18n::{LANG_COOKIE, Lang, Texts};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

/// `?lang=` on any page.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    pub(crate) lang: Option<String>,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
    institutions: Vec<String>,
    backend: &'static str,
    tls: bool,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    lang: &'static str,
    t: &'static Texts,
    version: &'static str,
}

pub(crate) fn render(
    template: &impl Template,
    status: StatusCode,
    lang: Lang,
    set_cookie: bool,
    tls: bool,
) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            if set_cookie {
                let secure = if tls { "; Secure" } else { "" };
                let cookie =
                    format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}", lang.tag());
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /`: the page shell.
pub async fn index(State(state): State<AppState>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let (lang, set_cookie) = Lang::negotiate(q.lang.as_deref(), &headers);
    if let Some(page) = login::home(&state, &headers, lang, set_cookie).await {
        return page;
    }
    let institutions = match state.store.institutions().await {
        Ok(list) => list.into_iter().map(|i| i.name.as_str().to_owned()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list institutions for the start page");
            Vec::new()
        }
    };
    let page = IndexPage {
        lang: lang.tag(),
        t: lang.texts(),
        version: env!("CARGO_PKG_VERSION"),
        institutions,
        backend: state.store.backend().as_str(),
        tls: state.tls,
    };
    render(&page, StatusCode::OK, lang, set_cookie, state.tls)
}

/// The 404 page for anything that is not an API path.
pub async fn not_found(State(state): State<AppState>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let (lang, set_cookie) = Lang::negotiate(q.lang.as_deref(), &headers);
    let page = NotFoundPage { lang: lang.tag(), t: lang.texts(), version: env!("CARGO_PKG_VERSION") };
    render(&page, StatusCode::NOT_FOUND, lang, set_cookie, state.tls)
}

/// `GET /static/mamori.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/mamori.css"),
    )
        .into_response()
}

/// `GET /static/webauthn.js`.
pub async fn webauthn_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/webauthn.js"),
    )
        .into_response()
}
