//! Serde model of the OCSF exposure finding fields the responder reads.
//!
//! Every field is optional and unknown fields are ignored: Security Hub's OCSF version drifts
//! (1.4-dev in the preview sample, 1.6 in the docs, 1.8 seen live), so the gate, not serde,
//! decides what is required and names the path of whatever is missing.
//!
//! Text borrows from the event's JSON where it can (`Text<'a>`): a finding carries a hundred
//! or more strings, and the responder copies only the few it keeps.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};

/// A string of the event: borrowed from the JSON text when it has no escapes, owned otherwise
/// (and when the event is parsed from an owned `serde_json::Value`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional text of the event as an owned string: what the responder keeps.
pub fn owned_text(text: &Option<Text<'_>>) -> Option<String> {
    text.as_deref().map(str::to_owned)
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// `detail` of a `Findings Imported V2` event.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct FindingsDetail<'a> {
    #[serde(default, borrow)]
    pub findings: Vec<OcsfFinding<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OcsfFinding<'a> {
    pub activity_id: Option<i64>,
    #[serde(borrow)]
    pub activity_name: Option<Text<'a>>,
    pub class_uid: Option<i64>,
    #[serde(borrow)]
    pub cloud: Option<Cloud<'a>>,
    #[serde(borrow)]
    pub finding_info: Option<FindingInfo<'a>>,
    #[serde(borrow)]
    pub metadata: Option<Metadata<'a>>,
    #[serde(default, borrow)]
    pub resources: Vec<Resource<'a>>,
    #[serde(borrow)]
    pub severity: Option<Text<'a>>,
    pub severity_id: Option<i64>,
    #[serde(borrow)]
    pub status: Option<Text<'a>>,
    pub status_id: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Cloud<'a> {
    #[serde(borrow)]
    pub account: Option<Account<'a>>,
    #[serde(borrow)]
    pub region: Option<Text<'a>>,
    #[serde(borrow)]
    pub cloud_partition: Option<Text<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Account<'a> {
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Owner<'a> {
    #[serde(borrow)]
    pub account: Option<Account<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct FindingInfo<'a> {
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    #[serde(borrow)]
    pub title: Option<Text<'a>>,
    #[serde(borrow)]
    pub analytic: Option<Analytic<'a>>,
    #[serde(borrow)]
    pub modified_time_dt: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub related_events: Vec<RelatedEvent<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Analytic<'a> {
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
}

/// One contributing finding ("signal") of the exposure.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RelatedEvent<'a> {
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    #[serde(borrow)]
    pub title: Option<Text<'a>>,
    #[serde(borrow)]
    pub product: Option<Product<'a>>,
    #[serde(borrow)]
    pub severity: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub observables: Vec<Observable<'a>>,
    /// GA shape.
    #[serde(default, borrow)]
    pub traits: Vec<OcsfTrait<'a>>,
    /// Preview shape.
    #[serde(default, borrow)]
    pub tags: Vec<PreviewTag<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Product<'a> {
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    #[serde(borrow)]
    pub feature: Option<Feature<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Feature<'a> {
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Observable<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub value: Option<Text<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct OcsfTrait<'a> {
    #[serde(borrow)]
    pub category: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub values: Vec<Text<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PreviewTag<'a> {
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub values: Vec<Text<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Metadata<'a> {
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    #[serde(borrow)]
    pub product: Option<Product<'a>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Resource<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    #[serde(borrow)]
    pub uid_alt: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub region: Option<Text<'a>>,
    #[serde(borrow)]
    pub owner: Option<Owner<'a>>,
    #[serde(borrow)]
    pub cloud_partition: Option<Text<'a>>,
}
