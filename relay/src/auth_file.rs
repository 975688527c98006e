//! The auth file (`--auth FILE.toml`): how tokens are verified and what
//! each role may do. Parsed and checked once at start-up; every error names
//! the file's field at fault.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ConfigError;

/// The whole auth file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// How tokens are verified.
    pub jwt: JwtSection,
    /// What each role may do; at least one.
    pub roles: Vec<RolePolicy>,
}

/// `[jwt]`: the token issuer's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// The only accepted `iss`.
    pub issuer: String,
    /// The only accepted `aud`.
    pub audience: String,
    /// Name of the environment variable holding the HS256 secret.
    pub hs256_secret_env: Option<String>,
    /// A JWKS file of public keys (RS256, ES256, EdDSA), relative to the
    /// auth file.
    pub jwks_file: Option<PathBuf>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30, at most 300).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_leeway() -> u64 {
    30
}

/// Most leeway accepted: more would keep expired tokens alive for long.
pub const MAX_LEEWAY_SECONDS: u64 = 300;

/// `[[roles]]`: one role's limits. A limit left out is not applied.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    /// Matched against the token's `roles` array or `role` string.
    pub name: String,
    /// Most cents one refund may name in `amount`.
    pub max_amount: Option<i64>,
    /// Whether a refund without `amount` (everything refundable) is allowed.
    #[serde(default)]
    pub allow_full: bool,
    /// Most cents per subject per UTC day, counted before forwarding.
    pub daily_limit: Option<i64>,
    /// Most refund requests per subject per minute (a token bucket).
    pub rate_per_minute: Option<u32>,
}

impl AuthFile {
    /// Reads and checks `path`; a relative `jwks_file` is resolved against
    /// the auth file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(format!("cannot read auth file {}: {e}", path.display()))
        })?;
        let mut file = Self::parse(&text)
            .map_err(|e| ConfigError::new(format!("auth file {}: {e}", path.display())))?;
        if let (Some(jwks), Some(dir)) = (&file.jwt.jwks_file, path.parent()) {
            if jwks.is_relative() {
                file.jwt.jwks_file = Some(dir.join(jwks));
            }
        }
        Ok(file)
    }

    /// Parses and checks the TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let file: AuthFile = toml::from_str(text).map_err(|e| ConfigError::new(e.to_string()))?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let jwt = &self.jwt;
        if jwt.issuer.trim().is_empty() {
            return Err(ConfigError::new("jwt.issuer must not be empty"));
        }
        if jwt.audience.trim().is_empty() {
            return Err(ConfigError::new("jwt.audience must not be empty"));
        }
        if jwt.hs256_secret_env.is_none() && jwt.jwks_file.is_none() {
            return Err(ConfigError::new(
                "jwt needs hs256_secret_env, jwks_file or both",
            ));
        }
        if jwt.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(ConfigError::new(format!(
                "jwt.leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"
            )));
        }
        if self.roles.is_empty() {
            return Err(ConfigError::new("at least one [[roles]] entry is needed"));
        }
        for (i, role) in self.roles.iter().enumerate() {
            role.check()?;
            if self.roles[..i].iter().any(|r| r.name == role.name) {
                return Err(ConfigError::new(format!(
                    "role {:?} is defined twice",
                    role.name
                )));
            }
        }
        Ok(())
    }
}

impl RolePolicy {
    fn check(&self) -> Result<(), ConfigError> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Err(ConfigError::new("roles.name must not be empty"));
        }
        for (field, value) in [
            ("max_amount", self.max_amount),
            ("daily_limit", self.daily_limit),
        ] {
            if value.is_some_and(|v| v < 1) {
                return Err(ConfigError::new(format!(
                    "role {name:?}: {field} must be at least 1"
                )));
            }
        }
        if self.rate_per_minute == Some(0) {
            return Err(ConfigError::new(format!(
                "role {name:?}: rate_per_minute must be at least 1"
            )));
        }
        // A full refund's amount is unknown until the service has made it,
        // so it could not be counted against the day's limit (ADR 0014).
        if self.allow_full && self.daily_limit.is_some() {
            return Err(ConfigError::new(format!(
                "role {name:?}: allow_full = true cannot be combined with daily_limit \
                 (the relay cannot know a full refund's amount before sending it)"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[jwt]
issuer = "https://auth.example.com"
audience = "refundkit-relay"
hs256_secret_env = "RELAY_JWT_SECRET"
leeway_seconds = 30
[[roles]]
name = "cashier"
max_amount = 50000
allow_full = false
daily_limit = 200000
rate_per_minute = 30
"#;

    #[test]
    fn the_design_example_parses() {
        let file = AuthFile::parse(GOOD).expect("valid");
        assert_eq!(file.roles[0].name, "cashier");
        assert_eq!(file.roles[0].daily_limit, Some(200_000));
        assert_eq!(file.jwt.leeway_seconds, 30);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = GOOD.replace("allow_full", "allow_fulll");
        let e = AuthFile::parse(&text).expect_err("typo");
        assert!(e.to_string().contains("allow_fulll"), "{e}");
    }

    #[test]
    fn a_key_source_is_required() {
        let text = GOOD.replace("hs256_secret_env = \"RELAY_JWT_SECRET\"", "");
        let e = AuthFile::parse(&text).expect_err("no key");
        assert!(e.to_string().contains("hs256_secret_env"), "{e}");
    }

    #[test]
    fn full_refunds_cannot_have_a_daily_limit() {
        let text = GOOD.replace("allow_full = false", "allow_full = true");
        let e = AuthFile::parse(&text).expect_err("full + daily");
        assert!(e.to_string().contains("allow_full"), "{e}");
    }

    #[test]
    fn zero_limits_and_duplicate_roles_are_refused() {
        let e = AuthFile::parse(&GOOD.replace("rate_per_minute = 30", "rate_per_minute = 0"))
            .expect_err("zero rate");
        assert!(e.to_string().contains("rate_per_minute"), "{e}");
        let twice = format!("{GOOD}[[roles]]\nname = \"cashier\"\n");
        let e = AuthFile::parse(&twice).expect_err("duplicate");
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
