//! Identifiers. Random (UUID v4) from a caller-supplied random source.

use rand_core::RngCore;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random identifier drawn from `rng`.
            pub fn generate(rng: &mut impl RngCore) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// The identifier from its UUID.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An institution (医療機関): the tenant that owns its data.
    InstitutionId
);
id_type!(
    /// A user account. Never reused.
    UserId
);
id_type!(
    /// A patient of an institution.
    PatientId
);
id_type!(
    /// An emergency (break-glass) grant.
    EmergencyGrantId
);
id_type!(
    /// A registered terminal (端末).
    TerminalId
);
id_type!(
    /// One activation of a sealed emergency account.
    SealedActivationId
);
id_type!(
    /// A clinical record (its versions share it).
    RecordId
);
id_type!(
    /// A registered device that sends results (MDS 17).
    DeviceId
);
id_type!(
    /// An assessment of a catalog by an institution (自己点検).
    AssessmentId
);
id_type!(
    /// A piece of evidence for an assessed item (its revisions share it).
    EvidenceId
);
id_type!(
    /// An entry of a compliance register (台帳), shared by its versions.
    RegisterEntryId
);
id_type!(
    /// A vendor's MDS or SDS disclosure as recorded by an institution.
    VendorDisclosureId
);

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    #[test]
    fn ids_come_from_the_given_randomness_and_round_trip() {
        let id = InstitutionId::generate(&mut Counter(0));
        assert_eq!(id.to_string(), "01020304-0506-4708-890a-0b0c0d0e0f10");
        assert_eq!(id.to_string().parse::<InstitutionId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
