//! The clinical record pages in process: the chart, the editor, drafts finalized and corrected
//! on the record page with the difference, proxy entries approved from the queue, the patient
//! edit page, and refusals (a form from another patient's chart, a form without its CSRF
//! token) that change nothing and are audited.

use super::session::{Account, PASSWORD, account_with};
use super::{Fixture, fixture};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use mamori_core::audit::{Actor, AuditEvent, AuditQuery, Outcome};
use mamori_core::{JobType, PatientId, Role};
use std::collections::BTreeMap;
use std::time::Duration;
use tower::ServiceExt as _;

/// A browser-like client with a cookie jar.
pub(super) struct Browser<'a> {
    fx: &'a Fixture,
    jar: BTreeMap<String, String>,
}

pub(super) struct Page {
    pub(super) status: StatusCode,
    pub(super) location: Option<String>,
    pub(super) html: String,
}

impl Page {
    pub(super) fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.html.find(marker).map(|i| i + marker.len()).expect("a form with a CSRF field");
        self.html[start..].split('"').next().unwrap_or_default().to_owned()
    }

    /// The value of the first `attr="…"` after `after`.
    fn attr_after(&self, after: &str, attr: &str) -> String {
        let rest = &self.html[self.html.find(after).unwrap_or_else(|| panic!("{after} in {}", self.html))..];
        let marker = format!("{attr}=\"");
        let start = rest.find(&marker).map(|i| i + marker.len()).unwrap();
        rest[start..].split('"').next().unwrap().to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(fx: &'a Fixture) -> Self {
        Self { fx, jar: BTreeMap::new() }
    }

    pub(super) async fn request(&mut self, method: &str, uri: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut req = Request::builder().method(method).uri(uri);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", cookies.join("; "));
        }
        let req = match form {
            Some(fields) => {
                let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
                req.header("content-type", "application/x-www-form-urlencoded").body(Body::from(body.join("&")))
            }
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    /// Posts a `multipart/form-data` form: text `fields` and one file (`field`, file name, bytes).
    pub(super) async fn multipart(
        &mut self,
        uri: &str,
        fields: &[(&str, &str)],
        (field, file_name, bytes): (&str, &str, &[u8]),
    ) -> Page {
        let boundary = "mamori-test-boundary-7d3f";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
        }
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").bytes());
        let mut req = Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"));
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", cookies.join("; "));
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    async fn send(&mut self, req: Request<Body>) -> Page {
        let response = mamori_server::app(self.fx.state.clone()).oneshot(req).await.unwrap();
        let status = response.status();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.jar.remove(k);
                } else {
                    self.jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20).await.unwrap();
        Page { status, location, html: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub(super) async fn get(&mut self, uri: &str) -> Page {
        let page = self.request("GET", uri, None).await;
        assert_eq!(page.status, StatusCode::OK, "GET {uri}: {}", page.html);
        page
    }

    pub(super) async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        self.request("POST", uri, Some(form)).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Logs `who` in through the pages (a fresh TOTP step each time).
pub(super) async fn page_login<'a>(fx: &'a Fixture, who: &Account) -> Browser<'a> {
    fx.advance(Duration::from_secs(31));
    let mut b = Browser::new(fx);
    let form = b.get("/login").await;
    let step = b.post("/login", &[("csrf", &form.csrf()), ("login_id", who.login), ("password", PASSWORD)]).await;
    assert_eq!(step.location.as_deref(), Some("/login/code"), "{}", step.html);
    let code_form = b.get("/login/code").await;
    let code = fx.code(who.totp.as_ref().unwrap());
    let done = b.post("/login/code", &[("csrf", &code_form.csrf()), ("code", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.html);
    b
}

/// The sample master (drugs, diseases, lab items), which a fresh institution lacks.
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

async fn doctor(fx: &Fixture, login: &'static str) -> Account {
    account_with(fx, fx.institution, login, JobType::Doctor, &[Role::Doctor], true, false).await
}

/// Registers a patient on the reception page and returns the id.
async fn register(b: &mut Browser<'_>, number: &str, family: &str, given: &str, kana: (&str, &str)) -> String {
    let page = b.get("/patients").await;
    let csrf = page.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("number", number),
        ("family", family),
        ("given", given),
        ("family_kana", kana.0),
        ("given_kana", kana.1),
        ("birth_date", "1958-03-14"),
        ("sex", "male"),
        ("phone", ""),
        ("address", ""),
    ];
    let created = b.post("/patients", &fields).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    created.attr_after("<tr data-id", "data-id")
}

fn record_of(location: Option<&str>) -> String {
    let location = location.expect("a redirect");
    location.strip_prefix("/records/").unwrap_or_else(|| panic!("a record page: {location}")).to_owned()
}

async fn denied_events(fx: &Fixture, patient: &str, action: &str) -> Vec<AuditEvent> {
    let query = AuditQuery {
        from: None,
        until: None,
        actor: None,
        patient: Some(patient.parse::<PatientId>().unwrap()),
        action: Some(action.to_owned()),
        outcome: Some(Outcome::Denied),
        before_index: None,
        limit: 100,
    };
    let rows = fx.state.store.audit_search(fx.institution, &query).await.unwrap();
    rows.iter().map(|(_, leaf)| AuditEvent::from_leaf(leaf).unwrap()).collect()
}

#[tokio::test]
async fn a_doctor_writes_finalizes_and_corrects_a_progress_note_on_the_pages() {
    let fx = fixture("record-pages-doctor").await;
    load_master(&fx).await;
    let dr = doctor(&fx, "isha").await;
    let mut b = page_login(&fx, &dr).await;
    let patient = register(&mut b, "3001", "佐藤", "一郎", ("さとう", "いちろう")).await;

    let detail = b.get(&format!("/patients/{patient}")).await;
    assert!(detail.html.contains(&format!("<a id=\"open-chart\" href=\"/patients/{patient}/chart\">カルテを開く</a>")));
    assert!(detail.html.contains("id=\"edit-patient\""), "{}", detail.html);
    let chart = b.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains("id=\"chart-patient\"") && chart.html.contains("サトウ イチロウ"), "{}", chart.html);
    for kind in ["progress_note", "diagnosis", "prescription", "lab_result", "document"] {
        assert!(
            chart.html.contains(&format!("id=\"new-{kind}\" href=\"/patients/{patient}/records/new?kind={kind}\"")),
            "{kind}: {}",
            chart.html
        );
    }
    assert!(chart.html.contains("id=\"timeline\"") && chart.html.contains("記載はまだありません"));

    // A draft from the editor.
    let editor = b.get(&format!("/patients/{patient}/records/new?kind=progress_note")).await;
    assert!(
        editor.html.contains("id=\"record-form\"") && editor.html.contains("（代行入力しない）"),
        "{}",
        editor.html
    );
    let csrf = editor.csrf();
    let note = [
        ("csrf", csrf.as_str()),
        ("chart", patient.as_str()),
        ("kind", "progress_note"),
        ("s", "頭痛が続く\r\n夜間に強い"),
        ("o", "血圧 150/90"),
        ("a", "高血圧の疑い"),
        ("p", "家庭血圧を記録"),
        ("proxy_for", ""),
        ("action", "draft"),
    ];
    let saved = b.post(&format!("/patients/{patient}/records"), &note).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let rid = record_of(saved.location.as_deref());
    let draft = b.get(&format!("/records/{rid}")).await;
    assert!(draft.html.contains("id=\"v1\"") && draft.html.contains("下書き"), "{}", draft.html);
    assert!(draft.html.contains("頭痛が続く<br>夜間に強い"), "SOAP keeps its lines: {}", draft.html);
    assert!(draft.html.contains("id=\"draft-form\"") && draft.html.contains("id=\"finalize-form\""));
    assert!(!draft.html.contains("id=\"correct-form\""));
    let chart = b.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains(&format!("data-record=\"{rid}\"")) && chart.html.contains("mark-draft"));

    // The draft is edited, then finalized on the record page.
    let target = [("csrf", csrf.as_str()), ("patient", patient.as_str()), ("chart", patient.as_str())];
    let mut edit = target.to_vec();
    edit.extend([
        ("s", "頭痛が続く\n夜間に強い"),
        ("o", "血圧 150/90"),
        ("a", "本態性高血圧症"),
        ("p", "家庭血圧を記録"),
    ]);
    let r = b.post(&format!("/records/{rid}/versions/1/draft"), &edit).await;
    assert_eq!(r.location.as_deref(), Some(format!("/records/{rid}").as_str()), "{}", r.html);
    let r = b.post(&format!("/records/{rid}/versions/1/finalize"), &target).await;
    assert_eq!(r.location.as_deref(), Some(format!("/records/{rid}").as_str()), "{}", r.html);
    let fin = b.get(&format!("/records/{rid}")).await;
    assert!(fin.html.contains("確定") && fin.html.contains("台帳 #"), "{}", fin.html);
    assert!(fin.html.contains("id=\"correct-form\"") && fin.html.contains("id=\"cancel-form\""), "{}", fin.html);
    assert!(fin.html.contains("本態性高血圧症"), "the saved draft was finalized: {}", fin.html);
    assert!(!fin.html.contains("id=\"draft-form\""));

    // A correction needs a reason; with one it is version 2, and the difference shows it.
    let mut correction = target.to_vec();
    correction.extend([
        ("from", "1"),
        ("s", "頭痛が続く\n夜間に強い"),
        ("o", "血圧 135/85"),
        ("a", "本態性高血圧症"),
        ("p", "家庭血圧を記録"),
        ("reason", " "),
    ]);
    let refused = b.post(&format!("/records/{rid}/correct"), &correction).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(refused.html.contains("理由は1〜500文字"), "{}", refused.html);
    assert!(refused.html.contains("血圧 135/85"), "the form keeps what was typed: {}", refused.html);
    correction.pop();
    correction.push(("reason", "血圧の転記誤り"));
    let r = b.post(&format!("/records/{rid}/correct"), &correction).await;
    assert_eq!(r.location.as_deref(), Some(format!("/records/{rid}").as_str()), "{}", r.html);
    let corrected = b.get(&format!("/records/{rid}")).await;
    let html = &corrected.html;
    assert!(html.contains("id=\"v1\"") && html.contains("id=\"v2\""), "{html}");
    assert!(html.contains("訂正") && html.contains("血圧の転記誤り"), "{html}");
    assert!(html.contains("id=\"diff\""), "{html}");
    assert!(html.contains("<del class=\"diff-del\">- O: 血圧 150/90</del>"), "{html}");
    assert!(html.contains("<ins class=\"diff-add\">+ O: 血圧 135/85</ins>"), "{html}");
    assert!(html.contains("<span class=\"diff-same\">  S: 頭痛が続く</span>"), "{html}");
    // The old version may be corrected no more: a stale `from` is refused on the page.
    let stale = b.post(&format!("/records/{rid}/correct"), &correction).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.html);
    let chart = b.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains(&format!("href=\"/records/{rid}\"")) && chart.html.contains("mark-corrected"));
    assert!(chart.html.contains("class=\"record-link\""), "{}", chart.html);

    // A prescription finalized at once from the editor, shown with the master's name and
    // version, then cancelled: the chart marks it and the summary drops it.
    let editor = b.get(&format!("/patients/{patient}/records/new?kind=prescription")).await;
    assert!(editor.html.contains("<option value=\"SD-0001\">SD-0001 アムロジピン錠5mg"), "{}", editor.html);
    assert!(editor.html.contains("name=\"drug_5\"") && !editor.html.contains("name=\"drug_6\""));
    let rx = [
        ("csrf", csrf.as_str()),
        ("chart", patient.as_str()),
        ("kind", "prescription"),
        ("drug_1", "SD-0001"),
        ("dose_1", "1"),
        ("usage_1", "1日1回 朝食後"),
        ("days_1", "28"),
        ("drug_2", ""),
        ("dose_2", ""),
        ("usage_2", ""),
        ("days_2", ""),
        ("proxy_for", ""),
        ("action", "finalize"),
    ];
    let r = b.post(&format!("/patients/{patient}/records"), &rx).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let rx_id = record_of(r.location.as_deref());
    let shown = b.get(&format!("/records/{rx_id}")).await;
    assert!(shown.html.contains("アムロジピン錠5mg") && shown.html.contains("SD-0001 v1"), "{}", shown.html);
    let chart = b.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains("アムロジピン錠5mg 1錠 1日1回 朝食後 28日分"), "{}", chart.html);
    let mut cancel = target.to_vec();
    cancel.extend([("from", "1"), ("reason", "別の患者の処方と取り違え")]);
    let r = b.post(&format!("/records/{rx_id}/cancel"), &cancel).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let cancelled = b.get(&format!("/records/{rx_id}")).await;
    assert!(cancelled.html.contains("取消") && !cancelled.html.contains("id=\"correct-form\""), "{}", cancelled.html);
    let chart = b.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains("mark-cancelled"), "{}", chart.html);
    assert!(!chart.html.contains("28日分"), "a cancelled prescription leaves the summary: {}", chart.html);

    // A diagnosis with an unknown code is shown again with the message and what was typed.
    let bad = [
        ("csrf", csrf.as_str()),
        ("chart", patient.as_str()),
        ("kind", "diagnosis"),
        ("disease", "SB-9999"),
        ("suspected", "on"),
        ("onset", ""),
        ("note", "健診で指摘"),
        ("action", "finalize"),
    ];
    let r = b.post(&format!("/patients/{patient}/records"), &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.html);
    assert!(r.html.contains("SB-9999") && r.html.contains("健診で指摘") && r.html.contains("checked"), "{}", r.html);
    let mut good = bad.to_vec();
    good[3] = ("disease", "SB-0001");
    let r = b.post(&format!("/patients/{patient}/records"), &good).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let chart = b.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains("本態性高血圧症（疑い）"), "{}", chart.html);
}

#[tokio::test]
async fn a_clerk_enters_by_proxy_and_the_doctor_approves_from_the_queue() {
    let fx = fixture("record-pages-proxy").await;
    load_master(&fx).await;
    let dr = doctor(&fx, "isha").await;
    let clerk = account_with(&fx, fx.institution, "uketsuke", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut c = page_login(&fx, &clerk).await;
    let patient = register(&mut c, "4001", "鈴木", "花", ("すずき", "はな")).await;
    let editor = c.get(&format!("/patients/{patient}/records/new?kind=progress_note")).await;
    assert!(editor.html.contains(&format!("<option value=\"{}\">", dr.id)), "the doctor is offered: {}", editor.html);
    let clerk_csrf = editor.csrf();
    let dr_id = dr.id.to_string();
    let mut entry = vec![
        ("csrf", clerk_csrf.as_str()),
        ("chart", patient.as_str()),
        ("kind", "progress_note"),
        ("s", "咳が3日続く"),
        ("p", "医師の口述による"),
        ("proxy_for", ""),
        ("action", "draft"),
    ];
    // A clerk cannot finalize: a draft is refused with the reason, on the form.
    let r = c.post(&format!("/patients/{patient}/records"), &entry).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
    assert!(r.html.contains("承認する医師を指定") && r.html.contains("咳が3日続く"), "{}", r.html);
    // A proxy entry needs its doctor.
    entry.pop();
    entry.push(("action", "proxy"));
    let r = c.post(&format!("/patients/{patient}/records"), &entry).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.html);
    entry[5] = ("proxy_for", dr_id.as_str());
    let sent = c.post(&format!("/patients/{patient}/records"), &entry).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    // The clerk may not read progress notes: back to the chart with a notice.
    assert_eq!(sent.location.as_deref(), Some(format!("/patients/{patient}/chart?sent=proxy").as_str()));
    let chart = c.get(sent.location.as_deref().unwrap()).await;
    assert!(chart.html.contains("代行入力を送信しました"), "{}", chart.html);
    // A second entry, to be rejected.
    let mut second = entry.clone();
    second[3] = ("s", "発熱 38.2度");
    let r = c.post(&format!("/patients/{patient}/records"), &second).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);

    let mut d = page_login(&fx, &dr).await;
    assert!(d.get("/").await.html.contains("id=\"approvals-link\""));
    let queue = d.get("/approvals").await;
    assert!(queue.html.contains("id=\"approval-queue\""), "{}", queue.html);
    assert_eq!(queue.html.matches("<tr class=\"pending\"").count(), 2, "{}", queue.html);
    assert!(queue.html.contains("鈴木 花") && queue.html.contains("4001") && queue.html.contains("咳が3日続く"));
    let first = queue.attr_after("<tr class=\"pending\"", "data-record");
    assert!(queue.html.contains(&format!("class=\"record-link\" href=\"/records/{first}\"")), "{}", queue.html);
    let waiting = d.get(&format!("/records/{first}")).await;
    assert!(waiting.html.contains("承認待ち") && waiting.html.contains("代行入力: 山田 花子 → 依頼先: 山田 花子"));
    assert!(waiting.html.contains("id=\"approve-form\"") && waiting.html.contains("id=\"reject-form\""));
    let chart = d.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains("mark-pending"), "{}", chart.html);

    let csrf = waiting.csrf();
    let target = [("csrf", csrf.as_str()), ("patient", patient.as_str()), ("chart", patient.as_str())];
    // The clerk cannot approve the entry it sent.
    let clerk_target = [("csrf", clerk_csrf.as_str()), ("patient", patient.as_str()), ("chart", patient.as_str())];
    let r = c.post(&format!("/records/{first}/versions/1/approve"), &clerk_target).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
    let r = d.post(&format!("/records/{first}/versions/1/approve"), &target).await;
    assert_eq!(r.location.as_deref(), Some(format!("/records/{first}").as_str()), "{}", r.html);
    let approved = d.get(&format!("/records/{first}")).await;
    assert!(approved.html.contains("確定") && approved.html.contains("承認") && approved.html.contains("台帳 #"));
    assert!(!approved.html.contains("id=\"approve-form\""));

    let queue = d.get("/approvals").await;
    assert_eq!(queue.html.matches("<tr class=\"pending\"").count(), 1, "{}", queue.html);
    let other = queue.attr_after("<tr class=\"pending\"", "data-record");
    let mut reject = target.to_vec();
    reject.push(("reason", ""));
    let r = d.post(&format!("/records/{other}/versions/1/reject"), &reject).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.html);
    reject.pop();
    reject.push(("reason", "体温の記載が違います"));
    let r = d.post(&format!("/records/{other}/versions/1/reject"), &reject).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let rejected = d.get(&format!("/records/{other}")).await;
    assert!(rejected.html.contains("差戻し") && rejected.html.contains("体温の記載が違います"), "{}", rejected.html);
    assert!(d.get("/approvals").await.html.contains("承認待ちの代行入力はありません"));
    let chart = d.get(&format!("/patients/{patient}/chart")).await;
    assert!(chart.html.contains("mark-rejected") && !chart.html.contains("mark-pending"), "{}", chart.html);
}

#[tokio::test]
async fn a_form_from_another_chart_or_without_its_token_changes_nothing() {
    let fx = fixture("record-pages-refused").await;
    load_master(&fx).await;
    let dr = doctor(&fx, "isha").await;
    let mut b = page_login(&fx, &dr).await;
    let first = register(&mut b, "5001", "高橋", "守", ("たかはし", "まもる")).await;
    let second = register(&mut b, "5002", "田中", "恵", ("たなか", "めぐみ")).await;
    let editor = b.get(&format!("/patients/{first}/records/new?kind=document")).await;
    let csrf = editor.csrf();
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("chart", second.as_str()),
        ("kind", "document"),
        ("title", "紹介状"),
        ("body", "ご高診をお願いします。"),
        ("proxy_for", ""),
        ("action", "finalize"),
    ];
    // Written from the second patient's chart, sent for the first: refused and audited.
    let r = b.post(&format!("/patients/{first}/records"), &form).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("患者とカルテが一致しません"), "{}", r.html);
    let denied = denied_events(&fx, &first, "record.create").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].detail.get("code").map(String::as_str), Some("patient_mismatch"));
    for p in [&first, &second] {
        assert!(b.get(&format!("/patients/{p}/chart")).await.html.contains("記載はまだありません"));
    }

    // Without the CSRF token (or with a wrong one): refused before anything is looked at.
    form[1] = ("chart", first.as_str());
    for token in ["", "forged-token"] {
        form[0] = ("csrf", token);
        let r = b.post(&format!("/patients/{first}/records"), &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
        assert!(r.html.contains("フォームを受け付けられません"), "{}", r.html);
    }
    assert!(b.get(&format!("/patients/{first}/chart")).await.html.contains("記載はまだありません"));

    // A draft of the first patient, then actions naming the other chart: refused, audited.
    form[0] = ("csrf", csrf.as_str());
    form[6] = ("action", "draft");
    let r = b.post(&format!("/patients/{first}/records"), &form).await;
    let rid = record_of(r.location.as_deref());
    let wrong = [("csrf", csrf.as_str()), ("patient", first.as_str()), ("chart", second.as_str())];
    let r = b.post(&format!("/records/{rid}/versions/1/finalize"), &wrong).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    let wrong_patient = [("csrf", csrf.as_str()), ("patient", second.as_str()), ("chart", second.as_str())];
    let r = b.post(&format!("/records/{rid}/versions/1/finalize"), &wrong_patient).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    let r = b.post(&format!("/records/{rid}/versions/1/finalize"), &[("patient", first.as_str())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no token: {}", r.html);
    let still = b.get(&format!("/records/{rid}")).await;
    assert!(still.html.contains("id=\"finalize-form\"") && !still.html.contains("台帳 #"), "{}", still.html);
    let query = AuditQuery {
        from: None,
        until: None,
        actor: Some(dr.id),
        patient: None,
        action: Some("record.finalize".to_owned()),
        outcome: Some(Outcome::Denied),
        before_index: None,
        limit: 100,
    };
    let rows = fx.state.store.audit_search(fx.institution, &query).await.unwrap();
    assert_eq!(rows.len(), 2, "both mismatches are in the trail");
    for (_, leaf) in rows {
        let event = AuditEvent::from_leaf(&leaf).unwrap();
        assert_eq!(event.resource.as_deref(), Some(format!("record:{rid}").as_str()));
        assert_eq!(event.detail.get("code").map(String::as_str), Some("patient_mismatch"));
    }
}

#[tokio::test]
async fn the_identity_is_changed_on_the_edit_page_with_a_reason() {
    let fx = fixture("record-pages-edit").await;
    let clerk = account_with(&fx, fx.institution, "uketsuke", JobType::Clerk, &[Role::Clerk], true, false).await;
    let mut b = page_login(&fx, &clerk).await;
    let patient = register(&mut b, "6001", "伊藤", "清", ("いとう", "きよし")).await;
    let form = b.get(&format!("/patients/{patient}/edit")).await;
    assert!(
        form.html.contains("name=\"version\" value=\"1\"") && form.html.contains("value=\"イトウ\""),
        "{}",
        form.html
    );
    let csrf = form.csrf();
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("version", "1"),
        ("number", "6001"),
        ("family", "伊藤"),
        ("given", "清"),
        ("family_kana", "イトウ"),
        ("given_kana", "キヨシ"),
        ("birth_date", "1958-03-14"),
        ("sex", "male"),
        ("phone", "090-1111-2222"),
        ("address", ""),
        ("reason", ""),
    ];
    let r = b.post(&format!("/patients/{patient}/edit"), &fields).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.html);
    assert!(r.html.contains("変更の理由を1〜500文字") && r.html.contains("090-1111-2222"), "{}", r.html);
    fields.pop();
    fields.push(("reason", "電話番号の追加（本人申告）"));
    let r = b.post(&format!("/patients/{patient}/edit"), &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location.as_deref(), Some(format!("/patients/{patient}").as_str()));
    let detail = b.get(&format!("/patients/{patient}")).await;
    assert!(detail.html.contains("090-1111-2222") && detail.html.contains("電話番号の追加（本人申告）"));
    // The same form again names version 1: stale, said so, nothing changed.
    let stale = b.post(&format!("/patients/{patient}/edit"), &fields).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.html);
    assert!(stale.html.contains("他の人が先に変更しました"), "{}", stale.html);
    fields[0] = ("csrf", "");
    let r = b.post(&format!("/patients/{patient}/edit"), &fields).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.html);
    let versions = fx.state.store.patient_versions(fx.institution, patient.parse().unwrap()).await.unwrap();
    assert_eq!(versions.len(), 2);
}
