//! Patients in process: registered at reception, found by number, kanji or kana (two-character
//! names too), read and changed as versions — every read and change audited, bad input refused
//! with nothing changed.

use super::fixture;
use super::session::{account_with, login};
use axum::http::StatusCode;
use mamori_core::{JobType, Role};
use serde_json::{Value, json};
use std::time::Duration;

fn patient(number: &str, family: &str, given: &str, family_kana: &str, given_kana: &str) -> Value {
    json!({
        "number": number, "family": family, "given": given, "family_kana": family_kana,
        "given_kana": given_kana, "birth_date": "1950-04-01", "sex": "female", "phone": "03-1234-5678"
    })
}

#[tokio::test]
async fn reception_registers_patients_and_staff_find_and_change_them() {
    let fx = fixture("patients").await;
    let clerk = account_with(&fx, fx.institution, "uketsuke", JobType::Clerk, &[Role::Clerk], true, false).await;
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let mut c = login(&fx, &clerk).await;
    let r = c.post("/api/v1/patients", patient("1001", "山田", "花子", "やまだ", "はなこ")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["family_kana"], "ヤマダ", "kana stored in katakana");
    assert_eq!(r.body["version"], 1);
    let yamada = r.body["id"].as_str().unwrap().to_owned();
    let r = c.post("/api/v1/patients", patient("1002", "王", "林", "ワン", "リン")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Refused, nothing registered: a used number, latin kana, a future birth date, no name.
    let head = fx.state.store.log_head(fx.institution).await.unwrap().size;
    for (bad, code) in [
        (patient("1001", "佐藤", "一郎", "サトウ", "イチロウ"), StatusCode::CONFLICT),
        (patient("1003", "佐藤", "一郎", "Sato", "イチロウ"), StatusCode::BAD_REQUEST),
        (
            json!({"number": "1004", "family": "佐藤", "given": "一郎", "family_kana": "サトウ", "given_kana": "イチロウ", "birth_date": "2030-01-01", "sex": "male"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"number": "1005", "family": "", "given": "一郎", "family_kana": "サトウ", "given_kana": "イチロウ", "birth_date": "1980-01-01", "sex": "male"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"number": "1006", "family": "佐藤", "given": "一郎", "family_kana": "サトウ", "given_kana": "イチロウ", "birth_date": "1980-01-01", "sex": "x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = c.post("/api/v1/patients", bad.clone()).await;
        assert_eq!(r.status, code, "{bad}: {}", r.body);
    }
    assert_eq!(fx.state.store.log_head(fx.institution).await.unwrap().size, head, "nothing recorded as done");

    // Found by number, kanji and kana, two-character names included.
    fx.advance(Duration::from_secs(31));
    let mut n = login(&fx, &nurse).await;
    for (q, number) in [
        ("1001", "1001"),
        ("山田", "1001"),
        ("やまだ", "1001"),
        ("ハナコ", "1001"),
        ("王林", "1002"),
        ("りん", "1002"),
        ("王", "1002"),
    ] {
        let r = n.get(&format!("/api/v1/patients?q={}", urlencode(q))).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        let numbers: Vec<&str> = r.body.as_array().unwrap().iter().map(|p| p["number"].as_str().unwrap()).collect();
        assert_eq!(numbers, [number], "{q}");
    }
    assert_eq!(n.get("/api/v1/patients?q=").await.status, StatusCode::BAD_REQUEST);
    let r = n.get(&format!("/api/v1/patients/{yamada}")).await;
    assert_eq!(r.body["family"], "山田");

    // A change is a new version with a reason; a stale version is refused.
    let mut change = patient("1001", "山田", "花子", "ヤマダ", "ハナコ");
    change["phone"] = json!("090-0000-1111");
    change["version"] = json!(1);
    change["reason"] = json!("電話番号の変更（本人申告）");
    let r = c.send("PUT", &format!("/api/v1/patients/{yamada}"), Some(change.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 2);
    let again = c.send("PUT", &format!("/api/v1/patients/{yamada}"), Some(change.clone())).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    change["version"] = json!(2);
    change["reason"] = json!(" ");
    assert_eq!(
        c.send("PUT", &format!("/api/v1/patients/{yamada}"), Some(change)).await.status,
        StatusCode::BAD_REQUEST
    );
    let versions = n.get(&format!("/api/v1/patients/{yamada}/versions")).await;
    let list = versions.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["patient"]["phone"], "03-1234-5678");
    assert!(list[0]["reason"].is_null());
    assert_eq!(list[1]["reason"], "電話番号の変更（本人申告）");

    // The auditor has no clinical rights: refused, and the refusal is in the trail, like
    // every read of the patient.
    fx.advance(Duration::from_secs(31));
    let mut a = login(&fx, &auditor).await;
    assert_eq!(a.get(&format!("/api/v1/patients/{yamada}")).await.status, StatusCode::FORBIDDEN);
    let trail = a.get(&format!("/api/v1/audit/events?patient={yamada}")).await;
    let actions: Vec<(String, String)> = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"]["action"].as_str().unwrap().to_owned(), e["login_id"].as_str().unwrap_or("-").to_owned()))
        .collect();
    for expected in [
        ("patient.create", "uketsuke"),
        ("patient.list", "kango"),
        ("patient.read", "kango"),
        ("patient.update", "uketsuke"),
        ("patient.read", "kansa"),
    ] {
        assert!(actions.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} in {actions:?}");
    }
    let denied = trail.body["events"].as_array().unwrap().iter().any(|e| e["event"]["outcome"] == "denied");
    assert!(denied, "the auditor's refused read is recorded");
    // Every test account is named 山田 花子, like the patient: the anomaly report flags the
    // staff who opened "their own" chart.
    let report = a.get("/api/v1/audit/anomalies").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let own: Vec<&str> = report
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "own_chart")
        .map(|f| f["login_id"].as_str().unwrap())
        .collect();
    assert!(own.contains(&"kango") && own.contains(&"uketsuke"), "{}", report.body);
    // Another institution's patient is not found (an unknown id).
    assert_eq!(n.get("/api/v1/patients/0b7a3c9e-1111-4222-8333-944455556666").await.status, StatusCode::NOT_FOUND);
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}
