//! The decision, in pure code: is the endpoint compliant, and if not, which stage of the change
//! comes next, with its steps, notes and revert.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::json;

use shared::aws::eks::ClusterState;
use shared::output::report::{Blocker, BlockerCode, PlanStep, Revert, Stage};
use shared::output::shell::Cli;
use shared::pipeline::{Assessment, Plan, Verdict};
use shared::{ClusterRef, Exposure};

use crate::cidr::{Cidr, intersection};
use crate::settings::STAGE_SOAK_MINUTES;

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
        /// No address allowed today is on the allowlist: applying it cuts off every current
        /// client, so it is only proposed.
        cuts_off_everyone: bool,
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

/// When private access was last turned on, as far as the cluster's update history shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateAccessSince {
    /// Not looked up: the soak is off, or the plan is not the step that turns public access off.
    NotLookedUp,
    /// The `createdAt` of the last successful `EndpointAccessUpdate` that enabled private access.
    Update {
        id: String,
        created_epoch_seconds: i64,
    },
    /// No such update is visible, or the history could not be read: why, as a sentence.
    Unknown(String),
}

/// The soak before public access is turned off: its length, when private access was turned on,
/// and the time of this evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Soak {
    pub minutes: u32,
    pub since: PrivateAccessSince,
    pub now_epoch_seconds: i64,
}

impl Soak {
    /// No soak (`ENDPOINT_STAGE_SOAK_MINUTES=0`).
    pub fn off() -> Self {
        Soak {
            minutes: 0,
            since: PrivateAccessSince::NotLookedUp,
            now_epoch_seconds: 0,
        }
    }
}

fn timestamp(epoch_seconds: i64) -> String {
    DateTime::from_secs(epoch_seconds)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{epoch_seconds} seconds after the epoch"))
}

/// The fact stating the soak, and the blocker when public access may not be turned off yet.
pub fn soak_check(soak: &Soak) -> (String, Option<Blocker>) {
    let minutes = soak.minutes;
    if minutes == 0 {
        return (
            format!(
                "{STAGE_SOAK_MINUTES}=0: no soak between private access on and public access off"
            ),
            None,
        );
    }
    match &soak.since {
        PrivateAccessSince::Update {
            id,
            created_epoch_seconds,
        } => {
            let due = created_epoch_seconds.saturating_add(i64::from(minutes) * 60);
            let since = timestamp(*created_epoch_seconds);
            if soak.now_epoch_seconds >= due {
                (
                    format!(
                        "private access has been on since {since} (update {id}), longer than the {minutes}-minute soak ({STAGE_SOAK_MINUTES})"
                    ),
                    None,
                )
            } else {
                let fact = format!(
                    "private access was turned on at {since} (update {id}); the {minutes}-minute soak ({STAGE_SOAK_MINUTES}) ends at {}",
                    timestamp(due)
                );
                let blocker = Blocker::deferring(
                    BlockerCode::StageSoakPending,
                    format!(
                        "stage 2 of 2 (public access off) waits until {}: private access was turned on at {since} (update {id}) and must have been on for {minutes} minutes ({STAGE_SOAK_MINUTES}) first, so every client still using the public endpoint has time to move to the private path; the responder takes stage 2 on a delivery of this finding after that time",
                        timestamp(due)
                    ),
                );
                (fact, Some(blocker))
            }
        }
        PrivateAccessSince::Unknown(why) => (
            format!("when private access was turned on is not known: {why}"),
            Some(Blocker::new(
                BlockerCode::StageSoakUnknown,
                format!(
                    "the {minutes}-minute soak ({STAGE_SOAK_MINUTES}) between private access on and public access off cannot be established: {why}; confirm that kubectl, CI and operators reach the API server through the private endpoint, then run the command below by hand"
                ),
            )),
        ),
        PrivateAccessSince::NotLookedUp => (
            format!(
                "the {minutes}-minute soak ({STAGE_SOAK_MINUTES}) applies to stage 2 of 2 (public access off) only"
            ),
            None,
        ),
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
        let current: Vec<Cidr> = cidrs.iter().filter_map(|c| Cidr::parse(c).ok()).collect();
        let narrowed: Vec<String> = intersection(&current, allowed)
            .iter()
            .map(Cidr::to_string)
            .collect();
        let list: Vec<String> = allowed.iter().map(Cidr::to_string).collect();
        if narrowed.is_empty() {
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
                cuts_off_everyone: true,
            };
        }
        // Narrow, never widen: keep only the addresses allowed today that the allowlist allows.
        return EndpointPlan::Change {
            summary: format!(
                "narrow public access to {} (the part of today's {} within ALLOWED_PUBLIC_CIDRS) and enable private access",
                narrowed.join(", "),
                cidrs.join(", ")
            ),
            desired: EndpointConfig {
                public: true,
                private: true,
                public_cidrs: Some(narrowed),
            },
            stage: None,
            cuts_off_everyone: false,
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
            cuts_off_everyone: false,
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
        cuts_off_everyone: false,
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
    soak: &Soak,
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
    let (desired, stage, summary, cuts_off_everyone) = match plan_endpoint(state, allowed) {
        EndpointPlan::Compliant(reason) => {
            assessment.verdict = Verdict::Compliant(reason);
            return assessment;
        }
        EndpointPlan::Change {
            desired,
            stage,
            summary,
            cuts_off_everyone,
        } => (desired, stage, summary, cuts_off_everyone),
    };
    let mut blockers = Vec::new();
    if cuts_off_everyone {
        blockers.push(Blocker::new(
            BlockerCode::NoAllowedPublicCidrs,
            format!(
                "none of the addresses allowed today ({}) is within ALLOWED_PUBLIC_CIDRS: applying the allowlist would cut off every client that reaches the API server now; confirm the allowlist is right, then run the command below by hand",
                effective_public_cidrs(state).join(", ")
            ),
        ));
    }
    let turns_public_off = state.endpoint_public_access && !desired.public;
    if turns_public_off || stage == Some(Stage { number: 1, of: 2 }) {
        let (fact, blocker) = soak_check(soak);
        assessment.facts.push(fact);
        blockers.extend(blocker.filter(|_| turns_public_off));
    }
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
            description: if soak.minutes == 0 {
                "stage 2 of 2, once DescribeCluster shows private access on: disable public access (the responder does this on a later evaluation in apply mode)".to_string()
            } else {
                format!(
                    "stage 2 of 2, once private access has been on for {} minutes ({STAGE_SOAK_MINUTES}, counted from this update's createdAt): disable public access (the responder does this on a later evaluation in apply mode)",
                    soak.minutes
                )
            },
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
        blockers,
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
