//! The decision, in pure code: is the endpoint compliant, and if not, which stage of the change
//! comes next, with its steps, notes and revert.

use serde_json::json;

use shared::aws::eks::ClusterState;
use shared::output::report::{PlanStep, Revert, Stage};
use shared::output::shell::Cli;
use shared::pipeline::{Assessment, Plan, Verdict};
use shared::{ClusterRef, Exposure};

use crate::cidr::Cidr;

/// The planned `UpdateClusterConfig`: the endpoint settings asked for, under its idempotency
/// token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointChange {
    pub desired: EndpointConfig,
    pub token: String,
}

/// The endpoint access settings EKS is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    pub public: bool,
    pub private: bool,
    /// `None`: leave the public CIDRs as they are.
    pub public_cidrs: Option<Vec<String>>,
}

impl EndpointConfig {
    /// The `--resources-vpc-config` JSON and the idempotency key of this request.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = json!({
            "endpointPublicAccess": self.public,
            "endpointPrivateAccess": self.private,
        });
        if let Some(c) = &self.public_cidrs {
            v["publicAccessCidrs"] = json!(c);
        }
        v
    }
}

/// What to do about the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointPlan {
    Compliant(String),
    Change {
        desired: EndpointConfig,
        stage: Option<Stage>,
        summary: String,
    },
}

/// Public CIDRs as EKS applies them: none listed with public access on means `0.0.0.0/0`.
pub fn effective_public_cidrs(state: &ClusterState) -> Vec<String> {
    if state.public_access_cidrs.is_empty() {
        vec!["0.0.0.0/0".to_string()]
    } else {
        state.public_access_cidrs.clone()
    }
}

/// The compliance rule and the staged plan, as a pure function.
pub fn plan_endpoint(state: &ClusterState, allowed: &[Cidr]) -> EndpointPlan {
    if !state.endpoint_public_access {
        return EndpointPlan::Compliant("public access to the API server endpoint is off".into());
    }
    let cidrs = effective_public_cidrs(state);
    if !allowed.is_empty() {
        let within = cidrs.iter().all(|c| {
            Cidr::parse(c)
                .is_ok_and(|c| !c.is_everything() && allowed.iter().any(|a| a.contains(&c)))
        });
        if within {
            return EndpointPlan::Compliant(format!(
                "public access is limited to {} (within ALLOWED_PUBLIC_CIDRS)",
                cidrs.join(", ")
            ));
        }
        let list: Vec<String> = allowed.iter().map(Cidr::to_string).collect();
        return EndpointPlan::Change {
            summary: format!(
                "restrict public access to ALLOWED_PUBLIC_CIDRS ({}) and enable private access",
                list.join(", ")
            ),
            desired: EndpointConfig {
                public: true,
                private: true,
                public_cidrs: Some(list),
            },
            stage: None,
        };
    }
    if !state.endpoint_private_access {
        // The lock-out guard: never turn public access off while private access is off.
        return EndpointPlan::Change {
            desired: EndpointConfig {
                public: true,
                private: true,
                public_cidrs: None,
            },
            stage: Some(Stage { number: 1, of: 2 }),
            summary: "stage 1 of 2: enable private endpoint access; public access stays on until private access is confirmed".into(),
        };
    }
    EndpointPlan::Change {
        desired: EndpointConfig {
            public: false,
            private: true,
            public_cidrs: None,
        },
        stage: Some(Stage { number: 2, of: 2 }),
        summary: "stage 2 of 2: disable public endpoint access (private access is on)".into(),
    }
}

fn update_cli(
    cluster: &shared::ClusterRef,
    config: &serde_json::Value,
    token: Option<&str>,
) -> String {
    let mut cli = Cli::aws("eks", "update-cluster-config")
        .arg("--region", &cluster.region)
        .arg("--name", &cluster.name)
        .arg("--resources-vpc-config", &config.to_string());
    if let Some(t) = token {
        cli = cli.arg("--client-request-token", t);
    }
    cli.build()
}

fn previous_config(state: &ClusterState) -> serde_json::Value {
    let mut v = json!({
        "endpointPublicAccess": state.endpoint_public_access,
        "endpointPrivateAccess": state.endpoint_private_access,
    });
    if state.endpoint_public_access {
        v["publicAccessCidrs"] = json!(effective_public_cidrs(state));
    }
    v
}

fn facts(state: &ClusterState, allowed: &[Cidr]) -> Vec<String> {
    let public = if state.endpoint_public_access {
        let note = if state.public_access_cidrs.is_empty() {
            " (no CIDRs set: the AWS default)"
        } else {
            ""
        };
        format!(
            "public endpoint: ON, reachable from {}{note}",
            effective_public_cidrs(state).join(", ")
        )
    } else {
        "public endpoint: off".to_string()
    };
    let private = format!(
        "private endpoint: {}",
        if state.endpoint_private_access {
            "ON"
        } else {
            "off"
        }
    );
    let allow = if allowed.is_empty() {
        "ALLOWED_PUBLIC_CIDRS: not set, so the target is public access off".to_string()
    } else {
        let list: Vec<String> = allowed.iter().map(Cidr::to_string).collect();
        format!("ALLOWED_PUBLIC_CIDRS: {}", list.join(", "))
    };
    vec![
        format!("cluster status: {}", state.status),
        public,
        private,
        allow,
    ]
}

/// Evaluate the live cluster and plan the next stage; `token` gives the `clientRequestToken` of a
/// desired `resourcesVpcConfig`.
pub fn assess(
    exposure: &Exposure,
    state: &ClusterState,
    allowed: &[Cidr],
    token: impl Fn(&str) -> String,
) -> Assessment<EndpointChange> {
    let cluster: &ClusterRef = &exposure.cluster;
    let mut assessment = Assessment {
        live_state: json!({
            "status": state.status,
            "resourcesVpcConfig": previous_config(state),
            "publicAccessCidrsReported": state.public_access_cidrs,
        }),
        facts: facts(state, allowed),
        ..Assessment::default()
    };
    let (desired, stage, summary) = match plan_endpoint(state, allowed) {
        EndpointPlan::Compliant(reason) => {
            assessment.verdict = Verdict::Compliant(reason);
            return assessment;
        }
        EndpointPlan::Change {
            desired,
            stage,
            summary,
        } => (desired, stage, summary),
    };
    let config = desired.to_json();
    let token = token(&config.to_string());
    let step = PlanStep {
        description: summary.clone(),
        api_call: "eks:UpdateClusterConfig".into(),
        parameters: json!({
            "name": cluster.name,
            "resourcesVpcConfig": config,
            "clientRequestToken": token,
        }),
        cli: update_cli(cluster, &config, Some(&token)),
    };
    let mut follow_ups = Vec::new();
    if stage == Some(Stage { number: 1, of: 2 }) {
        let stage2 = EndpointConfig {
            public: false,
            private: true,
            public_cidrs: None,
        }
        .to_json();
        follow_ups.push(PlanStep {
            description: "stage 2 of 2, once DescribeCluster shows private access on: disable public access (the responder does this on a later evaluation in apply mode)".into(),
            api_call: "eks:UpdateClusterConfig".into(),
            parameters: json!({ "name": cluster.name, "resourcesVpcConfig": stage2 }),
            cli: update_cli(cluster, &stage2, None),
        });
        assessment.notes.push(
            "public access is left on in stage 1 so that nothing that reaches the API server today is cut off before the private path exists".into(),
        );
    }
    if !desired.public {
        assessment.notes.push(
            "after public access is off, kubectl, CI runners and operators must reach the API server from inside the VPC (VPN, Direct Connect, a bastion or runners in the VPC): check that path exists before applying".into(),
        );
    }
    let previous = previous_config(state);
    assessment.verdict = Verdict::Act(Plan {
        summary,
        steps: vec![step],
        follow_ups,
        blockers: Vec::new(),
        revert: Some(Revert {
            description:
                "restore the previous endpoint access (resourcesVpcConfig before the change)".into(),
            cli: Some(update_cli(cluster, &previous, None)),
            previous,
        }),
        irreversible: false,
        stage,
        action: EndpointChange { desired, token },
    });
    assessment
}

/// The verification of a re-read when EKS returned no update id.
pub fn reread_verification(
    desired: &EndpointConfig,
    after: Result<Option<&ClusterState>, &shared::aws::AwsError>,
) -> String {
    match after {
        Ok(Some(s))
            if s.endpoint_public_access == desired.public
                && s.endpoint_private_access == desired.private =>
        {
            format!(
                "the endpoint returned no update id; DescribeCluster now reports public access {} and private access {}, as requested",
                on_off(s.endpoint_public_access),
                on_off(s.endpoint_private_access)
            )
        }
        Ok(Some(s)) => format!(
            "the endpoint returned no update id and DescribeCluster still reports public access {} and private access {}; check the cluster",
            on_off(s.endpoint_public_access),
            on_off(s.endpoint_private_access)
        ),
        Ok(None) => {
            "the endpoint returned no update id and DescribeCluster no longer finds the cluster"
                .into()
        }
        Err(e) => format!(
            "the endpoint returned no update id and DescribeCluster could not confirm the change ({e})"
        ),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
