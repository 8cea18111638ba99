//! The role and category editor over the API: the institution's information categories
//! (six built in, its own added), and each role's clinical rights — the least-privilege
//! defaults until the institution replaces a role's grants. Administrative permissions are
//! fixed per role. Changing either needs the manage-roles permission.

use crate::audit;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mamori_core::audit::Outcome;
use mamori_core::authz::{
    Action, AdminAuthorized, AdminPermission, Category, CategoryDef, authorize_admin, check_role_grants, role_policy,
};
use mamori_core::{Message, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most grants one role may list (6 actions × 100 categories).
const MAX_GRANTS: usize = 600;

/// A category as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// Its name.
    pub name: String,
    /// Japanese label.
    pub label_ja: String,
    /// English label.
    pub label_en: String,
    /// Whether it is one of the six built-in categories.
    pub built_in: bool,
}

/// `POST /api/v1/categories`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// The name: a-z first, then a-z, 0-9 or `_`, 1–40 characters.
    pub name: String,
    /// Japanese label (1–50 characters).
    pub label_ja: String,
    /// English label (1–50 characters).
    pub label_en: String,
}

/// One clinical right.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// read, write, finalize, approve, print or export.
    pub action: String,
    /// A category name.
    pub category: String,
}

/// A role as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    /// The role's name.
    pub role: String,
    /// The role's Japanese label.
    pub label_ja: String,
    /// Its clinical rights in this institution, sorted by action then category.
    pub grants: Vec<Grant>,
    /// Its administrative permissions (fixed).
    pub admin: Vec<String>,
    /// Whether the institution replaced the default grants.
    pub customized: bool,
}

/// `PUT /api/v1/roles/{role}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleGrants {
    /// The role's complete new clinical rights (they replace the current ones).
    pub grants: Vec<Grant>,
}

fn admin_name(p: AdminPermission) -> &'static str {
    match p {
        AdminPermission::ManageUsers => "manage_users",
        AdminPermission::ManageRoles => "manage_roles",
        AdminPermission::ManageTerminals => "manage_terminals",
        AdminPermission::ReadAudit => "read_audit",
        AdminPermission::ReviewEmergency => "review_emergency",
        AdminPermission::ManageCompliance => "manage_compliance",
        AdminPermission::ReadCompliance => "read_compliance",
        AdminPermission::EmergencyAccess => "emergency_access",
    }
}

fn manage_roles(auth: &Authenticated) -> Result<AdminAuthorized, ApiError> {
    auth.ready()?;
    authorize_admin(&auth.principal(), auth.user.institution_id, AdminPermission::ManageRoles).map_err(ApiError::denied)
}

/// Every category of the institution, built-in first.
pub(crate) async fn all_categories(state: &AppState, auth: &Authenticated) -> Result<Vec<CategoryView>, ApiError> {
    let mut out: Vec<CategoryView> = Category::BUILT_IN
        .iter()
        .map(|c| CategoryView {
            name: c.as_str().to_owned(),
            label_ja: c.label_ja().to_owned(),
            label_en: c.label_en().to_owned(),
            built_in: true,
        })
        .collect();
    for def in state.store.categories(auth.user.institution_id).await? {
        out.push(CategoryView {
            name: def.category.as_str().to_owned(),
            label_ja: def.label_ja,
            label_en: def.label_en,
            built_in: false,
        });
    }
    Ok(out)
}

/// The institution's information categories (情報区分).
#[utoipa::path(get, path = "/api/v1/categories", tag = "roles",
    responses((status = 200, description = "Built-in categories, then the institution's own", body = Vec<CategoryView>)))]
pub async fn categories(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<CategoryView>>, ApiError> {
    auth.ready()?;
    all_categories(&state, &auth).await.map(Json)
}

/// Adds an information category; no role has any right on it until one is granted.
#[utoipa::path(post, path = "/api/v1/categories", tag = "roles", request_body = NewCategory,
    responses(
        (status = 201, description = "Added", body = CategoryView),
        (status = 400, description = "A bad name or label, or a built-in name", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage roles", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The institution has a category of that name", body = crate::error::ErrorEnvelope)
    ))]
pub async fn add_category(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(req): ApiJson<NewCategory>,
) -> Result<Response, ApiError> {
    let allowed = manage_roles(&auth)?;
    let (category, label_ja, label_en) =
        CategoryDef::check(&req.name, &req.label_ja, &req.label_en).map_err(ApiError::bad_request)?;
    let def = CategoryDef {
        institution: allowed.institution(),
        category,
        label_ja,
        label_en,
        created_at: mamori_core::clock::to_micros(state.clock.now()),
    };
    let mut tx = state.store.begin().await?;
    tx.add_category(&def).await.map_err(|e| match e {
        mamori_store::StoreError::Conflict { .. } => ApiError::conflict(
            "category_exists",
            Message::new("同じ名前の情報区分があります。", "a category of that name exists"),
        ),
        other => other.into(),
    })?;
    tracing::info!(institution = %def.institution, by = %allowed.user(), category = %def.category, "category added");
    let event =
        audit::by(&state, &auth.user, "category.add", Outcome::Allowed).resource(format!("category:{}", def.category));
    audit::commit_with(tx, event).await?;
    let view = CategoryView {
        name: def.category.to_string(),
        label_ja: def.label_ja,
        label_en: def.label_en,
        built_in: false,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn role_view(role: Role, auth: &Authenticated) -> RoleView {
    let policy = &auth.policy;
    RoleView {
        role: role.as_str().to_owned(),
        label_ja: role.label_ja().to_owned(),
        grants: policy
            .clinical(role)
            .iter()
            .map(|(a, c)| Grant { action: a.as_str().to_owned(), category: c.as_str().to_owned() })
            .collect(),
        admin: role_policy(role).admin.iter().map(|p| admin_name(*p).to_owned()).collect(),
        customized: policy.is_customized(role),
    }
}

/// Every role with its rights in this institution.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles",
    responses(
        (status = 200, description = "Every role", body = Vec<RoleView>),
        (status = 403, description = "No permission to manage roles", body = crate::error::ErrorEnvelope)
    ))]
pub async fn roles(State(_state): State<AppState>, auth: Authenticated) -> Result<Json<Vec<RoleView>>, ApiError> {
    manage_roles(&auth)?;
    Ok(Json(Role::ALL.iter().map(|r| role_view(*r, &auth)).collect()))
}

fn parse_action(raw: &str) -> Option<Action> {
    Action::ALL.into_iter().find(|a| a.as_str() == raw)
}

/// Replaces one role's clinical rights in this institution. The system administrator and
/// the auditor hold none; every category must exist.
#[utoipa::path(put, path = "/api/v1/roles/{role}", tag = "roles", request_body = RoleGrants,
    params(("role" = String, Path, description = "The role's name, e.g. nurse")),
    responses(
        (status = 200, description = "Replaced", body = RoleView),
        (status = 400, description = "An unknown action or category, a duplicate, or clinical rights for an administrative role", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No permission to manage roles", body = crate::error::ErrorEnvelope),
        (status = 404, description = "No such role", body = crate::error::ErrorEnvelope)
    ))]
pub async fn set_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(role): Path<String>,
    ApiJson(req): ApiJson<RoleGrants>,
) -> Result<Json<RoleView>, ApiError> {
    let allowed = manage_roles(&auth)?;
    let role: Role = role.parse().map_err(|_| ApiError::no_such("役割", "role"))?;
    if req.grants.len() > MAX_GRANTS {
        return Err(super::session::too_long("grants"));
    }
    let mut grants = Vec::with_capacity(req.grants.len());
    for g in &req.grants {
        let action = parse_action(&g.action).ok_or_else(|| {
            ApiError::bad_request(Message::new(
                format!(
                    "操作「{}」はありません（read, write, finalize, approve, print, export）。",
                    g.action.chars().take(40).collect::<String>()
                ),
                "an action is one of read, write, finalize, approve, print, export",
            ))
        })?;
        let category = Category::parse(&g.category).map_err(ApiError::bad_request)?;
        if grants.contains(&(action, category.clone())) {
            return Err(ApiError::bad_request(Message::new(
                format!("{} / {} が重複しています。", action.as_str(), category),
                format!("{} / {} is listed twice", action.as_str(), category),
            )));
        }
        grants.push((action, category));
    }
    let known: Vec<Category> =
        state.store.categories(allowed.institution()).await?.into_iter().map(|d| d.category).collect();
    let checked = check_role_grants(role, &grants, &known).map_err(ApiError::bad_request)?;
    let sorted: Vec<(Action, Category)> = checked.into_iter().collect();
    let now = mamori_core::clock::to_micros(state.clock.now());
    let mut tx = state.store.begin().await?;
    tx.set_role_grants(allowed.institution(), role, &sorted, allowed.user(), now).await?;
    tracing::warn!(institution = %allowed.institution(), by = %allowed.user(), role = role.as_str(), grants = sorted.len(), "role grants replaced");
    let event = audit::by(&state, &auth.user, "role.set", Outcome::Allowed)
        .resource(format!("role:{}", role.as_str()))
        .detail("grants", sorted.iter().map(|(a, c)| format!("{}:{c}", a.as_str())).collect::<Vec<_>>().join(" "));
    audit::commit_with(tx, event).await?;
    let policy = crate::auth::policy(&state, allowed.institution()).await?;
    let auth = Authenticated { policy, ..auth };
    Ok(Json(role_view(role, &auth)))
}
