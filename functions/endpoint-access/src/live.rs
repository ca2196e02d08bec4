//! The AWS effect: `UpdateClusterConfig`, then its confirmation.

use aws_sdk_eks::types::VpcConfigRequest;

use shared::aws::AwsError;
use shared::aws::eks::{Confirmation, confirm_update};

use crate::decide::EndpointChange;

/// Ask EKS for the planned endpoint settings and confirm the update.
pub async fn update_endpoint(
    eks: &aws_sdk_eks::Client,
    name: &str,
    change: &EndpointChange,
) -> Result<Confirmation, AwsError> {
    let desired = &change.desired;
    let request = VpcConfigRequest::builder()
        .endpoint_public_access(desired.public)
        .endpoint_private_access(desired.private)
        .set_public_access_cidrs(desired.public_cidrs.clone())
        .build();
    let out = eks
        .update_cluster_config()
        .name(name)
        .resources_vpc_config(request)
        .client_request_token(&change.token)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("eks:UpdateClusterConfig", e))?;
    tracing::info!(cluster = %name, token = %change.token, "UpdateClusterConfig accepted");
    confirm_update(eks, name, out.update().and_then(|u| u.id())).await
}
