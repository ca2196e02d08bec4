//! This function's own settings, read and validated once at cold start.

use std::time::Duration;

use shared::config::{ConfigError, Env};

/// How many signals are enriched by default: five `GetFindingsV2` calls of 20 uids.
pub const DEFAULT_MAX_ENRICHED_SIGNALS: usize = 100;
/// The most `MAX_ENRICHED_SIGNALS` may be: 25 calls, still far inside the function's timeout.
pub const MAX_ENRICHED_SIGNALS_LIMIT: usize = 500;
/// `GetFindingsV2` takes at most 20 string filters per composite filter.
pub const BATCH_SIZE: usize = 20;
/// No new `GetFindingsV2` call starts after this much time in the enrichment. With each call
/// bounded to 20 s (main.rs), enrichment ends within ~65 s of the function's 120 s timeout.
pub const DEFAULT_ENRICHMENT_BUDGET: Duration = Duration::from_secs(45);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Signals enriched through `GetFindingsV2`, most urgent first; the rest are ranked on what
    /// the exposure carries. 0 turns enrichment off.
    pub max_enriched_signals: usize,
    /// Uids per `GetFindingsV2` call (1–20).
    pub batch_size: usize,
    /// Wall-clock time after which no further enrichment call starts.
    pub enrichment_budget: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_enriched_signals: DEFAULT_MAX_ENRICHED_SIGNALS,
            batch_size: BATCH_SIZE,
            enrichment_budget: DEFAULT_ENRICHMENT_BUDGET,
        }
    }
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let max_enriched_signals = match env.value("MAX_ENRICHED_SIGNALS") {
            None => DEFAULT_MAX_ENRICHED_SIGNALS,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_ENRICHED_SIGNALS_LIMIT)
                .ok_or_else(|| {
                    ConfigError::new(
                        "MAX_ENRICHED_SIGNALS",
                        format!(
                            "'{raw}' is not a whole number from 0 to {MAX_ENRICHED_SIGNALS_LIMIT} (default {DEFAULT_MAX_ENRICHED_SIGNALS}; 0 turns enrichment off)"
                        ),
                    )
                })?,
        };
        Ok(Settings {
            max_enriched_signals,
            ..Settings::default()
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
    fn defaults_when_unset() {
        let s = Settings::from_env(&env(&[])).expect("valid");
        assert_eq!(s.max_enriched_signals, 100);
        assert_eq!(s.batch_size, 20);
    }

    #[test]
    fn reads_a_valid_value_including_zero() {
        let s = Settings::from_env(&env(&[("MAX_ENRICHED_SIGNALS", " 40 ")])).expect("valid");
        assert_eq!(s.max_enriched_signals, 40);
        let s = Settings::from_env(&env(&[("MAX_ENRICHED_SIGNALS", "0")])).expect("valid");
        assert_eq!(s.max_enriched_signals, 0);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for bad in ["-1", "ten", "501", "1.5"] {
            let err = Settings::from_env(&env(&[("MAX_ENRICHED_SIGNALS", bad)])).expect_err(bad);
            assert_eq!(err.variable, "MAX_ENRICHED_SIGNALS");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
