//! Serde model of the OCSF exposure finding fields the responder reads.
//!
//! Every field is optional and unknown fields are ignored: Security Hub's OCSF version drifts
//! (1.4-dev in the preview sample, 1.6 in the docs, 1.8 seen live), so the gate, not serde,
//! decides what is required and names the path of whatever is missing.

use serde::{Deserialize, Serialize};

/// `detail` of a `Findings Imported V2` event.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct FindingsDetail {
    #[serde(default)]
    pub findings: Vec<OcsfFinding>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OcsfFinding {
    pub activity_id: Option<i64>,
    pub activity_name: Option<String>,
    pub class_uid: Option<i64>,
    pub cloud: Option<Cloud>,
    pub finding_info: Option<FindingInfo>,
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    pub severity: Option<String>,
    pub severity_id: Option<i64>,
    pub status: Option<String>,
    pub status_id: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Cloud {
    pub account: Option<Account>,
    pub region: Option<String>,
    pub cloud_partition: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Account {
    pub uid: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Owner {
    pub account: Option<Account>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct FindingInfo {
    pub uid: Option<String>,
    pub title: Option<String>,
    pub desc: Option<String>,
    pub analytic: Option<Analytic>,
    pub modified_time_dt: Option<String>,
    #[serde(default)]
    pub related_events: Vec<RelatedEvent>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Analytic {
    pub name: Option<String>,
}

/// One contributing finding ("signal") of the exposure.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RelatedEvent {
    pub uid: Option<String>,
    pub title: Option<String>,
    pub product: Option<Product>,
    pub severity: Option<String>,
    #[serde(default)]
    pub observables: Vec<Observable>,
    /// GA shape.
    #[serde(default)]
    pub traits: Vec<OcsfTrait>,
    /// Preview shape.
    #[serde(default)]
    pub tags: Vec<PreviewTag>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Product {
    pub uid: Option<String>,
    pub name: Option<String>,
    pub feature: Option<Feature>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Feature {
    pub uid: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Observable {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct OcsfTrait {
    pub category: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PreviewTag {
    pub name: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Metadata {
    pub uid: Option<String>,
    pub product: Option<Product>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub uid: Option<String>,
    pub uid_alt: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
    pub owner: Option<Owner>,
    pub cloud_partition: Option<String>,
    #[serde(default)]
    pub tags: Vec<ResourceTag>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ResourceTag {
    pub name: Option<String>,
    pub value: Option<String>,
}
