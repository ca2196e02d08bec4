//! The decision and everything said about it, as pure functions of plain data: the live cluster
//! (`ClusterState`), the configured key and what the pre-flight found (`KeyStatus`).

use serde_json::{Value, json};

use shared::ClusterRef;
use shared::aws::eks::ClusterState;
use shared::output::report::{Blocker, BlockerCode, PlanStep, Revert};
use shared::output::shell::Cli;
use shared::pipeline::{Assessment, Plan, Verdict};

use crate::preflight::{
    KeyStatus, blockers_for, other_account_blocker, other_region_blocker, run_checks,
    unreadable_blocker,
};
use crate::settings::{KEY_PARAMETER, KEY_VARIABLE, KmsKeyArn};

/// The EKS action, as named in `DescribeUpdate` and in the idempotency token.
pub const ACTION: &str = "AssociateEncryptionConfig";
/// The API call in plan steps.
pub const API_CALL: &str = "eks:AssociateEncryptionConfig";
/// Placeholders in commands the operator completes.
pub const KEY_PLACEHOLDER: &str = "<key-arn>";
const ROLE_PLACEHOLDER: &str = "<cluster-role-arn>";
/// The file name the key-creation command reads the key policy from.
pub const POLICY_FILE: &str = "eks-secrets-key-policy.json";

/// Said in every proposal and every apply.
pub const IRREVERSIBLE: &str = "This change cannot be undone: once AssociateEncryptionConfig has run, EKS can neither remove secrets encryption from the cluster nor switch it to another KMS key.";
/// What losing the key does, as the EKS envelope-encryption page and the cluster-health codes
/// state it (https://docs.aws.amazon.com/eks/latest/userguide/envelope-encryption.html,
/// https://docs.aws.amazon.com/eks/latest/userguide/troubleshooting.html#cluster-health-status).
const KEY_LOSS_OUTCOMES: &str = "A disabled key degrades the cluster at once (the API server cannot start: KMS_KEY_DISABLED) until the key is re-enabled; re-enable it within 30 days, after which EKS may upgrade the cluster to the next version with no guarantee that it recovers. A deleted key (KMS_KEY_NOT_FOUND) or revoked EKS grants on it (KMS_GRANT_REVOKED) leave the cluster unrecoverable: it must be deleted and recreated.";
/// The events the key alarm watches: deletion, disabling and the loss of the grants EKS uses.
pub const ALARM_EVENTS: [&str; 4] = [
    "ScheduleKeyDeletion",
    "DisableKey",
    "RevokeGrant",
    "RetireGrant",
];
pub const ALARM: &str = "Set up a key-loss alarm: an EventBridge rule on the CloudTrail events ScheduleKeyDeletion, DisableKey, RevokeGrant and RetireGrant for this key, targeting your alerts SNS topic (commands under 'After that'; it needs a CloudTrail trail logging management events in the key's Region). KMS waits 7 to 30 days before deleting a key, so the alarm leaves time for aws kms cancel-key-deletion; aws kms enable-key reverses DisableKey; a revoked or retired EKS grant cannot be given back to the cluster (EKS itself may retire its grants when the cluster is deleted). Consider also denying kms:ScheduleKeyDeletion and kms:DisableKey in the key policy (or an SCP) to all but a break-glass role.";

/// What losing the key breaks, for the cluster's Kubernetes version: on 1.28 and later the key
/// protects all Kubernetes API data, not only secrets (envelope-encryption page: "that same key
/// will be used as the KEK for envelope encryption of all Kubernetes API data types").
pub fn key_loss(version: Option<&str>) -> String {
    let scope = match default_envelope_encryption(version) {
        Some(true) => {
            "all of the cluster's Kubernetes API data (on 1.28 and later the key is the key-encryption key for every API object, not only secrets)"
        }
        Some(false) => {
            "the cluster's Kubernetes secrets (and, once it runs 1.28 or later, all of its Kubernetes API data)"
        }
        None => {
            "the cluster's Kubernetes secrets, and on 1.28 and later all of its Kubernetes API data"
        }
    };
    format!("The key protects {scope}. {KEY_LOSS_OUTCOMES}")
}

/// Advice per infrastructure-as-code tool, from each tool's documentation: adding the key to the
/// definition is safe in some tools and replaces the cluster in others.
const IAC_CLOUDFORMATION: &str = "CloudFormation (and CDK, which deploys through it): do NOT add EncryptionConfig to the AWS::EKS::Cluster resource of this existing cluster. CloudFormation documents that property as 'Update requires: Replacement', so the next deployment would create a new cluster. Associate the key out of band (this plan, or the CLI) and leave EncryptionConfig out of the template; CloudFormation does not write the live value back into the template (it shows as drift).";
const IAC_TERRAFORM: &str = "Terraform (AWS provider): after the association, add an encryption_config block with this key to aws_eks_cluster so the next plan is a no-op. The provider adds encryption_config in place (with AssociateEncryptionConfig), but removing the block later forces a new cluster.";
const IAC_EKSCTL: &str = "eksctl: set secretsEncryption.keyARN in the ClusterConfig to this key; eksctl utils enable-secrets-encryption makes the same association in place and re-encrypts existing secrets itself (--encrypt-existing-secrets=false opts out). Do not edit the CloudFormation stacks eksctl created: EncryptionConfig there requires replacement.";
const IAC_OTHER: &str = "Before adding the key to the tool's definition, check what the tool does when encryption is added to an existing cluster: some apply it in place, CloudFormation replaces the cluster.";

/// The IaC advice for the tool that manages the cluster, or for every tool when none is known.
pub fn iac_notes(managed_by: Option<&str>) -> Vec<String> {
    let Some(owner) = managed_by else {
        return vec![
            "If infrastructure code manages this cluster, what to do depends on the tool:"
                .to_string(),
            IAC_CLOUDFORMATION.to_string(),
            IAC_TERRAFORM.to_string(),
            IAC_EKSCTL.to_string(),
        ];
    };
    let lower = owner.to_ascii_lowercase();
    let advice = if lower.contains("eksctl") {
        IAC_EKSCTL
    } else if lower.contains("cloudformation") || lower.contains("cdk") {
        IAC_CLOUDFORMATION
    } else if lower.contains("terraform") || lower.contains("opentofu") {
        IAC_TERRAFORM
    } else {
        IAC_OTHER
    };
    vec![format!("The cluster is managed by {owner}. {advice}")]
}

/// Whether existing secrets need rewriting after the association: the EKS procedure that
/// rewrites them is "deprecated and only applies to EKS clusters running Kubernetes version 1.27
/// or lower" (https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html). On 1.28 and
/// later EKS already envelope-encrypts all API data and documents no rewrite step, so none is
/// planned; an unknown version gets the step (it is harmless).
fn reencrypt_note(version: Option<&str>) -> &'static str {
    match default_envelope_encryption(version) {
        Some(true) => {
            "On 1.28 and later EKS already envelope-encrypts all Kubernetes API data and the associated key becomes the key-encryption key for all of it; the EKS procedure that rewrites existing secrets is documented for 1.27 and lower only, so no rewrite step is planned."
        }
        _ => {
            "On 1.27 and lower EKS encrypts a secret with the key when the secret is written: secrets that exist before the association must be rewritten (the EKS enable-kms procedure; step under 'After that'). eksctl utils enable-secrets-encryption does this itself."
        }
    }
}

/// What `assess` hands the decision.
pub struct Inputs<'a> {
    pub cluster: &'a ClusterRef,
    pub state: &'a ClusterState,
    pub key: &'a KeyStatus,
    /// The cluster's IAM role (`DescribeCluster.roleArn`), or why it is unknown.
    pub cluster_role: Result<String, String>,
    /// The IaC tool or stack that manages the cluster, when recognised.
    pub managed_by: Option<&'a str>,
    /// The `clientRequestToken` for associating a key ARN.
    pub token: &'a dyn Fn(&str) -> String,
}

/// Whether Kubernetes `version` gets EKS's default envelope encryption of all API data
/// (1.28 and later). `None` when the version is unknown or unreadable.
pub fn default_envelope_encryption(version: Option<&str>) -> Option<bool> {
    let (major, minor) = version?.split_once('.')?;
    let major: u32 = major.trim().parse().ok()?;
    let minor: u32 = minor
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(major > 1 || (major == 1 && minor >= 28))
}

fn version_fact(state: &ClusterState) -> Option<String> {
    let version = state.version.as_deref()?;
    Some(match default_envelope_encryption(Some(version))? {
        true => format!(
            "Kubernetes {version} (1.28 or later): EKS already applies default envelope encryption to all Kubernetes API data, secrets included, with an AWS-owned key; the trait (Security Hub control EKS.3) asks for a customer-managed KMS key on secrets, one whose key policy, CloudTrail record of use and revocation you control"
        ),
        false => format!(
            "Kubernetes {version} (before 1.28): no default envelope encryption; secrets are stored in etcd without KMS envelope encryption until a key is associated (the etcd volumes themselves are always encrypted at the disk level by EKS, whatever the version)"
        ),
    })
}

fn live_state(state: &ClusterState) -> Value {
    json!({
        "status": state.status,
        "version": state.version,
        "encryptionConfig": state.encryption.iter().map(|e| json!({
            "resources": e.resources,
            "provider": { "keyArn": e.key_arn },
        })).collect::<Vec<_>>(),
        "secretsEncrypted": state.customer_key().is_some(),
        "defaultEnvelopeEncryption": default_envelope_encryption(state.version.as_deref()),
    })
}

fn status_fact(state: &ClusterState) -> String {
    format!(
        "cluster status: {}, Kubernetes {}",
        state.status,
        state.version.as_deref().unwrap_or("unknown")
    )
}

/// The planned `AssociateEncryptionConfig`: the key, under its idempotency token. A plan whose
/// key is still to be created has none (and a blocker saying so).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssociateKey {
    pub key: String,
    pub token: String,
}

/// The live cluster already encrypts its secrets with a KMS key.
pub fn compliant(
    state: &ClusterState,
    configured: Option<&KmsKeyArn>,
) -> Assessment<Option<AssociateKey>> {
    let key = state
        .customer_key()
        .and_then(|e| e.key_arn.clone())
        .unwrap_or_else(|| "a KMS key DescribeCluster did not name".to_string());
    let mut facts = vec![
        status_fact(state),
        format!("Kubernetes secrets: envelope-encrypted with KMS key {key}"),
        "compliance is judged by the encryptionConfig entry naming a KMS key; its deprecated 'resources' member no longer decides what EKS encrypts".to_string(),
    ];
    facts.extend(version_fact(state));
    let mut notes = Vec::new();
    if let Some(c) = configured.filter(|c| c.arn != key) {
        notes.push(format!(
            "{KEY_VARIABLE} is {}, not the key the cluster uses; nothing is changed: EKS cannot switch a cluster to another secrets key",
            c.arn
        ));
    }
    notes.push(format!(
        "Keep KMS key {key} enabled and never delete it or revoke its grants: {}",
        key_loss(state.version.as_deref())
    ));
    notes.push(ALARM.to_string());
    Assessment {
        live_state: live_state(state),
        facts,
        notes,
        verdict: Verdict::Compliant(format!(
            "Kubernetes secrets are already envelope-encrypted with KMS key {key}"
        )),
        ..Assessment::default()
    }
}

/// The `encryptionConfig` request value for one key.
pub fn encryption_config(key_arn: &str) -> Value {
    json!([{ "resources": ["secrets"], "provider": { "keyArn": key_arn } }])
}

/// The same as `--encryption-config` text, in the order the AWS documentation writes it.
pub fn encryption_config_text(key_arn: &str) -> String {
    let key = Value::String(key_arn.to_string());
    format!(r#"[{{"resources":["secrets"],"provider":{{"keyArn":{key}}}}}]"#)
}

fn associate_step(cluster: &ClusterRef, key_arn: &str, token: Option<&str>) -> PlanStep {
    let config = encryption_config(key_arn);
    let mut cli = Cli::aws("eks", "associate-encryption-config")
        .arg("--region", &cluster.region)
        .arg("--cluster-name", &cluster.name)
        .arg("--encryption-config", &encryption_config_text(key_arn));
    let mut parameters = json!({
        "clusterName": cluster.name,
        "encryptionConfig": config,
    });
    if let Some(t) = token {
        cli = cli.arg("--client-request-token", t);
        parameters["clientRequestToken"] = json!(t);
    }
    PlanStep {
        description: format!(
            "encrypt the cluster's Kubernetes secrets with KMS key {key_arn} (irreversible)"
        ),
        api_call: API_CALL.to_string(),
        parameters,
        cli: cli.build(),
    }
}

/// The key policy a new secrets key needs: the account keeps administering it, the cluster role
/// uses it (EKS docs: kms:Encrypt, kms:Decrypt, kms:DescribeKey, kms:CreateGrant).
pub fn key_policy(cluster: &ClusterRef, cluster_role: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:{}:iam::{}:root", cluster.partition, cluster.account) },
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "EksClusterRoleUsesTheKey",
                "Effect": "Allow",
                "Principal": { "AWS": cluster_role },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
                "Resource": "*"
            }
        ]
    })
}

fn create_key_steps(cluster: &ClusterRef, policy: &Value) -> Vec<PlanStep> {
    let description = format!(
        "Kubernetes secrets envelope encryption for EKS cluster {}",
        cluster.name
    );
    vec![
        PlanStep {
            description: format!(
                "create a symmetric ENCRYPT_DECRYPT customer-managed KMS key in {} with the key policy shown below (saved as {POLICY_FILE}), then set the SAM parameter {KEY_PARAMETER} ({KEY_VARIABLE}) to its ARN so the responder can apply, or run the association below yourself",
                cluster.region
            ),
            api_call: "kms:CreateKey".to_string(),
            parameters: json!({
                "KeySpec": "SYMMETRIC_DEFAULT",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "Description": description,
                "Policy": policy,
            }),
            cli: Cli::aws("kms", "create-key")
                .arg("--region", &cluster.region)
                .arg("--key-spec", "SYMMETRIC_DEFAULT")
                .arg("--key-usage", "ENCRYPT_DECRYPT")
                .arg("--description", &description)
                .arg("--policy", &format!("file://{POLICY_FILE}"))
                .build(),
        },
        PlanStep {
            description:
                "turn on automatic rotation of the new key (EKS keeps working across rotations)"
                    .to_string(),
            api_call: "kms:EnableKeyRotation".to_string(),
            parameters: json!({ "KeyId": KEY_PLACEHOLDER }),
            cli: Cli::aws("kms", "enable-key-rotation")
                .arg("--region", &cluster.region)
                .arg("--key-id", KEY_PLACEHOLDER)
                .build(),
        },
    ]
}

/// EventBridge rule names: at most 64 characters.
fn alarm_rule_name(cluster: &str) -> String {
    let mut name = format!("eks-secrets-key-guard-{cluster}");
    name.truncate(64);
    name
}

/// The EventBridge pattern matching deletion or disabling of `key_arn`.
pub fn alarm_pattern(key_arn: &str) -> Value {
    json!({
        "source": ["aws.kms"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["kms.amazonaws.com"],
            "eventName": ALARM_EVENTS,
            "resources": { "ARN": [key_arn] }
        }
    })
}

fn follow_ups(
    cluster: &ClusterRef,
    version: Option<&str>,
    alarm_key: &str,
    key_region: &str,
) -> Vec<PlanStep> {
    let rule = alarm_rule_name(&cluster.name);
    let pattern = alarm_pattern(alarm_key);
    let mut steps = vec![
        PlanStep {
            description: "follow the update until DescribeUpdate reports Successful (the cluster is UPDATING meanwhile)".to_string(),
            api_call: "eks:DescribeUpdate".to_string(),
            parameters: json!({ "name": cluster.name, "updateId": "<update-id>" }),
            cli: Cli::aws("eks", "describe-update")
                .arg("--region", &cluster.region)
                .arg("--name", &cluster.name)
                .arg("--update-id", "<update-id>")
                .build(),
        },
        // Commands stay plain words and quoted values (no pipes or substitutions), so nothing in
        // a `cli` field can ever run more than the one command it names.
        PlanStep {
            description: "once the update is Successful, point kubectl at the cluster".to_string(),
            api_call: "eks:DescribeCluster (update-kubeconfig)".to_string(),
            parameters: json!({ "name": cluster.name }),
            cli: Cli::aws("eks", "update-kubeconfig")
                .arg("--region", &cluster.region)
                .arg("--name", &cluster.name)
                .build(),
        },
    ];
    if default_envelope_encryption(version) != Some(true) {
        // The enable-kms page annotates every secret (piping `kubectl get` into `kubectl
        // annotate` with a kms-encryption-timestamp); one `kubectl annotate --all` with a fixed
        // value does the same without a pipe or a placeholder a shell would misread.
        steps.push(PlanStep {
            description: "then, as the EKS procedure for 1.27 and lower requires, rewrite every existing secret so it is stored encrypted with the key (any update re-encrypts a secret; an annotation is the least intrusive one)".to_string(),
            api_call: "kubectl annotate".to_string(),
            parameters: json!({ "annotation": "eks-exposure-responder/reencrypted=true" }),
            cli: "kubectl annotate secrets --all --all-namespaces --overwrite eks-exposure-responder/reencrypted=true".to_string(),
        });
    }
    steps.extend([
        PlanStep {
            description: format!(
                "key-loss alarm, part 1: an EventBridge rule in {key_region} matching ScheduleKeyDeletion, DisableKey, RevokeGrant and RetireGrant of the key (CloudTrail management events)"
            ),
            api_call: "events:PutRule".to_string(),
            parameters: json!({ "Name": rule, "EventPattern": pattern }),
            cli: Cli::aws("events", "put-rule")
                .arg("--region", key_region)
                .arg("--name", &rule)
                .arg("--event-pattern", &pattern.to_string())
                .build(),
        },
        PlanStep {
            description: "key-loss alarm, part 2: send matches to your alerts SNS topic (its topic policy must allow events.amazonaws.com to publish)".to_string(),
            api_call: "events:PutTargets".to_string(),
            parameters: json!({ "Rule": rule, "Targets": [{ "Id": "notify", "Arn": "<alerts-sns-topic-arn>" }] }),
            cli: Cli::aws("events", "put-targets")
                .arg("--region", key_region)
                .arg("--rule", &rule)
                .arg("--targets", "Id=notify,Arn=<alerts-sns-topic-arn>")
                .build(),
        },
    ]);
    steps
}

fn key_facts(inputs: &Inputs<'_>, facts: &mut Vec<String>, details: &mut Value) {
    let cluster = inputs.cluster;
    let Some(configured) = inputs.key.configured() else {
        facts.push(format!(
            "{KEY_VARIABLE}: not set, so there is no key to associate"
        ));
        return;
    };
    facts.push(format!("{KEY_VARIABLE}: {}", configured.arn));
    details["key"]["configured"] = json!(configured.arn);
    if let KeyStatus::Described { facts: key, .. } = inputs.key {
        if configured.is_alias() {
            facts.push(format!(
                "alias {} points at key {}; the key itself is associated, so re-pointing the alias later cannot change what the cluster uses",
                configured.arn, key.arn
            ));
        }
        facts.push(format!(
            "key {}: state {}, spec {}, usage {}, managed by {}",
            key.arn,
            key.state,
            key.spec.as_deref().unwrap_or("unknown"),
            key.usage.as_deref().unwrap_or("unknown"),
            key.manager.as_deref().unwrap_or("unknown"),
        ));
        let results = run_checks(key, &cluster.partition, &cluster.region);
        for r in &results {
            facts.push(format!(
                "key pre-flight '{}': {} ({})",
                r.check.name(),
                if r.passed { "passed" } else { "FAILED" },
                r.detail
            ));
        }
        details["key"]["resolved"] = json!(key.arn);
        details["key"]["state"] = json!(key.state);
        details["key"]["spec"] = json!(key.spec);
        details["key"]["usage"] = json!(key.usage);
        details["key"]["manager"] = json!(key.manager);
        details["key"]["multiRegion"] = json!(key.multi_region);
        details["key"]["checks"] = results
            .iter()
            .map(|r| json!({ "check": r.check.name(), "passed": r.passed, "detail": r.detail }))
            .collect();
    }
}

/// The cluster's secrets are not encrypted with a KMS key: the plan, its blockers and every
/// warning that goes with an irreversible change.
pub fn remediation(inputs: &Inputs<'_>) -> Assessment<Option<AssociateKey>> {
    let cluster = inputs.cluster;
    let state = inputs.state;
    let mut facts = vec![
        status_fact(state),
        "Kubernetes secrets: not envelope-encrypted with a KMS key of yours (no encryptionConfig entry names a KMS key)".to_string(),
    ];
    facts.extend(version_fact(state));
    for other in &state.encryption {
        facts.push(format!(
            "encryptionConfig has an entry for {:?} that names no KMS key",
            other.resources
        ));
    }
    let mut details = json!({ "key": {} });
    key_facts(inputs, &mut facts, &mut details);

    let role = inputs.cluster_role.as_deref().unwrap_or(ROLE_PLACEHOLDER);
    let mut not_checked = Vec::new();
    if let Err(why) = &inputs.cluster_role {
        not_checked.push(format!(
            "the cluster's IAM role: {why}; find it with aws eks describe-cluster --name {} --query cluster.roleArn",
            cluster.name
        ));
    }
    let mut blockers: Vec<Blocker> = Vec::new();
    let mut steps = Vec::new();
    let mut details_text = Vec::new();
    match inputs.key {
        KeyStatus::NotConfigured => {
            blockers.push(Blocker::new(
                BlockerCode::NoKeyConfigured,
                format!(
                    "no KMS key is configured: create one (steps below) and set the SAM parameter {KEY_PARAMETER} (environment variable {KEY_VARIABLE}) to its ARN; the responder never creates or chooses keys itself"
                ),
            ));
            let policy = key_policy(cluster, role);
            steps.extend(create_key_steps(cluster, &policy));
            details["keyPolicy"] = policy.clone();
            details_text.push(format!(
                "Key policy for the new key (save as {POLICY_FILE}; it keeps the account administering the key and lets the cluster role {role} use it):"
            ));
            let pretty =
                serde_json::to_string_pretty(&policy).unwrap_or_else(|_| policy.to_string());
            details_text.extend(pretty.lines().map(|l| format!("  {l}")));
            details_text.push(
                "The role that runs the association (you, or this function's role) also needs kms:DescribeKey and kms:CreateGrant on the key; in the same account the first statement lets IAM policies grant that."
                .to_string(),
            );
        }
        KeyStatus::OtherRegion { configured } => {
            blockers.push(other_region_blocker(
                configured,
                &cluster.partition,
                &cluster.region,
            ));
            not_checked.push(format!(
                "the key's state, spec and usage: DescribeKey was not called because {} is not in the cluster's Region {}",
                configured.arn, cluster.region
            ));
        }
        KeyStatus::Unreadable { configured, error } => {
            let b = unreadable_blocker(configured, error, &cluster.region);
            not_checked.push(format!("KMS key {}: {}", configured.arn, error));
            blockers.push(b);
        }
        KeyStatus::Described { facts: key, .. } => {
            blockers.extend(blockers_for(
                &run_checks(key, &cluster.partition, &cluster.region),
                &key.arn,
            ));
        }
    }
    if let Some(configured) = inputs.key.configured()
        && configured.account != cluster.account
    {
        blockers.push(other_account_blocker(configured, &cluster.account));
    }
    if inputs.key.configured().is_some() {
        not_checked.push(format!(
            "whether the key policy lets the cluster role ({role}) use the key (kms:Encrypt, kms:Decrypt, kms:DescribeKey, kms:CreateGrant): key policies are not evaluated here; EKS refuses the association if it cannot use the key"
        ));
    }

    let key_to_associate = inputs.key.key_to_associate();
    let action = key_to_associate
        .filter(|k| k.starts_with("arn:"))
        .map(|k| AssociateKey {
            key: k.to_string(),
            token: (inputs.token)(k),
        });
    let associate = match key_to_associate {
        Some(k) => associate_step(cluster, k, Some(&(inputs.token)(k))),
        None => associate_step(cluster, KEY_PLACEHOLDER, None),
    };
    steps.push(associate);
    // The alarm names the key itself: an alias ARN never appears in the CloudTrail event.
    let (alarm_key, key_region) = match (inputs.key, inputs.key.configured()) {
        (KeyStatus::Described { facts, .. }, _) if !facts.arn.is_empty() => {
            (facts.arn.clone(), cluster.region.clone())
        }
        (_, Some(c)) if !c.is_alias() => (c.arn.clone(), c.region.clone()),
        (_, Some(c)) => (KEY_PLACEHOLDER.to_string(), c.region.clone()),
        (_, None) => (KEY_PLACEHOLDER.to_string(), cluster.region.clone()),
    };

    let shown_key = key_to_associate.unwrap_or("a new customer-managed key");
    let summary = match key_to_associate {
        Some(k) => format!(
            "encrypt the Kubernetes secrets of {} with KMS key {k} (AssociateEncryptionConfig); IRREVERSIBLE, and deleting that key or revoking its grants makes the cluster unrecoverable",
            cluster.name
        ),
        None => format!(
            "create a customer-managed KMS key in {} and encrypt the Kubernetes secrets of {} with it (AssociateEncryptionConfig); IRREVERSIBLE, and deleting that key or revoking its grants makes the cluster unrecoverable",
            cluster.region, cluster.name
        ),
    };
    let version = state.version.as_deref();
    let mut notes = vec![
        IRREVERSIBLE.to_string(),
        format!("Key to be used: {shown_key}. {}", key_loss(version)),
        ALARM.to_string(),
        reencrypt_note(version).to_string(),
    ];
    notes.extend(iac_notes(inputs.managed_by));

    Assessment {
        live_state: live_state(state),
        facts,
        not_checked,
        notes,
        details: Some(details),
        details_text,
        priority: None,
        verdict: Verdict::Act(Plan {
            summary,
            steps,
            follow_ups: follow_ups(cluster, version, &alarm_key, &key_region),
            blockers,
            revert: Some(Revert {
                description: "none: EKS cannot remove secrets encryption or change its key once associated. The only way back is a new cluster; keep the key enabled and never delete it.".to_string(),
                previous: json!({ "encryptionConfig": live_state(state)["encryptionConfig"] }),
                cli: None,
            }),
            irreversible: true,
            stage: None,
            action,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::KeyFacts;
    use shared::aws::eks::EncryptionEntry;

    const KEY: &str = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const ROLE: &str = "arn:aws:iam::444455556666:role/orders-staging-cluster";

    fn cluster() -> ClusterRef {
        ClusterRef::parse("arn:aws:eks:us-east-1:444455556666:cluster/orders-staging").expect("arn")
    }

    fn state(version: &str) -> ClusterState {
        ClusterState {
            name: "orders-staging".into(),
            status: "ACTIVE".into(),
            version: Some(version.into()),
            ..ClusterState::default()
        }
    }

    fn good_key() -> KeyFacts {
        KeyFacts {
            arn: KEY.into(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            state: "Enabled".into(),
            spec: Some("SYMMETRIC_DEFAULT".into()),
            usage: Some("ENCRYPT_DECRYPT".into()),
            manager: Some("CUSTOMER".into()),
            ..KeyFacts::default()
        }
    }

    fn token(k: &str) -> String {
        format!("tok-{}", k.len())
    }

    fn assess(
        state: &ClusterState,
        key: &KeyStatus,
        role: Result<String, String>,
    ) -> Assessment<Option<AssociateKey>> {
        let cluster = cluster();
        remediation(&Inputs {
            cluster: &cluster,
            state,
            key,
            cluster_role: role,
            managed_by: None,
            token: &token,
        })
    }

    fn plan(a: &Assessment<Option<AssociateKey>>) -> &Plan<Option<AssociateKey>> {
        match &a.verdict {
            Verdict::Act(p) => p,
            other => panic!("a plan expected, got {other:?}"),
        }
    }

    fn planned_key(plan: &Plan<Option<AssociateKey>>) -> Option<&str> {
        plan.action.as_ref().map(|a| a.key.as_str())
    }

    fn all_text(a: &Assessment<Option<AssociateKey>>) -> String {
        let plan = plan(a);
        let mut t = vec![plan.summary.clone()];
        t.extend(a.notes.clone());
        t.join("\n")
    }

    #[test]
    fn default_envelope_encryption_starts_at_1_28() {
        assert_eq!(default_envelope_encryption(Some("1.27")), Some(false));
        assert_eq!(default_envelope_encryption(Some("1.28")), Some(true));
        assert_eq!(default_envelope_encryption(Some("1.31")), Some(true));
        assert_eq!(default_envelope_encryption(Some("1.9")), Some(false));
        assert_eq!(default_envelope_encryption(Some("1.30-eks")), Some(true));
        assert_eq!(default_envelope_encryption(Some("x")), None);
        assert_eq!(default_envelope_encryption(None), None);
    }

    #[test]
    fn an_encrypted_cluster_is_compliant_and_named_with_its_key() {
        let mut s = state("1.31");
        s.encryption = vec![EncryptionEntry {
            resources: vec!["secrets".into()],
            key_arn: Some(KEY.into()),
        }];
        let a = compliant(&s, None);
        assert!(matches!(&a.verdict, Verdict::Compliant(r) if r.contains(KEY)));
        assert!(a.notes.iter().any(|n| n.contains("ScheduleKeyDeletion")));

        let other = KmsKeyArn::parse(&KEY.replace("1234abcd-", "9999abcd-")).expect("arn");
        let a = compliant(&s, Some(&other));
        assert!(a.notes[0].contains("EKS cannot switch a cluster to another secrets key"));
    }

    #[test]
    fn a_key_of_another_account_is_a_blocker() {
        let foreign = KEY.replace("444455556666", "999988887777");
        let key = KeyStatus::Described {
            configured: KmsKeyArn::parse(&foreign).expect("arn"),
            facts: KeyFacts {
                arn: foreign.clone(),
                ..good_key()
            },
        };
        let a = assess(&state("1.31"), &key, Ok(ROLE.into()));
        let plan = plan(&a);
        assert_eq!(plan.blockers.len(), 1, "{:?}", plan.blockers);
        assert_eq!(plan.blockers[0].code, "key_other_account");
        assert!(
            plan.blockers[0]
                .message
                .contains("belongs to account 999988887777, the cluster to 444455556666"),
            "{}",
            plan.blockers[0].message
        );
    }

    #[test]
    fn a_good_key_gives_an_unblocked_irreversible_plan() {
        let configured = KmsKeyArn::parse(KEY).expect("arn");
        let key = KeyStatus::Described {
            configured,
            facts: good_key(),
        };
        let a = assess(&state("1.31"), &key, Ok(ROLE.into()));
        let plan = plan(&a);
        assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
        assert!(plan.irreversible);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].api_call, API_CALL);
        assert_eq!(planned_key(plan), Some(KEY));
        assert_eq!(
            plan.steps[0].cli,
            format!(
                "aws eks associate-encryption-config --region us-east-1 --cluster-name orders-staging --encryption-config '[{{\"resources\":[\"secrets\"],\"provider\":{{\"keyArn\":\"{KEY}\"}}}}]' --client-request-token tok-{}",
                KEY.len()
            )
        );
        assert_eq!(
            plan.steps[0].parameters["clientRequestToken"],
            format!("tok-{}", KEY.len())
        );
        let revert = plan.revert.as_ref().expect("revert");
        assert!(revert.cli.is_none(), "there is no revert command");
        assert!(revert.description.starts_with("none:"));
        let text = all_text(&a);
        assert!(text.contains("cannot be undone"));
        assert!(text.contains("unrecoverable"));
        assert!(text.contains("key-loss alarm"));
        assert!(
            a.facts
                .iter()
                .any(|f| f.contains("default envelope encryption") && f.contains("AWS-owned key"))
        );
        // The alarm targets the key itself, in its Region.
        let rule = plan
            .follow_ups
            .iter()
            .find(|s| s.api_call == "events:PutRule")
            .expect("the key-deletion alarm step");
        assert_eq!(rule.api_call, "events:PutRule");
        assert_eq!(
            rule.parameters["EventPattern"]["detail"]["resources"]["ARN"][0],
            KEY
        );
        assert_eq!(
            rule.parameters["EventPattern"]["detail"]["eventName"],
            json!([
                "ScheduleKeyDeletion",
                "DisableKey",
                "RevokeGrant",
                "RetireGrant"
            ])
        );
        assert!(a.not_checked.iter().any(|n| n.contains(ROLE)));
    }

    #[test]
    fn an_alias_is_resolved_to_its_key_for_the_association_and_the_alarm() {
        let alias =
            KmsKeyArn::parse("arn:aws:kms:us-east-1:444455556666:alias/eks/orders").expect("alias");
        let key = KeyStatus::Described {
            configured: alias,
            facts: good_key(),
        };
        let a = assess(&state("1.27"), &key, Ok(ROLE.into()));
        let plan = plan(&a);
        assert_eq!(planned_key(plan), Some(KEY));
        assert!(a.facts.iter().any(|f| {
            f.contains("alias arn:aws:kms:us-east-1:444455556666:alias/eks/orders points at key")
        }));
        assert!(
            a.facts
                .iter()
                .any(|f| f.contains("Kubernetes 1.27 (before 1.28)"))
        );
        assert_eq!(
            plan.follow_ups
                .iter()
                .find(|s| s.api_call == "events:PutRule")
                .expect("alarm step")
                .parameters["EventPattern"]["detail"]["resources"]["ARN"][0],
            KEY
        );
    }

    #[test]
    fn without_a_key_the_plan_explains_how_to_create_one_and_is_blocked() {
        let a = assess(&state("1.31"), &KeyStatus::NotConfigured, Ok(ROLE.into()));
        let plan = plan(&a);
        assert_eq!(plan.blockers.len(), 1);
        assert_eq!(plan.blockers[0].code, "no_key_configured");
        assert!(plan.blockers[0].message.contains("SecretsKmsKeyArn"));
        assert!(plan.blockers[0].message.contains("SECRETS_KMS_KEY_ARN"));
        assert_eq!(planned_key(plan), None, "a placeholder is never applied");
        let create = &plan.steps[0];
        assert_eq!(create.api_call, "kms:CreateKey");
        assert!(
            create
                .cli
                .contains("--key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT")
        );
        assert!(create.cli.contains("--region us-east-1"));
        let statement = &create.parameters["Policy"]["Statement"][1];
        assert_eq!(statement["Principal"]["AWS"], ROLE);
        assert_eq!(
            statement["Action"],
            json!([
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:CreateGrant"
            ])
        );
        assert_eq!(
            create.parameters["Policy"]["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::444455556666:root",
            "the account keeps administering the key"
        );
        assert!(
            a.details_text
                .iter()
                .any(|l| l.contains("\"kms:CreateGrant\""))
        );
        assert!(plan.steps.last().is_some_and(|s| s.cli.contains(
            "'[{\"resources\":[\"secrets\"],\"provider\":{\"keyArn\":\"<key-arn>\"}}]'"
        )));
        assert!(all_text(&a).contains("cannot be undone"));
    }

    #[test]
    fn an_unknown_cluster_role_becomes_a_placeholder_and_a_not_checked_line() {
        let a = assess(
            &state("1.31"),
            &KeyStatus::NotConfigured,
            Err("DescribeCluster returned no roleArn".into()),
        );
        let plan = plan(&a);
        assert_eq!(
            plan.steps[0].parameters["Policy"]["Statement"][1]["Principal"]["AWS"],
            "<cluster-role-arn>"
        );
        assert!(a.not_checked[0].contains("--query cluster.roleArn"));
    }

    #[test]
    fn a_failed_check_blocks_the_plan_but_keeps_the_command() {
        let configured = KmsKeyArn::parse(KEY).expect("arn");
        let key = KeyStatus::Described {
            configured,
            facts: KeyFacts {
                state: "Disabled".into(),
                ..good_key()
            },
        };
        let a = assess(&state("1.31"), &key, Ok(ROLE.into()));
        let plan = plan(&a);
        assert_eq!(plan.blockers.len(), 1);
        assert_eq!(plan.blockers[0].code, "key_not_enabled");
        assert!(
            plan.blockers[0]
                .message
                .contains("pre-flight check 'enabled' failed")
        );
        assert!(
            a.facts
                .iter()
                .any(|f| f == "key pre-flight 'enabled': FAILED (KeyState is Disabled)")
        );
        assert_eq!(planned_key(plan), Some(KEY));
    }

    fn described() -> KeyStatus {
        KeyStatus::Described {
            configured: KmsKeyArn::parse(KEY).expect("arn"),
            facts: good_key(),
        }
    }

    #[test]
    fn the_blast_radius_is_all_api_data_on_1_28_and_a_revoked_grant_is_unrecoverable() {
        let a = assess(&state("1.31"), &described(), Ok(ROLE.into()));
        let text = all_text(&a);
        assert!(
            text.contains("all of the cluster's Kubernetes API data"),
            "{text}"
        );
        for needle in [
            "KMS_KEY_DISABLED",
            "within 30 days",
            "KMS_KEY_NOT_FOUND",
            "KMS_GRANT_REVOKED",
            "RevokeGrant",
            "RetireGrant",
        ] {
            assert!(text.contains(needle), "lacks {needle}: {text}");
        }
        let old = all_text(&assess(&state("1.27"), &described(), Ok(ROLE.into())));
        assert!(
            old.contains("The key protects the cluster's Kubernetes secrets"),
            "{old}"
        );
    }

    #[test]
    fn existing_secrets_are_rewritten_only_where_the_eks_procedure_applies() {
        let rewrite = |v: &str| {
            plan(&assess(&state(v), &described(), Ok(ROLE.into())))
                .follow_ups
                .iter()
                .any(|s| s.api_call == "kubectl annotate")
        };
        assert!(rewrite("1.27"));
        assert!(!rewrite("1.28"));
        assert!(!rewrite("1.31"));
        let a = assess(&state("1.31"), &described(), Ok(ROLE.into()));
        assert!(all_text(&a).contains("documented for 1.27 and lower only"));
        let old = assess(&state("1.27"), &described(), Ok(ROLE.into()));
        assert!(
            old.facts
                .iter()
                .any(|f| f.contains("encrypted at the disk level")),
            "not KMS-wrapped is not plaintext: {:?}",
            old.facts
        );
    }

    #[test]
    fn iac_advice_never_tells_cloudformation_to_add_encryption_config() {
        let generic = iac_notes(None).join("\n");
        assert!(generic.contains("do NOT add EncryptionConfig"));
        assert!(generic.contains("Update requires: Replacement"));
        assert!(
            generic.contains("encryption_config") && generic.contains("secretsEncryption.keyARN")
        );
        let cfn = iac_notes(Some("CloudFormation stack 'orders'")).join("\n");
        assert!(cfn.contains("do NOT add EncryptionConfig"), "{cfn}");
        let tf = iac_notes(Some("terraform (tag ManagedBy)")).join("\n");
        assert!(
            tf.contains("add an encryption_config block") && !tf.contains("do NOT"),
            "{tf}"
        );
        let eksctl = iac_notes(Some(
            "eksctl (change the eksctl ClusterConfig and run eksctl)",
        ))
        .join("\n");
        assert!(eksctl.contains("enable-secrets-encryption"), "{eksctl}");
    }

    #[test]
    fn a_keyless_entry_is_reported_and_does_not_count() {
        let mut s = state("1.31");
        s.encryption = vec![EncryptionEntry {
            resources: vec!["secrets".into()],
            key_arn: None,
        }];
        let a = assess(&s, &described(), Ok(ROLE.into()));
        assert!(a.facts.iter().any(|f| f.contains("names no KMS key")));
        assert_eq!(planned_key(plan(&a)), Some(KEY));
    }
}
