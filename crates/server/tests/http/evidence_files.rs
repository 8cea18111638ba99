//! Evidence files for the compliance workbench: uploaded as the bare bytes, kept once under their
//! SHA-256 in the data directory, downloaded as an attachment after the digest is checked again,
//! every upload and download an audit event; bad uploads refused with nothing kept.

use super::fixture;
use super::session::{account_with, login};
use axum::http::StatusCode;
use mamori_core::audit::{AuditQuery, Outcome};
use mamori_core::{JobType, Role};
use serde_json::json;
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn stored_files(dir: &std::path::Path) -> usize {
    let root = dir.join("files").join("sha256");
    let Ok(shards) = std::fs::read_dir(root) else { return 0 };
    shards.map(|s| std::fs::read_dir(s.unwrap().path()).unwrap().count()).sum()
}

#[tokio::test]
async fn evidence_files_are_kept_by_digest_and_checked_when_downloaded() {
    let fx = fixture("evidence-files").await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let clerk = account_with(&fx, fx.institution, "jimu", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut a = login(&fx, &admin).await;
    let r = a
        .post(
            "/api/v1/assessments",
            json!({"catalog": "hoshu-7.0", "title": "2026年度 自己点検", "period_start": "2026-04-01", "period_end": "2027-03-31"}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let upload = |title: &str, name: &str| {
        let q =
            serde_urlencoded::to_string([("title", title), ("name", name), ("effective_on", "2026-04-01")]).unwrap();
        format!("/api/v1/assessments/{id}/items/9-4/evidence/file?{q}")
    };

    // A PDF-ish file: kept under its digest, downloaded byte for byte with its name.
    let pdf = b"%PDF-1.7\n% \xe9\x81\x8b\xe7\x94\xa8\xe7\xae\xa1\xe7\x90\x86\xe8\xa6\x8f\xe7\xa8\x8b\n".repeat(1000);
    let r = a
        .send_bytes("POST", &upload("運用管理規程", "運用管理規程 第3版.pdf"), Some("application/pdf"), pdf.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["kind"], "file");
    assert_eq!(r.body["file_name"], "運用管理規程 第3版.pdf");
    assert_eq!(r.body["file_sha256"], hex(&pdf));
    assert_eq!(r.body["file_size"], pdf.len());
    let download = r.body["download"].as_str().unwrap().to_owned();
    let evidence = r.body["id"].as_str().unwrap().to_owned();
    assert!(fx.dir.join("files/sha256").join(&hex(&pdf)[..2]).join(hex(&pdf)).is_file());
    let got = a.get(&download).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.raw, pdf);
    assert_eq!(got.headers["content-type"], "application/octet-stream");
    let disposition = got.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\""), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''%E9%81%8B%E7%94%A8"), "{disposition}");
    assert_eq!(got.headers["x-content-type-options"], "nosniff");

    // The same bytes again (a new revision) are stored once.
    let q = serde_urlencoded::to_string([
        ("title", "運用管理規程（再掲）"),
        ("name", "kitei.pdf"),
        ("revises", &evidence),
        ("revision", "2"),
    ])
    .unwrap();
    let r = a
        .send_bytes(
            "POST",
            &format!("/api/v1/assessments/{id}/items/9-4/evidence/file?{q}"),
            Some("application/octet-stream"),
            pdf.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(stored_files(&fx.dir), 1);
    let detail = a.get(&format!("/api/v1/assessments/{id}")).await;
    assert_eq!(detail.body["evidence"].as_array().unwrap().len(), 2);

    // Refused, with nothing kept: an empty file, a path for a name, a form post, an unknown item,
    // over 20 MiB.
    let before = stored_files(&fx.dir);
    let r = a.send_bytes("POST", &upload("空", "empty.pdf"), Some("application/pdf"), Vec::new()).await;
    assert_eq!(
        (r.status, r.body["error"]["message_en"].as_str()),
        (StatusCode::BAD_REQUEST, Some("file: the file is empty"))
    );
    let r = a.send_bytes("POST", &upload("パス", "../etc/passwd"), Some("application/pdf"), b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(stored_files(&fx.dir), before);
    let r = a
        .send_bytes("POST", &upload("フォーム", "a.pdf"), Some("multipart/form-data; boundary=x"), b"--x--".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = a
        .send_bytes("POST", &upload("無題", "a.pdf").replace("9-4", "99-9"), Some("application/pdf"), b"x".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(stored_files(&fx.dir), before);
    let big = vec![0u8; 20 * 1024 * 1024 + 1];
    let r = a.send_bytes("POST", &upload("大きい", "big.bin"), Some("application/octet-stream"), big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(stored_files(&fx.dir), before);
    assert_eq!(a.get(&format!("/api/v1/assessments/{id}")).await.body["evidence"].as_array().unwrap().len(), 2);
    // JSON bodies elsewhere stay limited to 1 MiB.
    let r = a.send_bytes("POST", "/api/v1/assessments", Some("application/json"), vec![b' '; 1024 * 1024 + 1]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    // A clerk can neither upload nor download; both refusals are in the trail.
    let mut c = login(&fx, &clerk).await;
    assert_eq!(
        c.send_bytes("POST", &upload("x", "x.pdf"), Some("application/pdf"), b"x".to_vec()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(c.get(&download).await.status, StatusCode::FORBIDDEN);
    for (action, outcome, n) in [
        ("compliance.evidence.add", Outcome::Allowed, 2),
        ("compliance.evidence.read", Outcome::Allowed, 1),
        ("compliance.evidence.read", Outcome::Denied, 1),
    ] {
        let q = AuditQuery { action: Some(action.into()), outcome: Some(outcome), limit: 10, ..Default::default() };
        assert_eq!(fx.state.store.audit_search(fx.institution, &q).await.unwrap().len(), n, "{action} {outcome:?}");
    }

    // A file changed on disk is not served.
    let path = fx.dir.join("files/sha256").join(&hex(&pdf)[..2]).join(hex(&pdf));
    std::fs::write(&path, b"%PDF-1.7 forged").unwrap();
    assert_eq!(a.get(&download).await.status, StatusCode::INTERNAL_SERVER_ERROR);
}
