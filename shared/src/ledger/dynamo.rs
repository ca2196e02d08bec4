//! [`DecisionLedger`] on DynamoDB (the table design is in the module above).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

use super::decide::{Breaker, day, rfc3339};
use super::{ApprovalStore, Claim, Decision, DecisionLedger, Entry, FindingDecisions, FindingKey};
use crate::approval::StoredApproval;
use crate::aws::{AwsError, FaultKind};

/// Attribute names, shared with the documented CLI queries.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const VERSION: &str = "version";
pub const EXPIRES_AT: &str = "expires_at";
/// Prefix of a finding summary's per-function attribute (`fn#<function>`).
pub const ENTRY_PREFIX: &str = "fn#";
pub const BY_DAY_INDEX: &str = "by-day";

pub fn cluster_pk(cluster_arn: &str) -> String {
    format!("cluster#{cluster_arn}")
}

pub fn finding_sk(metadata_uid: &str) -> String {
    format!("finding#{metadata_uid}")
}

pub fn decision_sk(d: &Decision) -> String {
    format!(
        "decision#{}#{}#{}",
        rfc3339(d.decided_at_ms),
        d.function,
        d.decision_id
    )
}

pub fn function_pk(function: &str) -> String {
    format!("function#{function}")
}

#[derive(Clone, Debug)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn summary_key(&self, key: &FindingKey) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), s(cluster_pk(&key.cluster_arn))),
            (SK.to_string(), s(finding_sk(&key.metadata_uid))),
        ])
    }

    fn breaker_key(function: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), s(function_pk(function))),
            (SK.to_string(), s("breaker".to_string())),
        ])
    }

    /// The summary update that moves `seen` one version on, with `entry` (or without the
    /// function's entry when `None`) for `function`.
    fn summary_update(
        &self,
        key: &FindingKey,
        seen_version: u64,
        function: &str,
        entry: Option<&Entry>,
        expires_at: i64,
    ) -> Result<Update, AwsError> {
        let condition = if seen_version == 0 {
            format!("attribute_not_exists({VERSION})")
        } else {
            format!("{VERSION} = :seen")
        };
        let mut values = HashMap::from([
            (":next".to_string(), n(seen_version + 1)),
            (":expires".to_string(), n(expires_at)),
        ]);
        if seen_version != 0 {
            values.insert(":seen".to_string(), n(seen_version));
        }
        let expression = match entry {
            Some(e) => {
                values.insert(":entry".to_string(), s(to_json(e)?));
                format!("SET {VERSION} = :next, {EXPIRES_AT} = :expires, #entry = :entry")
            }
            None => format!("SET {VERSION} = :next, {EXPIRES_AT} = :expires REMOVE #entry"),
        };
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.summary_key(key)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#entry", format!("{ENTRY_PREFIX}{function}"))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| built("dynamodb:TransactWriteItems", e))
    }

    /// Run a transaction; `false` when one of its conditions did not hold.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, AwsError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(c)
                        if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(ledger_error("dynamodb:TransactWriteItems", e)),
        }
    }
}

impl DynamoLedger {
    fn approval_key(cluster_arn: &str, approval_id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), s(cluster_pk(cluster_arn))),
            (SK.to_string(), s(approval_sk(approval_id))),
        ])
    }

    /// A new approval item, on condition that it does not exist yet.
    fn approval_put(&self, a: &StoredApproval, expires_at: i64) -> Result<Put, AwsError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(approval_item(a, expires_at)))
            .condition_expression(format!("attribute_not_exists({PK})"))
            .build()
            .map_err(|e| built("dynamodb:TransactWriteItems", e))
    }
}

pub fn approval_sk(approval_id: &str) -> String {
    format!("approval#{approval_id}")
}

/// The approval as its item; it outlives its expiry (as long as decisions do) so that who
/// approved what stays on record.
fn approval_item(a: &StoredApproval, expires_at: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_string(), s(cluster_pk(&a.cluster_arn))),
        (SK.to_string(), s(approval_sk(&a.approval_id))),
        ("approval_id".to_string(), s(a.approval_id.clone())),
        ("function".to_string(), s(a.function.clone())),
        ("cluster_arn".to_string(), s(a.cluster_arn.clone())),
        ("metadata_uid".to_string(), s(a.metadata_uid.clone())),
        ("plan_digest".to_string(), s(a.plan_digest.clone())),
        ("decision_id".to_string(), s(a.decision_id.clone())),
        ("created_at".to_string(), s(rfc3339(a.created_ms))),
        ("approval_expires_ms".to_string(), n(a.expires_ms)),
        ("approval_expires".to_string(), s(rfc3339(a.expires_ms))),
        (
            EXPIRES_AT.to_string(),
            n(expires_at.max(a.expires_ms / 1000)),
        ),
    ])
}

fn string_of(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

impl ApprovalStore for DynamoLedger {
    async fn approval(
        &self,
        cluster_arn: &str,
        approval_id: &str,
    ) -> Result<Option<StoredApproval>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::approval_key(cluster_arn, approval_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ledger_error("dynamodb:GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let text = |name: &str| string_of(item, name).unwrap_or_default();
        Ok(Some(StoredApproval {
            approval_id: text("approval_id"),
            function: text("function"),
            cluster_arn: text("cluster_arn"),
            metadata_uid: text("metadata_uid"),
            plan_digest: text("plan_digest"),
            decision_id: text("decision_id"),
            created_ms: 0,
            // An item without its expiry is taken as expired.
            expires_ms: number_of(item, "approval_expires_ms").unwrap_or(0),
            used_by: string_of(item, "used_by"),
            used_ms: number_of(item, "used_at_ms"),
        }))
    }

    async fn put_approval(
        &self,
        approval: &StoredApproval,
        expires_at: i64,
    ) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(approval_item(approval, expires_at)))
            .condition_expression(format!("attribute_not_exists({PK})"))
            .send()
            .await
            .map_err(|e| ledger_error("dynamodb:PutItem", e))?;
        Ok(())
    }

    async fn use_approval(
        &self,
        cluster_arn: &str,
        approval_id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::approval_key(cluster_arn, approval_id)))
            .update_expression("SET used_by = :by, used_at_ms = :now, used_at = :at")
            .condition_expression(format!(
                "attribute_exists({PK}) AND attribute_not_exists(used_by) AND approval_expires_ms > :now"
            ))
            .expression_attribute_values(":by", s(by.to_string()))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":at", s(rfc3339(now_ms)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(ledger_error("dynamodb:UpdateItem", e)),
        }
    }
}

impl DecisionLedger for DynamoLedger {
    async fn finding(&self, key: &FindingKey) -> Result<FindingDecisions, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.summary_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ledger_error("dynamodb:GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(FindingDecisions::default());
        };
        let version = number_of(item, VERSION).unwrap_or(0);
        let mut entries = Vec::new();
        for (name, value) in item {
            if let (Some(_), AttributeValue::S(json)) = (name.strip_prefix(ENTRY_PREFIX), value) {
                // An entry this version cannot read is left out of the comment, not fatal.
                match serde_json::from_str::<Entry>(json) {
                    Ok(e) => entries.push(e),
                    Err(err) => {
                        tracing::warn!(attribute = %name, error = %err, "unreadable ledger entry ignored")
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.function.cmp(&b.function));
        Ok(FindingDecisions {
            version: u64::try_from(version).unwrap_or(0),
            entries,
        })
    }

    async fn claim(
        &self,
        key: &FindingKey,
        seen: &FindingDecisions,
        decision: &Decision,
    ) -> Result<Claim, AwsError> {
        let summary = self.summary_update(
            key,
            seen.version,
            &decision.function,
            Some(&decision.entry),
            decision.expires_at,
        )?;
        let record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(decision_item(key, decision)))
            .condition_expression(format!("attribute_not_exists({PK})"))
            .build()
            .map_err(|e| built("dynamodb:TransactWriteItems", e))?;
        let mut items = vec![
            TransactWriteItem::builder().update(summary).build(),
            TransactWriteItem::builder().put(record).build(),
        ];
        if let Some(approval) = decision.approval() {
            items.push(
                TransactWriteItem::builder()
                    .put(self.approval_put(&approval, decision.expires_at)?)
                    .build(),
            );
        }
        Ok(if self.transact(items).await? {
            Claim::Won(seen.with(decision.entry.clone()))
        } else {
            Claim::Conflict
        })
    }

    async fn release(
        &self,
        key: &FindingKey,
        claimed: &FindingDecisions,
        previous: Option<&Entry>,
        decision: &Decision,
    ) -> Result<bool, AwsError> {
        let summary = self.summary_update(
            key,
            claimed.version,
            &decision.function,
            previous,
            decision.expires_at,
        )?;
        let mark = Update::builder()
            .table_name(&self.table)
            .key(PK, s(cluster_pk(&key.cluster_arn)))
            .key(SK, s(decision_sk(decision)))
            .update_expression("SET released = :why")
            .expression_attribute_values(
                ":why",
                s("the message was not sent; the event is retried".to_string()),
            )
            .build()
            .map_err(|e| built("dynamodb:TransactWriteItems", e))?;
        let items = vec![
            TransactWriteItem::builder().update(summary).build(),
            TransactWriteItem::builder().update(mark).build(),
        ];
        self.transact(items).await
    }

    async fn reserve_apply(
        &self,
        function: &str,
        hour: &str,
        max: u32,
        expires_at: i64,
    ) -> Result<bool, AwsError> {
        if max == 0 {
            return Ok(false);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(function_pk(function)))
            .key(SK, s(format!("applies#{hour}")))
            .update_expression(format!("ADD applies :one SET {EXPIRES_AT} = :expires"))
            .condition_expression("attribute_not_exists(applies) OR applies < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":expires", n(expires_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(ledger_error("dynamodb:UpdateItem", e)),
        }
    }

    async fn breaker(&self, function: &str) -> Result<Breaker, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::breaker_key(function)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ledger_error("dynamodb:GetItem", e))?;
        let failures = out
            .item()
            .and_then(|i| number_of(i, "consecutive_failures"))
            .unwrap_or(0);
        Ok(Breaker {
            consecutive_failures: u32::try_from(failures).unwrap_or(u32::MAX),
        })
    }

    async fn count_apply_result(
        &self,
        function: &str,
        failed: bool,
        why: &str,
    ) -> Result<Breaker, AwsError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::breaker_key(function)))
            .return_values(ReturnValue::AllNew);
        let req = if failed {
            req.update_expression("ADD consecutive_failures :one SET last_failure = :why")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":why", s(why.to_string()))
        } else {
            req.update_expression("SET consecutive_failures = :zero")
                .expression_attribute_values(":zero", n(0))
        };
        let out = req
            .send()
            .await
            .map_err(|e| ledger_error("dynamodb:UpdateItem", e))?;
        let failures = out
            .attributes()
            .and_then(|i| number_of(i, "consecutive_failures"))
            .unwrap_or(0);
        Ok(Breaker {
            consecutive_failures: u32::try_from(failures).unwrap_or(u32::MAX),
        })
    }
}

/// The decision as its item: plain attributes a person can read in the console or the CLI.
fn decision_item(key: &FindingKey, d: &Decision) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (PK.to_string(), s(cluster_pk(&key.cluster_arn))),
        (SK.to_string(), s(decision_sk(d))),
        ("decision_id".to_string(), s(d.decision_id.clone())),
        ("function".to_string(), s(d.function.clone())),
        ("cluster_arn".to_string(), s(d.cluster_arn.clone())),
        ("account".to_string(), s(d.account.clone())),
        ("region".to_string(), s(d.region.clone())),
        ("metadata_uid".to_string(), s(d.metadata_uid.clone())),
        ("severity".to_string(), s(d.severity.clone())),
        (
            "traits".to_string(),
            AttributeValue::L(d.traits.iter().cloned().map(AttributeValue::S).collect()),
        ),
        ("plan_digest".to_string(), s(d.plan_digest.clone())),
        ("outcome".to_string(), s(d.outcome.clone())),
        ("reason_code".to_string(), s(d.reason_code.clone())),
        ("reason".to_string(), s(d.reason.clone())),
        ("subject".to_string(), s(d.subject.clone())),
        ("decided_at".to_string(), s(rfc3339(d.decided_at_ms))),
        ("day".to_string(), s(day(d.decided_at_ms))),
        (EXPIRES_AT.to_string(), n(d.expires_at)),
    ]);
    let optional = [
        ("finding_uid", d.finding_uid.clone().map(s)),
        ("revision", d.revision.clone().map(s)),
        ("update_id", d.update_id.clone().map(s)),
        ("reminder_of", d.reminder_of.clone().map(s)),
        ("approval_id", d.approval_id.clone().map(s)),
        (
            "approval_expires_at",
            d.approval_expires_ms.map(|ms| n(ms / 1000)),
        ),
        ("report", d.report.clone().map(s)),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            item.insert(name.to_string(), v);
        }
    }
    item
}

fn s(v: String) -> AttributeValue {
    AttributeValue::S(v)
}

fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number_of(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn to_json(e: &Entry) -> Result<String, AwsError> {
    serde_json::to_string(e).map_err(|err| AwsError {
        operation: "dynamodb:TransactWriteItems",
        kind: FaultKind::Invalid,
        code: None,
        message: format!("the ledger entry could not be encoded: {err}"),
    })
}

fn built(operation: &'static str, err: aws_sdk_dynamodb::error::BuildError) -> AwsError {
    AwsError {
        operation,
        kind: FaultKind::Invalid,
        code: None,
        message: format!("the request could not be built: {err}"),
    }
}

/// DynamoDB signals throttling and contention with 400s of its own names: they are transient.
fn ledger_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut e = AwsError::from_sdk(operation, err);
    if matches!(
        e.code.as_deref(),
        Some(
            "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "ThrottlingException"
                | "TransactionConflictException"
                | "TransactionInProgressException"
        )
    ) {
        e.kind = FaultKind::Transient;
    }
    e
}
