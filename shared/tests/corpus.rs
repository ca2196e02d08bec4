//! Every file in `events/` parses, or is rejected, exactly as `events/manifest.toml` says.

use std::path::PathBuf;

use shared::Trait;
use shared::event::gate::{Gate, gate, parse_event};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[derive(serde::Deserialize)]
struct Manifest {
    event: Vec<Row>,
}

/// One entry of events/manifest.toml; the fields this test does not check are ignored.
#[derive(serde::Deserialize)]
struct Row {
    file: String,
    expect: String,
    traits: Vec<String>,
    cluster: Option<String>,
    account: Option<String>,
    region: Option<String>,
}

fn table() -> Vec<Row> {
    let text =
        std::fs::read_to_string(events_dir().join("manifest.toml")).expect("events/manifest.toml");
    toml::from_str::<Manifest>(&text)
        .expect("events/manifest.toml parses")
        .event
}

fn trait_ids(g: &shared::Exposure) -> Vec<String> {
    let mut ids: Vec<String> = g.traits.iter().map(|t| t.id().to_string()).collect();
    if !g.unknown_traits.is_empty() {
        ids.push("unknown".into());
    }
    ids
}

#[test]
fn every_event_file_behaves_as_its_manifest_entry_says() {
    let rows = table();
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = rows.iter().map(|r| r.file.clone()).collect();
    listed.sort();
    assert_eq!(listed, files, "events/manifest.toml and events/ disagree");
    assert!(rows.len() >= 15);

    for row in rows {
        let bytes = std::fs::read(events_dir().join(&row.file)).expect("read");
        let result = parse_event(&bytes).and_then(|e| gate(&e, &Trait::ALL));
        let ctx = &row.file;
        match (row.expect.split_once(':'), result) {
            (Some(("error", path)), Err(e)) => assert_eq!(e.path(), path, "{ctx}: {e}"),
            (Some(("error", path)), Ok(g)) => {
                panic!("{ctx}: expected an error at {path}, got {g:?}")
            }
            (_, Err(e)) => panic!("{ctx}: unexpected error {e}"),
            (split, Ok(g)) => {
                let (exposure, skip) = match g {
                    Gate::Actionable(e) => (e, None),
                    Gate::Skip(e, r) => (e, Some(r.code().as_str())),
                };
                match split {
                    Some(("skip", code)) => assert_eq!(skip, Some(code), "{ctx}"),
                    _ => assert_eq!((row.expect.as_str(), skip), ("actionable", None), "{ctx}"),
                }
                assert_eq!(trait_ids(&exposure), row.traits, "{ctx}: traits");
                assert_eq!(
                    Some(&exposure.cluster.name),
                    row.cluster.as_ref(),
                    "{ctx}: cluster"
                );
                assert_eq!(
                    Some(&exposure.cluster.account),
                    row.account.as_ref(),
                    "{ctx}: account"
                );
                assert_eq!(
                    Some(&exposure.cluster.region),
                    row.region.as_ref(),
                    "{ctx}: region"
                );
            }
        }
    }
}

#[test]
fn identity_comes_from_the_cluster_not_the_envelope() {
    // uid is a bare name with the ARN in uid_alt; the envelope says the admin account/home Region.
    let bytes = std::fs::read(events_dir().join("eks-cross-account-uid-alt.json")).expect("read");
    let event = parse_event(&bytes).expect("parse");
    assert_eq!(event.account.as_deref(), Some("444455556666"));
    let Ok(Gate::Actionable(e)) = gate(&event, &[Trait::PublicEndpoint]) else {
        panic!("actionable expected");
    };
    assert_eq!(
        e.cluster.arn,
        "arn:aws:eks:eu-west-1:111122223333:cluster/checkout-eu"
    );
    assert_eq!(
        (e.cluster.account.as_str(), e.cluster.region.as_str()),
        ("111122223333", "eu-west-1")
    );
    assert_eq!(e.home_region.as_deref(), Some("us-east-1"));

    // Preview shape: tags instead of traits, analytic.name instead of feature.uid.
    let bytes = std::fs::read(events_dir().join("eks-preview-shape.json")).expect("read");
    let Ok(Gate::Actionable(p)) = gate(
        &parse_event(&bytes).expect("parse"),
        &[Trait::PublicEndpoint],
    ) else {
        panic!("actionable expected");
    };
    assert_eq!(p.handled, [Trait::PublicEndpoint]);
    assert_eq!(p.cluster.name, "search-preview");
}

#[test]
fn unknown_traits_are_reported_verbatim_not_rejected() {
    let bytes = std::fs::read(events_dir().join("eks-unknown-trait.json")).expect("read");
    let Ok(Gate::Actionable(e)) = gate(
        &parse_event(&bytes).expect("parse"),
        &[Trait::PublicEndpoint],
    ) else {
        panic!("actionable expected");
    };
    assert_eq!(e.unknown_traits.len(), 1);
    assert!(
        e.unknown_traits[0].starts_with("Sensitive Data"),
        "{:?}",
        e.unknown_traits
    );
}

#[test]
fn a_function_skips_findings_without_its_traits() {
    let bytes =
        std::fs::read(events_dir().join("eks-unsupported-kubernetes-version.json")).expect("read");
    let g = gate(
        &parse_event(&bytes).expect("parse"),
        &[Trait::PublicEndpoint],
    )
    .expect("gate");
    let Gate::Skip(_, reason) = g else {
        panic!("skip expected")
    };
    assert_eq!(reason.code(), "no_handled_traits");
}
