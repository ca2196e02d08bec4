//! The digest's settings, read and validated once at cold start.

use shared::config::{ConfigError, Env};

/// The schedule's period when `DIGEST_PERIOD_MINUTES` is unset: hourly.
pub const DEFAULT_PERIOD_MINUTES: u32 = 60;
/// A day: the longest period one digest covers (two `by-day` partitions at most).
pub const MAX_PERIOD_MINUTES: u32 = 1440;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub topic_arn: String,
    /// The chat topic; `None`: the digest goes to the notification topic only.
    pub chat_topic_arn: Option<String>,
    /// The decision ledger's table.
    pub table: String,
    /// The period each digest covers; the schedule runs at the same rate (template.yaml).
    pub period_minutes: u32,
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let topic_arn = shared::config::topic_arn(env, "SNS_TOPIC_ARN")?.ok_or_else(|| {
            ConfigError::new(
                "SNS_TOPIC_ARN",
                "is required: the topic the digest is published to",
            )
        })?;
        let table = env.value("LEDGER_TABLE").ok_or_else(|| {
            ConfigError::new(
                "LEDGER_TABLE",
                "is required: the decision ledger's table, whose by-day index the digest reads",
            )
        })?;
        let period_minutes = match env.value("DIGEST_PERIOD_MINUTES") {
            None => DEFAULT_PERIOD_MINUTES,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=MAX_PERIOD_MINUTES).contains(m))
                .ok_or_else(|| {
                    ConfigError::new(
                        "DIGEST_PERIOD_MINUTES",
                        format!(
                            "'{raw}' is not a whole number of minutes from 1 to {MAX_PERIOD_MINUTES} (default {DEFAULT_PERIOD_MINUTES})"
                        ),
                    )
                })?,
        };
        Ok(Settings {
            topic_arn,
            chat_topic_arn: shared::config::topic_arn(env, "CHAT_TOPIC_ARN")?,
            table,
            period_minutes,
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

    const TOPIC: (&str, &str) = ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:444455556666:alerts");
    const TABLE: (&str, &str) = ("LEDGER_TABLE", "ledger");

    #[test]
    fn hourly_without_chat_by_default() {
        let s = Settings::from_env(&env(&[TOPIC, TABLE])).expect("valid");
        assert_eq!(s.period_minutes, 60);
        assert_eq!(s.chat_topic_arn, None);
        assert_eq!(s.table, "ledger");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, var) in [
            (vec![TABLE], "SNS_TOPIC_ARN"),
            (vec![TOPIC], "LEDGER_TABLE"),
            (
                vec![TOPIC, TABLE, ("DIGEST_PERIOD_MINUTES", "0")],
                "DIGEST_PERIOD_MINUTES",
            ),
            (
                vec![TOPIC, TABLE, ("DIGEST_PERIOD_MINUTES", "1441")],
                "DIGEST_PERIOD_MINUTES",
            ),
            (
                vec![TOPIC, TABLE, ("CHAT_TOPIC_ARN", "slack")],
                "CHAT_TOPIC_ARN",
            ),
        ] {
            let err = Settings::from_env(&env(&pairs)).expect_err(var);
            assert_eq!(err.variable, var);
        }
        let s = Settings::from_env(&env(&[TOPIC, TABLE, ("DIGEST_PERIOD_MINUTES", "1440")]))
            .expect("a day is allowed");
        assert_eq!(s.period_minutes, 1440);
    }
}
