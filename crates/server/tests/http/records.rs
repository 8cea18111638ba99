//! Clinical records over the API: drafts, 確定, corrections and cancellations, proxy entry and
//! approval, the mix-up check, masters, devices, and the refusals of bad input (each refused,
//! audited, nothing changed). The same scenario runs on SQLite and on PostgreSQL.

use super::session::{Client, account_with, login};
use super::{Fixture, drop_postgres, fixture, fixture_on_postgres};
use axum::http::StatusCode;
use mamori_core::audit::{Actor, AuditQuery, Outcome};
use mamori_core::{JobType, Role};
use serde_json::{Value, json};
use std::time::Duration;

async fn load_master(fx: &Fixture) {
    mamori_server::masters::import(
        fx.state.store.as_ref(),
        fx.institution,
        mamori_core::master::SAMPLE_CSV.as_bytes(),
        Actor::Operator,
        fx.clock_now(),
    )
    .await
    .unwrap();
}

async fn register(c: &mut Client<'_>, number: &str, family: &str, family_kana: &str) -> String {
    let r = c
        .post(
            "/api/v1/patients",
            json!({"number": number, "family": family, "given": "太郎", "family_kana": family_kana,
                   "given_kana": "タロウ", "birth_date": "1960-05-05", "sex": "male"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn target(patient: &str) -> Value {
    json!({"patient": patient, "chart": patient})
}

/// How many events of `action` with `outcome` the institution's trail holds.
async fn count(fx: &Fixture, action: &str, outcome: Outcome) -> usize {
    let q =
        AuditQuery { action: Some(action.to_owned()), outcome: Some(outcome), limit: 1000, ..AuditQuery::default() };
    fx.state.store.audit_search(fx.institution, &q).await.unwrap().len()
}

async fn scenario(fx: &Fixture) {
    load_master(fx).await;
    let doctor = account_with(fx, fx.institution, "ishi", JobType::Doctor, &[Role::Doctor], true, false).await;
    let doctor2 = account_with(fx, fx.institution, "ishi2", JobType::Doctor, &[Role::Doctor], true, false).await;
    let clerk = account_with(fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let pharmacist =
        account_with(fx, fx.institution, "yaku", JobType::Pharmacist, &[Role::Pharmacist], true, false).await;
    let admin =
        account_with(fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let nurse = account_with(fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let mut d = login(fx, &doctor).await;
    let mut n = login(fx, &nurse).await;
    let mut a0 = login(fx, &admin).await;
    let p = register(&mut d, "2001", "佐藤", "サトウ").await;
    let other = register(&mut d, "2002", "鈴木", "スズキ").await;

    // A draft, edited by its author, then finalized: a leaf of the log.
    let note = json!({"s": "頭痛が続く", "o": "BP 150/92 mmHg", "a": "本態性高血圧症", "p": "経過観察"});
    let r = d
        .post(&format!("/api/v1/patients/{p}/records"), json!({"chart": p, "kind": "progress_note", "content": note}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["state"].as_str(), r.body["version"].as_i64()), (Some("draft"), Some(1)));
    let rec = r.body["record_id"].as_str().unwrap().to_owned();
    let mut edited = note.clone();
    edited["p"] = json!("アムロジピン5mg開始。2週後再診。");
    let body = json!({"patient": p, "chart": p, "content": edited});
    let r = d.send("PUT", &format!("/api/v1/records/{rec}/versions/1"), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Someone else's draft: neither edited nor finalized.
    fx.advance(Duration::from_secs(31));
    let mut d2 = login(fx, &doctor2).await;
    let r = d2.send("PUT", &format!("/api/v1/records/{rec}/versions/1"), Some(body.clone())).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_your_draft")));
    let r = d2.post(&format!("/api/v1/records/{rec}/versions/1/finalize"), target(&p)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The mix-up check: the chart of another patient.
    let r = d.post(&format!("/api/v1/records/{rec}/versions/1/finalize"), json!({"patient": p, "chart": other})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("patient_mismatch")));
    let r = d.post(&format!("/api/v1/records/{rec}/versions/1/finalize"), target(&other)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the record is not the other patient's");
    let r = d
        .post(
            &format!("/api/v1/patients/{p}/records"),
            json!({"chart": other, "kind": "progress_note", "content": note}),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "patient_mismatch");
    assert!(count(fx, "record.finalize", Outcome::Denied).await >= 2, "refusals are audited");
    assert_eq!(count(fx, "record.create", Outcome::Denied).await, 1);

    let head = fx.state.store.log_head(fx.institution).await.unwrap().size;
    let r = d.post(&format!("/api/v1/records/{rec}/versions/1/finalize"), target(&p)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "final");
    assert_eq!(r.body["content"]["p"], "アムロジピン5mg開始。2週後再診。");
    let leaf = r.body["leaf_index"].as_u64().unwrap();
    assert!(leaf >= head, "the finalized version is a new leaf");
    assert_eq!(r.body["finalized_by"], format!("user:{}", doctor.id));

    // No update path for a final version: every API refuses, nothing changes.
    let r = d.send("PUT", &format!("/api/v1/records/{rec}/versions/1"), Some(body.clone())).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("record_final")));
    let r = d.post(&format!("/api/v1/records/{rec}/versions/1/finalize"), target(&p)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = d.post(&format!("/api/v1/records/{rec}/versions/1/discard"), target(&p)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let stored = fx.state.store.record_version(fx.institution, rec.parse().unwrap(), 1).await.unwrap().unwrap();
    assert_eq!(stored.leaf_index, Some(leaf));

    // A correction is version 2 with its reason; the chart marks the record corrected.
    let mut corrected = edited.clone();
    corrected["o"] = json!("BP 148/90 mmHg");
    let r = d
        .post(
            &format!("/api/v1/records/{rec}/corrections"),
            json!({"patient": p, "chart": p, "from": 1, "reason": "血圧の転記誤り", "content": corrected}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["version"].as_i64(), r.body["change"].as_str()), (Some(2), Some("correction")));
    // A stale correction (from version 1 again) is refused.
    let r = d
        .post(
            &format!("/api/v1/records/{rec}/corrections"),
            json!({"patient": p, "chart": p, "from": 1, "reason": "再訂正", "content": note}),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "not_latest_final");
    let r = d
        .post(
            &format!("/api/v1/records/{rec}/corrections"),
            json!({"patient": p, "chart": p, "from": 2, "reason": "", "content": note}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a reason is required");
    let chart = d.get(&format!("/api/v1/patients/{p}/records")).await;
    assert_eq!(chart.status, StatusCode::OK, "{}", chart.body);
    let entry = &chart.body.as_array().unwrap()[0];
    assert_eq!((entry["corrected"].as_bool(), entry["shown"]["version"].as_i64()), (Some(true), Some(2)));
    let history = d.get(&format!("/api/v1/records/{rec}")).await;
    let versions = history.body.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["content"]["o"], "BP 150/92 mmHg", "the first version is kept as it was");
    assert_eq!(versions[1]["reason"], "血圧の転記誤り");
    let diff = d.get(&format!("/api/v1/records/{rec}/diff?from=1&to=2")).await;
    let lines: Vec<(String, String)> = diff
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["op"].as_str().unwrap().to_owned(), l["text"].as_str().unwrap().to_owned()))
        .collect();
    assert!(lines.contains(&("-".into(), "O: BP 150/92 mmHg".into())), "{lines:?}");
    assert!(lines.contains(&("+".into(), "O: BP 148/90 mmHg".into())), "{lines:?}");
    assert!(lines.contains(&(" ".into(), "S: 頭痛が続く".into())), "{lines:?}");

    // Cancellation is version 3; a cancelled record is not corrected any more.
    let r = d
        .post(
            &format!("/api/v1/records/{rec}/cancellations"),
            json!({"patient": p, "chart": p, "from": 2, "reason": "別患者の記録と判明"}),
        )
        .await;
    assert_eq!((r.status, r.body["change"].as_str()), (StatusCode::CREATED, Some("cancellation")), "{}", r.body);
    let r = d
        .post(
            &format!("/api/v1/records/{rec}/corrections"),
            json!({"patient": p, "chart": p, "from": 3, "reason": "x", "content": note}),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "record_cancelled");

    // Proxy entry: a clerk may write but not finalize; the record waits for the doctor named.
    fx.advance(Duration::from_secs(31));
    let mut c = login(fx, &clerk).await;
    let rx = json!({"items": [{"drug": "SD-0001", "dose": "1", "usage": "1日1回 朝食後", "days": 28}]});
    let r = c
        .post(&format!("/api/v1/patients/{p}/records"), json!({"chart": p, "kind": "prescription", "content": rx}))
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("proxy_doctor_required")));
    let r = c
        .post(
            &format!("/api/v1/patients/{p}/records"),
            json!({"chart": p, "kind": "prescription", "content": rx, "proxy_for": clerk.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the proxy doctor must be able to approve: {}", r.body);
    let r = c
        .post(
            &format!("/api/v1/patients/{p}/records"),
            json!({"chart": p, "kind": "prescription", "content": rx, "proxy_for": doctor.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["state"], "pending_approval");
    assert_eq!(r.body["content"]["items"][0]["drug"]["name"], "アムロジピン錠5mg", "the master entry as of today");
    let proxy = r.body["record_id"].as_str().unwrap().to_owned();
    let r = c.post(&format!("/api/v1/records/{proxy}/versions/1/approve"), target(&p)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the clerk cannot approve");
    let r = d2.post(&format!("/api/v1/records/{proxy}/versions/1/approve"), target(&p)).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_your_proxy_entry")));
    let queue = d.get("/api/v1/approvals").await;
    assert_eq!(queue.body.as_array().unwrap().len(), 1, "{}", queue.body);
    assert!(d2.get("/api/v1/approvals").await.body.as_array().unwrap().is_empty());
    fx.advance(Duration::from_secs(5));
    let r = d.post(&format!("/api/v1/records/{proxy}/versions/1/approve"), target(&p)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "final");
    assert_eq!(r.body["author"], format!("user:{}", clerk.id), "who entered it is kept");
    assert_eq!(r.body["finalized_by"], format!("user:{}", doctor.id), "and who approved it");
    assert_ne!(r.body["entered_at"], r.body["finalized_at"], "both times are kept");
    assert!(d.get("/api/v1/approvals").await.body.as_array().unwrap().is_empty());
    // A rejected entry stays, with the reason, and never becomes final.
    let r = c
        .post(
            &format!("/api/v1/patients/{p}/records"),
            json!({"chart": p, "kind": "document", "content": {"title": "診断書", "body": "上記の通り診断する。"}, "proxy_for": doctor.id.to_string()}),
        )
        .await;
    let doc = r.body["record_id"].as_str().unwrap().to_owned();
    let r = d
        .post(
            &format!("/api/v1/records/{doc}/versions/1/reject"),
            json!({"patient": p, "chart": p, "reason": "病名の記載漏れ"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = d.post(&format!("/api/v1/records/{doc}/versions/1/approve"), target(&p)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // A pharmacist may not write progress notes at all.
    fx.advance(Duration::from_secs(31));
    let mut ph = login(fx, &pharmacist).await;
    let r = ph
        .post(&format!("/api/v1/patients/{p}/records"), json!({"chart": p, "kind": "progress_note", "content": note}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Bad input: refused with the field named, audited, nothing written.
    let head = fx.state.store.log_head(fx.institution).await.unwrap().size;
    let denied_before = count(fx, "record.create", Outcome::Denied).await;
    for (bad, code) in [
        (json!({"chart": p, "kind": "progress_note", "content": {"s": "あ".repeat(4001)}}), "invalid_input"),
        (json!({"chart": p, "kind": "progress_note", "content": {"x": "y"}}), "invalid_input"),
        (json!({"chart": p, "kind": "surgery", "content": {}}), "invalid_input"),
        (
            json!({"chart": p, "kind": "prescription", "content": {"items": [{"drug": "SD-9999", "dose": "1", "usage": "u", "days": 7}]}}),
            "unknown_master_code",
        ),
        (
            json!({"chart": p, "kind": "prescription", "content": {"items": [{"drug": "SD-0001", "dose": "-1", "usage": "u", "days": 7}]}}),
            "invalid_input",
        ),
        (json!({"chart": "not-an-id", "kind": "progress_note", "content": note}), "invalid_input"),
        (json!({"kind": "progress_note", "content": note}), "invalid_input"),
    ] {
        let r = d.post(&format!("/api/v1/patients/{p}/records"), bad.clone()).await;
        assert_eq!(r.body["error"]["code"], code, "{bad}: {}", r.body);
        assert!(r.body["error"]["message_ja"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let after = fx.state.store.log_head(fx.institution).await.unwrap().size;
    assert_eq!(after - head, 7, "exactly one denied event per refusal, nothing else");
    assert_eq!(count(fx, "record.create", Outcome::Denied).await, denied_before + 7);
    let r = d
        .post(
            "/api/v1/patients/0b7a3c9e-1111-4222-8333-944455556666/records",
            json!({"chart": "0b7a3c9e-1111-4222-8333-944455556666", "kind": "progress_note", "content": note}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a patient of no institution of ours");

    // Finalizing without the permission: a nurse's draft, after the institution took the
    // nurse's finalize right away, is refused (and audited); the draft stays a draft.
    let r = n
        .post(&format!("/api/v1/patients/{p}/records"), json!({"chart": p, "kind": "progress_note", "content": note}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let nurse_draft = r.body["record_id"].as_str().unwrap().to_owned();
    let roles = a0.get("/api/v1/roles").await;
    let grants: Vec<Value> = roles.body.as_array().unwrap().iter().find(|r| r["role"] == "nurse").unwrap()["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["action"] != "finalize")
        .cloned()
        .collect();
    let r = a0.send("PUT", "/api/v1/roles/nurse", Some(json!({ "grants": grants }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = n.post(&format!("/api/v1/records/{nurse_draft}/versions/1/finalize"), target(&p)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let kept = fx.state.store.record_version(fx.institution, nurse_draft.parse().unwrap(), 1).await.unwrap().unwrap();
    assert_eq!(kept.state, mamori_core::record::VersionState::Draft);

    // A patient of another institution: not found, nothing written.
    let elsewhere = mamori_core::Institution {
        id: mamori_core::InstitutionId::generate(&mut rand_core::OsRng),
        name: mamori_core::InstitutionName::parse("別の医院").unwrap(),
        created_at: fx.clock_now(),
    };
    fx.state.store.create_institution(&elsewhere).await.unwrap();
    let mut other_clerk_c = {
        let other_clerk = account_with(fx, elsewhere.id, "betsu", JobType::Clerk, &[Role::Clerk], true, false).await;
        login(fx, &other_clerk).await
    };
    let foreign = register(&mut other_clerk_c, "2001", "田中", "タナカ").await;
    let theirs = fx.state.store.log_head(elsewhere.id).await.unwrap().size;
    let r = d
        .post(
            &format!("/api/v1/patients/{foreign}/records"),
            json!({"chart": foreign, "kind": "progress_note", "content": note}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(fx.state.store.log_head(elsewhere.id).await.unwrap().size, theirs, "nothing written there");
    assert!(fx.state.store.patient_record_versions(elsewhere.id, foreign.parse().unwrap()).await.unwrap().is_empty());

    // A master change never changes what a past record shows.
    let renamed =
        format!("{}\ndrug,SD-0001,アムロジピンOD錠5mg「新」,錠,,2020-04-01,\n", mamori_core::master::CSV_HEADER);
    let summary = mamori_server::masters::import(
        fx.state.store.as_ref(),
        fx.institution,
        renamed.as_bytes(),
        Actor::Operator,
        fx.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(summary.added, 1);
    let old = d.get(&format!("/api/v1/records/{proxy}")).await;
    assert_eq!(old.body[0]["content"]["items"][0]["drug"]["name"], "アムロジピン錠5mg");
    assert_eq!(old.body[0]["content"]["items"][0]["drug"]["version"], 1);
    let r = d
        .post(&format!("/api/v1/patients/{p}/records"), json!({"chart": p, "kind": "prescription", "content": rx}))
        .await;
    assert_eq!(r.body["content"]["items"][0]["drug"]["name"], "アムロジピンOD錠5mg「新」");
    assert_eq!(r.body["content"]["items"][0]["drug"]["version"], 2);
    let m = d.get("/api/v1/masters/drug?q=SD-0001").await;
    assert_eq!(m.body[0]["version"], 2, "{}", m.body);

    // Device data: registered by an administrator, final at once, as the device.
    let a = &mut a0;
    let r = a.post("/api/v1/devices", json!({"name": "生化学分析装置1"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let device = r.body["id"].as_str().unwrap().to_owned();
    assert!(a.get("/api/v1/devices").await.body[0]["token"].is_null(), "the token is shown once");
    let result = json!({"patient_number": "2001", "content": {"collected_on": "2026-11-25", "items": [{"item": "SL-0001", "value": "7.2", "flag": "H"}]}});
    let send_result = |token: String, body: Value| {
        let state = fx.state.clone();
        async move {
            use tower::ServiceExt as _;
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/api/v1/device/results")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            let resp = mamori_server::app(state).oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let (status, body) = send_result(token.clone(), result.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["state"].as_str(), body["finalized_by"].as_str()),
        (Some("final"), Some(format!("device:{device}").as_str()))
    );
    let (status, _) = send_result("wrong".into(), result.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send_result(token.clone(), json!({"patient_number": "2001", "content": {"collected_on": "2026-11-25", "items": [{"item": "SL-9", "value": "1"}]}})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_master_code")));
    assert_eq!(a.post(&format!("/api/v1/devices/{device}/revoke"), json!({})).await.status, StatusCode::NO_CONTENT);
    let (status, _) = send_result(token, result).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a revoked device sends nothing");

    // Printing and exporting are permissions of their own, audited: the doctor prints (a
    // default right) but exports only once the institution grants it.
    let print = d.get(&format!("/patients/{p}/chart/print")).await;
    assert_eq!(print.status, StatusCode::OK);
    assert!(print.text.contains("アムロジピン錠5mg") && print.text.contains("印刷者"), "{}", print.text);
    assert!(!print.text.contains("アムロジピンOD錠5mg「新」"), "a draft is not printed");
    assert_eq!(count(fx, "record.print", Outcome::Allowed).await, 1);
    let r = d.get(&format!("/api/v1/patients/{p}/records/export")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(count(fx, "record.export", Outcome::Denied).await, 1);
    let roles = a.get("/api/v1/roles").await;
    let mut grants = roles.body.as_array().unwrap().iter().find(|r| r["role"] == "doctor").unwrap()["grants"].clone();
    grants.as_array_mut().unwrap().push(json!({"action": "export", "category": "clinical_record"}));
    let r = a.send("PUT", "/api/v1/roles/doctor", Some(json!({ "grants": grants }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = d.get(&format!("/api/v1/patients/{p}/records/export")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let exported = r.body.as_array().unwrap();
    assert_eq!(exported.len(), 3, "the note's three final versions; prescriptions are not granted: {}", r.body);
    assert!(exported.iter().all(|v| v["state"] == "final" && v["category"] == "clinical_record"));
    assert_eq!(count(fx, "record.export", Outcome::Allowed).await, 1);

    // Every finalized version is a leaf that matches the stored version.
    let finals = fx.state.store.final_version_count(fx.institution).await.unwrap();
    assert_eq!(finals, 5, "note v1, v2, v3, the approved prescription, the device result");
    let key = &fx.state.keys.checkpoint;
    let report = mamori_server::checkpoints::verify(
        fx.state.store.as_ref(),
        &fx.state.config,
        key,
        &fx.dir,
        fx.institution,
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records, 5);
}

#[tokio::test]
async fn records_are_drafted_finalized_corrected_and_approved() {
    let fx = fixture("records").await;
    scenario(&fx).await;
}

#[tokio::test]
async fn postgres_records_are_drafted_finalized_corrected_and_approved() {
    let Some((fx, url, db)) = fixture_on_postgres("records").await else { return };
    scenario(&fx).await;
    fx.state.store.close().await;
    drop_postgres(&url, &db).await;
}
