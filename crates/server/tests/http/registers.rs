//! The compliance workbench's registers (台帳・一覧): entries of several registers created,
//! changed by version (a stale change refused), retired; a file imported whole, and every kind
//! of bad file refused with its line and nothing written; auditors read but do not write; the
//! pages; the same scenario on PostgreSQL.

use super::record_pages::page_login;
use super::session::{Client, account_with, login};
use super::{Fixture, drop_postgres, fixture, fixture_on_postgres};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use mamori_core::audit::{AuditQuery, Outcome};
use mamori_core::{JobType, Role};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt as _;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Posts a file to a register's import as `content_type`.
async fn upload(
    fx: &Fixture,
    client: &Client<'_>,
    kind: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::post(format!("/api/v1/registers/{kind}/import")).header("content-type", content_type);
    if let Some(c) = &client.cookie {
        req = req.header("cookie", c);
    }
    let response = mamori_server::app(fx.state.clone()).oneshot(req.body(Body::from(bytes)).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn count(a: &mut Client<'_>, kind: &str) -> usize {
    let r = a.get(&format!("/api/v1/registers/{kind}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.as_array().unwrap().len()
}

async fn denied(fx: &Fixture, action: &str, who: mamori_core::UserId) -> usize {
    let q = AuditQuery {
        action: Some(action.into()),
        actor: Some(who),
        outcome: Some(Outcome::Denied),
        limit: 10,
        ..Default::default()
    };
    fx.state.store.audit_search(fx.institution, &q).await.unwrap().len()
}

async fn scenario(fx: &Fixture) {
    let admin =
        account_with(fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let auditor = account_with(fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let mut a = login(fx, &admin).await;

    // The registers with their schemas.
    let r = a.get("/api/v1/registers").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let kinds: Vec<&str> = r.body.as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["system", "demarcation", "asset", "byod", "iot", "contact", "bcp", "third_party", "patient_notice"]
    );
    assert_eq!(r.body[1]["fields"][0]["refers_to"], "system");

    // The system inventory (the guideline's example table), a demarcation, a contact, a BCP
    // past its review date.
    let r = a
        .post(
            "/api/v1/registers/system",
            json!({"fields": {"name": "電子カルテシステム", "vendor": "××システム株式会社", "product": "〇〇クラウド電子カルテ",
                              "location": "クラウド", "delegated_work": "クラウドサービスの導入\nクラウドサービスの運用"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let emr = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["version"], 1);
    let r = a
        .post(
            "/api/v1/registers/demarcation",
            json!({"fields": {"system": emr, "item": "hoshu-7.0/9-4", "party": "shared", "basis": "SLA 第5条"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let again = a
        .post(
            "/api/v1/registers/demarcation",
            json!({"fields": {"system": emr, "item": "hoshu-7.0/9-4", "party": "vendor"}}),
        )
        .await;
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("duplicate_entry")));
    let r = a
        .post(
            "/api/v1/registers/contact",
            json!({"fields": {"organization": "厚生労働省 医政局", "category": "mhlw", "phone": "03-0000-0000", "reporting_duty": "yes"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = a
        .post(
            "/api/v1/registers/bcp",
            json!({"fields": {"title": "事業継続計画", "version": "1.0", "review_due": "2026-10-31"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["attention_ja"].as_str().unwrap().contains("見直し期限"), "{}", r.body);
    let bcp = r.body["id"].as_str().unwrap().to_owned();
    for (kind, bad) in [
        ("system", json!({"fields": {"name": "x"}})),
        ("system", json!({"fields": {"name": "x", "vendor": "y", "colour": "red"}})),
        ("bcp", json!({"fields": {"title": "x", "version": "1", "review_due": "2026/10/31"}})),
        ("contact", json!({"fields": {"organization": "x", "category": "fire"}})),
        ("demarcation", json!({"fields": {"system": emr, "item": "hoshu-7.0/99-9", "party": "vendor"}})),
        ("demarcation", json!({"fields": {"system": bcp, "item": "hoshu-7.0/9-5", "party": "vendor"}})),
    ] {
        let r = a.post(&format!("/api/v1/registers/{kind}"), bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    assert_eq!(a.get("/api/v1/registers/ledger").await.status, StatusCode::NOT_FOUND);

    // A change is the next version; a stale one is refused; retiring is a version too.
    let change =
        json!({"version": 1, "fields": {"title": "事業継続計画", "version": "2.0", "review_due": "2027-10-31"}});
    let r = a.send("PUT", &format!("/api/v1/registers/bcp/{bcp}"), Some(change.clone())).await;
    assert_eq!((r.status, r.body["version"].as_u64()), (StatusCode::OK, Some(2)), "{}", r.body);
    assert!(r.body["attention_ja"].is_null());
    let r = a.send("PUT", &format!("/api/v1/registers/bcp/{bcp}"), Some(change)).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stale_version")));
    let r = a.send("PUT", &format!("/api/v1/registers/bcp/{bcp}"), Some(json!({"version": 2, "retire": ""}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = a
        .send("PUT", &format!("/api/v1/registers/bcp/{bcp}"), Some(json!({"version": 2, "retire": "第3版に差し替え"})))
        .await;
    assert_eq!((r.status, r.body["retired"].as_str()), (StatusCode::OK, Some("第3版に差し替え")), "{}", r.body);
    let r = a
        .send(
            "PUT",
            &format!("/api/v1/registers/bcp/{bcp}"),
            Some(json!({"version": 3, "fields": {"title": "x", "version": "1", "review_due": "2027-01-01"}})),
        )
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("retired")));
    let history = a.get(&format!("/api/v1/registers/bcp/{bcp}/history")).await;
    let versions: Vec<u64> = history.body.as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(
        a.get(&format!("/api/v1/registers/system/{bcp}")).await.status,
        StatusCode::NOT_FOUND,
        "another register"
    );

    // Import: a good file loads whole; every kind of bad file is refused with its line, and
    // nothing of it is written.
    let header = "system,item,party,basis,notes";
    let good = format!(
        "{header}\n{emr},hoshu-7.0/9-5,vendor,SLA 第6条,\n{emr},hoshu-7.0/8-2,institution,,\"院内の連絡体制, 事業者へ依頼\"\n"
    );
    let (status, body) = upload(fx, &a, "demarcation", "text/csv", good.into_bytes()).await;
    assert_eq!((status, body["added"].as_u64()), (StatusCode::CREATED, Some(2)), "{body}");
    assert_eq!(count(&mut a, "demarcation").await, 3);
    let bad_files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong header", format!("system,item,party\n{emr},hoshu-7.0/9-1,vendor\n").into_bytes(), "line 1: the header"),
        (
            "unknown item",
            format!("{header}\n{emr},hoshu-7.0/9-1,vendor,,\n{emr},hoshu-7.0/77-1,vendor,,\n").into_bytes(),
            "line 3: item: not an item",
        ),
        (
            "invalid choice",
            format!("{header}\n{emr},hoshu-7.0/9-1,nobody,,\n").into_bytes(),
            "line 2: party: one of: institution, vendor, shared",
        ),
        (
            "duplicate row",
            format!("{header}\n{emr},hoshu-7.0/9-1,vendor,,\n{emr},hoshu-7.0/9-1,shared,,\n").into_bytes(),
            "line 3: the same system, item as line 2",
        ),
        (
            "duplicate of a live entry",
            format!("{header}\n{emr},hoshu-7.0/9-1,vendor,,\n{emr},hoshu-7.0/9-4,vendor,,\n").into_bytes(),
            "line 3: an entry with the same system, item exists",
        ),
        (
            "Shift_JIS",
            [format!("{header}\n{emr},hoshu-7.0/9-1,vendor,").as_bytes(), b"\x8c\x5f\x96\xf1\n"].concat(),
            "line 2: not UTF-8",
        ),
    ];
    for (what, bytes, expected) in bad_files {
        let (status, body) = upload(fx, &a, "demarcation", "text/csv", bytes).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT, "{what}: {status} {body}");
        let en = body["error"]["message_en"].as_str().unwrap_or_default();
        assert!(en.starts_with(expected), "{what}: {expected} in {body}");
        assert_eq!(count(&mut a, "demarcation").await, 3, "{what}: nothing imported");
    }
    let (status, _) = upload(fx, &a, "demarcation", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // An xlsx workbook: read like the CSV; a bad cell refuses it by its row.
    let sheet = |rows: &[[&str; 8]]| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        let head = ["name", "maker", "model", "location", "network", "firmware", "support_ends_on", "notes"];
        for (c, h) in head.iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
        book.save_to_buffer().unwrap()
    };
    let bad = sheet(&[["血圧計", "A社", "BP-1", "2F", "院内LAN", "1.2", "2025/12/31", ""]]);
    let (status, body) = upload(fx, &a, "iot", XLSX, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message_en"].as_str().unwrap().starts_with("line 2: support_ends_on"), "{body}");
    assert_eq!(count(&mut a, "iot").await, 0);
    let good = sheet(&[
        ["血圧計", "A社", "BP-1", "2F", "院内LAN", "1.2", "2025-12-31", ""],
        ["心電計", "B社", "ECG-9", "外来", "", "", "", "貸出用"],
    ]);
    let (status, body) = upload(fx, &a, "iot", XLSX, good).await;
    assert_eq!((status, body["added"].as_u64()), (StatusCode::CREATED, Some(2)), "{body}");
    let iot = a.get("/api/v1/registers/iot").await;
    let attention: Vec<(&str, bool)> = iot
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["fields"]["name"].as_str().unwrap(), e["attention_ja"].is_string()))
        .collect();
    assert!(attention.contains(&("血圧計", true)) && attention.contains(&("心電計", false)), "{attention:?}");

    // Export: the CSV has the import's header and the live entries; JSON has every entry.
    let csv = a.get("/api/v1/registers/bcp/export?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.text.starts_with("\u{FEFF}title,version,approved_on,review_due,document,owner,notes\r\n"),
        "{}",
        csv.text
    );
    assert_eq!(csv.text.lines().count(), 1, "the retired BCP is not in the CSV");
    let csv = a.get("/api/v1/registers/demarcation/export").await;
    assert!(csv.text.contains("\"院内の連絡体制, 事業者へ依頼\""), "{}", csv.text);
    let json = a.get("/api/v1/registers/bcp/export?format=json").await;
    assert_eq!(json.body[0]["retired"], "第3版に差し替え");
    assert_eq!(a.get("/api/v1/registers/bcp/export?format=pdf").await.status, StatusCode::BAD_REQUEST);

    // Events name the register, entry and version, never a value.
    let q = AuditQuery {
        action: Some("compliance.register.write".into()),
        outcome: Some(Outcome::Allowed),
        limit: 50,
        ..Default::default()
    };
    let writes = fx.state.store.audit_search(fx.institution, &q).await.unwrap();
    assert_eq!(writes.len(), 6, "4 created, a change, a retirement");
    let text: String = writes.iter().map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned()).collect();
    assert!(text.contains("\"kind\":\"bcp\"") && text.contains("\"version\":\"3\""), "{text}");
    assert!(!text.contains("事業継続計画") && !text.contains("03-0000-0000"), "no field values in events");
    let q = AuditQuery {
        action: Some("compliance.register.import".into()),
        outcome: Some(Outcome::Allowed),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(fx.state.store.audit_search(fx.institution, &q).await.unwrap().len(), 2, "refused imports add none");

    // An auditor reads but does not write; the refusals are denied events.
    fx.advance(Duration::from_secs(31));
    let mut au = login(fx, &auditor).await;
    assert_eq!(au.get("/api/v1/registers/demarcation").await.status, StatusCode::OK);
    let r = au.post("/api/v1/registers/system", json!({"fields": {"name": "x", "vendor": "y"}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (status, _) = upload(fx, &au, "iot", "text/csv", b"name\nx\n".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(denied(fx, "compliance.register.write", auditor.id).await, 1);
    assert_eq!(denied(fx, "compliance.register.import", auditor.id).await, 1);
    assert_eq!(count(&mut a, "system").await, 1);
}

#[tokio::test]
async fn registers_are_versioned_imported_whole_and_read_by_auditors() {
    let fx = fixture("registers").await;
    scenario(&fx).await;
}

#[tokio::test]
async fn postgres_registers_are_versioned_imported_whole_and_read_by_auditors() {
    let Some((fx, url, db)) = fixture_on_postgres("registers").await else { return };
    scenario(&fx).await;
    fx.state.store.close().await;
    drop_postgres(&url, &db).await;
}

#[tokio::test]
async fn the_manager_keeps_the_registers_on_the_pages() {
    let fx = fixture("register-pages").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut b = page_login(&fx, &admin).await;
    assert!(b.get("/compliance").await.html.contains("href=\"/compliance/registers\""));
    let overview = b.get("/compliance/registers").await;
    assert!(overview.html.contains("id=\"register-demarcation\"") && overview.html.contains("href=\"/admin/users\""));

    let page = b.get("/compliance/registers/system").await;
    assert!(page.html.contains("name=\"delegated_work\""), "a form from the schema");
    let csrf = page.csrf();
    let added = b
        .post(
            "/compliance/registers/system",
            &[
                ("csrf", &csrf),
                ("name", "電子カルテシステム"),
                ("vendor", "××システム株式会社"),
                ("location", "クラウド"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let bad = b.post("/compliance/registers/system", &[("csrf", &csrf), ("name", "レセコン"), ("vendor", "")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("vendor") && bad.html.contains("value=\"レセコン\""), "the form keeps what was typed");
    let systems =
        fx.state.store.register_entries(fx.institution, mamori_core::register::RegisterKind::System).await.unwrap();
    assert_eq!(systems.len(), 1);
    let system = systems[0].id.to_string();

    // The demarcation's form offers the systems and the checklist's items; its matrix shows
    // the party per item and system.
    let page = b.get("/compliance/registers/demarcation").await;
    assert!(page.html.contains(&format!("value=\"{system}\"")) && page.html.contains("value=\"hoshu-7.0/9-4\""));
    let added = b
        .post(
            "/compliance/registers/demarcation",
            &[("csrf", &csrf), ("system", &system), ("item", "hoshu-7.0/9-4"), ("party", "vendor")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let page = b.get("/compliance/registers/demarcation").await;
    assert!(page.html.contains("id=\"matrix\"") && page.html.contains("<th>電子カルテシステム</th>"), "{}", page.html);
    assert!(page.html.contains("<td class=\"party\">事業者</td>"));

    // An entry's page: change, a stale change, retire, the history.
    let at = format!("/compliance/registers/system/{system}");
    let entry = b.get(&at).await;
    let saved = b
        .post(
            &at,
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("name", "電子カルテシステム"),
                ("vendor", "××システム株式会社"),
                ("version_", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::BAD_REQUEST, "an unknown field is refused: {}", saved.html);
    let saved = b
        .post(&at, &[("csrf", &csrf), ("version", "1"), ("name", "電子カルテシステム"), ("vendor", "△△株式会社")])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let stale = b.post(&at, &[("csrf", &csrf), ("version", "1"), ("name", "x"), ("vendor", "y")]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(entry.html.contains("id=\"retire-entry\""));
    let retired = b.post(&format!("{at}/retire"), &[("csrf", &csrf), ("version", "2"), ("reason", "契約終了")]).await;
    assert_eq!(retired.status, StatusCode::SEE_OTHER, "{}", retired.html);
    let entry = b.get(&at).await;
    assert!(entry.html.contains("id=\"retired\"") && !entry.html.contains("id=\"change-entry\""));
    assert_eq!(entry.html.matches("class=\"version\"").count(), 3);

    // Import through the page (multipart): a bad file is shown with its line, a good one loads.
    let page = b.get("/compliance/registers/contact").await;
    let csrf = page.csrf();
    let head = "organization,category,person,phone,email,when,reporting_duty,notes";
    let bad = format!("{head}\n警視庁 サイバー犯罪相談窓口,police,,,,,maybe,\n");
    let refused = b
        .multipart("/compliance/registers/contact/import", &[("csrf", &csrf)], ("file", "c.csv", bad.as_bytes()))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.html.contains("2行目: reporting_duty"), "{}", refused.html);
    let good = format!("{head}\n警視庁 サイバー犯罪相談窓口,police,,,,,yes,\n");
    let loaded = b
        .multipart("/compliance/registers/contact/import", &[("csrf", &csrf)], ("file", "c.csv", good.as_bytes()))
        .await;
    assert_eq!(loaded.status, StatusCode::SEE_OTHER);
    assert!(b.get("/compliance/registers/contact").await.html.contains("警視庁 サイバー犯罪相談窓口"));

    let mut c = page_login(&fx, &clerk).await;
    assert_eq!(c.request("GET", "/compliance/registers", None).await.status, StatusCode::FORBIDDEN);
}
