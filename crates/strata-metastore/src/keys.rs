//! Key secrets, hashing and constant-time authentication.

use std::collections::HashMap;

use rand::RngCore;
use sha2::{Digest, Sha256};
use strata_types::TenantId;
use subtle::ConstantTimeEq;

use crate::{KeyInfo, KeyKind};

/// A new random secret: 32 hex characters for API keys, 40 for application
/// keys, like Datadog's.
pub fn generate_secret(kind: KeyKind) -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    match kind {
        KeyKind::Api => hex[..32].to_string(),
        KeyKind::App => hex,
    }
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Who a presented secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedKey {
    /// The key's id.
    pub key_id: String,
    /// The key's tenant.
    pub tenant: TenantId,
    /// The key's kind.
    pub kind: KeyKind,
}

/// An in-memory snapshot of the active keys, for authenticating requests
/// without a database round trip.
#[derive(Debug, Default, Clone)]
pub struct KeyRing {
    by_id: HashMap<String, Vec<KeyInfo>>,
}

impl KeyRing {
    /// Builds a ring from key rows; revoked keys are left out.
    pub fn new(keys: impl IntoIterator<Item = KeyInfo>) -> KeyRing {
        let mut by_id: HashMap<String, Vec<KeyInfo>> = HashMap::new();
        for key in keys.into_iter().filter(|k| k.revoked_at_ms.is_none()) {
            by_id.entry(key.id.clone()).or_default().push(key);
        }
        KeyRing { by_id }
    }

    /// Authenticates `secret` as a key of `kind`. The id lookup only finds
    /// candidates; the secret itself is checked by a constant-time comparison
    /// of SHA-256 digests.
    pub fn authenticate(&self, secret: &str, kind: KeyKind) -> Option<AuthenticatedKey> {
        let id = secret.get(..8)?;
        let candidates = self.by_id.get(id)?;
        let digest = hash_secret(secret);
        let mut found = None;
        for key in candidates {
            let equal: bool = key.sha256.ct_eq(&digest).into();
            if equal && key.kind == kind {
                found = Some(AuthenticatedKey {
                    key_id: key.id.clone(),
                    tenant: key.tenant.clone(),
                    kind,
                });
            }
        }
        found
    }

    /// Number of active keys.
    pub fn len(&self) -> usize {
        self.by_id.values().map(Vec::len).sum()
    }

    /// Whether there is no active key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(secret: &str, kind: KeyKind, revoked: bool) -> KeyInfo {
        KeyInfo {
            id: secret[..8].to_string(),
            tenant: "t".into(),
            kind,
            sha256: hash_secret(secret),
            created_at_ms: 0,
            revoked_at_ms: revoked.then_some(1),
        }
    }

    #[test]
    fn secrets_have_datadog_shapes() {
        assert_eq!(generate_secret(KeyKind::Api).len(), 32);
        assert_eq!(generate_secret(KeyKind::App).len(), 40);
        assert_ne!(generate_secret(KeyKind::Api), generate_secret(KeyKind::Api));
    }

    #[test]
    fn ring_authenticates_by_kind_and_skips_revoked() {
        let api = generate_secret(KeyKind::Api);
        let app = generate_secret(KeyKind::App);
        let gone = generate_secret(KeyKind::Api);
        let ring = KeyRing::new([
            info(&api, KeyKind::Api, false),
            info(&app, KeyKind::App, false),
            info(&gone, KeyKind::Api, true),
        ]);
        assert_eq!(ring.authenticate(&api, KeyKind::Api).unwrap().tenant, "t");
        assert!(ring.authenticate(&api, KeyKind::App).is_none());
        assert!(ring.authenticate(&app, KeyKind::App).is_some());
        assert!(ring.authenticate(&gone, KeyKind::Api).is_none());
        let mut wrong = api.clone();
        wrong.push('0');
        assert!(ring.authenticate(&wrong, KeyKind::Api).is_none());
        assert!(ring.authenticate("short", KeyKind::Api).is_none());
        assert!(ring.authenticate("", KeyKind::Api).is_none());
        assert!(ring.authenticate("ééééééééé", KeyKind::Api).is_none());
        assert_eq!(ring.len(), 2);
    }
}
