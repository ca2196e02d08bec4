//! endpoint-access: the public API endpoint trait (EKS.1).
//!
//! Restricts or turns off public access to the cluster's API server without ever locking anyone
//! out: public access is only turned off once private access has been on for the soak time, and
//! an allowlist only ever narrows what the cluster allows.

pub mod cidr;
pub mod decide;
pub mod live;
pub mod settings;

use shared::Trait;
use shared::aws::eks::client_request_token;
use shared::pipeline::{Applied, Assessment, Remediation, RemediationError, Situation};

pub use cidr::Cidr;
pub use decide::{
    EndpointChange, EndpointConfig, EndpointPlan, PrivateAccessSince, Soak, effective_public_cidrs,
    plan_endpoint,
};
pub use settings::Settings;

fn now_epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The endpoint-access remediation.
pub struct EndpointAccess {
    settings: Settings,
}

impl EndpointAccess {
    pub fn new(settings: Settings) -> Self {
        EndpointAccess { settings }
    }
}

impl Remediation for EndpointAccess {
    type Action = EndpointChange;
    const FUNCTION: &'static str = "endpoint-access";
    const OWNS: &'static [Trait] = &[Trait::PublicEndpoint];

    async fn assess(
        &self,
        situation: &Situation<'_>,
    ) -> Result<Assessment<EndpointChange>, RemediationError> {
        let allowed = &self.settings.allowed_public_cidrs;
        let minutes = self.settings.stage_soak_minutes;
        let turns_public_off = matches!(
            plan_endpoint(situation.cluster, allowed),
            EndpointPlan::Change { desired, .. } if !desired.public
        );
        let soak = if minutes > 0 && turns_public_off {
            Soak {
                minutes,
                since: live::private_access_since(
                    &situation.session.eks,
                    &situation.exposure.cluster.name,
                )
                .await?,
                now_epoch_seconds: now_epoch_seconds(),
            }
        } else {
            Soak {
                minutes,
                ..Soak::off()
            }
        };
        Ok(decide::assess(
            situation.exposure,
            situation.cluster,
            allowed,
            &soak,
            |config| client_request_token(situation.exposure, "UpdateClusterConfig", config),
        ))
    }

    async fn apply(
        &self,
        situation: &Situation<'_>,
        change: &EndpointChange,
    ) -> Result<Applied, RemediationError> {
        let name = &situation.exposure.cluster.name;
        let confirmation = live::update_endpoint(&situation.session.eks, name, change).await?;
        Ok(confirmation.applied(name, |after| {
            decide::reread_verification(&change.desired, after)
        }))
    }
}
