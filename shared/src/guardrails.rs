//! Guardrails that depend only on the live cluster's tags: they can lower the mode,
//! never raise it.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::config::Mode;

pub const MODE_TAG: &str = "eks-exposure-responder/mode";

/// The mode the function will use for this cluster, and why it is lower than configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModeDecision {
    pub configured: Mode,
    pub effective: Mode,
    /// Each guardrail that lowered the mode, as a sentence.
    pub held_back: Vec<String>,
    /// The IaC tool or stack that owns the cluster, when one is recognised.
    pub managed_by: Option<String>,
}

/// Which infrastructure-as-code tool manages the cluster, judged from its tags.
pub fn iac_owner(tags: &BTreeMap<String, String>) -> Option<String> {
    if let Some(stack) = tags.get("aws:cloudformation:stack-name") {
        return Some(format!("CloudFormation stack '{stack}'"));
    }
    for key in [
        "alpha.eksctl.io/cluster-name",
        "eksctl.cluster.k8s.io/v1alpha1/cluster-name",
    ] {
        if tags.contains_key(key) {
            return Some("eksctl (change the eksctl ClusterConfig and run eksctl)".to_string());
        }
    }
    for (key, value) in tags {
        let k = key.to_ascii_lowercase().replace(['-', '_'], "");
        if k == "managedby" || k == "provisionedby" || k == "createdby" {
            let v = value.to_ascii_lowercase();
            for tool in ["terraform", "opentofu", "pulumi", "crossplane", "cdk"] {
                if v.contains(tool) {
                    return Some(format!("{value} (tag {key})"));
                }
            }
        }
        if k == "terraform" && value.eq_ignore_ascii_case("true") {
            return Some(format!("Terraform (tag {key})"));
        }
    }
    None
}

pub fn decide_mode(
    configured: Mode,
    tags: &BTreeMap<String, String>,
    apply_to_iac_managed: bool,
) -> ModeDecision {
    let mut effective = configured;
    let mut held_back = Vec::new();
    if let Some(raw) = tags.get(MODE_TAG) {
        let tagged = match raw.trim().to_ascii_lowercase().as_str() {
            "ignore" => Mode::Ignore,
            "propose" => Mode::Propose,
            "approve" => Mode::Approve,
            "apply" => Mode::Apply,
            _ => {
                held_back.push(format!(
                    "the cluster tag {MODE_TAG}='{raw}' is not ignore, propose, approve or apply; treated as propose"
                ));
                Mode::Propose
            }
        };
        if tagged < effective {
            if tagged != Mode::Propose || held_back.is_empty() {
                held_back.push(format!(
                    "the cluster tag {MODE_TAG}={} lowers the mode from {}",
                    tagged.id(),
                    effective.id()
                ));
            }
            effective = tagged;
        }
    }
    let managed_by = iac_owner(tags);
    if let Some(owner) = &managed_by
        && effective >= Mode::Approve
        && !apply_to_iac_managed
    {
        held_back.push(format!(
            "the cluster is managed by {owner}: change it there, or the next deployment reverts the fix (set APPLY_TO_IAC_MANAGED=true to let the responder apply anyway)"
        ));
        effective = Mode::Propose;
    }
    ModeDecision {
        configured,
        effective,
        held_back,
        managed_by,
    }
}

/// A change that cannot be undone (a one-way door) is taken only with the cluster owner's explicit
/// consent: the cluster tag `MODE_TAG=apply` (or `approve`). Operator-wide apply mode is not enough, because a
/// cluster whose IaC tool adds no tags cannot be recognised as owned by one. `Err` is the sentence
/// that says which tag to set.
pub fn one_way_door_consent(tags: &BTreeMap<String, String>, change: &str) -> Result<(), String> {
    // `approve` consents too: the change then still waits for an approver.
    let consented = tags.get(MODE_TAG).is_some_and(|v| {
        v.trim().eq_ignore_ascii_case("apply") || v.trim().eq_ignore_ascii_case("approve")
    });
    if consented {
        Ok(())
    } else {
        Err(format!(
            "{change} is a one-way door (it cannot be undone, or only briefly), so the responder takes it only with the cluster owner's consent: set the cluster tag {MODE_TAG}=apply (or approve, to apply only what an approver approves) to let it apply (the tag is {} today)",
            match tags.get(MODE_TAG) {
                Some(v) => format!("'{v}'"),
                None => "not set".to_string(),
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_only_lower_the_mode() {
        let apply_tag = tags(&[(MODE_TAG, "apply")]);
        let d = decide_mode(Mode::Propose, &apply_tag, false);
        assert_eq!(d.effective, Mode::Propose, "a tag never raises the mode");
        assert!(d.held_back.is_empty());

        let d = decide_mode(Mode::Apply, &tags(&[(MODE_TAG, "propose")]), false);
        assert_eq!(d.effective, Mode::Propose);
        assert_eq!(d.held_back.len(), 1);
        assert!(d.held_back[0].contains("lowers the mode from apply"));

        let d = decide_mode(Mode::Apply, &tags(&[(MODE_TAG, "IGNORE")]), false);
        assert_eq!(d.effective, Mode::Ignore);

        let d = decide_mode(Mode::Apply, &tags(&[(MODE_TAG, "yolo")]), false);
        assert_eq!(
            d.effective,
            Mode::Propose,
            "an unreadable tag is the safe choice"
        );
        assert!(d.held_back[0].contains("'yolo'"));
    }

    #[test]
    fn one_way_doors_need_the_owner_tag() {
        assert_eq!(
            one_way_door_consent(&tags(&[(MODE_TAG, " Apply ")]), "the upgrade"),
            Ok(())
        );
        for t in [
            tags(&[]),
            tags(&[(MODE_TAG, "propose")]),
            tags(&[("owner", "apply")]),
        ] {
            let why = one_way_door_consent(&t, "the upgrade").expect_err("no consent");
            assert!(why.starts_with("the upgrade is a one-way door"), "{why}");
            assert!(why.contains("eks-exposure-responder/mode=apply"), "{why}");
        }
    }

    #[test]
    fn iac_managed_clusters_are_proposed_unless_allowed() {
        let cfn = tags(&[("aws:cloudformation:stack-name", "payments-eks")]);
        let d = decide_mode(Mode::Apply, &cfn, false);
        assert_eq!(d.effective, Mode::Propose);
        assert!(d.held_back[0].contains("CloudFormation stack 'payments-eks'"));
        assert!(d.held_back[0].contains("APPLY_TO_IAC_MANAGED"));

        let d = decide_mode(Mode::Apply, &cfn, true);
        assert_eq!(d.effective, Mode::Apply);
        assert_eq!(
            d.managed_by.as_deref(),
            Some("CloudFormation stack 'payments-eks'")
        );
        // Approve applies too (once approved): the IaC owner lowers it the same way.
        let m = decide_mode(Mode::Approve, &cfn, false);
        assert_eq!(m.effective, Mode::Propose);
        // A tag lowers apply to approve, never approve to apply.
        let m = decide_mode(Mode::Apply, &tags(&[(MODE_TAG, "approve")]), false);
        assert_eq!(m.effective, Mode::Approve);
        let m = decide_mode(Mode::Approve, &tags(&[(MODE_TAG, "apply")]), false);
        assert_eq!(m.effective, Mode::Approve);
        assert!(one_way_door_consent(&tags(&[(MODE_TAG, "approve")]), "x").is_ok());
        assert!(one_way_door_consent(&tags(&[(MODE_TAG, "propose")]), "x").is_err());
    }

    #[test]
    fn recognises_the_common_iac_tools() {
        assert!(
            iac_owner(&tags(&[("alpha.eksctl.io/cluster-name", "x")]))
                .is_some_and(|o| o.contains("eksctl"))
        );
        assert!(
            iac_owner(&tags(&[("ManagedBy", "Terraform")]))
                .is_some_and(|o| o.contains("Terraform"))
        );
        assert!(iac_owner(&tags(&[("managed-by", "pulumi")])).is_some());
        assert_eq!(
            iac_owner(&tags(&[("team", "payments"), ("managed-by", "humans")])),
            None
        );
    }
}
