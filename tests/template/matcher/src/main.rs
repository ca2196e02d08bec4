//! Reads `{"patterns": [{"id": str, "pattern": object}, ...], "events": {name: event}}` on
//! stdin and prints `{name: [id, ...]}`: for each event, the sorted, de-duplicated ids of
//! the patterns that match it, as decided by `quamina`. Several patterns may share one id
//! (the caller expands EventBridge `$or`, which quamina does not implement, into them).
//! An event that is not valid JSON for quamina maps to `{"error": message}`.
use std::collections::BTreeSet;
use std::io::Read;
use std::process::ExitCode;

use quamina::Quamina;
use serde_json::{Map, Value, json};

fn run() -> Result<Value, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading stdin: {e}"))?;
    let input: Value =
        serde_json::from_str(&input).map_err(|e| format!("stdin is not JSON: {e}"))?;

    let mut q = Quamina::<String>::new();
    let patterns = input["patterns"]
        .as_array()
        .ok_or("`patterns` must be an array")?;
    for p in patterns {
        let id = p["id"].as_str().ok_or("pattern `id` must be a string")?;
        let pattern = p["pattern"].to_string();
        q.add_pattern(id.to_owned(), &pattern)
            .map_err(|e| format!("quamina rejected a pattern of {id}: {e}: {pattern}"))?;
    }

    let events = input["events"]
        .as_object()
        .ok_or("`events` must be an object")?;
    let mut out = Map::new();
    for (name, event) in events {
        let result = match q.matches_for_event(event.to_string().as_bytes()) {
            Ok(ids) => json!(ids.into_iter().collect::<BTreeSet<_>>()),
            Err(e) => json!({ "error": e.to_string() }),
        };
        out.insert(name.clone(), result);
    }
    Ok(Value::Object(out))
}

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("template-pattern-matcher: {e}");
            ExitCode::FAILURE
        }
    }
}
