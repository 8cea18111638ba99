//! The default role × category × action matrix, cell by cell, written out independently of
//! `role_policy` so that a change to the policy must change this table too.

#![allow(clippy::unwrap_used)]

use super::*;
use time::macros::datetime;

/// Letters: R read, W write, F finalize, A approve, P print, E export.
/// Columns: clinical_record, lab_result, imaging, prescription, document, psychiatric.
const MATRIX: &[(Role, [&str; 6])] = &[
    (Role::Doctor, ["RWFAP", "RWFAP", "RWFAP", "RWFAP", "RWFAP", "RWFAP"]),
    (Role::Nurse, ["RWFP", "RP", "R", "R", "RWFP", ""]),
    (Role::Pharmacist, ["R", "R", "", "RWFP", "", ""]),
    (Role::Technician, ["R", "RWFP", "RWFP", "", "", ""]),
    (Role::Clerk, ["W", "", "", "W", "RWP", ""]),
    (Role::SystemAdministrator, ["", "", "", "", "", ""]),
    (Role::Auditor, ["", "", "", "", "", ""]),
];

/// Administrative permissions per role: U users, O roles, T terminals, L audit log,
/// V emergency review, G emergency access, C compliance (manage), K compliance (read).
const ADMIN: &[(Role, &str)] = &[
    (Role::Doctor, "G"),
    (Role::Nurse, "G"),
    (Role::Pharmacist, ""),
    (Role::Technician, ""),
    (Role::Clerk, ""),
    (Role::SystemAdministrator, "UOTVCK"),
    (Role::Auditor, "LK"),
];

fn letter(action: Action) -> char {
    match action {
        Action::Read => 'R',
        Action::Write => 'W',
        Action::Finalize => 'F',
        Action::Approve => 'A',
        Action::Print => 'P',
        Action::Export => 'E',
    }
}

fn admin_letter(p: AdminPermission) -> char {
    match p {
        AdminPermission::ManageUsers => 'U',
        AdminPermission::ManageRoles => 'O',
        AdminPermission::ManageTerminals => 'T',
        AdminPermission::ReadAudit => 'L',
        AdminPermission::ReviewEmergency => 'V',
        AdminPermission::EmergencyAccess => 'G',
        AdminPermission::ManageCompliance => 'C',
        AdminPermission::ReadCompliance => 'K',
    }
}

const NOW: OffsetDateTime = datetime!(2026-11-25 09:00 UTC);

fn institution(n: u128) -> InstitutionId {
    InstitutionId::from_uuid(uuid::Uuid::from_u128(n))
}

fn principal(roles: &[Role]) -> Principal {
    Principal {
        institution: institution(1),
        user: UserId::from_uuid(uuid::Uuid::from_u128(10)),
        roles: roles.to_vec(),
        status: UserStatus::Active,
        emergency_grants: Vec::new(),
        policy: Policy::default(),
    }
}

fn patient(n: u128) -> PatientId {
    PatientId::from_uuid(uuid::Uuid::from_u128(n))
}

#[test]
fn every_cell_of_the_default_matrix_allows_or_denies_as_written() {
    assert_eq!(MATRIX.len(), Role::ALL.len(), "every role has a row");
    let mut cells = 0;
    for (role, row) in MATRIX {
        let who = principal(&[*role]);
        for (category, allowed) in Category::BUILT_IN.iter().zip(row) {
            for action in Action::ALL {
                let expected = allowed.contains(letter(action));
                let got = authorize(&who, institution(1), action, category, Some(patient(7)), NOW);
                assert_eq!(got.is_ok(), expected, "{role} {action:?} {category}: {got:?}");
                if let Ok(proof) = got {
                    assert_eq!(proof.basis(), &Basis::Role(*role));
                    assert_eq!(
                        (proof.action(), proof.category(), proof.patient()),
                        (action, category, Some(patient(7)))
                    );
                } else {
                    assert_eq!(got, Err(Denied::NotGranted));
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 7 * 6 * 6);
}

#[test]
fn every_administrative_permission_allows_or_denies_as_written() {
    assert_eq!(ADMIN.len(), Role::ALL.len());
    for (role, allowed) in ADMIN {
        for permission in AdminPermission::ALL {
            let got = authorize_admin(&principal(&[*role]), institution(1), permission);
            assert_eq!(got.is_ok(), allowed.contains(admin_letter(permission)), "{role} {permission:?}");
        }
    }
}

#[test]
fn no_default_role_exports_or_touches_an_institutions_own_category() {
    let custom = Category::parse("genetic_test").unwrap_or(Category::DOCUMENT);
    assert_eq!(custom.as_str(), "genetic_test");
    for role in Role::ALL {
        let who = principal(&[*role]);
        for action in Action::ALL {
            assert!(authorize(&who, institution(1), action, &custom, None, NOW).is_err(), "{role} {action:?}");
        }
        for category in &Category::BUILT_IN {
            assert!(authorize(&who, institution(1), Action::Export, category, None, NOW).is_err());
        }
    }
}

#[test]
fn access_across_institutions_is_refused_whatever_the_role() {
    let who = principal(Role::ALL);
    for action in Action::ALL {
        for category in &Category::BUILT_IN {
            let got = authorize(&who, institution(2), action, category, Some(patient(7)), NOW);
            assert_eq!(got, Err(Denied::OtherInstitution));
        }
    }
    for permission in AdminPermission::ALL {
        assert_eq!(authorize_admin(&who, institution(2), permission), Err(Denied::OtherInstitution));
    }
}

#[test]
fn disabled_and_retired_accounts_are_refused() {
    for status in [UserStatus::Disabled, UserStatus::Retired] {
        let who = Principal { status, ..principal(&[Role::Doctor]) };
        let got = authorize(&who, institution(1), Action::Read, &Category::CLINICAL_RECORD, None, NOW);
        assert_eq!(got, Err(Denied::Inactive));
        assert_eq!(authorize_admin(&who, institution(1), AdminPermission::EmergencyAccess), Err(Denied::Inactive));
    }
}

#[test]
fn an_emergency_grant_opens_one_patient_until_it_expires() {
    let grant = EmergencyGrant {
        id: EmergencyGrantId::from_uuid(uuid::Uuid::from_u128(99)),
        patient: patient(7),
        expires_at: NOW + time::Duration::minutes(60),
    };
    let nurse = Principal { emergency_grants: vec![grant.clone()], ..principal(&[Role::Nurse]) };
    let psych = Category::PSYCHIATRIC;
    // Allowed on the granted patient, for read, write and print only.
    let got = authorize(&nurse, institution(1), Action::Read, &psych, Some(patient(7)), NOW);
    assert_eq!(got.as_ref().map(Authorized::basis), Ok(&Basis::Emergency(grant.id)));
    for action in EMERGENCY_ACTIONS {
        assert!(authorize(&nurse, institution(1), action, &psych, Some(patient(7)), NOW).is_ok(), "{action:?}");
    }
    for action in [Action::Finalize, Action::Approve, Action::Export] {
        assert_eq!(authorize(&nurse, institution(1), action, &psych, Some(patient(7)), NOW), Err(Denied::NotGranted));
    }
    // Not on another patient, nor without a patient.
    assert_eq!(authorize(&nurse, institution(1), Action::Read, &psych, Some(patient(8)), NOW), Err(Denied::NotGranted));
    assert_eq!(authorize(&nurse, institution(1), Action::Read, &psych, None, NOW), Err(Denied::NotGranted));
    // Expired at exactly its expiry time.
    let at_expiry = grant.expires_at;
    assert_eq!(
        authorize(&nurse, institution(1), Action::Read, &psych, Some(patient(7)), at_expiry),
        Err(Denied::EmergencyExpired)
    );
    assert!(
        authorize(&nurse, institution(1), Action::Read, &psych, Some(patient(7)), at_expiry - time::Duration::SECOND)
            .is_ok()
    );
    // Roles without the emergency permission cannot use a grant even if one were recorded.
    let clerk = Principal { emergency_grants: vec![grant], ..principal(&[Role::Clerk]) };
    assert_eq!(authorize(&clerk, institution(1), Action::Read, &psych, Some(patient(7)), NOW), Err(Denied::NotGranted));
}

#[test]
fn every_job_type_maps_to_roles_that_exist_and_managers_get_no_clinical_rights() {
    for job in JobType::ALL {
        assert!(!roles_allowed_for(*job).is_empty(), "{job}");
    }
    for role in roles_allowed_for(JobType::Manager) {
        assert!(role_policy(*role).clinical.is_empty());
    }
}

#[test]
fn category_names_are_checked() {
    assert_eq!(Category::parse("psychiatric").ok(), Some(Category::PSYCHIATRIC));
    for bad in ["", "Genetic", "1abc", "a b", "精神", &"a".repeat(41)] {
        assert!(Category::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Category::PSYCHIATRIC.label_ja(), "精神科記録");
}

#[test]
fn an_institution_grants_rights_on_its_own_category_and_replaces_a_roles_defaults() {
    let at = datetime!(2026-11-25 09:00 UTC);
    let (category, ja, en) = CategoryDef::check("rehab_note", " リハビリ記録 ", "Rehabilitation notes").unwrap();
    assert_eq!((ja.as_str(), en.as_str()), ("リハビリ記録", "Rehabilitation notes"));
    let doctor = principal(&[Role::Doctor]);
    // No default role has any right on an added category.
    assert!(authorize(&doctor, institution(1), Action::Read, &category, None, at).is_err());
    let grants = check_role_grants(
        Role::Doctor,
        &[(Action::Read, category.clone()), (Action::Read, Category::CLINICAL_RECORD)],
        std::slice::from_ref(&category),
    )
    .unwrap();
    let doctor = Principal { policy: Policy::with_overrides([(Role::Doctor, grants)]), ..doctor };
    assert!(doctor.policy.is_customized(Role::Doctor));
    assert!(authorize(&doctor, institution(1), Action::Read, &category, None, at).is_ok());
    // The override replaces the defaults: what it leaves out is no longer granted.
    assert!(authorize(&doctor, institution(1), Action::Finalize, &Category::CLINICAL_RECORD, None, at).is_err());
    // Other roles keep their defaults.
    assert!(!doctor.policy.is_customized(Role::Nurse));
    assert_eq!(*doctor.policy.clinical(Role::Nurse), role_policy(Role::Nurse).clinical);
}

#[test]
fn role_grants_are_checked() {
    let read_records = [(Action::Read, Category::CLINICAL_RECORD)];
    for role in [Role::SystemAdministrator, Role::Auditor] {
        assert!(check_role_grants(role, &read_records, &[]).is_err(), "{role:?}");
        assert!(check_role_grants(role, &[], &[]).is_ok(), "{role:?}: none is fine");
    }
    let unknown = Category::parse("dental_chart").unwrap();
    assert!(check_role_grants(Role::Doctor, &[(Action::Read, unknown.clone())], &[]).is_err());
    assert!(check_role_grants(Role::Doctor, &[(Action::Read, unknown.clone())], &[unknown]).is_ok());
    assert!(CategoryDef::check("clinical_record", "診療記録", "Records").is_err(), "built-in name");
    assert!(CategoryDef::check("Bad Name", "x", "x").is_err());
    assert!(CategoryDef::check("ok_name", "", "x").is_err());
    assert!(CategoryDef::check("ok_name", "x", &"e".repeat(51)).is_err());
}
