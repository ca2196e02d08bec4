//! Cluster identity: the EKS cluster an exposure finding is about.

use serde::Serialize;

/// A parsed, validated EKS cluster ARN: `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClusterRef {
    pub arn: String,
    pub partition: String,
    pub account: String,
    pub region: String,
    pub name: String,
}

/// Why a string is not an EKS cluster ARN.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("is not an ARN (expected arn:<partition>:eks:<region>:<account>:cluster/<name>)")]
    NotAnArn,
    #[error("is an ARN of service '{0}', not eks")]
    WrongService(String),
    #[error("is an EKS ARN of a {0}, not of a cluster")]
    NotACluster(String),
    #[error("has an account id '{0}' that is not 12 digits")]
    BadAccount(String),
    #[error("has an empty or malformed Region '{0}'")]
    BadRegion(String),
    #[error(
        "has a cluster name that is not a valid EKS name (1-100 letters, digits, '-' or '_', starting with a letter or digit)"
    )]
    BadName,
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.contains('-')
}

/// EKS cluster names: 1–100 characters, `^[0-9A-Za-z][A-Za-z0-9\-_]*`.
pub fn is_cluster_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && s.len() <= 100
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ClusterRef {
    pub fn parse(arn: &str) -> Result<Self, ArnError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(ArnError::NotAnArn);
        };
        if prefix != "arn" || !partition.starts_with("aws") {
            return Err(ArnError::NotAnArn);
        }
        if service != "eks" {
            return Err(ArnError::WrongService(service.to_string()));
        }
        let Some(name) = resource.strip_prefix("cluster/") else {
            let kind = resource.split('/').next().unwrap_or_default();
            return Err(ArnError::NotACluster(kind.to_string()));
        };
        if !is_region(region) {
            return Err(ArnError::BadRegion(region.to_string()));
        }
        if !is_account_id(account) {
            return Err(ArnError::BadAccount(account.to_string()));
        }
        if !is_cluster_name(name) {
            return Err(ArnError::BadName);
        }
        Ok(ClusterRef {
            arn: arn.to_string(),
            partition: partition.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            name: name.to_string(),
        })
    }

    /// The console page of the cluster.
    pub fn console_url(&self) -> String {
        let host = match self.partition.as_str() {
            "aws-cn" => format!("{}.console.amazonaws.cn", self.region),
            "aws-us-gov" => format!("{}.console.amazonaws-us-gov.com", self.region),
            _ => format!("{}.console.aws.amazon.com", self.region),
        };
        format!(
            "https://{host}/eks/home?region={}#/clusters/{}",
            self.region, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_cluster_arn() {
        let c = ClusterRef::parse("arn:aws:eks:eu-west-1:111122223333:cluster/checkout-eu");
        assert_eq!(
            c,
            Ok(ClusterRef {
                arn: "arn:aws:eks:eu-west-1:111122223333:cluster/checkout-eu".into(),
                partition: "aws".into(),
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                name: "checkout-eu".into(),
            })
        );
        let gov = ClusterRef::parse("arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/a_b");
        assert_eq!(gov.map(|c| c.partition), Ok("aws-us-gov".to_string()));
    }

    #[test]
    fn rejects_what_is_not_a_cluster_arn() {
        use ArnError::*;
        let cases = [
            ("payments-prod", NotAnArn),
            ("arn:aws:eks:us-east-1:444455556666", NotAnArn),
            (
                "arn:aws:ecr:us-east-1:444455556666:repository/x",
                WrongService("ecr".into()),
            ),
            (
                "arn:aws:eks:us-east-1:444455556666:nodegroup/payments-prod/ng-1/0b1c",
                NotACluster("nodegroup".into()),
            ),
            (
                "arn:aws:eks:us-east-1:4444:cluster/x",
                BadAccount("4444".into()),
            ),
            (
                "arn:aws:eks::444455556666:cluster/x",
                BadRegion(String::new()),
            ),
            ("arn:aws:eks:us-east-1:444455556666:cluster/", BadName),
            (
                "arn:aws:eks:us-east-1:444455556666:cluster/a;rm -rf",
                BadName,
            ),
        ];
        for (arn, want) in cases {
            assert_eq!(ClusterRef::parse(arn), Err(want), "{arn}");
        }
    }
}
