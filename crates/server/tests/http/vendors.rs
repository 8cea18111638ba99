//! Vendors' disclosures (MDS/SDS) over the API and on the pages: two vendors recorded (one by
//! JSON, one by importing the filled blank form), a risk record opened for every いいえ and
//! filled in (a stale change refused), a successor disclosure superseding the first, every kind
//! of bad import refused with its line and nothing recorded, auditors reading but not writing;
//! and the same on PostgreSQL.

use super::record_pages::page_login;
use super::session::{Account, Client, account_with, login};
use super::{Fixture, fixture};
use axum::http::StatusCode;
use mamori_core::audit::{AuditQuery, Outcome};
use mamori_core::{JobType, Role};
use serde_json::{Value, json};
use std::time::Duration;

fn rows(catalog: &str) -> Vec<mamori_compliance::Item> {
    mamori_compliance::catalogs().unwrap().into_iter().find(|c| c.catalog.id == catalog).unwrap().items
}

/// Every row of `catalog` answered: いいえ for the ids in `no`, 対象外 for the last row, はい
/// for the rest.
fn answers(catalog: &str, no: &[&str]) -> Vec<Value> {
    let all = rows(catalog);
    let last = all.len() - 1;
    all.iter()
        .enumerate()
        .map(|(i, r)| {
            let answer = if no.contains(&r.id.as_str()) {
                "いいえ"
            } else if i == last {
                "対象外"
            } else {
                "はい"
            };
            json!({"id": r.id, "answer": answer, "remark": if answer == "いいえ" { "対応予定なし" } else { "" }})
        })
        .collect()
}

/// The blank form as downloaded, filled in: いいえ for the ids in `no`, はい for the rest.
fn fill(form: &str, no: &[&str]) -> String {
    let mut out = String::new();
    for (i, line) in form.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let id = line.split(',').next().unwrap().trim_matches('"');
            let answer = if no.contains(&id) { "いいえ" } else { "はい" };
            out.push_str(line.strip_suffix(",,").unwrap());
            out.push_str(&format!(",{answer},"));
        }
        out.push('\n');
    }
    out
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn header(vendor: &str, catalog: &str) -> Value {
    json!({"vendor": vendor, "product": "クラウド型電子カルテ", "product_version": "5.2", "catalog": catalog,
           "jahis_version": "JAHIS 24-101", "received_on": "2026-10-01"})
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v.as_object_mut().unwrap().insert(key.to_owned(), value);
    v
}

async fn denied(fx: &Fixture, action: &str, who: &Account) -> usize {
    let q = AuditQuery {
        action: Some(action.into()),
        actor: Some(who.id),
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
    let clerk = account_with(fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut a = login(fx, &admin).await;

    // Vendor A's MDS, answered as JSON: two いいえ open two risk records.
    let mds_no = ["mds-7.0/11", "mds-7.0/21+21.1+21.2"];
    let r = a
        .post(
            "/api/v1/vendor-disclosures",
            with(header("A社", "mds-7.0"), "answers", json!(answers("mds-7.0", &mds_no))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["yes"].as_u64(), r.body["no"].as_u64(), r.body["not_applicable"].as_u64()),
        (Some(38), Some(2), Some(1))
    );
    let a_id = r.body["id"].as_str().unwrap().to_owned();
    let detail = a.get(&format!("/api/v1/vendor-disclosures/{a_id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["answers"].as_array().unwrap().len(), 41);
    assert_eq!(detail.body["answers"][0]["text"], rows("mds-7.0")[0].text, "answers carry the row's text");
    let risks = detail.body["risks"].as_array().unwrap();
    assert_eq!(risks.iter().map(|r| r["item"].as_str().unwrap()).collect::<Vec<_>>(), mds_no);
    assert!(risks.iter().all(|r| r["status"] == "open" && r["version"] == 1 && r["status_ja"] == "未記入"));

    // Vendor B's SDS, imported from the blank form filled in.
    let form = a.get("/api/v1/vendor-disclosures/template?catalog=sds-7.0&format=csv").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert!(form.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(form.text.starts_with("\u{feff}id,number,text,answer,remark\n"));
    assert_eq!(form.text.lines().count(), 1 + 58);
    let sds_no = [rows("sds-7.0")[3].id.clone()];
    let filled = fill(form.text.trim_start_matches('\u{feff}'), &[sds_no[0].as_str()]);
    let r = a
        .post(
            "/api/v1/vendor-disclosures/import",
            with(header("B社", "sds-7.0"), "file", json!(b64(filled.as_bytes()))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["yes"].as_u64(), r.body["no"].as_u64(), r.body["risks_open"].as_u64()),
        (Some(57), Some(1), Some(1))
    );
    let b_id = r.body["id"].as_str().unwrap().to_owned();

    // A risk filled in: complete; the same version again is stale; bad fields refused.
    let risk = format!("/api/v1/vendor-disclosures/{a_id}/risks/11");
    let change = json!({"justification": "非常時は紙カルテで運用し、復旧後に入力する", "owner": admin.id.to_string(),
                        "mitigation": "紙の様式を診察室に常備", "expires_on": "2099-03-31", "version": 1});
    let r = a.send("PUT", &risk, Some(change.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["version"].as_u64(), r.body["status"].as_str()), (Some(2), Some("complete")));
    assert_eq!(a.send("PUT", &risk, Some(change.clone())).await.status, StatusCode::CONFLICT);
    let past = with(with(change.clone(), "version", json!(2)), "expires_on", json!("2020-03-31"));
    let r = a
        .send(
            "PUT",
            &format!("/api/v1/vendor-disclosures/{a_id}/risks/21+21.1+21.2"),
            Some(with(past, "version", json!(1))),
        )
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("expired")), "{}", r.body);
    for bad in [
        with(change.clone(), "owner", json!("not-a-user")),
        with(change.clone(), "owner", json!(uuid::Uuid::nil().to_string())),
        with(change.clone(), "expires_on", json!("2099/03/31")),
        with(change.clone(), "justification", json!("あ".repeat(4001))),
    ] {
        let r = a.send("PUT", &risk, Some(with(bad, "version", json!(2)))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let yes_row = format!("/api/v1/vendor-disclosures/{a_id}/risks/3");
    assert_eq!(
        a.send("PUT", &yes_row, Some(with(change.clone(), "version", json!(1)))).await.status,
        StatusCode::NOT_FOUND
    );
    let list = a.get("/api/v1/vendor-disclosures").await;
    let first = list.body.as_array().unwrap().iter().find(|d| d["id"] == a_id.as_str()).unwrap().clone();
    assert_eq!(
        (first["risks_open"].as_u64(), first["risks_complete"].as_u64(), first["risks_expired"].as_u64()),
        (Some(0), Some(1), Some(1))
    );

    // Every kind of bad import is refused with its line and reason; nothing is recorded.
    let before = a.get("/api/v1/vendor-disclosures").await.body;
    let mds_form = a.get("/api/v1/vendor-disclosures/template?catalog=mds-7.0&format=csv").await.text;
    let good = fill(mds_form.trim_start_matches('\u{feff}'), &[]);
    let lines: Vec<&str> = good.lines().collect();
    let without =
        |n: usize| lines.iter().enumerate().filter(|(i, _)| *i != n).map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
    let replace = |n: usize, with: &str| {
        lines.iter().enumerate().map(|(i, l)| if i == n { with } else { *l }).collect::<Vec<_>>().join("\n")
    };
    let mut sjis = lines[..3].join("\n").into_bytes();
    sjis.extend_from_slice(b"\nmds-7.0/7,,,\x82\xcd\x82\xa2,\n");
    let mds = rows("mds-7.0");
    let twice = format!("line 43: {} is answered twice", mds[0].id);
    let missing = format!("1 rows are not answered: {}", mds[4].id);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (replace(0, "id,answer").into_bytes(), "line 1: the header must be"),
        (replace(2, "mds-7.0/999,999,x,はい,").into_bytes(), "line 3: id: not a row of this form"),
        (replace(2, "sds-7.0/3,3,x,はい,").into_bytes(), "line 3: id: not a row of this form"),
        (replace(4, "mds-7.0/8,8,x,たぶん,").into_bytes(), "line 5: answer: one of はい"),
        (format!("{good}{}\n", lines[1]).into_bytes(), &twice),
        (without(5).into_bytes(), &missing),
        (replace(3, "mds-7.0/7,7,x").into_bytes(), "line 4: 3 columns instead of 5"),
        (sjis, "line 4: not UTF-8"),
        (b"PK\x03\x04not really a workbook".to_vec(), "not a readable xlsx file"),
    ];
    for (bytes, reason) in cases {
        let r = a
            .post("/api/v1/vendor-disclosures/import", with(header("C社", "mds-7.0"), "file", json!(b64(&bytes))))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{reason}: {}", r.body);
        let message = r.body["error"]["message_en"].as_str().unwrap_or_default().to_owned();
        assert!(r.text.contains(reason), "{reason}: {}", r.text);
        assert!(!message.contains("たぶん"), "the value is not echoed back");
    }
    for bad in [
        with(header("C社", "hoshu-7.0"), "file", json!(b64(good.as_bytes()))),
        with(header("", "mds-7.0"), "file", json!(b64(good.as_bytes()))),
        with(header("C社", "mds-7.0"), "file", json!("%%%not base64")),
        with(with(header("C社", "mds-7.0"), "received_on", json!("")), "file", json!(b64(good.as_bytes()))),
    ] {
        assert_eq!(a.post("/api/v1/vendor-disclosures/import", bad).await.status, StatusCode::BAD_REQUEST);
    }
    let short = answers("mds-7.0", &[]).into_iter().skip(1).collect::<Vec<_>>();
    let r = a.post("/api/v1/vendor-disclosures", with(header("C社", "mds-7.0"), "answers", json!(short))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains(&mds[0].id), "the missing row is named: {}", r.text);
    assert_eq!(a.get("/api/v1/vendor-disclosures").await.body, before, "nothing was recorded");

    // The xlsx form: every row, the blank answers refused by line until filled.
    let xlsx = mamori_server::vendors::template_xlsx("sds-7.0").unwrap();
    let read = mamori_core::table::read(&xlsx, mamori_core::table::Format::Xlsx, &mamori_core::vendor::TEMPLATE_HEADER)
        .unwrap();
    assert_eq!(read.len(), 58);
    let r =
        a.post("/api/v1/vendor-disclosures/import", with(header("C社", "sds-7.0"), "file", json!(b64(&xlsx)))).await;
    assert!(r.text.contains("line 2: answer:"), "{}", r.text);

    // A new disclosure of vendor A's MDS supersedes the first; the first and its risks stay.
    let r = a
        .post("/api/v1/vendor-disclosures", with(header("A社", "mds-7.0"), "answers", json!(answers("mds-7.0", &[]))))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["generation"].as_u64(), r.body["current"].as_bool()), (Some(2), Some(true)));
    let old = a.get(&format!("/api/v1/vendor-disclosures/{a_id}")).await;
    assert_eq!(old.body["disclosure"]["current"], false);
    assert_eq!(old.body["risks"][0]["version"], 2, "the old risks stay readable");
    assert_eq!(a.get("/api/v1/vendor-disclosures").await.body.as_array().unwrap().len(), 3);

    // Auditors read and cannot write; a clerk cannot read. Refusals are denied events.
    fx.advance(Duration::from_secs(31));
    let mut au = login(fx, &auditor).await;
    assert_eq!(au.get(&format!("/api/v1/vendor-disclosures/{b_id}")).await.status, StatusCode::OK);
    assert_eq!(au.get("/api/v1/vendor-disclosures").await.status, StatusCode::OK);
    let r = au
        .post("/api/v1/vendor-disclosures", with(header("D社", "mds-7.0"), "answers", json!(answers("mds-7.0", &[]))))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = au
        .post(
            "/api/v1/vendor-disclosures/import",
            with(header("D社", "sds-7.0"), "file", json!(b64(filled.as_bytes()))),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = au.send("PUT", &risk, Some(with(change.clone(), "version", json!(2)))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut c = login(fx, &clerk).await;
    assert_eq!(c.get("/api/v1/vendor-disclosures").await.status, StatusCode::FORBIDDEN);
    for (action, who) in [
        ("compliance.vendor.record", &auditor),
        ("compliance.vendor.import", &auditor),
        ("compliance.vendor.risk", &auditor),
        ("compliance.vendor.read", &clerk),
    ] {
        assert_eq!(denied(fx, action, who).await, 1, "{action}");
    }
    // The trail has the writes, with ids and never the vendor's text.
    let q = AuditQuery {
        action: Some("compliance.vendor.import".into()),
        outcome: Some(Outcome::Allowed),
        limit: 10,
        ..Default::default()
    };
    let events = fx.state.store.audit_search(fx.institution, &q).await.unwrap();
    assert_eq!(events.len(), 1);
    let text = String::from_utf8_lossy(&events[0].1).into_owned();
    assert!(text.contains(&b_id) && !text.contains("B社"), "{text}");
    let mut anonymous = Client::new(fx);
    assert_eq!(anonymous.get("/api/v1/vendor-disclosures").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn two_vendors_are_recorded_with_a_risk_record_for_every_no() {
    let fx = fixture("vendors").await;
    scenario(&fx).await;
}

/// The same on PostgreSQL (run by `.ci/run`'s PostgreSQL phase).
#[tokio::test]
async fn postgres_two_vendors_are_recorded_with_a_risk_record_for_every_no() {
    let Some((fx, server_url, db)) = super::fixture_on_postgres("postgres-vendors").await else { return };
    scenario(&fx).await;
    drop(fx);
    super::drop_postgres(&server_url, &db).await;
}

#[tokio::test]
async fn the_manager_records_vendors_and_their_risks_on_the_pages() {
    let fx = fixture("vendor-pages").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let mut b = page_login(&fx, &admin).await;
    assert!(b.get("/compliance").await.html.contains("href=\"/compliance/vendors\" id=\"vendors-link\""));
    let list = b.get("/compliance/vendors").await;
    assert!(list.html.contains("まだ開示書はありません"));
    assert!(list.html.contains("/compliance/vendors/template?catalog=mds-7.0&amp;format=xlsx"));

    // By form: the MDS rows, one select each.
    let form = b.get("/compliance/vendors/new?catalog=mds-7.0").await;
    assert_eq!(form.html.matches("<select name=\"answer:mds-7.0/").count(), 41);
    let csrf = form.csrf();
    let all = rows("mds-7.0");
    let mut fields: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.clone()),
        ("catalog".into(), "mds-7.0".into()),
        ("vendor".into(), "A社".into()),
        ("product".into(), "診療所向け電子カルテ".into()),
        ("product_version".into(), "8".into()),
        ("jahis_version".into(), "JAHIS 24-101".into()),
        ("received_on".into(), "2026-10-01".into()),
        ("notes".into(), String::new()),
    ];
    for r in &all {
        let answer = if r.id == "mds-7.0/3" { "いいえ" } else { "はい" };
        // The test browser encodes values only: a browser sends the '+' of an ID as %2B.
        let key = r.id.replace('+', "%2B");
        fields.push((format!("answer:{key}"), answer.into()));
        fields.push((format!("remark:{key}"), String::new()));
    }
    // One row left unanswered: the page says which, nothing is recorded.
    let mut missing = fields.clone();
    missing.retain(|(k, _)| k != "answer:mds-7.0/12.1");
    let as_refs = |f: &[(String, String)]| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
    let refs = as_refs(&missing);
    let refs: Vec<(&str, &str)> = refs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = b.post("/compliance/vendors", &refs).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
    assert!(page.html.contains("mds-7.0/12.1") && page.html.contains("value=\"A社\""), "{}", page.html);
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = b.post("/compliance/vendors", &refs).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let at = done.location.unwrap();
    let page = b.get(&at).await;
    assert_eq!(page.html.matches("class=\"answer\"").count(), 41);
    assert!(page.html.contains("id=\"risk-3\"") && page.html.contains("未記入"));

    // The risk filled in on its form.
    let saved = b
        .post(
            &format!("{at}/risks/3"),
            &[
                ("csrf", &page.csrf()),
                ("version", "1"),
                ("justification", "各端末でOSの画面ロックを設定して代替する"),
                ("owner", &admin.id.to_string()),
                ("mitigation", "スクリーンロック5分"),
                ("expires_on", "2099-03-31"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let stale = b.post(&format!("{at}/risks/3"), &[("csrf", &page.csrf()), ("version", "1")]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(b.get(&at).await.html.contains("class=\"card risk status-complete\" id=\"risk-3\""));

    // By import (multipart): a bad file is shown with its line, a good one recorded.
    let list = b.get("/compliance/vendors").await;
    let header = [
        ("csrf", list.csrf()),
        ("vendor", "B社".to_owned()),
        ("product", "オンライン予約".to_owned()),
        ("product_version", String::new()),
        ("catalog", "sds-7.0".to_owned()),
        ("jahis_version", "JAHIS 24-102".to_owned()),
        ("received_on", "2026-10-02".to_owned()),
        ("notes", String::new()),
    ];
    let header: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bad = b
        .multipart("/compliance/vendors/import", &header, ("file", "sds.csv", b"id,answer,remark\nsds-7.0/2,maybe,\n"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.html);
    assert!(bad.html.contains("2行目: answer:"), "{}", bad.html);
    let mut csv = String::from("id,answer,remark\n");
    for r in rows("sds-7.0") {
        csv.push_str(&format!("{},{},\n", r.number, if r.id == "sds-7.0/2" { "no" } else { "yes" }));
    }
    let good = b.multipart("/compliance/vendors/import", &header, ("file", "sds.csv", csv.as_bytes())).await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.html);
    let list = b.get("/compliance/vendors").await;
    assert_eq!(list.html.matches("class=\"vendor-row\"").count(), 2);
    assert!(list.html.contains("<td class=\"answer-counts\">57 / 1 / 0</td>"), "{}", list.html);
    let forged =
        b.multipart("/compliance/vendors/import", &[("csrf", "forged")], ("file", "sds.csv", csv.as_bytes())).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let xlsx = b.request("GET", "/compliance/vendors/template?catalog=mds-7.0&format=xlsx", None).await;
    assert_eq!(xlsx.status, StatusCode::OK);

    // An auditor reads the pages; the entry form and a save are refused.
    let mut au = page_login(&fx, &auditor).await;
    assert_eq!(au.request("GET", &at, None).await.status, StatusCode::OK);
    assert_eq!(au.request("GET", "/compliance/vendors/new?catalog=mds-7.0", None).await.status, StatusCode::FORBIDDEN);
    let page = au.get(&at).await;
    let r = au.post(&format!("{at}/risks/3"), &[("csrf", &page.csrf()), ("version", "2")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
