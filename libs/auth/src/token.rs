use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, service::Interceptor};

use crate::{
    Caller, Role,
    internal::{InternalKey, InternalVerifier},
};

/// The audience a deployment expects unless configured otherwise (`JICENG_JWT_AUDIENCE`).
pub const DEFAULT_AUDIENCE: &str = "jiceng";
/// The issuer a deployment expects unless configured otherwise (`JICENG_JWT_ISSUER`).
pub const DEFAULT_ISSUER: &str = "jiceng";

/// How far a token's times may be off the clock here: `exp`, `nbf` and `iat`.
pub(crate) const LEEWAY_SECS: u64 = 30;

/// The claims of a jiceng bearer token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    /// District code (GB/T 2260) the token is valid in.
    pub district: String,
    /// The org unit the caller's authority is rooted at.
    pub scope_org: String,
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    /// Not valid before; tokens without one are valid from `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
}

impl Claims {
    /// Claims valid from now for `ttl_secs`, for the default issuer and audience.
    pub fn new(
        subject: &str,
        district: &str,
        scope_org: &str,
        roles: &[Role],
        ttl_secs: u64,
    ) -> Self {
        let now = unix_now();
        Self {
            sub: subject.to_owned(),
            district: district.to_owned(),
            scope_org: scope_org.to_owned(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            iss: DEFAULT_ISSUER.to_owned(),
            aud: DEFAULT_AUDIENCE.to_owned(),
            iat: now,
            nbf: None,
            exp: now + ttl_secs,
        }
    }

    /// The same claims from another issuer for another audience.
    pub fn issued_by(mut self, issuer: &str, audience: &str) -> Self {
        issuer.clone_into(&mut self.iss);
        audience.clone_into(&mut self.aud);
        self
    }
}

/// How tokens are verified: a shared secret in development, public keys in production.
#[derive(Clone, Debug)]
pub enum KeyConfig {
    /// HS256 with a shared secret (at least 32 bytes).
    Hs256Secret(Vec<u8>),
    /// RS256 with a PEM public key.
    Rs256PublicPem(Vec<u8>),
    /// EdDSA (Ed25519) with a PEM public key.
    EdDsaPublicPem(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the HS256 secret must be at least 32 bytes")]
    ShortSecret,
    #[error("invalid key: {0}")]
    Pem(#[from] jsonwebtoken::errors::Error),
}

/// Verifies bearer tokens for one district: the signature, `exp`, `nbf` and `iat` (with a
/// small leeway), the configured audience and issuer, a subject, the district, a scope org and
/// at least one role this platform knows.
///
/// Two kinds of token pass: the outside identity provider's, whose `service` role is ignored,
/// and, once [`with_internal_key`](Self::with_internal_key) is set, the platform's own internal
/// tokens, the only ones that grant `service`.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
    district: String,
    internal: Option<InternalVerifier>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("district", &self.district)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Verifies tokens of the default issuer and audience.
    pub fn new(key: &KeyConfig, district: &str) -> Result<Self, KeyError> {
        Self::for_audience(key, district, DEFAULT_ISSUER, DEFAULT_AUDIENCE)
    }

    /// Verifies tokens issued by `issuer` for `audience`.
    pub fn for_audience(
        key: &KeyConfig,
        district: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let (key, algorithm) = match key {
            KeyConfig::Hs256Secret(secret) if secret.len() < 32 => {
                return Err(KeyError::ShortSecret);
            }
            KeyConfig::Hs256Secret(secret) => (DecodingKey::from_secret(secret)?, Algorithm::HS256),
            KeyConfig::Rs256PublicPem(pem) => (DecodingKey::from_rsa_pem(pem)?, Algorithm::RS256),
            KeyConfig::EdDsaPublicPem(pem) => (DecodingKey::from_ed_pem(pem)?, Algorithm::EdDSA),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Ok(Self {
            key,
            validation,
            district: district.to_owned(),
            internal: None,
        })
    }

    /// Also admits the platform's internal tokens, signed with `key` (see [`ServiceToken`]).
    ///
    /// [`ServiceToken`]: crate::ServiceToken
    pub fn with_internal_key(mut self, key: &InternalKey) -> Result<Self, KeyError> {
        self.internal = Some(key.verifier()?);
        Ok(self)
    }

    /// Verifies the value of an `authorization` header.
    pub fn verify(&self, authorization: Option<&str>) -> Result<Caller, Status> {
        let header =
            authorization.ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be a bearer token"))?
            .trim();
        // The platform's own token first: only it may grant `service`.
        let (claims, platform) = match self.internal.as_ref().and_then(|v| v.claims(token)) {
            Some(claims) => (claims, true),
            None => {
                let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
                    .map_err(|err| {
                        tracing::debug!(error = %err, "token rejected");
                        Status::unauthenticated("invalid or expired token")
                    })?
                    .claims;
                (claims, false)
            }
        };
        if claims.sub.trim().is_empty() {
            return Err(Status::unauthenticated("the token names no subject"));
        }
        if claims.iat > unix_now() + LEEWAY_SECS {
            return Err(Status::unauthenticated("the token is issued in the future"));
        }
        if claims.district != self.district {
            return Err(Status::permission_denied(
                "the token is for another district",
            ));
        }
        // Internal tokens name no scope org: the platform acts on the whole district.
        if claims.scope_org.is_empty() && !platform {
            return Err(Status::unauthenticated("the token names no scope org"));
        }
        // `service` is the platform's own role, and its only one: an outside token naming it
        // gains nothing by it.
        let roles: Vec<Role> = claims
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .filter(|role| (*role == Role::Service) == platform)
            .collect();
        if roles.is_empty() {
            return Err(Status::permission_denied(
                "the token grants no role this platform knows",
            ));
        }
        Ok(Caller {
            subject: claims.sub,
            district: claims.district,
            scope_org: if platform {
                String::new()
            } else {
                claims.scope_org
            },
            roles,
        })
    }

    /// An interceptor that verifies each request and attaches its [`Caller`].
    pub fn interceptor(self: &Arc<Self>) -> AuthInterceptor {
        AuthInterceptor {
            authenticator: Arc::clone(self),
        }
    }
}

/// Rejects requests without a valid token (UNAUTHENTICATED) before they reach a handler.
#[derive(Clone, Debug)]
pub struct AuthInterceptor {
    authenticator: Arc<Authenticator>,
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let caller = self.authenticator.verify(header)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// Mints HS256 tokens: development (`jiceng up`, `jiceng token`) and tests.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer")
    }
}

impl TokenIssuer {
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::ShortSecret);
        }
        Ok(Self {
            key: EncodingKey::from_secret(secret)?,
        })
    }

    pub fn mint(&self, claims: &Claims) -> Result<String, KeyError> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.key,
        )?)
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn authenticator() -> Authenticator {
        Authenticator::new(&KeyConfig::Hs256Secret(SECRET.to_vec()), "310115").expect("key")
    }

    fn bearer(claims: &Claims) -> String {
        format!(
            "Bearer {}",
            TokenIssuer::hs256(SECRET)
                .expect("key")
                .mint(claims)
                .expect("mint")
        )
    }

    #[test]
    fn a_valid_token_yields_its_caller() {
        let claims = Claims::new("u1", "310115", "org-1", &[Role::StreetAdmin], 60);
        let caller = authenticator()
            .verify(Some(&bearer(&claims)))
            .expect("valid");
        assert_eq!(caller.subject, "u1");
        assert_eq!(caller.scope_org, "org-1");
        assert_eq!(caller.roles, vec![Role::StreetAdmin]);
    }

    #[test]
    fn missing_expired_forged_and_foreign_tokens_are_refused() {
        let auth = authenticator();
        assert_eq!(
            auth.verify(None).map_err(|s| s.code()),
            Err(tonic::Code::Unauthenticated)
        );
        let mut expired = Claims::new("u1", "310115", "org-1", &[Role::Member], 60);
        expired.exp = expired.iat - 3600;
        assert_eq!(
            auth.verify(Some(&bearer(&expired))).map_err(|s| s.code()),
            Err(tonic::Code::Unauthenticated)
        );
        let other_key = TokenIssuer::hs256(b"another-secret-another-secret-xx").expect("key");
        let forged = format!(
            "Bearer {}",
            other_key
                .mint(&Claims::new(
                    "u1",
                    "310115",
                    "org-1",
                    &[Role::DistrictAdmin],
                    60
                ))
                .expect("mint")
        );
        assert_eq!(
            auth.verify(Some(&forged)).map_err(|s| s.code()),
            Err(tonic::Code::Unauthenticated)
        );
        let foreign = Claims::new("u1", "310101", "org-1", &[Role::DistrictAdmin], 60);
        assert_eq!(
            auth.verify(Some(&bearer(&foreign))).map_err(|s| s.code()),
            Err(tonic::Code::PermissionDenied)
        );
    }

    #[test]
    fn unknown_roles_grant_nothing() {
        let mut claims = Claims::new("u1", "310115", "org-1", &[], 60);
        claims.roles = vec!["superuser".into()];
        assert_eq!(
            authenticator()
                .verify(Some(&bearer(&claims)))
                .map_err(|s| s.code()),
            Err(tonic::Code::PermissionDenied)
        );
        claims.roles.push(Role::Member.as_str().into());
        let caller = authenticator()
            .verify(Some(&bearer(&claims)))
            .expect("a known role among unknown ones");
        assert_eq!(caller.roles, vec![Role::Member]);
    }

    #[test]
    fn tokens_not_yet_valid_issued_in_the_future_or_for_someone_else_are_refused() {
        let auth = authenticator();
        let refused = |claims: &Claims| auth.verify(Some(&bearer(claims))).map_err(|s| s.code());
        let valid = Claims::new("u1", "310115", "org-1", &[Role::DistrictAdmin], 86_400);
        let next_year = valid.iat + 365 * 86_400;
        let not_yet = Claims {
            nbf: Some(next_year),
            exp: next_year + 60,
            ..valid.clone()
        };
        assert_eq!(refused(&not_yet), Err(tonic::Code::Unauthenticated));
        let future = Claims {
            iat: valid.iat + 3_600,
            ..valid.clone()
        };
        assert_eq!(refused(&future), Err(tonic::Code::Unauthenticated));
        let skewed = Claims {
            iat: valid.iat + 10,
            nbf: Some(valid.iat + 10),
            ..valid.clone()
        };
        assert!(refused(&skewed).is_ok(), "within the leeway");
        let nobody = Claims {
            sub: " ".into(),
            ..valid.clone()
        };
        assert_eq!(refused(&nobody), Err(tonic::Code::Unauthenticated));
        let other_audience = valid.clone().issued_by(DEFAULT_ISSUER, "another-system");
        assert_eq!(refused(&other_audience), Err(tonic::Code::Unauthenticated));
        let other_issuer = valid.clone().issued_by("someone-else", DEFAULT_AUDIENCE);
        assert_eq!(refused(&other_issuer), Err(tonic::Code::Unauthenticated));
        let configured = Authenticator::for_audience(
            &KeyConfig::Hs256Secret(SECRET.to_vec()),
            "310115",
            "idp",
            "pd",
        )
        .expect("key");
        let issued = valid.clone().issued_by("idp", "pd");
        assert!(configured.verify(Some(&bearer(&issued))).is_ok());
        assert!(configured.verify(Some(&bearer(&valid))).is_err());
    }

    #[test]
    fn production_tokens_are_verified_with_public_keys() {
        let claims = Claims::new("hotline", "310115", "org-1", &[Role::Integration], 60);
        let cases = [
            (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(include_bytes!("../testdata/ed25519-private.pem")),
                KeyConfig::EdDsaPublicPem(
                    include_bytes!("../testdata/ed25519-public.pem").to_vec(),
                ),
            ),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(include_bytes!("../testdata/rsa-private.pem")),
                KeyConfig::Rs256PublicPem(include_bytes!("../testdata/rsa-public.pem").to_vec()),
            ),
        ];
        for (algorithm, private, public) in cases {
            let token = jsonwebtoken::encode(
                &Header::new(algorithm),
                &claims,
                &private.expect("private key"),
            )
            .expect("sign");
            let auth = Authenticator::new(&public, "310115").expect("public key");
            let caller = auth
                .verify(Some(&format!("Bearer {token}")))
                .expect("verified");
            assert_eq!(caller.roles, vec![Role::Integration], "{algorithm:?}");
            // A token signed with the development secret is not accepted by a production key.
            let hs = bearer(&claims);
            assert_eq!(
                auth.verify(Some(&hs)).map_err(|s| s.code()),
                Err(tonic::Code::Unauthenticated)
            );
        }
    }

    const INTERNAL: &[u8] = b"internal-key-internal-key-intern";

    fn with_internal_key() -> Authenticator {
        authenticator()
            .with_internal_key(&InternalKey::new(INTERNAL).expect("key"))
            .expect("internal key")
    }

    #[test]
    fn only_internal_tokens_grant_the_service_role() {
        let auth = with_internal_key();
        let internal = crate::ServiceToken::new(
            &InternalKey::new(INTERNAL).expect("key"),
            "310115",
            "service:grid",
        )
        .expect("token");
        let header = internal.bearer().expect("bearer");
        let caller = auth
            .verify(Some(header.to_str().expect("ascii")))
            .expect("the platform's own token");
        assert_eq!(caller.roles, vec![Role::Service]);
        assert!(caller.is_platform());
        assert!(caller.covers(&["any-street".into()]), "the whole district");
        // Without the internal key configured, the same token is someone else's audience.
        assert_eq!(
            authenticator()
                .verify(Some(header.to_str().expect("ascii")))
                .map_err(|s| s.code()),
            Err(tonic::Code::Unauthenticated)
        );

        let outside_service = Claims::new("hotline", "310115", "org-1", &[Role::Service], 60);
        assert_eq!(
            auth.verify(Some(&bearer(&outside_service)))
                .map_err(|s| s.code()),
            Err(tonic::Code::PermissionDenied),
            "an outside token naming only `service` grants nothing"
        );
        let mixed = Claims::new("u1", "310115", "org-1", &[Role::Service, Role::Member], 60);
        let caller = auth.verify(Some(&bearer(&mixed))).expect("a member");
        assert_eq!(caller.roles, vec![Role::Member]);
        assert!(!caller.is_platform());

        // Signed with the outside key for the internal audience: neither kind of token.
        let spoofed = Claims::new("svc", "310115", "", &[Role::Service], 60)
            .issued_by(crate::INTERNAL_AUDIENCE, crate::INTERNAL_AUDIENCE);
        assert_eq!(
            auth.verify(Some(&bearer(&spoofed))).map_err(|s| s.code()),
            Err(tonic::Code::Unauthenticated)
        );
        // The internal key's token for another district, or expired.
        let internal_issuer = TokenIssuer::hs256(INTERNAL).expect("key");
        let minted =
            |claims: &Claims| format!("Bearer {}", internal_issuer.mint(claims).expect("mint"));
        let foreign = Claims::new("svc", "310101", "", &[Role::Service], 60)
            .issued_by(crate::INTERNAL_AUDIENCE, crate::INTERNAL_AUDIENCE);
        assert_eq!(
            auth.verify(Some(&minted(&foreign))).map_err(|s| s.code()),
            Err(tonic::Code::PermissionDenied)
        );
        let mut expired = Claims::new("svc", "310115", "", &[Role::Service], 60)
            .issued_by(crate::INTERNAL_AUDIENCE, crate::INTERNAL_AUDIENCE);
        expired.exp = expired.iat - 3_600;
        assert_eq!(
            auth.verify(Some(&minted(&expired))).map_err(|s| s.code()),
            Err(tonic::Code::Unauthenticated)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            TokenIssuer::hs256(b"short"),
            Err(KeyError::ShortSecret)
        ));
    }
}
