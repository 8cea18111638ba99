//! The self-inspection report of an assessment (PDF, xlsx in the checklist layout, OSCAL
//! assessment-results): the one place that turns an assessment as read
//! ([`assessments::read`]) into a [`ReportInput`], and the step that makes a report and
//! records it (`compliance.report`, with the format).
//!
//! Reading needs `ReadCompliance` (system administrators and auditors), as reading the
//! assessment does.

use crate::assessments::{self, AssessmentView, Manager};
use crate::audit;
use crate::error::ApiError;
use mamori_core::assessment::EvidenceKind;
use mamori_core::audit::Outcome;
use mamori_core::audit::{Actor, AuditEvent};
use mamori_core::{AssessmentId, InstitutionId};
use mamori_reports::{EvidenceRef, ExtraSection, Fonts, ReportAssessment, ReportEvidence, ReportInput, ReportItem};
use mamori_store::Store;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// A report's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// PDF (typst, IPAex fonts).
    Pdf,
    /// xlsx in the checklist layout.
    Xlsx,
    /// OSCAL assessment-results JSON.
    Oscal,
}

impl ReportFormat {
    /// `pdf`, `xlsx` or `oscal` (the audit event's detail and the CLI's `--format`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Xlsx => "xlsx",
            Self::Oscal => "oscal",
        }
    }

    /// The media type.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Oscal => "application/json",
        }
    }

    /// An ASCII file name for the download.
    #[must_use]
    pub fn file_name(self, id: AssessmentId) -> String {
        match self {
            Self::Pdf => format!("self-inspection-{id}.pdf"),
            Self::Xlsx => format!("self-inspection-{id}.xlsx"),
            Self::Oscal => format!("assessment-results-{id}.json"),
        }
    }
}

impl std::str::FromStr for ReportFormat {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pdf" => Ok(Self::Pdf),
            "xlsx" => Ok(Self::Xlsx),
            "oscal" => Ok(Self::Oscal),
            _ => Err(()),
        }
    }
}

impl From<&mamori_core::config::ReportsConfig> for FontPaths {
    fn from(c: &mamori_core::config::ReportsConfig) -> Self {
        Self { gothic: c.gothic_font.clone(), mincho: c.mincho_font.clone() }
    }
}

/// Where the PDF's fonts are read from (`[reports]` in the configuration): Debian's
/// `fonts-ipaexfont` unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontPaths {
    /// IPAexGothic.
    pub gothic: PathBuf,
    /// IPAexMincho.
    pub mincho: PathBuf,
}

impl Default for FontPaths {
    fn default() -> Self {
        Self { gothic: mamori_reports::DEBIAN_GOTHIC.into(), mincho: mamori_reports::DEBIAN_MINCHO.into() }
    }
}

/// The date of a time in Japan (the dates a clinic reads).
fn jst_date(t: OffsetDateTime) -> time::Date {
    t.to_offset(time::macros::offset!(+9)).date()
}

/// The report's input from an assessment as read: the catalog's texts and sections, the
/// owners' display names, every evidence revision, the live evidence. An item's 確認日 is the
/// date of its current version, none while it is at version 1 (as the assessment started:
/// nobody has looked at it in this assessment yet).
///
/// # Errors
/// 500 if the shipped catalogs do not load; store failures.
pub async fn input(
    store: &dyn Store,
    institution: InstitutionId,
    view: &AssessmentView,
    now: OffsetDateTime,
) -> Result<ReportInput, ApiError> {
    let catalogs = mamori_compliance::catalogs().map_err(|e| {
        tracing::error!(error = %e, "the shipped catalogs do not load");
        ApiError::internal()
    })?;
    let catalog = catalogs.into_iter().find(|c| c.catalog.id == view.assessment.catalog).ok_or_else(|| {
        tracing::error!(catalog = %view.assessment.catalog, "an assessment of a catalog that is not shipped");
        ApiError::internal()
    })?;
    let institution_id = institution;
    let users = store.users(institution).await?;
    let institution = store.institution(institution).await?.map(|i| i.name.as_str().to_owned()).unwrap_or_default();
    let name_of =
        |id: mamori_core::UserId| users.iter().find(|u| u.id == id).map(|u| u.display_name.as_str().to_owned());
    let mut items = Vec::with_capacity(catalog.items.len());
    for c in &catalog.items {
        let Some(i) = view.items.iter().find(|i| i.item == c.id) else { continue };
        let section_title =
            catalog.sections.iter().find(|s| s.number == c.section).map(|s| s.title.clone()).unwrap_or_default();
        let evidence = view
            .evidence
            .iter()
            .filter(|e| e.item == c.id)
            .map(|e| ReportEvidence {
                id: e.id.to_string(),
                revision: e.revision,
                title: e.title.clone(),
                kind: match &e.kind {
                    EvidenceKind::File { name, sha256, .. } => EvidenceRef::File {
                        name: name.clone(),
                        sha256: sha256.iter().map(|b| format!("{b:02x}")).collect(),
                    },
                    EvidenceKind::Link { url } => EvidenceRef::Link { url: url.clone() },
                },
                effective: e.effective_on,
                expires: e.expires_on,
            })
            .collect();
        items.push(ReportItem {
            id: c.id.clone(),
            section: c.section.clone(),
            section_title,
            number: c.number.clone(),
            text: c.text.clone(),
            state: i.state,
            owner_name: i.owner.and_then(name_of),
            due_on: i.due_on,
            checked_on: (i.version > 1).then(|| jst_date(i.changed_at)),
            next_review: i.next_review_on,
            notes: i.notes.clone(),
            evidence,
            live: view.live.iter().filter(|l| l.item == c.id).flat_map(|l| l.lines.clone()).collect(),
        });
    }
    let a = &view.assessment;
    Ok(ReportInput {
        institution_name: institution,
        assessment: ReportAssessment {
            id: a.id.to_string(),
            title: a.title.clone(),
            catalog: a.catalog.clone(),
            catalog_title: catalog.catalog.title.clone(),
            period_start: a.period_start,
            period_end: a.period_end,
        },
        items,
        generated_at: now,
        sections: workbench_sections(store, institution_id, now, &name_of).await?,
    })
}

/// The report's further sections from the rest of the workbench: the applicability decision
/// (図1), the risk records of the current vendor disclosures, and the registers (counts, and
/// every entry to act on).
async fn workbench_sections(
    store: &dyn Store,
    institution: InstitutionId,
    now: OffsetDateTime,
    name_of: &(dyn Fn(mamori_core::UserId) -> Option<String> + Sync),
) -> Result<Vec<ExtraSection>, ApiError> {
    let today = jst_date(now);
    let text = |s: &str| s.to_owned();
    let mut sections = Vec::new();

    let decisions = store.applicability(institution).await?;
    let chart = crate::applicability::flowchart()?;
    sections.push(ExtraSection {
        title: text("適用判断（保守委託機関編 図1）"),
        columns: ["版", "結果", "根拠（契約書・SLA 等）", "判断日"].map(text).to_vec(),
        rows: match decisions.last() {
            Some(d) => vec![vec![
                d.version.to_string(),
                chart.node(&d.outcome).map_or_else(|| d.outcome.clone(), |n| n.text.clone()),
                d.basis.clone(),
                jst_date(d.decided_at).to_string(),
            ]],
            None => vec![vec![String::new(), text("未判断")]],
        },
    });

    let disclosures = store.vendor_disclosures(institution).await?;
    let current = |d: &mamori_core::vendor::VendorDisclosure| {
        !disclosures.iter().any(|o| {
            o.vendor == d.vendor && o.product == d.product && o.catalog == d.catalog && o.generation > d.generation
        })
    };
    let risks = store.vendor_risks(institution).await?;
    let mut rows = Vec::new();
    for d in disclosures.iter().filter(|d| current(d)) {
        for r in risks.iter().filter(|r| r.disclosure == d.id) {
            rows.push(vec![
                format!("{} {}", d.vendor, d.product),
                r.item.clone(),
                r.status(today).label_ja().to_owned(),
                r.justification.clone(),
                r.owner.and_then(name_of).unwrap_or_default(),
                r.mitigation.clone(),
                r.expires_on.map(|e| e.to_string()).unwrap_or_default(),
            ]);
        }
    }
    sections.push(ExtraSection {
        title: format!(
            "事業者の開示書（MDS/SDS）の「いいえ」とリスク記録（開示書 {} 件）",
            disclosures.iter().filter(|d| current(d)).count()
        ),
        columns: ["事業者・製品", "項目", "状態", "リスク評価", "責任者", "代替策", "見直し期限"].map(text).to_vec(),
        rows,
    });

    let mut counts = Vec::new();
    let mut attention = Vec::new();
    for &kind in mamori_core::register::RegisterKind::ALL {
        let entries = store.register_entries(institution, kind).await?;
        let live: Vec<_> = entries.iter().filter(|e| e.retired.is_none()).collect();
        let mut marked = 0;
        for e in &live {
            if let Some(m) = mamori_core::register::attention(kind, &e.fields, today) {
                marked += 1;
                let title = e.fields.get(kind.title_field()).cloned().unwrap_or_default();
                attention.push(vec![kind.label_ja().to_owned(), title, m.ja]);
            }
        }
        counts.push(vec![kind.label_ja().to_owned(), live.len().to_string(), marked.to_string()]);
    }
    sections.push(ExtraSection {
        title: text("台帳・一覧"),
        columns: ["台帳", "件数", "要対応"].map(text).to_vec(),
        rows: counts,
    });
    if !attention.is_empty() {
        sections.push(ExtraSection {
            title: text("台帳の要対応事項"),
            columns: ["台帳", "名称", "要対応"].map(text).to_vec(),
            rows: attention,
        });
    }
    Ok(sections)
}

/// Makes the report of an assessment in `format` and records it (`compliance.report` with the
/// format; reading the assessment is recorded as `compliance.read` too).
///
/// # Errors
/// 403 without `ReadCompliance`, 404 for an unknown assessment, 500 when the PDF's fonts are
/// missing (logged with the path) or typesetting fails.
pub async fn report(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    id: AssessmentId,
    inactive_after: Duration,
    format: ReportFormat,
    fonts: &FontPaths,
) -> Result<Vec<u8>, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let view = assessments::read(store, who, now, id, inactive_after).await?;
    let input = input(store, who.institution(), &view, now).await?;
    let bytes = render(input, format, fonts.clone()).await?;
    let event = who
        .event(now, "compliance.report", Outcome::Allowed)
        .resource(format!("assessment:{id}"))
        .detail("format", format.as_str());
    audit::record_in(store, vec![event]).await?;
    Ok(bytes)
}

/// Makes the report of an assessment for the operator at the command line (`mamori assessment
/// report`): read straight from the store, recorded as `compliance.report` by the operator.
///
/// # Errors
/// 404 for an unknown assessment, store failures, 500 as [`render`].
pub async fn operator_report(
    store: &dyn Store,
    institution: InstitutionId,
    now: OffsetDateTime,
    id: AssessmentId,
    inactive_after: Duration,
    format: ReportFormat,
    fonts: &FontPaths,
) -> Result<Vec<u8>, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let assessment = store.assessment(institution, id).await?.ok_or_else(|| ApiError::no_such("点検", "assessment"))?;
    let view = AssessmentView {
        assessment,
        items: store.assessment_items(institution, id).await?,
        evidence: store.evidence(institution, id).await?,
        live: assessments::live_evidence(store, institution, now, inactive_after).await?,
    };
    let input = input(store, institution, &view, now).await?;
    let bytes = render(input, format, fonts.clone()).await?;
    let event = AuditEvent::new(institution, now, Actor::Operator, "compliance.report", Outcome::Allowed)
        .resource(format!("assessment:{id}"))
        .detail("format", format.as_str());
    audit::record_in(store, vec![event]).await?;
    Ok(bytes)
}

/// Renders a report (the PDF on a blocking thread: typesetting takes a while).
///
/// # Errors
/// 500, logged with the reason (a missing font names its path).
pub async fn render(input: ReportInput, format: ReportFormat, fonts: FontPaths) -> Result<Vec<u8>, ApiError> {
    let failed = |e: mamori_reports::ReportError| {
        tracing::error!(error = %e, "the report could not be made");
        ApiError::internal()
    };
    match format {
        ReportFormat::Xlsx => mamori_reports::xlsx(&input).map_err(failed),
        ReportFormat::Oscal => {
            let doc = mamori_reports::oscal_assessment_results(
                &input,
                &mamori_reports::catalog_href(&input.assessment.catalog),
            );
            serde_json::to_vec_pretty(&doc).map_err(|e| {
                tracing::error!(error = %e, "the OSCAL document could not be written");
                ApiError::internal()
            })
        }
        ReportFormat::Pdf => tokio::task::spawn_blocking(move || {
            let fonts = Fonts::load(&fonts.gothic, &fonts.mincho)?;
            mamori_reports::pdf(&input, &fonts)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the PDF task failed");
            ApiError::internal()
        })?
        .map_err(failed),
    }
}
