//! The AWS effects: `UpdateClusterConfig` and its confirmation, and when private access was
//! turned on (`ListUpdates`, `DescribeUpdate`).

use aws_sdk_eks::types::{UpdateParamType, UpdateStatus, UpdateType, VpcConfigRequest};

use shared::aws::AwsError;
use shared::aws::eks::{Confirmation, confirm_update};

use crate::decide::{EndpointChange, PrivateAccessSince};

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

/// The most updates read back to find when private access was turned on: a cluster with more is
/// judged from these only if one of them enabled private access, else the soak is unknown.
pub const MAX_UPDATES_READ: usize = 50;

/// When private access was last turned on: the `createdAt` of the newest successful
/// `EndpointAccessUpdate` whose parameters set `EndpointPrivateAccess` to true (`ListUpdates`,
/// then `DescribeUpdate` for each). A transient failure is returned, so the event is retried;
/// any other failure makes the time unknown, which the decision treats as "not yet".
pub async fn private_access_since(
    eks: &aws_sdk_eks::Client,
    name: &str,
) -> Result<PrivateAccessSince, AwsError> {
    let unknown = |e: AwsError| -> Result<PrivateAccessSince, AwsError> {
        if e.is_transient() {
            Err(e)
        } else {
            Ok(PrivateAccessSince::Unknown(format!(
                "the update history could not be read ({e})"
            )))
        }
    };
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = eks
            .list_updates()
            .name(name)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("eks:ListUpdates", e));
        let page = match page {
            Ok(p) => p,
            Err(e) => return unknown(e),
        };
        ids.extend(page.update_ids().iter().cloned());
        next = page.next_token().map(str::to_string);
        if next.is_none() || ids.len() > MAX_UPDATES_READ {
            break;
        }
    }
    let complete = ids.len() <= MAX_UPDATES_READ && next.is_none();
    let mut newest: Option<(i64, String)> = None;
    for id in ids.iter().take(MAX_UPDATES_READ) {
        let out = eks
            .describe_update()
            .name(name)
            .update_id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("eks:DescribeUpdate", e));
        let update = match out {
            Ok(o) => o.update,
            Err(e) => return unknown(e),
        };
        let Some(u) = update else { continue };
        let enabled_private = u.r#type() == Some(&UpdateType::EndpointAccessUpdate)
            && u.status() == Some(&UpdateStatus::Successful)
            && u.params().iter().any(|p| {
                p.r#type() == Some(&UpdateParamType::EndpointPrivateAccess)
                    && p.value().is_some_and(|v| v.eq_ignore_ascii_case("true"))
            });
        if let (true, Some(at)) = (enabled_private, u.created_at()) {
            let at = at.secs();
            if newest.as_ref().is_none_or(|(t, _)| at > *t) {
                newest = Some((at, id.clone()));
            }
        }
    }
    // With updates left unread, a newer one may have turned private access on again later: the
    // soak is then unknown rather than counted from an older update.
    Ok(match newest {
        _ if !complete => PrivateAccessSince::Unknown(format!(
            "the cluster has more than {MAX_UPDATES_READ} updates, too many to read back here"
        )),
        Some((created_epoch_seconds, id)) => PrivateAccessSince::Update {
            id,
            created_epoch_seconds,
        },
        None => PrivateAccessSince::Unknown(
            "ListUpdates shows no successful endpoint access update that turned private access on (it may have been on since the cluster was created, or the update is no longer listed)".to_string(),
        ),
    })
}
