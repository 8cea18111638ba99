//! The workbench's pages: an administrator starts an assessment, sees every item with mamori's
//! live evidence, changes an item and adds a link as evidence; bad input is shown on the page and
//! nothing changes; a clerk is refused.

use super::fixture;
use super::record_pages::page_login;
use super::session::account_with;
use axum::http::StatusCode;
use mamori_core::{JobType, Role};

#[tokio::test]
async fn the_manager_works_through_the_checklist_on_the_pages() {
    let fx = fixture("compliance-pages").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut b = page_login(&fx, &admin).await;
    let home = b.get("/").await;
    assert!(home.html.contains("id=\"compliance-link\""));
    let list = b.get("/compliance").await;
    let started = b
        .post(
            "/compliance",
            &[
                ("csrf", &list.csrf()),
                ("catalog", "hoshu-7.0"),
                ("title", "2026年度 自己点検"),
                ("period_start", "2026-04-01"),
                ("period_end", "2027-03-31"),
            ],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let at = started.location.unwrap();
    let page = b.get(&at).await;
    assert_eq!(page.html.matches("class=\"card item state-not_started\"").count(), 52);
    assert!(page.html.contains("id=\"item-9-4\"") && page.html.contains("mamori のデータによる証跡"));
    assert!(page.html.contains("第二要素が未登録の有効なアカウント"), "live evidence for 9④");

    let csrf = page.csrf();
    let saved = b
        .post(
            &format!("{at}/items/9-4"),
            &[
                ("csrf", &csrf),
                ("state", "done"),
                ("version", "1"),
                ("notes", "全員二要素"),
                ("due_on", ""),
                ("next_review_on", "2027-03-31"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let stale =
        b.post(&format!("{at}/items/9-4"), &[("csrf", &csrf), ("state", "in_progress"), ("version", "1")]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let bad = b
        .post(
            &format!("{at}/items/9-4/evidence"),
            &[("csrf", &csrf), ("title", "規程"), ("url", "http://intra.example.jp/a.pdf")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("https://"), "{}", bad.html);
    let added = b
        .post(
            &format!("{at}/items/9-4/evidence"),
            &[("csrf", &csrf), ("title", "二要素認証の運用規程"), ("url", "https://intra.example.jp/2fa.pdf")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let page = b.get(&at).await;
    assert!(page.html.contains("class=\"card item state-done\" id=\"item-9-4\""));
    assert!(page.html.contains("二要素認証の運用規程"));
    let forged = b.post(&format!("{at}/items/9-2"), &[("csrf", "forged"), ("state", "done"), ("version", "1")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A file as evidence, from the page's upload form; the page links its download.
    let scan = "受託事業者との契約書（写し）".as_bytes();
    let uploaded = b
        .multipart(
            &format!("{at}/items/10-1/evidence/file"),
            &[("csrf", &csrf), ("title", "保守契約書"), ("effective_on", "2026-04-01"), ("expires_on", "")],
            ("file", "保守契約書.pdf", scan),
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.html);
    let page = b.get(&at).await;
    assert!(page.html.contains("class=\"evidence-file\""), "a download link");
    assert!(page.html.contains("保守契約書.pdf"));
    let empty = b
        .multipart(
            &format!("{at}/items/10-1/evidence/file"),
            &[("csrf", &csrf), ("title", "空")],
            ("file", "a.pdf", b""),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.html.contains("ファイルが空です"), "{}", empty.html);
    let forged = b
        .multipart(
            &format!("{at}/items/10-1/evidence/file"),
            &[("csrf", "forged"), ("title", "x")],
            ("file", "a.pdf", b"x"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let detail =
        fx.state.store.evidence(fx.institution, at.trim_start_matches("/compliance/").parse().unwrap()).await.unwrap();
    assert_eq!(detail.iter().filter(|e| e.item == "hoshu-7.0/10-1").count(), 1, "only the good upload is kept");

    let mut c = page_login(&fx, &clerk).await;
    let refused = c.request("GET", "/compliance", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
