//! Configuration from environment variables, read and validated once at cold start.

use serde::Serialize;

use crate::event::cluster::is_account_id;

/// What the operator allows a function to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only from the cluster tag: do nothing.
    Ignore,
    /// Describe the fix and send it; change nothing (the default).
    Propose,
    /// Propose, and let an IAM approver apply exactly the plan that was proposed.
    Approve,
    /// Change the cluster when every guardrail passes.
    Apply,
}

impl Mode {
    pub fn id(self) -> &'static str {
        match self {
            Mode::Ignore => "ignore",
            Mode::Propose => "propose",
            Mode::Approve => "approve",
            Mode::Apply => "apply",
        }
    }
}

/// A configuration value that stops the function at init. Always names the variable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("configuration error in {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            variable,
            problem: problem.into(),
        }
    }
}

/// Reads variables; `std::env` in production, a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;

    /// The trimmed value, `None` when unset or blank.
    fn value(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A comma-separated list, blanks dropped.
    fn list(&self, name: &str) -> Vec<String> {
        self.value(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.value(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::new(
                name,
                format!("'{other}' is not 'true' or 'false'"),
            )),
        }
    }
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// An SNS topic ARN from `name`; `None` when unset or empty.
pub fn topic_arn(env: &impl Env, name: &'static str) -> Result<Option<String>, ConfigError> {
    let Some(arn) = env.value(name) else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" {
        return Err(ConfigError::new(
            name,
            format!("'{arn}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)"),
        ));
    }
    Ok(Some(arn))
}

/// Settings every function shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommonConfig {
    pub mode: Mode,
    pub sns_topic_arn: String,
    /// The chat topic (Amazon Q Developer in chat applications); `None`: no chat messages.
    pub chat_topic_arn: Option<String>,
    /// Empty means every account.
    pub allowed_accounts: Vec<String>,
    pub member_role_name: Option<String>,
    pub apply_to_iac_managed: bool,
    pub update_findings: bool,
    /// The decision ledger (`LEDGER_TABLE` and its limits); `None` only in local runs.
    pub ledger: Option<crate::ledger::LedgerSettings>,
}

impl CommonConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mode = match env.value("MODE").map(|m| m.to_ascii_lowercase()).as_deref() {
            None | Some("propose") => Mode::Propose,
            Some("approve") => Mode::Approve,
            Some("apply") => Mode::Apply,
            Some(other) => {
                return Err(ConfigError::new(
                    "MODE",
                    format!("'{other}' is not 'propose' (the default), 'approve' or 'apply'"),
                ));
            }
        };
        let sns_topic_arn = topic_arn(env, "SNS_TOPIC_ARN")?.ok_or_else(|| {
            ConfigError::new(
                "SNS_TOPIC_ARN",
                "is required: the ARN of the SNS topic to notify",
            )
        })?;
        let chat_topic_arn = topic_arn(env, "CHAT_TOPIC_ARN")?;
        let allowed_accounts = env.list("ALLOWED_ACCOUNTS");
        if let Some(bad) = allowed_accounts.iter().find(|a| !is_account_id(a)) {
            return Err(ConfigError::new(
                "ALLOWED_ACCOUNTS",
                format!("'{bad}' is not a 12-digit AWS account id"),
            ));
        }
        let member_role_name = env.value("MEMBER_ROLE_NAME");
        if let Some(role) = &member_role_name {
            let valid = role.len() <= 64
                && role
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
            if !valid {
                return Err(ConfigError::new(
                    "MEMBER_ROLE_NAME",
                    format!(
                        "'{role}' is not an IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-); give the name, not the ARN"
                    ),
                ));
            }
        }
        Ok(CommonConfig {
            mode,
            sns_topic_arn,
            chat_topic_arn,
            allowed_accounts,
            member_role_name,
            apply_to_iac_managed: env.boolean("APPLY_TO_IAC_MANAGED", false)?,
            update_findings: env.boolean("UPDATE_FINDINGS", true)?,
            ledger: crate::ledger::LedgerSettings::from_env(env)?,
        })
    }

    pub fn account_allowed(&self, account: &str) -> bool {
        self.allowed_accounts.is_empty() || self.allowed_accounts.iter().any(|a| a == account)
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

    #[test]
    fn defaults_are_safe() {
        let c = CommonConfig::from_env(&env(&[TOPIC])).expect("valid");
        assert_eq!(c.mode, Mode::Propose);
        assert!(c.allowed_accounts.is_empty());
        assert!(c.account_allowed("111122223333"));
        assert_eq!(c.member_role_name, None);
        assert!(!c.apply_to_iac_managed);
        assert!(c.update_findings);
        assert_eq!(c.chat_topic_arn, None, "chat is off unless configured");
    }

    #[test]
    fn reads_every_setting() {
        let c = CommonConfig::from_env(&env(&[
            TOPIC,
            ("MODE", "Apply"),
            ("ALLOWED_ACCOUNTS", " 111122223333, 444455556666 ,"),
            ("MEMBER_ROLE_NAME", "EksExposureResponderMember"),
            ("APPLY_TO_IAC_MANAGED", "true"),
            ("UPDATE_FINDINGS", "FALSE"),
            ("CHAT_TOPIC_ARN", "arn:aws:sns:us-east-1:444455556666:chat"),
        ]))
        .expect("valid");
        assert_eq!(c.mode, Mode::Apply);
        assert_eq!(c.allowed_accounts, ["111122223333", "444455556666"]);
        assert!(!c.account_allowed("999988887777"));
        assert_eq!(
            c.member_role_name.as_deref(),
            Some("EksExposureResponderMember")
        );
        assert!(c.apply_to_iac_managed);
        assert!(!c.update_findings);
        assert_eq!(
            c.chat_topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:444455556666:chat")
        );
        let off = CommonConfig::from_env(&env(&[TOPIC, ("CHAT_TOPIC_ARN", "")])).expect("valid");
        assert_eq!(off.chat_topic_arn, None, "empty turns chat off");
    }

    #[test]
    fn approve_is_a_mode_between_propose_and_apply() {
        let c = CommonConfig::from_env(&env(&[TOPIC, ("MODE", "approve")])).expect("valid");
        assert_eq!(c.mode, Mode::Approve);
        assert!(Mode::Propose < Mode::Approve && Mode::Approve < Mode::Apply);
        let e = CommonConfig::from_env(&env(&[TOPIC, ("MODE", "approved")])).expect_err("typo");
        assert_eq!(e.variable, "MODE");
        assert!(e.problem.contains("'approve'"), "{}", e.problem);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (&[], "SNS_TOPIC_ARN"),
            (&[("SNS_TOPIC_ARN", "alerts")], "SNS_TOPIC_ARN"),
            (&[TOPIC, ("MODE", "aply")], "MODE"),
            (&[TOPIC, ("ALLOWED_ACCOUNTS", "1111")], "ALLOWED_ACCOUNTS"),
            (
                &[TOPIC, ("MEMBER_ROLE_NAME", "arn:aws:iam::1:role/x")],
                "MEMBER_ROLE_NAME",
            ),
            (
                &[TOPIC, ("APPLY_TO_IAC_MANAGED", "yes")],
                "APPLY_TO_IAC_MANAGED",
            ),
            (&[TOPIC, ("UPDATE_FINDINGS", "1")], "UPDATE_FINDINGS"),
            (
                &[TOPIC, ("CHAT_TOPIC_ARN", "https://hooks")],
                "CHAT_TOPIC_ARN",
            ),
        ];
        for (pairs, var) in cases {
            let err = CommonConfig::from_env(&env(pairs)).expect_err(var);
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var), "{err}");
        }
    }
}
