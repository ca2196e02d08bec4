//! The function's own settings: where public access may stay open, and how long private access
//! must have been on before public access is turned off.

use shared::config::{ConfigError, Env};

use crate::cidr::Cidr;

pub const ALLOWED_PUBLIC_CIDRS: &str = "ALLOWED_PUBLIC_CIDRS";
pub const STAGE_SOAK_MINUTES: &str = "ENDPOINT_STAGE_SOAK_MINUTES";
/// One day: long enough for every client that still uses the public endpoint to show up (a
/// nightly job, a CI run, an operator's morning) and move to the private path.
pub const DEFAULT_STAGE_SOAK_MINUTES: u32 = 1440;
/// Thirty days; a longer soak is a mistake more likely than a policy.
pub const MAX_STAGE_SOAK_MINUTES: u32 = 43_200;

/// Settings specific to this function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `ALLOWED_PUBLIC_CIDRS`: where public access may stay open. Empty: turn public access off.
    pub allowed_public_cidrs: Vec<Cidr>,
    /// `ENDPOINT_STAGE_SOAK_MINUTES`: the minimum time between private access turned on and
    /// public access turned off; 0 turns the soak off.
    pub stage_soak_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_public_cidrs: Vec::new(),
            stage_soak_minutes: DEFAULT_STAGE_SOAK_MINUTES,
        }
    }
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut allowed = Vec::new();
        for raw in env.list(ALLOWED_PUBLIC_CIDRS) {
            let cidr = Cidr::parse(&raw)
                .map_err(|e| ConfigError::new(ALLOWED_PUBLIC_CIDRS, e.to_string()))?;
            if cidr.is_everything() {
                return Err(ConfigError::new(
                    ALLOWED_PUBLIC_CIDRS,
                    format!(
                        "'{raw}' allows the whole internet; leave the variable empty to turn public access off instead"
                    ),
                ));
            }
            if let Some(problem) = cidr.allowlist_problem() {
                return Err(ConfigError::new(ALLOWED_PUBLIC_CIDRS, problem));
            }
            allowed.push(cidr);
        }
        let stage_soak_minutes = match env.value(STAGE_SOAK_MINUTES) {
            None => DEFAULT_STAGE_SOAK_MINUTES,
            Some(raw) => match raw.parse::<u32>() {
                Ok(m) if m <= MAX_STAGE_SOAK_MINUTES => m,
                _ => {
                    return Err(ConfigError::new(
                        STAGE_SOAK_MINUTES,
                        format!(
                            "'{raw}' is not a whole number of minutes from 0 (no soak) to {MAX_STAGE_SOAK_MINUTES}; the default is {DEFAULT_STAGE_SOAK_MINUTES}"
                        ),
                    ));
                }
            },
        };
        Ok(Settings {
            allowed_public_cidrs: allowed,
            stage_soak_minutes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_soak_defaults_to_a_day_and_zero_turns_it_off() {
        assert_eq!(Settings::from_env(&env(&[])), Ok(Settings::default()));
        assert_eq!(Settings::default().stage_soak_minutes, 1440);
        let s = Settings::from_env(&env(&[(STAGE_SOAK_MINUTES, " 0 ")])).expect("valid");
        assert_eq!(s.stage_soak_minutes, 0);
        for bad in ["-1", "1.5", "a day", "43201"] {
            let e = Settings::from_env(&env(&[(STAGE_SOAK_MINUTES, bad)])).expect_err(bad);
            assert_eq!(e.variable, STAGE_SOAK_MINUTES);
        }
    }

    #[test]
    fn the_allowlist_refuses_what_would_open_or_mean_nothing() {
        for bad in [
            "0.0.0.0/1,128.0.0.0/1",
            "203.0.113.0/24,10.0.0.0/8",
            "::ffff:203.0.113.0/120",
            "192.168.0.0/16",
            "::/0",
        ] {
            let e = Settings::from_env(&env(&[(ALLOWED_PUBLIC_CIDRS, bad)])).expect_err(bad);
            assert_eq!(e.variable, ALLOWED_PUBLIC_CIDRS);
            assert!(e.to_string().contains(ALLOWED_PUBLIC_CIDRS), "{e}");
        }
        let ok =
            Settings::from_env(&env(&[(ALLOWED_PUBLIC_CIDRS, "203.0.113.0/24")])).expect("valid");
        assert_eq!(ok.allowed_public_cidrs.len(), 1);
    }
}
