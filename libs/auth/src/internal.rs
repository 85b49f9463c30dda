//! The platform's own identity: short-lived tokens its services mint for each other with a key
//! only they hold, apart from every token an outside identity provider issues.
//!
//! An outside token can never carry the `service` role: the [`Authenticator`](crate::Authenticator)
//! strips it from tokens its outside key verifies, and grants it only to tokens this module
//! mints, which name the internal issuer and audience and are signed with the internal key.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
};

use crate::{
    Claims, KeyError, Role, TokenIssuer,
    token::{LEEWAY_SECS, unix_now},
};

/// The issuer and audience of internal tokens: no outside identity provider's.
pub const INTERNAL_AUDIENCE: &str = "jiceng-internal";

/// How long an internal token is valid: short, so that a leaked one soon stops working.
pub const INTERNAL_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A token is renewed when less than this is left of it, well before any call could meet it
/// expired.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The key the platform's services sign and verify their internal tokens with (HS256, at least
/// 32 bytes): generated once per deployment, held by the services alone.
#[derive(Clone)]
pub struct InternalKey(Vec<u8>);

impl std::fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalKey")
    }
}

impl InternalKey {
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::ShortSecret);
        }
        Ok(Self(secret.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn verifier(&self) -> Result<InternalVerifier, KeyError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[INTERNAL_AUDIENCE]);
        validation.set_audience(&[INTERNAL_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Ok(InternalVerifier {
            key: DecodingKey::from_secret(&self.0)?,
            validation,
        })
    }
}

/// Verifies internal tokens; kept by the [`Authenticator`](crate::Authenticator).
pub(crate) struct InternalVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl InternalVerifier {
    /// The token's claims when the internal key signed it for the internal audience.
    pub(crate) fn claims(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// The bearer token one process presents to the platform's other services: minted from the
/// internal key, valid for [`INTERNAL_TOKEN_TTL`], renewed by itself before it expires. Cheap to
/// clone; clones share the current token.
#[derive(Clone)]
pub struct ServiceToken {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: TokenIssuer,
    subject: String,
    district: String,
    /// The current token's header value and when it expires (seconds since the epoch).
    current: Mutex<Option<(MetadataValue<Ascii>, u64)>>,
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceToken")
            .field("subject", &self.inner.subject)
            .finish_non_exhaustive()
    }
}

impl ServiceToken {
    /// Tokens for `subject` (the process, e.g. `service:grid`) in `district`.
    pub fn new(key: &InternalKey, district: &str, subject: &str) -> Result<Self, KeyError> {
        Ok(Self {
            inner: Arc::new(Inner {
                issuer: TokenIssuer::hs256(key.as_bytes())?,
                subject: subject.to_owned(),
                district: district.to_owned(),
                current: Mutex::new(None),
            }),
        })
    }

    /// The `authorization` value to present now: the current token, or a new one when less than
    /// a few minutes are left of it.
    pub fn bearer(&self) -> Result<MetadataValue<Ascii>, Status> {
        self.bearer_at(unix_now())
    }

    /// `message` as a request that carries the current token.
    pub fn request<T>(&self, message: T) -> Result<Request<T>, Status> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer()?);
        Ok(request)
    }

    fn bearer_at(&self, now: u64) -> Result<MetadataValue<Ascii>, Status> {
        let mut current = self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((bearer, expires)) = current.as_ref()
            && now + RENEW_BEFORE.as_secs() < *expires
        {
            return Ok(bearer.clone());
        }
        let claims = self.claims_at(now);
        let token = self.inner.issuer.mint(&claims).map_err(|e| {
            tracing::error!(error = %e, "cannot mint the internal token");
            Status::internal("cannot mint the internal token")
        })?;
        let bearer = jiceng_grpc::bearer(&token)?;
        *current = Some((bearer.clone(), claims.exp));
        Ok(bearer)
    }

    /// Claims of a new internal token: the service role, no scope org (the platform acts on the
    /// whole district), the internal issuer and audience.
    fn claims_at(&self, now: u64) -> Claims {
        let mut claims = Claims::new(
            &self.inner.subject,
            &self.inner.district,
            "",
            &[Role::Service],
            INTERNAL_TOKEN_TTL.as_secs(),
        )
        .issued_by(INTERNAL_AUDIENCE, INTERNAL_AUDIENCE);
        claims.iat = now;
        claims.exp = now + INTERNAL_TOKEN_TTL.as_secs();
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_kept_until_a_few_minutes_before_it_expires_then_renewed() {
        let key = InternalKey::new(b"internal-key-internal-key-intern").expect("key");
        let token = ServiceToken::new(&key, "310115", "service:org").expect("token");
        let start = unix_now();
        let first = token.bearer_at(start).expect("minted");
        let kept = token.bearer_at(start + 60).expect("kept");
        assert_eq!(first, kept, "one token while most of it is left");
        let renew_at = start + INTERNAL_TOKEN_TTL.as_secs() - RENEW_BEFORE.as_secs();
        let renewed = token.bearer_at(renew_at).expect("renewed");
        assert_ne!(first, renewed, "renewed before it expires");
        assert!(InternalKey::new(b"short").is_err());
    }
}
