use super::*;

const T0: i64 = 1_795_777_200_000;

fn target() -> ApprovalTarget {
    ApprovalTarget {
        function_name: "eks-exposure-responder-EndpointAccessFunction-AbC123".into(),
        region: "us-east-1".into(),
    }
}

fn stored(a: &Approval) -> StoredApproval {
    let r = a
        .request
        .clone()
        .expect("a proposal's approval carries its request");
    StoredApproval {
        approval_id: a.id.clone(),
        function: r.function,
        cluster_arn: r.cluster_arn,
        metadata_uid: r.metadata_uid,
        plan_digest: r.plan_digest,
        decision_id: "d-1".into(),
        created_ms: T0,
        expires_ms: a.expires_ms,
        used_by: None,
        used_ms: None,
    }
}

fn approval() -> Approval {
    issue(
        "endpoint-access",
        "arn:aws:eks:us-east-1:444455556666:cluster/payments-prod",
        "5f1e",
        "digest-1",
        T0,
        7,
        &target(),
    )
}

#[test]
fn an_approval_binds_the_plan_digest_and_expires_after_the_configured_days() {
    let a = approval();
    assert_eq!(a.plan_digest, "digest-1");
    assert_eq!(a.expires_ms, T0 + 7 * 86_400_000);
    assert_eq!(a.expires, "2026-12-04T11:00:00.000Z");
    assert!(a.id.starts_with("a-") && a.id.len() == 26, "{}", a.id);
    let r = a.request.as_ref().expect("request");
    assert_eq!(
        (
            r.approval_id.as_str(),
            r.plan_digest.as_str(),
            r.function.as_str()
        ),
        (a.id.as_str(), "digest-1", "endpoint-access")
    );
    // Another proposal (another time) gets another id.
    let later = issue(
        "endpoint-access",
        "arn:aws:eks:us-east-1:444455556666:cluster/payments-prod",
        "5f1e",
        "digest-1",
        T0 + 1,
        7,
        &target(),
    );
    assert_ne!(later.id, a.id);
}

#[test]
fn the_report_block_serialises_as_the_documented_contract() {
    let v = serde_json::to_value(approval()).expect("json");
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "plan_digest", "expires", "command", "request"]);
    assert_eq!(
        v["request"]
            .as_object()
            .expect("request")
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [
            "approval_id",
            "function",
            "cluster_arn",
            "metadata_uid",
            "plan_digest"
        ]
    );
}

#[test]
fn judge_refuses_used_then_expired_then_held_back_then_another_plan() {
    let a = approval();
    let s = stored(&a);
    let same = Now::Approvable {
        digest: "digest-1".into(),
    };
    assert_eq!(judge(&s, &same, T0 + 1), Ok(()));
    let other = Now::Approvable {
        digest: "digest-2".into(),
    };
    assert_eq!(judge(&s, &other, T0 + 1), Err(Refusal::PlanChanged));
    assert_eq!(
        judge(&s, &Now::NothingToDo, T0 + 1),
        Err(Refusal::PlanChanged)
    );
    assert_eq!(judge(&s, &Now::HeldBack, T0 + 1), Err(Refusal::Blocked));
    assert_eq!(judge(&s, &same, s.expires_ms), Err(Refusal::Expired));
    assert_eq!(judge(&s, &other, s.expires_ms), Err(Refusal::Expired));
    let used = StoredApproval {
        used_by: Some("arn:aws:iam::444455556666:user/bob".into()),
        ..s
    };
    assert_eq!(
        judge(&used, &same, used.expires_ms + 1),
        Err(Refusal::AlreadyUsed)
    );
    assert_eq!(Refusal::AlreadyUsed.code(), "already_used");
    assert_eq!(Refusal::Expired.code(), "expired");
    assert_eq!(Refusal::PlanChanged.code(), "plan_changed");
    assert_eq!(Refusal::Blocked.code(), "blocked");
}

#[test]
fn a_request_matches_only_its_own_approval_exactly() {
    let a = approval();
    let s = stored(&a);
    let r = a.request.clone().expect("request");
    assert!(matches(&r, &s));
    for tampered in [
        ApprovalRequest {
            plan_digest: "digest-2".into(),
            ..r.clone()
        },
        ApprovalRequest {
            function: "kubernetes-version".into(),
            ..r.clone()
        },
        ApprovalRequest {
            metadata_uid: "other".into(),
            ..r.clone()
        },
    ] {
        assert!(!matches(&tampered, &s), "{tampered:?}");
    }
}

#[test]
fn the_request_document_rejects_unknown_fields() {
    let r = approval().request.expect("request");
    let mut v = serde_json::to_value(&r).expect("json");
    v["approved_by"] = "arn:aws:iam::1:user/forged".into();
    assert!(serde_json::from_value::<ApprovalRequest>(v).is_err());
}

/// The command run by a POSIX shell in which `curl` and `aws` print what they receive: the
/// body curl would send is the request document byte for byte, whatever the finding's text.
#[test]
fn the_command_is_one_line_whose_quoting_survives_a_shell() {
    let mut a = issue(
        "endpoint-access",
        "arn:aws:eks:us-east-1:444455556666:cluster/payments-prod",
        "it's $(touch /tmp/pwned) `id` \"quoted\" \\ back",
        "digest-1",
        T0,
        7,
        &target(),
    );
    let command = a.command.take().expect("command");
    assert!(!command.contains('\n'), "{command}");
    let script = format!(
        "curl() {{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; }}\naws() {{ printf 'https://url-id.lambda-url.us-east-1.on.aws/'; }}\nAWS_ACCESS_KEY_ID=AK AWS_SECRET_ACCESS_KEY=SK AWS_SESSION_TOKEN=TK\n{command}\n"
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| panic!("{flag} in {args:?}"))
    };
    let sent: ApprovalRequest = serde_json::from_str(&after("--data")).expect("the body is JSON");
    assert_eq!(Some(sent), a.request);
    assert_eq!(after("--aws-sigv4"), "aws:amz:us-east-1:lambda");
    assert_eq!(after("--user"), "AK:SK");
    assert_eq!(
        args.last().map(String::as_str),
        Some("https://url-id.lambda-url.us-east-1.on.aws/")
    );
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[test]
fn the_email_carries_the_command_and_no_link() {
    let event = crate::testing::event("eks-public-access.json");
    let parsed = crate::event::gate::IncomingEvent::parse(&event).expect("parses");
    let crate::Gate::Actionable(exposure) =
        crate::event::gate::gate(&parsed, &[crate::Trait::PublicEndpoint]).expect("valid")
    else {
        panic!("actionable");
    };
    let mut report = crate::Report::new(
        "endpoint-access",
        &exposure,
        crate::Mode::Approve,
        crate::Mode::Approve,
    )
    .with_outcome(
        crate::Outcome::Proposed,
        crate::DecisionCode::AwaitingApproval,
        "waiting",
    );
    let a = approval();
    let command = a.command.clone().expect("command");
    report.approval = Some(a);
    let email = crate::output::notify::render(&report).email_text;
    assert!(email.contains(&command), "{email}");
    // The function URL itself is never in the mail (scanners follow links): the approver's CLI
    // looks it up.
    assert!(!email.contains("lambda-url"), "{email}");
    assert!(!command.contains("https://"), "{command}");
}
