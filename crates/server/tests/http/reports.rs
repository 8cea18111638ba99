//! The self-inspection report downloads: an administrator (and an auditor) downloads the PDF,
//! the xlsx checklist and the OSCAL assessment-results from the assessment's page links, each
//! recorded as `compliance.report` with its format; a clerk is refused (and the refusal
//! recorded); an unknown assessment is 404.

use super::fixture;
use super::session::{Client, account_with, login};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use calamine::{Reader, Xlsx};
use mamori_core::audit::{AuditEvent, AuditQuery, Outcome};
use mamori_core::{JobType, Role};
use serde_json::json;
use tower::ServiceExt as _;

/// A GET with the client's session, keeping the body as bytes.
async fn download(fx: &super::Fixture, client: &Client<'_>, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method("GET").uri(uri);
    if let Some(c) = &client.cookie {
        req = req.header("cookie", c);
    }
    let response = mamori_server::app(fx.state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap();
    (status, headers, bytes.to_vec())
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn a_manager_downloads_the_report_as_pdf_xlsx_and_oscal() {
    let fx = fixture("reports").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut a = login(&fx, &admin).await;
    let r = a
        .post(
            "/api/v1/assessments",
            json!({"catalog": "hoshu-7.0", "title": "2026年度 自己点検", "period_start": "2026-04-01", "period_end": "2027-03-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let change = |state: &str, due: Option<&str>, notes: &str| json!({"state": state, "owner": admin.id.to_string(), "due_on": due, "notes": notes, "version": 1});
    for (item, body) in [
        ("9-4", change("done", None, "全利用者が二要素でログイン")),
        ("9-5", change("not_applicable", None, "院内にオンプレミスのサーバはない")),
        ("2-1", change("in_progress", Some("2026-09-30"), "")),
    ] {
        let r = a.send("PUT", &format!("/api/v1/assessments/{id}/items/{item}"), Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = a
        .post(
            &format!("/api/v1/assessments/{id}/items/9-4/evidence"),
            json!({"title": "二要素認証の運用規程", "url": "https://intra.example.jp/kitei/2fa.pdf"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // The page links to the three downloads.
    let page = a.get(&format!("/compliance/{id}")).await;
    for link in ["report.pdf", "report.xlsx", "oscal"] {
        assert!(page.text.contains(&format!("href=\"/api/v1/assessments/{id}/{link}\"")), "{link} on the page");
    }

    let (status, h, pdf) = download(&fx, &a, &format!("/api/v1/assessments/{id}/report.pdf")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(header(&h, "content-type"), "application/pdf");
    assert_eq!(header(&h, "content-disposition"), format!("attachment; filename=\"self-inspection-{id}.pdf\""));
    assert!(pdf.starts_with(b"%PDF-") && pdf.windows(11).any(|w| w == b"IPAexMincho"));

    let (status, h, xlsx) = download(&fx, &a, &format!("/api/v1/assessments/{id}/report.xlsx")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(header(&h, "content-disposition").ends_with(".xlsx\""));
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range("チェックリスト").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(ToString::to_string).collect()).collect();
    let row = |number: &str, section: &str| {
        rows.iter().find(|r| r[0] == section && r[1] == number).unwrap_or_else(|| panic!("{section} {number}")).clone()
    };
    assert_eq!(row("④", "9")[3], "はい");
    assert_eq!(row("⑤", "9")[3], "対象外");
    let in_progress = row("①", "2");
    assert_eq!((in_progress[3].as_str(), in_progress[5].as_str()), ("いいえ", "2026-09-30"));
    assert_eq!(row("②", "2")[3], "いいえ");
    assert_eq!(row("①", "1.1")[3], "いいえ", "section 1 is divided as the source prints it");
    assert_eq!(rows.iter().filter(|r| ["はい", "いいえ", "対象外"].contains(&r[3].as_str())).count(), 52);
    assert_eq!(row("④", "9")[6], "山田 花子", "the owner's display name");

    let (status, h, oscal) = download(&fx, &a, &format!("/api/v1/assessments/{id}/oscal")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "application/json");
    let doc: serde_json::Value = serde_json::from_slice(&oscal).unwrap();
    let findings = doc["assessment-results"]["results"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 52);
    let f94 = findings.iter().find(|f| f["target"]["target-id"] == "hoshu-7.0_9-4_smt").unwrap();
    assert_eq!(f94["target"]["status"]["state"], "satisfied");
    let (_, _, again) = download(&fx, &a, &format!("/api/v1/assessments/{id}/oscal")).await;
    let again: serde_json::Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(again["assessment-results"]["uuid"], doc["assessment-results"]["uuid"], "stable UUIDs");

    // Every download is in the trail with its format.
    let q = AuditQuery {
        action: Some("compliance.report".into()),
        actor: Some(admin.id),
        outcome: Some(Outcome::Allowed),
        limit: 10,
        ..Default::default()
    };
    let events = fx.state.store.audit_search(fx.institution, &q).await.unwrap();
    let mut formats: Vec<String> =
        events.iter().map(|(_, leaf)| AuditEvent::from_leaf(leaf).unwrap().detail["format"].clone()).collect();
    formats.sort();
    assert_eq!(formats, ["oscal", "oscal", "pdf", "xlsx"]);

    // Auditors may download; a clerk may not (recorded); an unknown assessment is 404.
    fx.advance(std::time::Duration::from_secs(31));
    let au = login(&fx, &auditor).await;
    assert_eq!(download(&fx, &au, &format!("/api/v1/assessments/{id}/report.xlsx")).await.0, StatusCode::OK);
    let c = login(&fx, &clerk).await;
    for path in ["report.pdf", "report.xlsx", "oscal"] {
        let (status, _, _) = download(&fx, &c, &format!("/api/v1/assessments/{id}/{path}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let q = AuditQuery {
        action: Some("compliance.report".into()),
        actor: Some(clerk.id),
        outcome: Some(Outcome::Denied),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(fx.state.store.audit_search(fx.institution, &q).await.unwrap().len(), 3);
    let unknown = "0191a3c0-1111-7000-8000-00000000abcd";
    for path in ["report.pdf", "report.xlsx", "oscal"] {
        assert_eq!(download(&fx, &a, &format!("/api/v1/assessments/{unknown}/{path}")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(download(&fx, &a, &format!("/api/v1/assessments/not-an-id/{path}")).await.0, StatusCode::NOT_FOUND);
    }
    // Without a session: 401.
    let anonymous = Client::new(&fx);
    assert_eq!(download(&fx, &anonymous, &format!("/api/v1/assessments/{id}/oscal")).await.0, StatusCode::UNAUTHORIZED);
}

/// The report carries the rest of the workbench as further sections: the applicability
/// decision with its basis, the risk records of the current vendor disclosures, and the
/// registers with their entries to act on.
#[tokio::test]
async fn the_report_carries_applicability_vendor_risks_and_registers() {
    let fx = fixture("report-sections").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let mut a = login(&fx, &admin).await;
    let r = a
        .post(
            "/api/v1/assessments",
            json!({"catalog": "hoshu-7.0", "title": "2026年度 自己点検", "period_start": "2026-04-01", "period_end": "2027-03-31"}),
        )
        .await;
    let id: mamori_core::AssessmentId = r.body["id"].as_str().unwrap().parse().unwrap();
    let q = "all-server-security-updates-delegated";
    let r = a
        .send(
            "PUT",
            "/api/v1/applicability",
            Some(json!({"answers": {q: true}, "basis": "保守契約書 第12条", "version": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rows = mamori_compliance::catalogs().unwrap().into_iter().find(|c| c.catalog.id == "mds-7.0").unwrap().items;
    let answers: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| json!({"id": row.id, "answer": if i == 2 { "いいえ" } else { "はい" }, "remark": ""}))
        .collect();
    let r = a
        .post(
            "/api/v1/vendor-disclosures",
            json!({"vendor": "株式会社カルテ工房", "product": "クラウド電子カルテ", "product_version": "", "catalog": "mds-7.0",
                   "jahis_version": "JAHIS 24-101", "received_on": "2026-10-01", "notes": "", "answers": answers}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = a
        .post(
            "/api/v1/registers/bcp",
            json!({"fields": {"title": "事業継続計画", "version": "第2版", "review_due": "2026-01-31"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let store = fx.state.store.as_ref();
    let view = mamori_server::assessments::AssessmentView {
        assessment: store.assessment(fx.institution, id).await.unwrap().unwrap(),
        items: store.assessment_items(fx.institution, id).await.unwrap(),
        evidence: store.evidence(fx.institution, id).await.unwrap(),
        live: Vec::new(),
    };
    let now = time::macros::datetime!(2026-11-25 09:00 UTC);
    let input = mamori_server::reports::input(store, fx.institution, &view, now).await.unwrap();
    let section =
        |title: &str| input.sections.iter().find(|s| s.title.contains(title)).unwrap_or_else(|| panic!("{title}"));
    let applicability = section("適用判断");
    assert_eq!(applicability.rows[0][2], "保守契約書 第12条");
    assert!(applicability.rows[0][1].contains("保守委託機関"));
    let risks = section("リスク記録");
    assert_eq!(risks.rows.len(), 1, "one いいえ, one risk");
    assert_eq!(
        (risks.rows[0][0].as_str(), risks.rows[0][2].as_str()),
        ("株式会社カルテ工房 クラウド電子カルテ", "未記入")
    );
    let registers = section("台帳・一覧");
    assert!(registers.rows.iter().any(|r| r[0].contains("BCP") && r[1] == "1" && r[2] == "1"), "{:?}", registers.rows);
    let todo = section("要対応事項");
    assert_eq!(todo.rows[0][1], "事業継続計画");
    // The PDF is made with them.
    let (status, _, pdf) = download(&fx, &a, &format!("/api/v1/assessments/{id}/report.pdf")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(pdf.starts_with(b"%PDF-"));
}
