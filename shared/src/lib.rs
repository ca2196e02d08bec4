//! Shared core of eks-exposure-responder, in the order an event goes through it:
//! `event` (envelope, finding model, exposure traits, gate) → `pipeline` (guardrails, the
//! function's assess and apply) with `aws` (SDK configuration, sessions, errors, EKS calls) →
//! `output` (report, SNS message, finding record, telemetry).

pub mod approval;
pub mod aws;
pub mod config;
pub mod event;
pub mod guardrails;
pub mod lambda;
pub mod ledger;
pub mod output;
pub mod pipeline;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use config::{CommonConfig, Mode};
pub use event::cluster::ClusterRef;
pub use event::exposure::Trait;
pub use event::gate::{Exposure, Gate, InvalidFinding, SkipReason};
pub use output::report::{
    Blocker, BlockerCode, DecisionCode, Outcome, PlanStep, Priority, ReasonCode, Report, Revert,
    Stage,
};
pub use pipeline::{
    Applied, Assessment, Deps, HandOff, Plan, Remediation, RemediationError, ResponderError,
    Situation, Verdict,
};
