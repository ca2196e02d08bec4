//! endpoint-access: the public API endpoint trait (EKS.1).
//!
//! Restricts or turns off public access to the cluster's API server without ever locking anyone
//! out: public access is only turned off once private access is confirmed on.

pub mod cidr;
pub mod decide;
pub mod live;
pub mod settings;

use shared::Trait;
use shared::aws::eks::client_request_token;
use shared::pipeline::{Applied, Assessment, Remediation, RemediationError, Situation};

pub use cidr::Cidr;
pub use decide::{
    EndpointChange, EndpointConfig, EndpointPlan, effective_public_cidrs, plan_endpoint,
};
pub use settings::Settings;

/// The endpoint-access remediation.
pub struct EndpointAccess {
    settings: Settings,
}

/// The name this remediation had before; kept for callers written against it.
pub type EndpointAccessFix = EndpointAccess;

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
        Ok(decide::assess(
            situation.exposure,
            situation.cluster,
            &self.settings.allowed_public_cidrs,
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
