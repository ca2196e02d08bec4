//! An in-memory [`DecisionLedger`] for tests: the same conditional semantics as the DynamoDB
//! adapter (version check on the summary, atomic counter), and faults on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::decide::Breaker;
use super::{ApprovalStore, Claim, Decision, DecisionLedger, Entry, FindingDecisions, FindingKey};
use crate::approval::StoredApproval;
use crate::aws::{AwsError, FaultKind};

#[derive(Debug, Default)]
struct State {
    findings: HashMap<(String, String), FindingDecisions>,
    decisions: Vec<Decision>,
    applies: HashMap<(String, String), u32>,
    breakers: HashMap<String, u32>,
    approvals: HashMap<(String, String), StoredApproval>,
    /// operation ("GetItem", "TransactWriteItems", "UpdateItem") -> the fault every call gets
    faults: HashMap<&'static str, FaultKind>,
    calls: Vec<&'static str>,
}

/// Clones share one ledger (as two Lambda instances share one table).
#[derive(Clone, Debug, Default)]
pub struct MemoryLedger(Arc<Mutex<State>>);

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every later call of `operation` fails with `kind`.
    pub fn fail(&self, operation: &'static str, kind: FaultKind) {
        self.state().faults.insert(operation, kind);
    }

    pub fn heal(&self) {
        self.state().faults.clear();
    }

    /// Every decision recorded, in order.
    pub fn decisions(&self) -> Vec<Decision> {
        self.state().decisions.clone()
    }

    /// The operations called, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.state().calls.clone()
    }

    pub fn finding_now(&self, key: &FindingKey) -> FindingDecisions {
        self.state()
            .findings
            .get(&(key.cluster_arn.clone(), key.metadata_uid.clone()))
            .cloned()
            .unwrap_or_default()
    }

    /// Another function's decision lands on the finding (as a concurrent Lambda would).
    pub fn decided_elsewhere(&self, key: &FindingKey, entry: Entry) {
        let mut s = self.state();
        let k = (key.cluster_arn.clone(), key.metadata_uid.clone());
        let next = s.findings.get(&k).cloned().unwrap_or_default().with(entry);
        s.findings.insert(k, next);
    }

    pub fn set_breaker(&self, function: &str, failures: u32) {
        self.state().breakers.insert(function.to_string(), failures);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn call(&self, operation: &'static str) -> Result<std::sync::MutexGuard<'_, State>, AwsError> {
        let mut s = self.state();
        s.calls.push(operation);
        match s.faults.get(operation) {
            Some(kind) => Err(AwsError {
                operation: match operation {
                    "GetItem" => "dynamodb:GetItem",
                    "UpdateItem" => "dynamodb:UpdateItem",
                    "PutItem" => "dynamodb:PutItem",
                    _ => "dynamodb:TransactWriteItems",
                },
                kind: *kind,
                code: Some(
                    match kind {
                        FaultKind::Transient => "ProvisionedThroughputExceededException",
                        FaultKind::AccessDenied => "AccessDeniedException",
                        FaultKind::NotFound => "ResourceNotFoundException",
                        _ => "ValidationException",
                    }
                    .into(),
                ),
                message: "injected".into(),
            }),
            None => Ok(s),
        }
    }
}

impl DecisionLedger for MemoryLedger {
    async fn finding(&self, key: &FindingKey) -> Result<FindingDecisions, AwsError> {
        let s = self.call("GetItem")?;
        Ok(s.findings
            .get(&(key.cluster_arn.clone(), key.metadata_uid.clone()))
            .cloned()
            .unwrap_or_default())
    }

    async fn claim(
        &self,
        key: &FindingKey,
        seen: &FindingDecisions,
        decision: &Decision,
    ) -> Result<Claim, AwsError> {
        let mut s = self.call("TransactWriteItems")?;
        let k = (key.cluster_arn.clone(), key.metadata_uid.clone());
        let current = s.findings.get(&k).map_or(0, |f| f.version);
        if current != seen.version {
            return Ok(Claim::Conflict);
        }
        let next = seen.with(decision.entry.clone());
        s.findings.insert(k, next.clone());
        s.decisions.push(decision.clone());
        if let Some(a) = decision.approval() {
            s.approvals
                .insert((a.cluster_arn.clone(), a.approval_id.clone()), a);
        }
        Ok(Claim::Won(next))
    }

    async fn release(
        &self,
        key: &FindingKey,
        claimed: &FindingDecisions,
        previous: Option<&Entry>,
        decision: &Decision,
    ) -> Result<bool, AwsError> {
        let mut s = self.call("TransactWriteItems")?;
        let k = (key.cluster_arn.clone(), key.metadata_uid.clone());
        if s.findings.get(&k).map_or(0, |f| f.version) != claimed.version {
            return Ok(false);
        }
        let mut restored = FindingDecisions {
            version: claimed.version + 1,
            entries: claimed
                .entries
                .iter()
                .filter(|e| e.function != decision.function)
                .cloned()
                .collect(),
        };
        restored.entries.extend(previous.cloned());
        s.findings.insert(k, restored);
        Ok(true)
    }

    async fn reserve_apply(
        &self,
        function: &str,
        hour: &str,
        max: u32,
        _expires_at: i64,
    ) -> Result<bool, AwsError> {
        let mut s = self.call("UpdateItem")?;
        let n = s
            .applies
            .entry((function.to_string(), hour.to_string()))
            .or_default();
        if *n >= max {
            return Ok(false);
        }
        *n += 1;
        Ok(true)
    }

    async fn breaker(&self, function: &str) -> Result<Breaker, AwsError> {
        let s = self.call("GetItem")?;
        Ok(Breaker {
            consecutive_failures: s.breakers.get(function).copied().unwrap_or(0),
        })
    }

    async fn count_apply_result(
        &self,
        function: &str,
        failed: bool,
        _why: &str,
    ) -> Result<Breaker, AwsError> {
        let mut s = self.call("UpdateItem")?;
        let n = s.breakers.entry(function.to_string()).or_default();
        *n = if failed { *n + 1 } else { 0 };
        Ok(Breaker {
            consecutive_failures: *n,
        })
    }
}

impl ApprovalStore for MemoryLedger {
    async fn approval(
        &self,
        cluster_arn: &str,
        approval_id: &str,
    ) -> Result<Option<StoredApproval>, AwsError> {
        let s = self.call("GetItem")?;
        Ok(s.approvals
            .get(&(cluster_arn.to_string(), approval_id.to_string()))
            .cloned())
    }

    async fn put_approval(
        &self,
        approval: &StoredApproval,
        _expires_at: i64,
    ) -> Result<(), AwsError> {
        let mut s = self.call("PutItem")?;
        s.approvals.insert(
            (approval.cluster_arn.clone(), approval.approval_id.clone()),
            approval.clone(),
        );
        Ok(())
    }

    async fn use_approval(
        &self,
        cluster_arn: &str,
        approval_id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, AwsError> {
        let mut s = self.call("UpdateItem")?;
        match s
            .approvals
            .get_mut(&(cluster_arn.to_string(), approval_id.to_string()))
        {
            Some(a) if a.used_by.is_none() && a.expires_ms > now_ms => {
                a.used_by = Some(by.to_string());
                a.used_ms = Some(now_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
