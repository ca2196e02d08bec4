//! Security Hub's `Document` (what GetFindingsV2 answers findings as) as JSON.

use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// A `Document` as JSON. Non-finite floats (which JSON cannot carry) become `null`.
pub fn document_to_value(d: &Document) -> Value {
    match d {
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document_to_value(v)))
                .collect(),
        ),
        Document::Array(items) => Value::Array(items.iter().map(document_to_value).collect()),
        Document::Number(Number::PosInt(n)) => Value::from(*n),
        Document::Number(Number::NegInt(n)) => Value::from(*n),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Bool(b) => Value::Bool(*b),
        Document::Null => Value::Null,
    }
}

/// JSON as a `Document` (tests and the mocked Security Hub answer with it).
pub fn value_to_document(v: &Value) -> Document {
    match v {
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), value_to_document(v)))
                .collect(),
        ),
        Value::Array(items) => Document::Array(items.iter().map(value_to_document).collect()),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Bool(b) => Document::Bool(*b),
        Value::Null => Document::Null,
    }
}
