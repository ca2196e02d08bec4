//! The ledger's steps in the response pipeline: may this function apply now (breaker, hourly
//! limit), count what an apply did, decide once (dedupe and the conditional write), and bring
//! the finding record up to every function's latest decision.

use super::decide::{
    Breaker, Candidate, FindingRecordPlan, Judgement, LedgerSettings, breaker_reset_command,
    decision_for, finding_record, hour_bucket, judge, plan_digest,
};
use super::{Claim, Decision, DecisionLedger, DynamoLedger, Entry, FindingDecisions, FindingKey};
use crate::aws::{AwsError, FaultKind};
use crate::{DecisionCode, Report};

/// Conflicting writes on one finding tolerated before the event is retried instead. Each
/// conflict means another decision was recorded (the writers make progress), and a finding
/// has at most one writer per function and delivery: a few more than the four functions.
const CLAIM_ATTEMPTS: usize = 8;
/// Rewrites of the finding record while other functions keep deciding on it.
const RECORD_ROUNDS: usize = 3;
/// The apply counter outlives its hour by this much (then DynamoDB's TTL removes it).
const COUNTER_TTL_MS: i64 = 2 * 86_400_000;

/// The ledger as a function uses it: its storage, its limits and a clock.
#[derive(Clone, Debug)]
pub struct Ledger<L = DynamoLedger> {
    pub store: L,
    pub settings: LedgerSettings,
    /// Milliseconds since the Unix epoch ([`system_clock`]; a fixed clock in tests).
    pub clock: fn() -> i64,
}

pub fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why an apply is held back and proposed instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// `MAX_APPLIES_PER_HOUR` applies already started this hour.
    ApplyLimit,
    /// The circuit breaker is open: too many failed applies in a row.
    CircuitOpen,
    /// The ledger could not be read, so neither limit could be checked.
    LedgerUnavailable,
}

impl Hold {
    pub fn code(self) -> DecisionCode {
        match self {
            Hold::ApplyLimit => DecisionCode::ApplyLimitReached,
            Hold::CircuitOpen => DecisionCode::CircuitOpen,
            Hold::LedgerUnavailable => DecisionCode::LedgerUnavailable,
        }
    }
}

/// May the function apply now?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyGate {
    /// Yes: one apply is counted in this hour. `breaker` is the state before the apply.
    Go { breaker: Breaker },
    /// No: propose, and say why.
    Hold { hold: Hold, why: String },
}

/// What the ledger made of a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The decision repeats the last one (`already_decided`) or the same event was decided
    /// already (`duplicate_delivery`): no message and, unless `rewrite` says otherwise, no record.
    Skip {
        code: DecisionCode,
        of: String,
        /// A delivery of an event already decided: the finding's decisions now, to write the
        /// combined comment again. Lambda delivers an event again when the attempt that decided
        /// it could not complete its record (a decision acted on, or overtaken by another
        /// function's, stays in the ledger); a rare duplicate from EventBridge costs one record.
        rewrite: Option<FindingDecisions>,
    },
    /// A new decision (or the one reminder), recorded.
    Decided(Box<Claimed>),
}

/// A decision the ledger recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub decision: Decision,
    /// The finding's decisions with this one.
    pub claimed: FindingDecisions,
    /// The function's entry before it, to put back if the message fails.
    pub previous: Option<Entry>,
}

/// How the finding record ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The last record written (or tried).
    pub plan: FindingRecordPlan,
    /// The last write's result.
    pub result: Result<(), AwsError>,
    /// Why the record may lag behind another function's later decision, if it may.
    pub not_checked: Option<String>,
}

impl<L: DecisionLedger> Ledger<L> {
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Before an apply: the breaker, then one count against the hourly limit. A transient
    /// fault is returned (nothing was done yet: the event is retried); any other fault holds
    /// the apply back, since neither limit can be checked.
    pub async fn may_apply(&self, function: &str) -> Result<ApplyGate, AwsError> {
        let unavailable = |e: &AwsError| ApplyGate::Hold {
            hold: Hold::LedgerUnavailable,
            why: format!(
                "the decision ledger could not be read ({e}), so the apply limit and circuit breaker could not be checked"
            ),
        };
        let breaker = match self.store.breaker(function).await {
            Ok(b) => b,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => return Ok(unavailable(&e)),
        };
        let threshold = self.settings.breaker_failures;
        if breaker.is_open(threshold) {
            return Ok(ApplyGate::Hold {
                hold: Hold::CircuitOpen,
                why: format!(
                    "the last {} applies failed in a row, so the circuit breaker holds applies until an operator resets it: {}",
                    breaker.consecutive_failures,
                    breaker_reset_command(&self.settings.table, function)
                ),
            });
        }
        let now = self.now();
        let max = self.settings.max_applies_per_hour;
        match self
            .store
            .reserve_apply(
                function,
                &hour_bucket(now),
                max,
                (now + COUNTER_TTL_MS) / 1000,
            )
            .await
        {
            Ok(true) => Ok(ApplyGate::Go { breaker }),
            Ok(false) => Ok(ApplyGate::Hold {
                hold: Hold::ApplyLimit,
                why: format!(
                    "MAX_APPLIES_PER_HOUR={max} applies were already started this hour (UTC); the blast-radius limit holds the rest"
                ),
            }),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => Ok(unavailable(&e)),
        }
    }

    /// After an apply: a failure counts toward the breaker, a success clears it. Returns a
    /// `not_checked` line when the count could not be written.
    pub async fn count_apply(
        &self,
        function: &str,
        failed: bool,
        why: &str,
        before: Breaker,
    ) -> Option<String> {
        if !failed && before.consecutive_failures == 0 {
            return None;
        }
        match self.store.count_apply_result(function, failed, why).await {
            Ok(b) if failed && b.is_open(self.settings.breaker_failures) => {
                tracing::warn!(
                    function,
                    failures = b.consecutive_failures,
                    reset = %breaker_reset_command(&self.settings.table, function),
                    "circuit breaker open: applies are proposed until it is reset"
                );
                None
            }
            Ok(_) => None,
            Err(e) => Some(format!(
                "the apply's result was not counted toward the circuit breaker ({e})"
            )),
        }
    }

    /// Judge the report's decision against the function's last one and record it if it is
    /// new: of concurrent deliveries exactly one gets `Decided`. `subject` renders the message
    /// subject, given the decision a reminder repeats.
    pub async fn decide(
        &self,
        report: &Report,
        subject: impl Fn(Option<&str>) -> String,
        revision: Option<&str>,
    ) -> Result<Settled, AwsError> {
        let key = key_of(report);
        let digest = plan_digest(&report.plan);
        let reason_code = report.reason_code.to_string();
        let candidate = Candidate {
            plan_digest: &digest,
            outcome: report.outcome.id(),
            reason_code: &reason_code,
            revision,
        };
        for _ in 0..CLAIM_ATTEMPTS {
            let seen = self.store.finding(&key).await?;
            let previous = seen.of(report.function).cloned();
            let now = self.now();
            let reminder_of = match judge(
                previous.as_ref(),
                &candidate,
                now,
                self.settings.window_ms(),
            ) {
                Judgement::New => None,
                Judgement::Reminder { of } => Some(of),
                Judgement::AlreadyDecided { of } => {
                    return Ok(Settled::Skip {
                        code: DecisionCode::AlreadyDecided,
                        of,
                        rewrite: None,
                    });
                }
                Judgement::DuplicateDelivery { of } => {
                    return Ok(Settled::Skip {
                        code: DecisionCode::DuplicateDelivery,
                        of,
                        rewrite: Some(seen),
                    });
                }
            };
            let decision = decision_for(
                report,
                &subject(reminder_of.as_deref()),
                &digest,
                &seen,
                now,
                &self.settings,
                reminder_of,
            )
            .with_revision(revision.map(str::to_string));
            if let Claim::Won(claimed) = self.store.claim(&key, &seen, &decision).await? {
                return Ok(Settled::Decided(Box::new(Claimed {
                    decision,
                    claimed,
                    previous,
                })));
            }
        }
        Err(AwsError {
            operation: "dynamodb:TransactWriteItems",
            kind: FaultKind::Transient,
            code: Some("TransactionConflict".into()),
            message: format!(
                "other decisions on this finding were recorded {CLAIM_ATTEMPTS} times while this one was being written"
            ),
        })
    }

    /// Write the combined record, then read the ledger again: if another function decided in
    /// the meantime its record may have been overwritten by this older one, so write again with
    /// every decision (a few rounds at most). The last write then carries every decision made
    /// before it.
    pub async fn record<F>(&self, report: &Report, claimed: &FindingDecisions, write: F) -> Recorded
    where
        F: AsyncFn(&FindingRecordPlan) -> Result<(), AwsError>,
    {
        let key = key_of(report);
        let owned = owned_traits(report);
        let mut state = claimed.clone();
        let mut rounds = 0;
        loop {
            let plan = finding_record(&state, &owned);
            let result = write(&plan).await;
            rounds += 1;
            if result.is_err() {
                return Recorded {
                    plan,
                    result,
                    not_checked: None,
                };
            }
            match self.store.finding(&key).await {
                Ok(now) if now.version == state.version => {
                    return Recorded {
                        plan,
                        result,
                        not_checked: None,
                    };
                }
                Ok(now) if rounds < RECORD_ROUNDS => state = now,
                Ok(_) => {
                    return Recorded {
                        plan,
                        result,
                        not_checked: Some(
                            "other functions kept deciding on this finding; the next one's record carries this decision".into(),
                        ),
                    };
                }
                Err(e) => {
                    return Recorded {
                        plan,
                        result,
                        not_checked: Some(format!(
                            "the decision ledger could not be read after the finding record ({e}), so a later decision of another function may be missing from its comment until that function records again"
                        )),
                    };
                }
            }
        }
    }

    /// The message could not be sent: put the function's entry back so the retried event
    /// decides (and sends) again. False when another decision was recorded since.
    pub async fn release(
        &self,
        report: &Report,
        settled_claim: &FindingDecisions,
        previous: Option<&Entry>,
        decision: &Decision,
    ) -> Result<bool, AwsError> {
        self.store
            .release(&key_of(report), settled_claim, previous, decision)
            .await
    }
}

fn key_of(report: &Report) -> FindingKey {
    FindingKey {
        cluster_arn: report.cluster.arn.clone(),
        metadata_uid: report.finding.metadata_uid.clone(),
    }
}

/// The finding's traits some function owns: every known trait (unknown ones are kept verbatim
/// in `finding_traits`, and no function owns them).
fn owned_traits(report: &Report) -> Vec<&str> {
    report
        .finding_traits
        .iter()
        .map(String::as_str)
        .filter(|t| crate::Trait::ALL.iter().any(|k| k.id() == *t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::event::gate::{Gate, IncomingEvent, gate};
    use crate::ledger::memory::MemoryLedger;
    use crate::{Outcome, Trait};

    const T0: i64 = 1_778_645_550_776;
    const DAY: i64 = 86_400_000;

    fn ledger(store: MemoryLedger) -> Ledger<MemoryLedger> {
        Ledger {
            store,
            settings: LedgerSettings::from_env(&crate::testing::env_of(&[
                ("LEDGER_TABLE", "ledger"),
                ("MAX_APPLIES_PER_HOUR", "2"),
            ]))
            .expect("valid")
            .expect("set"),
            clock: || T0,
        }
    }

    fn report(function: &'static str, owns: Trait, outcome: Outcome, reason: &str) -> Report {
        let event = crate::testing::event("eks-multi-trait.json");
        let parsed = event.parse().expect("parses");
        let Gate::Actionable(exposure) = gate(&parsed, &[owns]).expect("valid") else {
            panic!("actionable");
        };
        Report::new(function, &exposure, Mode::Propose, Mode::Propose).with_outcome(
            outcome,
            crate::DecisionCode::ModePropose,
            reason,
        )
    }

    fn subject(of: Option<&str>) -> String {
        format!(
            "{}[PROPOSED] x",
            if of.is_some() { "[REMINDER] " } else { "" }
        )
    }

    #[tokio::test]
    async fn applies_go_until_the_hourly_limit_or_an_open_breaker() {
        let store = MemoryLedger::new();
        let l = ledger(store.clone());
        for _ in 0..2 {
            assert!(matches!(
                l.may_apply("endpoint-access").await,
                Ok(ApplyGate::Go { .. })
            ));
        }
        let Ok(ApplyGate::Hold { hold, why }) = l.may_apply("endpoint-access").await else {
            panic!("third apply in the hour");
        };
        assert_eq!(hold, Hold::ApplyLimit);
        assert!(why.contains("MAX_APPLIES_PER_HOUR=2"), "{why}");
        // Another function has its own count.
        assert!(matches!(
            l.may_apply("kubernetes-version").await,
            Ok(ApplyGate::Go { .. })
        ));

        store.set_breaker("secrets-encryption", 3);
        let Ok(ApplyGate::Hold { hold, why }) = l.may_apply("secrets-encryption").await else {
            panic!("breaker open");
        };
        assert_eq!(hold, Hold::CircuitOpen);
        assert!(
            why.contains("aws dynamodb delete-item --table-name ledger"),
            "{why}"
        );
        assert_eq!(hold.code(), DecisionCode::CircuitOpen);
    }

    #[tokio::test]
    async fn a_ledger_fault_before_an_apply_retries_or_holds_it_never_applies_blind() {
        let store = MemoryLedger::new();
        let l = ledger(store.clone());
        store.fail("GetItem", FaultKind::Transient);
        let err = l.may_apply("endpoint-access").await.expect_err("retried");
        assert!(err.is_transient());
        for kind in [FaultKind::AccessDenied, FaultKind::NotFound] {
            store.heal();
            store.fail("GetItem", kind);
            let Ok(ApplyGate::Hold { hold, .. }) = l.may_apply("endpoint-access").await else {
                panic!("{kind:?}: held");
            };
            assert_eq!(hold, Hold::LedgerUnavailable);
        }
        store.heal();
        store.fail("UpdateItem", FaultKind::AccessDenied);
        let Ok(ApplyGate::Hold { hold, .. }) = l.may_apply("endpoint-access").await else {
            panic!("counter denied: held");
        };
        assert_eq!(hold, Hold::LedgerUnavailable);
    }

    #[tokio::test]
    async fn failed_applies_count_and_a_success_clears_the_count() {
        let store = MemoryLedger::new();
        let l = ledger(store.clone());
        let mut before = Breaker::default();
        for _ in 0..3 {
            assert_eq!(l.count_apply("f", true, "refused", before).await, None);
            before = store.breaker("f").await.expect("read");
        }
        assert!(before.is_open(3));
        assert_eq!(l.count_apply("f", false, "", before).await, None);
        assert_eq!(
            store.breaker("f").await.expect("read").consecutive_failures,
            0
        );
        // A success with nothing to clear writes nothing.
        let calls = store.calls().len();
        assert_eq!(
            l.count_apply("f", false, "", Breaker::default()).await,
            None
        );
        assert_eq!(store.calls().len(), calls);
        store.fail("UpdateItem", FaultKind::AccessDenied);
        let line = l
            .count_apply("f", true, "x", before)
            .await
            .expect("reported");
        assert!(
            line.contains("not counted toward the circuit breaker"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_decision_is_recorded_once_then_deduplicated_then_reminded_once() {
        let store = MemoryLedger::new();
        let mut l = ledger(store.clone());
        let r = report(
            "endpoint-access",
            Trait::PublicEndpoint,
            Outcome::Proposed,
            "restrict",
        );
        let Ok(Settled::Decided(first)) = l.decide(&r, subject, Some("rev1")).await else {
            panic!("new decision");
        };
        assert_eq!(first.claimed.version, 1);
        assert_eq!(first.previous, None);
        assert_eq!(first.decision.subject, "[PROPOSED] x");
        // The same event again: duplicate delivery.
        assert_eq!(
            l.decide(&r, subject, Some("rev1")).await,
            Ok(Settled::Skip {
                code: DecisionCode::DuplicateDelivery,
                of: first.decision.decision_id.clone(),
                // The decisions as they stand, to write the comment again.
                rewrite: Some(first.claimed.clone()),
            })
        );
        // Its echo (a later revision): already decided.
        assert_eq!(
            l.decide(&r, subject, Some("rev2")).await,
            Ok(Settled::Skip {
                code: DecisionCode::AlreadyDecided,
                of: first.decision.decision_id.clone(),
                rewrite: None,
            })
        );
        // After the window: a reminder, once.
        l.clock = || T0 + 8 * DAY;
        let Ok(Settled::Decided(reminder)) = l.decide(&r, subject, Some("rev3")).await else {
            panic!("reminder");
        };
        assert_eq!(
            reminder.decision.reminder_of.as_deref(),
            Some(first.decision.decision_id.as_str())
        );
        assert_eq!(reminder.decision.subject, "[REMINDER] [PROPOSED] x");
        l.clock = || T0 + 30 * DAY;
        assert!(matches!(
            l.decide(&r, subject, Some("rev4")).await,
            Ok(Settled::Skip {
                code: DecisionCode::AlreadyDecided,
                ..
            })
        ));
        assert_eq!(store.decisions().len(), 2);
    }

    /// A ledger on which another delivery claims the same decision between this one's read and
    /// its write.
    struct Racing {
        inner: MemoryLedger,
        rival: std::sync::Mutex<Option<Decision>>,
    }

    impl DecisionLedger for Racing {
        async fn finding(&self, key: &FindingKey) -> Result<FindingDecisions, AwsError> {
            self.inner.finding(key).await
        }
        async fn claim(
            &self,
            key: &FindingKey,
            seen: &FindingDecisions,
            decision: &Decision,
        ) -> Result<Claim, AwsError> {
            let rival = self.rival.lock().expect("lock").take();
            if let Some(rival) = rival {
                assert!(matches!(
                    self.inner.claim(key, seen, &rival).await,
                    Ok(Claim::Won(_))
                ));
            }
            self.inner.claim(key, seen, decision).await
        }
        async fn release(
            &self,
            key: &FindingKey,
            claimed: &FindingDecisions,
            previous: Option<&Entry>,
            decision: &Decision,
        ) -> Result<bool, AwsError> {
            self.inner.release(key, claimed, previous, decision).await
        }
        async fn reserve_apply(&self, f: &str, h: &str, m: u32, e: i64) -> Result<bool, AwsError> {
            self.inner.reserve_apply(f, h, m, e).await
        }
        async fn breaker(&self, f: &str) -> Result<Breaker, AwsError> {
            self.inner.breaker(f).await
        }
        async fn count_apply_result(&self, f: &str, x: bool, w: &str) -> Result<Breaker, AwsError> {
            self.inner.count_apply_result(f, x, w).await
        }
    }

    #[tokio::test]
    async fn the_loser_of_a_concurrent_delivery_is_a_duplicate() {
        let memory = MemoryLedger::new();
        let r = report(
            "endpoint-access",
            Trait::PublicEndpoint,
            Outcome::Proposed,
            "restrict",
        );
        // The rival is the same event, decided by another instance.
        let Ok(Settled::Decided(rival)) = ledger(MemoryLedger::new())
            .decide(&r, subject, Some("rev1"))
            .await
        else {
            panic!("rival decides");
        };
        let racing = Ledger {
            store: Racing {
                inner: memory.clone(),
                rival: std::sync::Mutex::new(Some(rival.decision.clone())),
            },
            settings: ledger(MemoryLedger::new()).settings,
            clock: || T0,
        };
        assert_eq!(
            racing.decide(&r, subject, Some("rev1")).await,
            Ok(Settled::Skip {
                code: DecisionCode::DuplicateDelivery,
                of: rival.decision.decision_id.clone(),
                rewrite: Some(memory.finding_now(&key_of(&r))),
            })
        );
        assert_eq!(memory.decisions().len(), 1, "exactly one decision");
    }

    #[tokio::test]
    async fn the_record_is_written_again_when_another_function_decided_meanwhile() {
        let store = MemoryLedger::new();
        let l = ledger(store.clone());
        let endpoint = report(
            "endpoint-access",
            Trait::PublicEndpoint,
            Outcome::Proposed,
            "restrict",
        );
        let version = report(
            "kubernetes-version",
            Trait::UnsupportedVersion,
            Outcome::Proposed,
            "upgrade",
        );
        let Ok(Settled::Decided(mine)) = l.decide(&endpoint, subject, Some("r")).await else {
            panic!("decides");
        };
        let written = std::cell::RefCell::new(Vec::new());
        let recorded = l
            .record(
                &endpoint,
                &mine.claimed,
                async |plan: &FindingRecordPlan| {
                    let first = written.borrow().is_empty();
                    written.borrow_mut().push(plan.comment.clone());
                    if first {
                        // kubernetes-version decides while this record is on its way.
                        let other = ledger(store.clone());
                        assert!(matches!(
                            other.decide(&version, subject, Some("r")).await,
                            Ok(Settled::Decided(_))
                        ));
                    }
                    Ok(())
                },
            )
            .await;
        let written = written.into_inner();
        assert_eq!(written.len(), 2, "{written:?}");
        assert!(!written[0].contains("kubernetes-version"));
        assert!(written[1].contains("kubernetes-version proposed - upgrade"));
        assert!(written[1].contains("endpoint-access proposed - restrict"));
        assert_eq!(recorded.result, Ok(()));
        assert_eq!(recorded.not_checked, None);
        // Two of the finding's five traits have a decision: it stays New.
        assert!(!recorded.plan.in_progress);
        assert_eq!(
            recorded.plan.waiting_for,
            [
                "unencrypted_secrets",
                "exploitable_vulnerability",
                "vulnerability"
            ]
        );
    }

    #[tokio::test]
    async fn a_released_claim_lets_the_retry_decide_again() {
        let store = MemoryLedger::new();
        let l = ledger(store.clone());
        let r = report(
            "endpoint-access",
            Trait::PublicEndpoint,
            Outcome::Proposed,
            "restrict",
        );
        let Ok(Settled::Decided(c)) = l.decide(&r, subject, Some("rev1")).await else {
            panic!("decides");
        };
        assert_eq!(
            l.release(&r, &c.claimed, c.previous.as_ref(), &c.decision)
                .await,
            Ok(true)
        );
        assert!(matches!(
            l.decide(&r, subject, Some("rev1")).await,
            Ok(Settled::Decided(_))
        ));
    }
}
