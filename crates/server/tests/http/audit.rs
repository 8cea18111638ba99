//! The audit trail in process: identity actions become events in the institution's log,
//! only auditors read it (and reading it is an event), and the signed checkpoint verifies.

use super::fixture;
use super::session::{Client, PASSWORD, account_with, login};
use axum::http::StatusCode;
use mamori_core::{JobType, Role};
use serde_json::{Value, json};
use std::time::Duration;

const PATIENT: &str = "0b7a3c9e-1111-4222-8333-944455556666";

fn actions(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["event"]["action"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn identity_actions_are_audited_and_only_auditors_read_the_trail() {
    let fx = fixture("audit").await;
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let doctor = account_with(&fx, fx.institution, "sato", JobType::Doctor, &[Role::Doctor], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;

    // A wrong password for a known account is a denied event; for an unknown ID only the
    // throttle counts (there is no institution to log it in).
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "kango", "password": "wrong-password-1"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    c.post("/api/v1/session", json!({"login_id": "nobody", "password": "wrong-password-1"})).await;
    fx.advance(Duration::from_secs(2));
    let mut n = login(&fx, &nurse).await;
    // The nurse may not read the trail: refused, and the refusal is an event.
    let refused = n.get("/api/v1/audit/events").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut d = login(&fx, &doctor).await;
    let r = d.post("/api/v1/emergency-access", json!({"patient_id": PATIENT, "reason": "救急搬送"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(d.send("DELETE", "/api/v1/session", None).await.status, StatusCode::NO_CONTENT);

    fx.advance(Duration::from_secs(30));
    let mut a = login(&fx, &auditor).await;
    // Who opened patient X.
    let page = a.get(&format!("/api/v1/audit/events?patient={PATIENT}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The auditor's own search is recorded first, as an access about that patient.
    assert_eq!(actions(&page.body), ["audit.read", "emergency.grant"]);
    assert_eq!(page.body["events"][0]["login_id"], "kansa");
    assert_eq!(page.body["events"][1]["login_id"], "sato");
    assert_eq!(page.body["events"][1]["event"]["patient"], PATIENT);
    // What did user Y do: newest first, with the request id of each step.
    let page = a.get("/api/v1/audit/events?user=kango").await;
    assert_eq!(actions(&page.body), ["audit.read", "login", "login.password", "login.password"]);
    let outcomes: Vec<&str> =
        page.body["events"].as_array().unwrap().iter().map(|e| e["event"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["denied", "allowed", "allowed", "denied"]);
    assert!(page.body["events"][1]["event"]["origin"]["request_id"].is_string());
    assert_eq!(page.body["events"][1]["event"]["detail"]["factor"], "totp");
    // Filters combine; paging goes backwards.
    let denied = a.get("/api/v1/audit/events?action=login.password&outcome=denied").await;
    assert_eq!(denied.body["events"].as_array().unwrap().len(), 1);
    let first = a.get("/api/v1/audit/events?limit=2").await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let before = first.body["next_before"].as_u64().unwrap();
    let second = a.get(&format!("/api/v1/audit/events?limit=2&before={before}")).await;
    assert!(second.body["events"][0]["index"].as_u64().unwrap() < before);
    // Reading the trail is itself in the trail.
    let reads = a.get("/api/v1/audit/events?action=audit.read&user=kansa").await;
    assert!(reads.body["events"].as_array().unwrap().len() >= 4, "{}", reads.body);
    // Bad filters are refused with a clear message; nothing is searched.
    for bad in ["outcome=maybe", "from=yesterday", "patient=12345", "limit=x"] {
        let r = a.get(&format!("/api/v1/audit/events?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    assert_eq!(a.get("/api/v1/audit/events?user=ghost").await.status, StatusCode::NOT_FOUND);

    // The signed checkpoint covers every event and verifies with the published key.
    let note = a.get("/api/v1/ledger/checkpoint").await;
    assert_eq!(note.status, StatusCode::OK);
    let key = Client::new(&fx).get("/api/v1/ledger/verifier-key").await.text;
    let key = mamori_ledger::VerifierKey::parse(key.trim()).unwrap();
    assert!(key.name() == "localhost");
    let origin = format!("localhost/{}", fx.institution);
    let checkpoint =
        mamori_ledger::Checkpoint::open_for_origin(&note.text, &origin, std::slice::from_ref(&key)).unwrap();
    let head = fx.state.store.log_head(fx.institution).await.unwrap();
    assert_eq!(checkpoint.size(), head.size);
    let leaves = fx.state.store.log_leaves(fx.institution, 0, head.size).await.unwrap();
    let tree = mamori_ledger::merkle::MemoryTree::from_leaf_hashes(
        leaves.iter().map(|(_, leaf, _)| mamori_ledger::merkle::leaf_hash(leaf)).collect::<Vec<_>>(),
    );
    assert_eq!(mamori_ledger::merkle::root(&tree, head.size).unwrap(), *checkpoint.root());
    // Inclusion proofs for every event, and a consistency proof from an older size, verify
    // against the signed root (RFC 9162 §2.1.3.2 / §2.1.4.2).
    let decode = |v: &Value| {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
        mamori_ledger::Hash::from_slice(&bytes).unwrap()
    };
    for index in 0..head.size {
        let r = a.get(&format!("/api/v1/ledger/inclusion?index={index}&size={}", head.size)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let proof: Vec<_> = r.body["proof"].as_array().unwrap().iter().map(decode).collect();
        mamori_ledger::merkle::verify_inclusion(
            &decode(&r.body["leaf_hash"]),
            index,
            head.size,
            &proof,
            checkpoint.root(),
        )
        .unwrap();
    }
    let r = a.get(&format!("/api/v1/ledger/consistency?from=3&to={}", head.size)).await;
    let proof: Vec<_> = r.body["proof"].as_array().unwrap().iter().map(decode).collect();
    mamori_ledger::merkle::verify_consistency(3, head.size, &decode(&r.body["from_root"]), checkpoint.root(), &proof)
        .unwrap();
    let wrong_root = decode(&r.body["from_root"]);
    assert!(mamori_ledger::merkle::verify_consistency(3, head.size, &wrong_root, &wrong_root, &proof).is_err());
    for bad in [
        format!("inclusion?index={}", head.size + 5),
        "consistency?from=9&to=2".to_owned(),
        "inclusion?index=x".to_owned(),
    ] {
        let r = a.get(&format!("/api/v1/ledger/{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Another origin (another institution's log) is refused with the same note.
    assert!(mamori_ledger::Checkpoint::open_for_origin(&note.text, "localhost/other", &[key]).is_err());
    // Exports for other systems: a FHIR R4 Bundle, FHIR NDJSON, RFC 5424 syslog lines.
    let bundle = a.get("/api/v1/audit/export?user=sato").await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.text);
    assert_eq!(bundle.body["resourceType"], "Bundle");
    let resources: Vec<&Value> = bundle.body["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    assert!(resources.iter().all(|r| r["resourceType"] == "AuditEvent" && r["recorded"].is_string()));
    assert!(
        resources
            .iter()
            .any(|r| r["type"]["code"] == "110113" && r["entity"][0]["what"]["identifier"]["value"] == PATIENT)
    );
    let ndjson = a.get("/api/v1/audit/export?format=ndjson&limit=3").await;
    assert_eq!(ndjson.headers["content-type"], "application/fhir+ndjson");
    assert_eq!(ndjson.text.lines().count(), 3);
    for line in ndjson.text.lines() {
        assert_eq!(serde_json::from_str::<Value>(line).unwrap()["resourceType"], "AuditEvent");
    }
    let syslog = a.get("/api/v1/audit/export?format=syslog&action=login").await;
    assert!(syslog.text.lines().count() >= 3);
    assert!(
        syslog.text.lines().all(|l| l.starts_with("<110>1 ") && l.contains(" localhost mamori - login [mamori@32473 ")),
        "{}",
        syslog.text
    );
    assert_eq!(a.get("/api/v1/audit/export?format=xml").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(n.get("/api/v1/audit/export").await.status, StatusCode::FORBIDDEN);
    // Three exports were made (the one in an unknown format was refused before any search).
    assert_eq!(
        a.get("/api/v1/audit/events?action=audit.export&user=kansa").await.body["events"].as_array().unwrap().len(),
        3
    );

    // The anomaly report: emergency access, and a user refused three times.
    let mut c = Client::new(&fx);
    for _ in 0..2 {
        fx.advance(Duration::from_secs(11));
        c.post("/api/v1/session", json!({"login_id": "kango", "password": "wrong-password-2"})).await;
    }
    let report = a.get("/api/v1/audit/anomalies").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let kinds: Vec<(String, String)> = report
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_owned(), f["login_id"].as_str().unwrap_or("-").to_owned()))
        .collect();
    assert!(kinds.contains(&("emergency_access".into(), "sato".into())), "{kinds:?}");
    assert!(kinds.contains(&("repeated_denials".into(), "kango".into())), "{kinds:?}");
    assert!(
        !kinds.iter().any(|(k, _)| k == "after_hours"),
        "18:00 JST on a Wednesday is inside business hours: {kinds:?}"
    );
    assert_eq!(a.get("/api/v1/audit/anomalies?from=last-week").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(n.get("/api/v1/audit/anomalies").await.status, StatusCode::FORBIDDEN);

    // The trail needs a session.
    assert_eq!(Client::new(&fx).get("/api/v1/audit/events").await.status, StatusCode::UNAUTHORIZED);
    let _ = PASSWORD;
}

/// A raw connection to the fixture's SQLite file, with the log's guards dropped, as someone
/// with the file would have.
async fn raw(fx: &super::Fixture) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions as _;
    let mut conn =
        sqlx::sqlite::SqliteConnectOptions::new().filename(fx.dir.join("mamori.db")).connect().await.unwrap();
    for trigger in ["log_leaves_no_update", "log_leaves_no_delete", "log_nodes_no_update", "log_nodes_no_delete"] {
        let sql = format!("DROP TRIGGER IF EXISTS {trigger}");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
    conn
}

async fn problems(fx: &super::Fixture) -> Vec<String> {
    let state = &fx.state;
    let report = mamori_server::checkpoints::verify(
        state.store.as_ref(),
        &state.config,
        &state.keys.checkpoint,
        &fx.dir,
        fx.institution,
        &|_, _| {},
    )
    .await
    .unwrap();
    report.problems
}

#[tokio::test]
async fn verify_detects_every_changed_byte_a_deleted_and_swapped_event() {
    let fx = fixture("audit-tamper").await;
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let mut n = login(&fx, &nurse).await;
    n.send("DELETE", "/api/v1/session", None).await;
    let mut c = Client::new(&fx);
    c.post("/api/v1/session", json!({"login_id": "kango", "password": "wrong-password-1"})).await;
    let head = fx.state.store.log_head(fx.institution).await.unwrap();
    assert_eq!(head.size, 4, "password, login, logout, failed password");
    assert!(problems(&fx).await.is_empty());
    let leaves = fx.state.store.log_leaves(fx.institution, 0, head.size).await.unwrap();
    let mut conn = raw(&fx).await;
    let set = |index: u64, bytes: Vec<u8>| {
        sqlx::query("UPDATE log_leaves SET leaf = $1 WHERE idx = $2").bind(bytes).bind(i64::try_from(index).unwrap())
    };
    // Every byte of the first event, and the first, middle and last byte of the others.
    for (index, leaf, _) in &leaves {
        let positions: Vec<usize> =
            if *index == 0 { (0..leaf.len()).collect() } else { vec![0, leaf.len() / 2, leaf.len() - 1] };
        for at in positions {
            let mut changed = leaf.clone();
            changed[at] ^= 0x01;
            set(*index, changed).execute(&mut conn).await.unwrap();
            let found = problems(&fx).await;
            assert!(
                found.iter().any(|p| p.starts_with(&format!("leaf {index}: content does not match"))),
                "byte {at} of leaf {index}: {found:?}"
            );
        }
        set(*index, leaf.clone()).execute(&mut conn).await.unwrap();
    }
    assert!(problems(&fx).await.is_empty(), "restored");
    // Two events swapped, hashes and all: the tree no longer has the head's root.
    let swap = |index: u64, leaf: &[u8], hash: &[u8; 32]| {
        sqlx::query("UPDATE log_leaves SET leaf = $1, leaf_hash = $2 WHERE idx = $3")
            .bind(leaf.to_vec())
            .bind(hash.to_vec())
            .bind(i64::try_from(index).unwrap())
    };
    let ((_, l1, h1), (_, l2, h2)) = (&leaves[1], &leaves[2]);
    swap(1, l2, h2).execute(&mut conn).await.unwrap();
    swap(2, l1, h1).execute(&mut conn).await.unwrap();
    let found = problems(&fx).await;
    assert!(found.iter().any(|p| p == "the stored head's root does not match the leaves"), "{found:?}");
    swap(1, l1, h1).execute(&mut conn).await.unwrap();
    swap(2, l2, h2).execute(&mut conn).await.unwrap();
    assert!(problems(&fx).await.is_empty(), "restored");
    // One event deleted.
    sqlx::query("DELETE FROM log_leaves WHERE idx = 2").execute(&mut conn).await.unwrap();
    let found = problems(&fx).await;
    assert!(found.iter().any(|p| p == "leaf 2 is missing"), "{found:?}");
    assert!(found.iter().any(|p| p == "the head says 4 leaves, 3 are stored"), "{found:?}");
}

/// The same audited flows on PostgreSQL (run by `.ci/run`'s PostgreSQL phase): each action
/// and its event are one transaction there too, and the log verifies.
#[tokio::test]
async fn postgres_audited_actions_commit_with_their_events() {
    let Some((fx, server_url, db)) = super::fixture_on_postgres("postgres-audit").await else { return };
    let nurse = account_with(&fx, fx.institution, "kango", JobType::Nurse, &[Role::Nurse], true, false).await;
    let admin =
        account_with(&fx, fx.institution, "kanri", JobType::Manager, &[Role::SystemAdministrator], true, false).await;
    let auditor = account_with(&fx, fx.institution, "kansa", JobType::Auditor, &[Role::Auditor], true, false).await;
    let mut c = Client::new(&fx);
    let r = c.post("/api/v1/session", json!({"login_id": "kango", "password": "wrong-password-1"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    fx.advance(Duration::from_secs(2));
    let mut n = login(&fx, &nurse).await;
    let mut a = login(&fx, &admin).await;
    let r = a
        .post(
            "/api/v1/users",
            json!({"login_id": "suzuki", "display_name": "鈴木 一郎", "job_type": "doctor", "roles": ["doctor"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = a.post("/api/v1/users/kango/status", json!({"status": "disabled"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(n.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED, "her session ended with the change");

    fx.advance(Duration::from_secs(30));
    let mut au = login(&fx, &auditor).await;
    let page = au.get("/api/v1/audit/events?user=kango").await;
    assert_eq!(actions(&page.body), ["login", "login.password", "login.password"]);
    let page = au.get("/api/v1/audit/events?user=kanri").await;
    assert_eq!(actions(&page.body), ["user.status", "user.create", "login", "login.password"]);
    let state = &fx.state;
    let report = mamori_server::checkpoints::verify(
        state.store.as_ref(),
        &state.config,
        &state.keys.checkpoint,
        &fx.dir,
        fx.institution,
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let head = state.store.log_head(fx.institution).await.unwrap();
    assert_eq!(report.leaves, head.size);
    let r = au.get(&format!("/api/v1/ledger/consistency?from=1&to={}", head.size)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    drop(fx);
    super::drop_postgres(&server_url, &db).await;
}
