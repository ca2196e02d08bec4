//! `SECRETS_KMS_KEY_ARN`: the customer-managed KMS key to encrypt secrets with, validated once at
//! cold start so a typo stops the function instead of reaching an irreversible API call.

use std::fmt;

use shared::config::{ConfigError, Env};
use shared::event::cluster::is_account_id;

/// The variable this function reads.
pub const KEY_VARIABLE: &str = "SECRETS_KMS_KEY_ARN";
/// The SAM template parameter that sets [`KEY_VARIABLE`].
pub const KEY_PARAMETER: &str = "SecretsKmsKeyArn";

/// Settings specific to secrets-encryption.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `None`: no key configured; the function proposes how to create one and never applies.
    pub key: Option<KmsKeyArn>,
}

impl Settings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let key = env
            .value(KEY_VARIABLE)
            .map(|raw| {
                KmsKeyArn::parse(&raw).map_err(|e| ConfigError::new(KEY_VARIABLE, e.to_string()))
            })
            .transpose()?;
        Ok(Settings { key })
    }
}

/// Whether the ARN names a key or an alias of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Key,
    Alias,
}

/// A validated KMS key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`) or alias ARN
/// (`…:alias/<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKeyArn {
    pub arn: String,
    pub partition: String,
    pub region: String,
    pub account: String,
    pub kind: KeyKind,
    /// The key id (`1234abcd-…` or `mrk-…`) or the alias name without `alias/`.
    pub name: String,
}

/// Why a value is not a usable KMS key ARN. Each message says what to give instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyArnError {
    #[error(
        "'{0}' is not an ARN: give the full key ARN (arn:aws:kms:<region>:<account>:key/<key-id>) or alias ARN (arn:aws:kms:<region>:<account>:alias/<name>), not a bare key id or alias name"
    )]
    NotAnArn(String),
    #[error("'{0}' is an ARN of service '{1}', not of a KMS key (arn:aws:kms:…)")]
    WrongService(String, String),
    #[error("'{0}' has a malformed Region '{1}' (expected e.g. us-east-1)")]
    BadRegion(String, String),
    #[error("'{0}' has an account id '{1}' that is not 12 digits")]
    BadAccount(String, String),
    #[error(
        "'{0}' does not name a key or an alias: the resource must be key/<key-id> (a UUID or mrk-<32 hex>) or alias/<name>"
    )]
    BadResource(String),
    #[error(
        "'{0}' is an alias of an AWS managed key (alias/aws/…): EKS needs a customer-managed key whose key policy you control"
    )]
    AwsManagedAlias(String),
}

fn is_region(s: &str) -> bool {
    // us-east-1, us-gov-west-1, cn-north-1, eu-isoe-west-1: letters, letters…, digits.
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A single-Region key id (UUID) or a multi-Region key id (`mrk-` + 32 hex).
fn is_key_id(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("mrk-") {
        return rest.len() == 32 && is_hex(rest);
    }
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && is_hex(g))
}

/// KMS alias names: 1–250 of `[a-zA-Z0-9/_-]` after `alias/`.
fn is_alias_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 250
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
}

impl KmsKeyArn {
    pub fn parse(raw: &str) -> Result<Self, KeyArnError> {
        let arn = raw.trim();
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(KeyArnError::NotAnArn(arn.to_string()));
        };
        if prefix != "arn" || !partition.starts_with("aws") {
            return Err(KeyArnError::NotAnArn(arn.to_string()));
        }
        if service != "kms" {
            return Err(KeyArnError::WrongService(
                arn.to_string(),
                service.to_string(),
            ));
        }
        if !is_region(region) {
            return Err(KeyArnError::BadRegion(arn.to_string(), region.to_string()));
        }
        if !is_account_id(account) {
            return Err(KeyArnError::BadAccount(
                arn.to_string(),
                account.to_string(),
            ));
        }
        let (kind, name) = if let Some(id) = resource.strip_prefix("key/") {
            if !is_key_id(id) {
                return Err(KeyArnError::BadResource(arn.to_string()));
            }
            (KeyKind::Key, id)
        } else if let Some(alias) = resource.strip_prefix("alias/") {
            if !is_alias_name(alias) {
                return Err(KeyArnError::BadResource(arn.to_string()));
            }
            if alias.starts_with("aws/") {
                return Err(KeyArnError::AwsManagedAlias(arn.to_string()));
            }
            (KeyKind::Alias, alias)
        } else {
            return Err(KeyArnError::BadResource(arn.to_string()));
        };
        Ok(KmsKeyArn {
            arn: arn.to_string(),
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            kind,
            name: name.to_string(),
        })
    }

    pub fn is_alias(&self) -> bool {
        self.kind == KeyKind::Alias
    }
}

impl fmt::Display for KmsKeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn env(value: &str) -> HashMap<String, String> {
        HashMap::from([(KEY_VARIABLE.to_string(), value.to_string())])
    }

    #[test]
    fn accepts_key_arns_alias_arns_and_other_partitions() {
        let k = KmsKeyArn::parse(KEY).expect("key ARN");
        assert_eq!(k.kind, KeyKind::Key);
        assert_eq!(k.region, "us-east-1");
        assert_eq!(k.account, "444455556666");
        assert_eq!(k.name, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(k.to_string(), KEY);

        let a = KmsKeyArn::parse("arn:aws:kms:eu-west-1:444455556666:alias/eks/orders-secrets")
            .expect("alias ARN");
        assert!(a.is_alias());
        assert_eq!(a.name, "eks/orders-secrets");
        assert_eq!(a.region, "eu-west-1");

        let mrk = KmsKeyArn::parse(
            "arn:aws:kms:us-west-2:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        )
        .expect("multi-Region key ARN");
        assert_eq!(mrk.kind, KeyKind::Key);

        let gov = KmsKeyArn::parse(
            "arn:aws-us-gov:kms:us-gov-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .expect("GovCloud key ARN");
        assert_eq!(gov.partition, "aws-us-gov");
        assert!(
            KmsKeyArn::parse("arn:aws-cn:kms:cn-north-1:444455556666:alias/secrets").is_ok(),
            "China partition"
        );
    }

    #[test]
    fn rejects_values_that_are_not_key_arns_and_says_why() {
        type Expect = fn(&KeyArnError) -> bool;
        let cases: [(&str, Expect); 10] = [
            ("1234abcd-12ab-34cd-56ef-1234567890ab", |e| {
                matches!(e, KeyArnError::NotAnArn(_))
            }),
            ("alias/eks-secrets", |e| {
                matches!(e, KeyArnError::NotAnArn(_))
            }),
            ("arn:aws:kms:us-east-1:444455556666", |e| {
                matches!(e, KeyArnError::NotAnArn(_))
            }),
            (
                "arn:aws:iam::444455556666:role/eks-cluster",
                |e| matches!(e, KeyArnError::WrongService(_, s) if s == "iam"),
            ),
            (
                "arn:aws:kms:US-EAST-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                |e| matches!(e, KeyArnError::BadRegion(..)),
            ),
            (
                "arn:aws:kms::444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                |e| matches!(e, KeyArnError::BadRegion(..)),
            ),
            (
                "arn:aws:kms:us-east-1:4444:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                |e| matches!(e, KeyArnError::BadAccount(..)),
            ),
            ("arn:aws:kms:us-east-1:444455556666:key/not-a-key", |e| {
                matches!(e, KeyArnError::BadResource(_))
            }),
            ("arn:aws:kms:us-east-1:444455556666:grant/abc", |e| {
                matches!(e, KeyArnError::BadResource(_))
            }),
            ("arn:aws:kms:us-east-1:444455556666:alias/aws/ebs", |e| {
                matches!(e, KeyArnError::AwsManagedAlias(_))
            }),
        ];
        for (raw, expected) in cases {
            let err = KmsKeyArn::parse(raw).expect_err(raw);
            assert!(expected(&err), "{raw}: {err:?}");
            assert!(
                err.to_string().contains(raw),
                "the message quotes the value: {err}"
            );
        }
        assert!(KmsKeyArn::parse("arn:aws:kms:us-east-1:444455556666:alias/a b").is_err());
    }

    #[test]
    fn settings_name_the_variable_on_a_bad_value() {
        assert_eq!(Settings::from_env(&HashMap::new()), Ok(Settings::default()));
        assert_eq!(
            Settings::from_env(&env("  ")),
            Ok(Settings::default()),
            "blank is unset"
        );
        let s = Settings::from_env(&env(&format!(" {KEY} "))).expect("valid");
        assert_eq!(s.key.map(|k| k.arn), Some(KEY.to_string()));

        let err = Settings::from_env(&env("alias/eks-secrets")).expect_err("bare alias");
        assert_eq!(err.variable, "SECRETS_KMS_KEY_ARN");
        let text = err.to_string();
        assert!(
            text.starts_with("configuration error in SECRETS_KMS_KEY_ARN:"),
            "{text}"
        );
        assert!(text.contains("give the full key ARN"), "{text}");
    }
}
