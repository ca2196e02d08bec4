//! The parser and gate never panic: arbitrary JSON, and valid events mutated at random.

use proptest::prelude::*;
use serde_json::Value;
use shared::Trait;
use shared::event::gate::{event_from_value, gate, parse_event};

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("arn:aws:eks:us-east-1:444455556666:cluster/x".to_string()),
            Just("AWS::EKS::Cluster".to_string()),
            Just("New".to_string()),
            Just("security-hub/Exposure".to_string()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,12}".boxed(),
                    prop::sample::select(vec![
                        "source",
                        "detail-type",
                        "detail",
                        "findings",
                        "resources",
                        "uid",
                        "uid_alt",
                        "type",
                        "finding_info",
                        "related_events",
                        "traits",
                        "tags",
                        "metadata",
                        "class_uid",
                        "status",
                        "owner",
                        "account",
                        "region",
                        "values",
                        "name",
                    ])
                    .prop_map(str::to_string)
                    .boxed(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replace the value at a random path of `v` with `replacement`.
fn mutate(v: &mut Value, path: &[usize], replacement: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = replacement;
        return;
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(first % m.len()).cloned().unwrap_or_default();
            if let Some(child) = m.get_mut(&key) {
                mutate(child, rest, replacement);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            mutate(&mut a[first % n], rest, replacement);
        }
        _ => *v = replacement,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
        .. ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        if let Ok(e) = event_from_value(v) {
            let _ = gate(&e, &Trait::ALL);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_event(&bytes);
    }

    #[test]
    fn mutated_valid_events_never_panic(
        which in 0usize..4,
        path in prop::collection::vec(any::<usize>(), 0..9),
        replacement in arb_json(),
    ) {
        let name = ["eks-public-access.json", "eks-multi-trait.json", "eks-cross-account-uid-alt.json", "eks-preview-shape.json"][which];
        let mut v = sample(name);
        mutate(&mut v, &path, replacement);
        if let Ok(e) = event_from_value(v)
            && let Ok(shared::Gate::Actionable(x)) = gate(&e, &Trait::ALL)
        {
            // Whatever survives the gate is a coherent cluster identity.
            prop_assert!(x.cluster.arn.contains(&x.cluster.name));
            prop_assert_eq!(x.cluster.account.len(), 12);
        }
    }
}
