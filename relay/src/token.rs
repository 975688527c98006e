//! Bearer token verification: a JWT signed with the HS256 secret or with a
//! public key from the JWKS file, from the configured issuer, for the
//! configured audience, within its `nbf`..`exp` window.
//!
//! Signatures are checked by `jsonwebtoken`; this module only chooses the
//! one key a token may be checked with. The algorithm comes from the key,
//! never from the token alone: an `HS256` token is checked only against the
//! HS256 secret, so a token "signed" with a public key fails (algorithm
//! confusion), and `alg: none` is not an algorithm at all.

use std::fmt;

use http::HeaderValue;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{errors::ErrorKind as JwtErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::auth_file::JwtSection;
use crate::ConfigError;

/// Longest token accepted, in bytes; longer ones are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `sub` accepted, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 255;
/// Shortest HS256 secret accepted, in bytes (RFC 7518: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `roles` array, or its `role` string, in order.
    pub roles: Vec<String>,
}

/// Why a token was refused. The text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRejection(&'static str);

impl TokenRejection {
    /// The reason, for the 401 answer and the journal.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One public key of the JWKS file with the algorithm it is for.
struct PublicKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens. Built once from the auth file's `[jwt]`.
pub struct TokenVerifier {
    hs256: Option<DecodingKey>,
    public_keys: Vec<PublicKey>,
    issuer: String,
    audience: String,
    /// The checks of each accepted algorithm, built once: issuer, audience,
    /// required claims, leeway, `exp` and `nbf`.
    validations: Vec<(Algorithm, Validation)>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &self.hs256.is_some())
            .field("public_keys", &self.public_keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Value,
    #[serde(default)]
    roles: Option<Value>,
    #[serde(default)]
    role: Option<Value>,
}

impl TokenVerifier {
    /// Loads the keys `jwt` names: the HS256 secret from the environment
    /// variable it names (read through `env`), the JWKS file from disk.
    pub fn new(
        jwt: &JwtSection,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let hs256 = match &jwt.hs256_secret_env {
            None => None,
            Some(name) => {
                let secret = env(name).ok_or_else(|| {
                    ConfigError::new(format!(
                        "jwt.hs256_secret_env names {name}, which is not set"
                    ))
                })?;
                if secret.len() < MIN_HS256_SECRET_BYTES {
                    return Err(ConfigError::new(format!(
                        "the HS256 secret in {name} must be at least {MIN_HS256_SECRET_BYTES} bytes"
                    )));
                }
                Some(DecodingKey::from_secret(secret.as_bytes()).map_err(|e| {
                    ConfigError::new(format!("the HS256 secret in {name} is unusable: {e}"))
                })?)
            }
        };
        let public_keys = match &jwt.jwks_file {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(format!("cannot read jwks_file {}: {e}", path.display()))
                })?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                    ConfigError::new(format!("jwks_file {} is not a JWKS: {e}", path.display()))
                })?;
                let keys = set
                    .keys
                    .iter()
                    .map(public_key)
                    .collect::<Result<Vec<_>, _>>()?;
                if keys.is_empty() {
                    return Err(ConfigError::new(format!(
                        "jwks_file {} has no keys",
                        path.display()
                    )));
                }
                keys
            }
        };
        let validations = ACCEPTED
            .iter()
            .map(|&alg| (alg, validation(alg, jwt)))
            .collect();
        Ok(Self {
            hs256,
            public_keys,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            validations,
        })
    }

    /// Verifies the `Authorization` header's bearer token.
    pub fn verify(&self, authorization: Option<&HeaderValue>) -> Result<Caller, TokenRejection> {
        let header = authorization.ok_or(TokenRejection("missing bearer token"))?;
        if header.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
            return Err(TokenRejection("token too large"));
        }
        let header = header
            .to_str()
            .map_err(|_| TokenRejection("malformed Authorization header"))?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(TokenRejection("not a bearer token")),
        };
        if token.starts_with("sk_live_") || token.starts_with("sk_test_") {
            return Err(TokenRejection(
                "a secret key is not a token: apps must never hold the secret key",
            ));
        }
        let jwt_header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenRejection("malformed token"))?;
        let key = self.key_for(jwt_header.alg, jwt_header.kid.as_deref())?;
        let validation = self
            .validations
            .iter()
            .find(|(alg, _)| *alg == jwt_header.alg)
            .map(|(_, v)| v)
            .ok_or(TokenRejection("the token's algorithm is not accepted"))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(|e| rejection(e.kind()))?;
        caller(data.claims)
    }

    fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<&DecodingKey, TokenRejection> {
        match alg {
            Algorithm::HS256 => self
                .hs256
                .as_ref()
                .ok_or(TokenRejection("HS256 tokens are not accepted")),
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => {
                let mut candidates = self
                    .public_keys
                    .iter()
                    .filter(|k| kid.is_none() || k.kid.as_deref() == kid);
                let found = match kid {
                    Some(_) => candidates.next(),
                    // Without a kid, only an unambiguous key for this algorithm.
                    None => {
                        let mut of_alg = candidates.filter(|k| k.algorithm == alg);
                        match (of_alg.next(), of_alg.next()) {
                            (Some(only), None) => Some(only),
                            (Some(_), Some(_)) => {
                                return Err(TokenRejection("token has no kid"));
                            }
                            _ => None,
                        }
                    }
                };
                let found = found.ok_or(TokenRejection("no key matches the token's kid"))?;
                if found.algorithm != alg {
                    return Err(TokenRejection("the token's algorithm is not its key's"));
                }
                Ok(&found.key)
            }
            _ => Err(TokenRejection("the token's algorithm is not accepted")),
        }
    }
}

/// The algorithms a token may be signed with (each only with its own key).
const ACCEPTED: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// What a token signed with `alg` must satisfy besides its signature.
fn validation(alg: Algorithm, jwt: &JwtSection) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&jwt.issuer]);
    validation.set_audience(&[&jwt.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = jwt.leeway_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation
}

/// The algorithm a JWKS key is for: its `alg` when given, else its type.
fn public_key(jwk: &Jwk) -> Result<PublicKey, ConfigError> {
    let kid = jwk.common.key_id.clone();
    let name = kid.as_deref().unwrap_or("(no kid)");
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        _ => None,
    };
    let by_alg = match jwk.common.key_algorithm {
        None => by_type,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => None,
    };
    let algorithm = match (by_type, by_alg) {
        (Some(t), Some(a)) if t == a => t,
        _ => {
            return Err(ConfigError::new(format!(
                "jwks key {name}: only RSA (RS256), EC P-256 (ES256) and Ed25519 (EdDSA) public keys are accepted"
            )))
        }
    };
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| ConfigError::new(format!("jwks key {name} is unusable: {e}")))?;
    Ok(PublicKey {
        kid,
        algorithm,
        key,
    })
}

fn rejection(kind: &JwtErrorKind) -> TokenRejection {
    TokenRejection(match kind {
        JwtErrorKind::ExpiredSignature => "token expired",
        JwtErrorKind::ImmatureSignature => "token not yet valid",
        JwtErrorKind::InvalidIssuer => "wrong issuer",
        JwtErrorKind::InvalidAudience => "wrong audience",
        JwtErrorKind::InvalidSignature => "bad signature",
        JwtErrorKind::InvalidAlgorithm => "the token's algorithm is not its key's",
        JwtErrorKind::MissingRequiredClaim(_) => "token lacks exp, iss, aud or sub",
        JwtErrorKind::InvalidClaimFormat(_) => "token has a malformed claim",
        _ => "malformed token",
    })
}

fn caller(claims: Claims) -> Result<Caller, TokenRejection> {
    let subject = match claims.sub {
        Value::String(s)
            if !s.is_empty()
                && s.len() <= MAX_SUBJECT_BYTES
                && !s.chars().any(char::is_control) =>
        {
            s
        }
        _ => return Err(TokenRejection("token has an unusable sub")),
    };
    let mut roles = Vec::new();
    if let Some(Value::Array(items)) = claims.roles {
        roles.extend(items.into_iter().filter_map(|v| match v {
            Value::String(s) => Some(s),
            _ => None,
        }));
    }
    if let Some(Value::String(role)) = claims.role {
        roles.push(role);
    }
    Ok(Caller { subject, roles })
}
