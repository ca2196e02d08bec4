//! The gate: turn a raw EventBridge event into an exposure the responder may act on,
//! a typed reason to skip it, or an error naming the JSON path that was wrong.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::cluster::{ArnError, ClusterRef, is_account_id, is_cluster_name};
use crate::event::exposure::{Signal, Trait, classify};
use crate::event::finding::{FindingsDetail, OcsfFinding, Resource, owned_text};
use crate::output::report::DecisionCode;

/// A `Findings Imported V2` event as EventBridge delivers it, in `aws_lambda_events`' model of
/// the envelope. The detail stays JSON text until the gate parses it, once, into the finding
/// model, whose strings borrow from that text.
pub type ExposureEvent = EventBridgeEvent<Box<RawValue>>;

pub const SOURCE: &str = "aws.securityhub";
pub const DETAIL_TYPE: &str = "Findings Imported V2";
pub const DETECTION_FINDING_CLASS: i64 = 2004;
pub const EXPOSURE_FEATURE_UID: &str = "security-hub/Exposure";
pub const EKS_CLUSTER_TYPE: &str = "AWS::EKS::Cluster";
/// The resources of Security Hub's own product ARNs: `securityhub` (GA exposure findings) and
/// `securityhub-risk` (the preview's "Security Hub Exposure Analysis"). Any other product is a
/// finding that some integration or account imported, which the responder does not act on.
pub const EXPOSURE_PRODUCTS: [&str; 2] = [
    "productv2/aws/securityhub",
    "productv2/aws/securityhub-risk",
];

const F0: &str = "$.detail.findings[0]";

/// Malformed input. Every message names the JSON path that was wrong; none is retryable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFinding {
    #[error("{path}: the event is not a well-formed Findings Imported V2 event: {message}")]
    Malformed { path: String, message: String },
    #[error("{path}: expected {expected}, found {found}")]
    Unexpected {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {what} is missing")]
    Missing { path: String, what: String },
    #[error("{path}: '{value}' {source}")]
    BadClusterArn {
        path: String,
        value: String,
        source: ArnError,
    },
    #[error(
        "{path}: '{found}' contradicts the cluster ARN {arn}; refusing to guess which {what} is right"
    )]
    Contradiction {
        path: String,
        what: String,
        found: String,
        arn: String,
    },
}

impl InvalidFinding {
    /// The JSON path (`$`-rooted) of the offending field.
    pub fn path(&self) -> &str {
        match self {
            InvalidFinding::Malformed { path, .. }
            | InvalidFinding::Unexpected { path, .. }
            | InvalidFinding::Missing { path, .. }
            | InvalidFinding::BadClusterArn { path, .. }
            | InvalidFinding::Contradiction { path, .. } => path,
        }
    }
}

/// `root` is the path of the JSON that was parsed: `$` for the event, `$.detail` for its detail.
fn map_serde(root: &str, err: serde_path_to_error::Error<serde_json::Error>) -> InvalidFinding {
    let inner = err.inner();
    let p = err.path().to_string();
    let path = if inner.is_syntax() || inner.is_eof() || p == "." || p.is_empty() {
        root.to_string()
    } else {
        format!("{root}.{p}")
    };
    InvalidFinding::Malformed {
        path,
        message: inner.to_string(),
    }
}

/// Parse the event's JSON text (tests, fuzzing, tools).
pub fn parse_event(bytes: &[u8]) -> Result<ExposureEvent, InvalidFinding> {
    let text = std::str::from_utf8(bytes).map_err(|e| InvalidFinding::Malformed {
        path: "$".into(),
        message: format!("the event is not UTF-8 text ({e})"),
    })?;
    parse_json("$", text)
}

/// Parse JSON text found at `root` (`$`, or `$.detail`).
///
/// Plain serde first: path tracking costs a third more on every event and only an invalid one
/// needs it, so a failure is parsed again with the path tracked to name the field.
fn parse_json<'de, T: Deserialize<'de>>(root: &str, text: &'de str) -> Result<T, InvalidFinding> {
    serde_json::from_str(text).map_err(|_| {
        let de = &mut serde_json::Deserializer::from_str(text);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Err(e) => map_serde(root, e),
            // Unreachable unless serde disagrees with itself; still an answer, not a panic.
            Ok(_) => InvalidFinding::Malformed {
                path: root.to_string(),
                message: "the JSON parsed only with path tracking".to_string(),
            },
        }
    })
}

/// Parse a JSON value (tests and tools that build events as values).
pub fn event_from_value(value: serde_json::Value) -> Result<ExposureEvent, InvalidFinding> {
    serde_path_to_error::deserialize(value).map_err(|e| map_serde("$", e))
}

/// An event as it reaches `respond`: the runtime's raw JSON text, or a value built by a test.
pub trait IncomingEvent {
    fn parse(&self) -> Result<ExposureEvent, InvalidFinding>;
}

/// The Lambda payload: the event's JSON text, checked by the runtime but not yet parsed.
impl IncomingEvent for Box<RawValue> {
    fn parse(&self) -> Result<ExposureEvent, InvalidFinding> {
        parse_json("$", self.get())
    }
}

impl IncomingEvent for serde_json::Value {
    fn parse(&self) -> Result<ExposureEvent, InvalidFinding> {
        serde_path_to_error::deserialize(self).map_err(|e| map_serde("$", e))
    }
}

/// The event's detail in the finding model: the one place it is parsed. Its strings borrow from
/// the detail's JSON text.
pub fn findings_of(event: &ExposureEvent) -> Result<FindingsDetail<'_>, InvalidFinding> {
    parse_json("$.detail", event.detail.get())
}

/// Why an exposure needs no action from this function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SkipReason {
    /// `activity_name` is `Close`: Security Hub no longer sees the exposure.
    Closed,
    /// Status is not `New`: someone (often this responder: the echo of its own update) triaged it.
    NotNew { status: String },
    /// None of the traits this function owns is on the finding.
    NoHandledTraits { present: Vec<String> },
    /// The cluster's account is outside `ALLOWED_ACCOUNTS`.
    AccountNotAllowed { account: String },
    /// The cluster is tagged `eks-exposure-responder/mode=ignore`.
    IgnoredByTag,
    /// The cluster no longer exists.
    ClusterNotFound,
}

impl SkipReason {
    pub fn code(&self) -> DecisionCode {
        match self {
            SkipReason::Closed => DecisionCode::Closed,
            SkipReason::NotNew { .. } => DecisionCode::NotNew,
            SkipReason::NoHandledTraits { .. } => DecisionCode::NoHandledTraits,
            SkipReason::AccountNotAllowed { .. } => DecisionCode::AccountNotAllowed,
            SkipReason::IgnoredByTag => DecisionCode::IgnoredByTag,
            SkipReason::ClusterNotFound => DecisionCode::ClusterNotFound,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SkipReason::Closed => {
                "the exposure is closed (activity Close): nothing to remediate".into()
            }
            SkipReason::NotNew { status } => format!(
                "the finding's status is '{status}', not New: it was already triaged (this is also how the responder ignores the echo of its own finding update)"
            ),
            SkipReason::NoHandledTraits { present } => format!(
                "the finding carries none of this function's traits (it carries: {})",
                if present.is_empty() {
                    "none recognised".to_string()
                } else {
                    present.join(", ")
                }
            ),
            SkipReason::AccountNotAllowed { account } => format!(
                "account {account} is not in ALLOWED_ACCOUNTS; no AWS call was made for this cluster"
            ),
            SkipReason::IgnoredByTag => format!(
                "the cluster is tagged {}=ignore",
                crate::guardrails::MODE_TAG
            ),
            SkipReason::ClusterNotFound => {
                "DescribeCluster says the cluster no longer exists: nothing to remediate".into()
            }
        }
    }
}

/// A validated exposure finding about one EKS cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub metadata_uid: String,
    pub finding_uid: Option<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub severity_id: Option<i64>,
    pub status: Option<String>,
    pub modified_time: Option<String>,
    /// Region of the bus that delivered the event (the aggregation home Region).
    pub home_region: Option<String>,
    pub cluster: ClusterRef,
    pub signals: Vec<Signal>,
    /// Every known trait on the finding, in `Trait` order.
    pub traits: Vec<Trait>,
    /// The subset this function owns.
    pub handled: Vec<Trait>,
    /// Unknown traits, verbatim (`category: name`).
    pub unknown_traits: Vec<String>,
}

impl Exposure {
    /// Severity as a short label, `Unknown` when absent.
    pub fn severity_label(&self) -> &str {
        self.severity.as_deref().unwrap_or("Unknown")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Actionable(Exposure),
    Skip(Exposure, SkipReason),
}

fn expect_eq(path: &str, expected: &str, found: Option<&str>) -> Result<(), InvalidFinding> {
    if found == Some(expected) {
        return Ok(());
    }
    Err(InvalidFinding::Unexpected {
        path: path.to_string(),
        expected: format!("'{expected}'"),
        found: found.map_or("nothing".to_string(), |f| format!("'{f}'")),
    })
}

/// The finding is an exposure finding of Security Hub's own product: class, exposure marker and
/// product ARN. (The marker alone can be copied into any imported finding; the product ARN of a
/// finding is set by Security Hub from the product that imported it.)
fn check_exposure_product(f: &OcsfFinding<'_>) -> Result<(), InvalidFinding> {
    if f.class_uid != Some(DETECTION_FINDING_CLASS) {
        return Err(InvalidFinding::Unexpected {
            path: format!("{F0}.class_uid"),
            expected: format!("{DETECTION_FINDING_CLASS} (Detection Finding)"),
            found: f.class_uid.map_or("nothing".into(), |c| c.to_string()),
        });
    }
    let feature = f
        .metadata
        .as_ref()
        .and_then(|m| m.product.as_ref())
        .and_then(|p| p.feature.as_ref())
        .and_then(|x| x.uid.as_deref());
    let analytic = f
        .finding_info
        .as_ref()
        .and_then(|i| i.analytic.as_ref())
        .and_then(|a| a.name.as_deref());
    if feature != Some(EXPOSURE_FEATURE_UID) && analytic != Some("Exposure") {
        return Err(InvalidFinding::Missing {
            path: format!("{F0}.metadata.product.feature.uid"),
            what: format!(
                "the exposure marker ('{EXPOSURE_FEATURE_UID}', or finding_info.analytic.name 'Exposure')"
            ),
        });
    }
    let product = f
        .metadata
        .as_ref()
        .and_then(|m| m.product.as_ref())
        .and_then(|p| p.uid.as_deref());
    if !product.is_some_and(is_security_hub_product) {
        return Err(InvalidFinding::Unexpected {
            path: format!("{F0}.metadata.product.uid"),
            expected: "Security Hub's own product (arn:<partition>:securityhub:<region>::productv2/aws/securityhub)".into(),
            found: product.map_or("nothing".into(), |p| format!("'{p}'")),
        });
    }
    Ok(())
}

/// `arn:<partition>:securityhub:<region>::productv2/aws/securityhub[-risk]`.
pub fn is_security_hub_product(uid: &str) -> bool {
    let parts: Vec<&str> = uid.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "securityhub", region, "", resource]
        if !partition.is_empty() && !region.is_empty() && EXPOSURE_PRODUCTS.contains(resource))
}

/// The event was emitted in the function's own account: Security Hub delivers exposure events on
/// the bus of the account that aggregates them, which is where the responder runs. An event whose
/// envelope names another account was put on the bus or handed to the function by someone else.
pub fn check_envelope_account(
    event: &ExposureEvent,
    own_account: &str,
) -> Result<(), InvalidFinding> {
    let found = event.account.as_deref();
    if found == Some(own_account) {
        return Ok(());
    }
    Err(InvalidFinding::Unexpected {
        path: "$.account".into(),
        expected: format!(
            "'{own_account}' (the function's own account, where Security Hub emits the exposure events it aggregates)"
        ),
        found: found.map_or("nothing".into(), |a| format!("'{a}'")),
    })
}

/// Apply the gate for a function owning `owned` traits.
pub fn gate(event: &ExposureEvent, owned: &[Trait]) -> Result<Gate, InvalidFinding> {
    expect_eq("$.source", SOURCE, Some(event.source.as_str()))?;
    expect_eq(
        "$.detail-type",
        DETAIL_TYPE,
        Some(event.detail_type.as_str()),
    )?;
    let detail = findings_of(event)?;
    let findings = &detail.findings;
    if findings.len() != 1 {
        return Err(InvalidFinding::Unexpected {
            path: "$.detail.findings".into(),
            expected: "exactly one finding".into(),
            found: format!("{}", findings.len()),
        });
    }
    let f = &findings[0];
    check_exposure_product(f)?;
    let metadata_uid = f
        .metadata
        .as_ref()
        .and_then(|m| m.uid.clone())
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| InvalidFinding::Missing {
            path: format!("{F0}.metadata.uid"),
            what: "the finding's metadata uid (needed to record the decision)".into(),
        })?;
    let cluster = resolve_cluster(f)?;

    let info = f.finding_info.as_ref();
    let signals: Vec<Signal> = info
        .map(|i| i.related_events.iter().map(classify).collect())
        .unwrap_or_default();
    let mut traits: Vec<Trait> = signals.iter().filter_map(Signal::trait_id).collect();
    traits.sort();
    traits.dedup();
    let handled: Vec<Trait> = traits
        .iter()
        .copied()
        .filter(|t| owned.contains(t))
        .collect();
    let unknown_traits = signals
        .iter()
        .filter_map(|s| match &s.class {
            crate::event::exposure::TraitClass::Unknown { category, name } => Some(format!(
                "{}: {}",
                category.as_deref().unwrap_or("(no category)"),
                name.as_deref().unwrap_or("(no name)")
            )),
            crate::event::exposure::TraitClass::Known { .. } => None,
        })
        .collect();

    let exposure = Exposure {
        metadata_uid: metadata_uid.to_string(),
        finding_uid: info.and_then(|i| owned_text(&i.uid)),
        title: info.and_then(|i| owned_text(&i.title)),
        severity: owned_text(&f.severity),
        severity_id: f.severity_id,
        status: owned_text(&f.status),
        modified_time: info.and_then(|i| owned_text(&i.modified_time_dt)),
        home_region: event.region.clone(),
        cluster,
        signals,
        traits,
        handled,
        unknown_traits,
    };

    let closed = f.activity_id == Some(3)
        || f.activity_name
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("Close"));
    if closed {
        return Ok(Gate::Skip(exposure, SkipReason::Closed));
    }
    let status = f.status.as_deref().unwrap_or("");
    // `status` is the label; `status_id` 1 is New. Both must agree when present.
    let is_new = status == "New" && f.status_id.is_none_or(|id| id == 1);
    if !is_new {
        let status = if status.is_empty() {
            f.status_id
                .map_or("(none)".to_string(), |id| format!("status_id {id}"))
        } else {
            status.to_string()
        };
        return Ok(Gate::Skip(exposure, SkipReason::NotNew { status }));
    }
    if exposure.handled.is_empty() {
        let mut present: Vec<String> = exposure.traits.iter().map(|t| t.id().to_string()).collect();
        present.extend(exposure.unknown_traits.iter().cloned());
        return Ok(Gate::Skip(
            exposure,
            SkipReason::NoHandledTraits { present },
        ));
    }
    Ok(Gate::Actionable(exposure))
}

/// [`confirm`] for the copy as Security Hub answers it (JSON).
pub fn confirm_json(
    copy: &serde_json::Value,
    exposure: &Exposure,
    owned: &[Trait],
) -> Result<(), String> {
    let finding = OcsfFinding::deserialize(copy)
        .map_err(|e| format!("Security Hub's copy of the finding could not be parsed ({e})"))?;
    confirm(&finding, exposure, owned)
}

/// OCSF status ids a finding no longer needs work in: Suppressed, Resolved, Archived.
const SETTLED_STATUS_IDS: [i64; 3] = [3, 4, 5];

/// Check Security Hub's own copy of the finding (read back by its metadata uid) against the
/// exposure the event described: the same finding, about the same cluster and account, from
/// Security Hub's exposure product, carrying one of the traits this function owns, and not closed,
/// suppressed, resolved or archived. `Err` says why the copy does not confirm the event.
///
/// In Progress is accepted: another function may already have recorded its decision on a finding
/// with several traits.
pub fn confirm(copy: &OcsfFinding<'_>, exposure: &Exposure, owned: &[Trait]) -> Result<(), String> {
    let uid = copy.metadata.as_ref().and_then(|m| m.uid.as_deref());
    if uid != Some(exposure.metadata_uid.as_str()) {
        return Err(format!(
            "Security Hub answered with another finding (metadata uid {})",
            uid.unwrap_or("none")
        ));
    }
    check_exposure_product(copy)
        .map_err(|e| format!("Security Hub's copy is not one of its exposure findings ({e})"))?;
    let cluster = resolve_cluster(copy)
        .map_err(|e| format!("Security Hub's copy names no valid cluster ({e})"))?;
    if cluster.arn != exposure.cluster.arn {
        return Err(format!(
            "Security Hub's copy is about {}, not {}",
            cluster.arn, exposure.cluster.arn
        ));
    }
    let closed = copy.activity_id == Some(3)
        || copy
            .activity_name
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("Close"));
    if closed {
        return Err("Security Hub's copy is closed".into());
    }
    let label = copy.status.as_deref().unwrap_or("");
    let settled = copy
        .status_id
        .is_some_and(|id| SETTLED_STATUS_IDS.contains(&id))
        || ["Suppressed", "Resolved", "Archived"]
            .iter()
            .any(|s| label.eq_ignore_ascii_case(s));
    if settled {
        return Err(format!(
            "Security Hub's copy is {} (status_id {})",
            if label.is_empty() { "settled" } else { label },
            copy.status_id.map_or("none".into(), |id| id.to_string())
        ));
    }
    let carries_owned = copy.finding_info.as_ref().is_some_and(|i| {
        i.related_events
            .iter()
            .filter_map(|e| classify(e).trait_id())
            .any(|t| owned.contains(&t))
    });
    if !carries_owned {
        return Err("Security Hub's copy no longer carries any of this function's traits".into());
    }
    Ok(())
}

fn resolve_cluster(f: &OcsfFinding<'_>) -> Result<ClusterRef, InvalidFinding> {
    let Some((i, r)) = f
        .resources
        .iter()
        .enumerate()
        .find(|(_, r)| r.kind.as_deref() == Some(EKS_CLUSTER_TYPE))
    else {
        return Err(InvalidFinding::Missing {
            path: format!("{F0}.resources"),
            what: format!("a resource of type {EKS_CLUSTER_TYPE}"),
        });
    };
    let base = format!("{F0}.resources[{i}]");
    let cluster = cluster_arn_of(f, r, &base)?;

    let owner = r
        .owner
        .as_ref()
        .and_then(|o| o.account.as_ref())
        .and_then(|a| a.uid.as_deref());
    if let Some(owner) = owner.filter(|o| *o != cluster.account) {
        return Err(InvalidFinding::Contradiction {
            path: format!("{base}.owner.account.uid"),
            what: "account".into(),
            found: owner.to_string(),
            arn: cluster.arn.clone(),
        });
    }
    let cloud_account = f
        .cloud
        .as_ref()
        .and_then(|c| c.account.as_ref())
        .and_then(|a| a.uid.as_deref());
    match cloud_account {
        None => {
            return Err(InvalidFinding::Missing {
                path: format!("{F0}.cloud.account.uid"),
                what: "the account of the cluster (Security Hub sets it on every finding)".into(),
            });
        }
        Some(a) if a != cluster.account => {
            return Err(InvalidFinding::Contradiction {
                path: format!("{F0}.cloud.account.uid"),
                what: "account".into(),
                found: a.to_string(),
                arn: cluster.arn.clone(),
            });
        }
        Some(_) => {}
    }
    if let Some(region) = r.region.as_deref().filter(|g| *g != cluster.region) {
        return Err(InvalidFinding::Contradiction {
            path: format!("{base}.region"),
            what: "Region".into(),
            found: region.to_string(),
            arn: cluster.arn.clone(),
        });
    }
    Ok(cluster)
}

fn parse_at(path: String, value: &str) -> Result<ClusterRef, InvalidFinding> {
    ClusterRef::parse(value).map_err(|source| InvalidFinding::BadClusterArn {
        path,
        value: value.to_string(),
        source,
    })
}

/// `uid` may be the ARN, or the bare name with the ARN in `uid_alt`; without any ARN the
/// identity is assembled from the name and the finding's owner/Region fields.
fn cluster_arn_of(
    f: &OcsfFinding<'_>,
    r: &Resource<'_>,
    base: &str,
) -> Result<ClusterRef, InvalidFinding> {
    let uid = r.uid.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let uid_alt = r
        .uid_alt
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if let Some(uid) = uid.filter(|u| u.starts_with("arn:")) {
        return parse_at(format!("{base}.uid"), uid);
    }
    if let Some(alt) = uid_alt {
        let cluster = parse_at(format!("{base}.uid_alt"), alt)?;
        if let Some(name) = uid.filter(|n| *n != cluster.name) {
            return Err(InvalidFinding::Contradiction {
                path: format!("{base}.uid"),
                what: "cluster name".into(),
                found: name.to_string(),
                arn: cluster.arn,
            });
        }
        return Ok(cluster);
    }
    let name = uid
        .or(r.name.as_deref())
        .ok_or_else(|| InvalidFinding::Missing {
            path: format!("{base}.uid"),
            what: "the cluster ARN or name".into(),
        })?;
    if !is_cluster_name(name) {
        return Err(InvalidFinding::BadClusterArn {
            path: format!("{base}.uid"),
            value: name.to_string(),
            source: ArnError::BadName,
        });
    }
    let cloud = f.cloud.as_ref();
    let account = r
        .owner
        .as_ref()
        .and_then(|o| o.account.as_ref())
        .and_then(|a| a.uid.as_deref())
        .or_else(|| {
            cloud
                .and_then(|c| c.account.as_ref())
                .and_then(|a| a.uid.as_deref())
        })
        .filter(|a| is_account_id(a))
        .ok_or_else(|| InvalidFinding::Missing {
            path: format!("{base}.owner.account.uid"),
            what: "the cluster's 12-digit account (no cluster ARN in uid/uid_alt)".into(),
        })?;
    let region = r
        .region
        .as_deref()
        .or_else(|| cloud.and_then(|c| c.region.as_deref()))
        .ok_or_else(|| InvalidFinding::Missing {
            path: format!("{base}.region"),
            what: "the cluster's Region (no cluster ARN in uid/uid_alt)".into(),
        })?;
    let partition = r
        .cloud_partition
        .as_deref()
        .or_else(|| cloud.and_then(|c| c.cloud_partition.as_deref()))
        .unwrap_or("aws");
    parse_at(
        format!("{base}.uid"),
        &format!("arn:{partition}:eks:{region}:{account}:cluster/{name}"),
    )
}
