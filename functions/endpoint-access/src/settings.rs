//! The function's own setting: where public access may stay open.

use shared::config::{ConfigError, Env};

use crate::cidr::Cidr;

/// Settings specific to this function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `ALLOWED_PUBLIC_CIDRS`: where public access may stay open. Empty: turn public access off.
    pub allowed_public_cidrs: Vec<Cidr>,
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut allowed = Vec::new();
        for raw in env.list("ALLOWED_PUBLIC_CIDRS") {
            let cidr = Cidr::parse(&raw)
                .map_err(|e| ConfigError::new("ALLOWED_PUBLIC_CIDRS", e.to_string()))?;
            if cidr.is_everything() {
                return Err(ConfigError::new(
                    "ALLOWED_PUBLIC_CIDRS",
                    format!(
                        "'{raw}' allows the whole internet; leave the variable empty to turn public access off instead"
                    ),
                ));
            }
            allowed.push(cidr);
        }
        Ok(Settings {
            allowed_public_cidrs: allowed,
        })
    }
}
