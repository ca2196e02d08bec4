//! The ledger read behind a narrow port: the decisions of a window, from the `by-day` index.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::aws::AwsError;
use shared::ledger::dynamo::BY_DAY_INDEX;

use crate::decide::{Decided, Window};

/// Index pages read per day at most (1 MB each): far beyond any Organization's hour, and a
/// bound on a runaway read. What is left is reported as not read.
pub const MAX_PAGES_PER_DAY: usize = 100;

/// What one read of the window returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub decisions: Vec<Decided>,
    /// What could not be read, and why.
    pub not_read: Vec<String>,
    /// The faults that stopped a day's read (to tell a passing fault from a lasting one).
    pub faults: Vec<AwsError>,
}

/// Reads the period's decisions.
#[allow(async_fn_in_trait)] // the Lambda runtime runs one task; no Send needed
pub trait DecisionHistory {
    async fn decided_in(&self, window: Window) -> History;
}

/// [`DecisionHistory`] on the ledger's DynamoDB table.
#[derive(Clone, Debug)]
pub struct LedgerHistory {
    client: Client,
    table: String,
}

impl LedgerHistory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        LedgerHistory {
            client,
            table: table.into(),
        }
    }
}

impl DecisionHistory for LedgerHistory {
    async fn decided_in(&self, window: Window) -> History {
        let (from, to) = window.bounds();
        let mut history = History::default();
        for day in window.days() {
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            let mut pages = 0;
            loop {
                if pages == MAX_PAGES_PER_DAY {
                    history.not_read.push(format!(
                        "{day}: more than {MAX_PAGES_PER_DAY} index pages; the rest of the day's decisions were not read"
                    ));
                    break;
                }
                pages += 1;
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(BY_DAY_INDEX)
                    .key_condition_expression("#day = :day AND decided_at BETWEEN :from AND :to")
                    .expression_attribute_names("#day", "day")
                    .expression_attribute_values(":day", AttributeValue::S(day.clone()))
                    .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                    .expression_attribute_values(":to", AttributeValue::S(to.clone()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await;
                match out {
                    Ok(out) => {
                        for item in out.items() {
                            match decided(item) {
                                Some(d) => history.decisions.push(d),
                                None => history.not_read.push(format!(
                                    "{day}: an index item without the decision's attributes (sk {})",
                                    text(item, "sk").unwrap_or_default()
                                )),
                            }
                        }
                        match out.last_evaluated_key() {
                            Some(key) if !key.is_empty() => start = Some(key.clone()),
                            _ => break,
                        }
                    }
                    Err(e) => {
                        let e = AwsError::from_sdk("dynamodb:Query", e);
                        history.not_read.push(format!(
                            "{day}: the ledger's {BY_DAY_INDEX} index could not be read ({e}){}",
                            if pages > 1 {
                                " after some decisions were read"
                            } else {
                                ""
                            }
                        ));
                        history.faults.push(e);
                        break;
                    }
                }
            }
        }
        history
    }
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The index item as a decision; `None` when an attribute every decision has is missing.
fn decided(item: &HashMap<String, AttributeValue>) -> Option<Decided> {
    let traits = match item.get("traits") {
        Some(AttributeValue::L(l)) => l
            .iter()
            .filter_map(|v| match v {
                AttributeValue::S(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Decided {
        decision_id: text(item, "decision_id")?,
        function: text(item, "function")?,
        cluster_arn: text(item, "cluster_arn")?,
        outcome: text(item, "outcome")?,
        reason_code: text(item, "reason_code").unwrap_or_default(),
        traits,
        severity: text(item, "severity").unwrap_or_default(),
        subject: text(item, "subject").unwrap_or_default(),
        decided_at: text(item, "decided_at")?,
    })
}
