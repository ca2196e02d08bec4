//! Shared core of eks-exposure-responder: the finding model and gate, trait classification,
//! cluster identity, configuration, guardrails, and the evaluate → plan → act → record → notify
//! pipeline every function runs.

pub mod aws;
pub mod cluster;
pub mod config;
pub mod eks;
pub mod finding;
pub mod gate;
pub mod guardrails;
pub mod https;
pub mod lambda;
pub mod ledger;
pub mod notify;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod shell;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod traits;

pub use cluster::ClusterRef;
pub use config::{CommonConfig, Mode};
pub use gate::{Exposure, Gate, InvalidFinding, SkipReason};
pub use pipeline::{Applied, Assessment, Context, Deps, Plan, Remediation, ResponderError};
pub use report::{Blocker, Outcome, PlanStep, Report, Revert, Stage};
pub use traits::Trait;
