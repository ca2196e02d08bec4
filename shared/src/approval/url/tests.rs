use super::*;

fn sample() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/function-url/approval-request.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn parsed(v: &serde_json::Value) -> UrlRequest {
    serde_json::from_value(v.clone()).expect("a function URL request")
}

#[test]
fn a_function_url_request_and_an_eventbridge_event_are_told_apart_by_shape() {
    assert!(is_url_request(&sample().to_string()));
    for file in [
        "eks-public-access.json",
        "eks-multi-trait.json",
        "invalid-wrong-source.json",
    ] {
        let text =
            std::fs::read_to_string(format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR")))
                .expect("event");
        assert!(!is_url_request(&text), "{file}");
    }
    // An EventBridge event that merely carries a request context is still an event.
    assert!(!is_url_request(r#"{"version":"0","requestContext":{}}"#));
    assert!(!is_url_request("not json"));
}

#[test]
fn the_approver_is_the_iam_caller_the_function_url_service_wrote() {
    let v = sample();
    assert_eq!(
        approver(&parsed(&v)),
        Some("arn:aws:sts::444455556666:assumed-role/PlatformApprover/alice")
    );
    let mut none = v.clone();
    none["requestContext"]
        .as_object_mut()
        .expect("context")
        .remove("authorizer");
    assert_eq!(approver(&parsed(&none)), None);
    let mut blank = v.clone();
    blank["requestContext"]["authorizer"]["iam"]["userArn"] = "".into();
    assert_eq!(approver(&parsed(&blank)), None);
    let mut null = v;
    null["requestContext"]["authorizer"]["iam"]["userArn"] = serde_json::Value::Null;
    assert_eq!(approver(&parsed(&null)), None);
}

#[test]
fn the_body_is_the_request_document_plain_or_base64() {
    let v = sample();
    let plain = approval_request(&parsed(&v)).expect("plain body");
    assert_eq!(plain.function, "endpoint-access");
    let mut encoded = v.clone();
    encoded["body"] = aws_smithy_types::base64::encode(v["body"].as_str().expect("body")).into();
    encoded["isBase64Encoded"] = true.into();
    assert_eq!(approval_request(&parsed(&encoded)), Ok(plain));
    let mut wrong = v;
    wrong["body"] = r#"{"approve":"everything"}"#.into();
    let err = approval_request(&parsed(&wrong)).expect_err("not an approval");
    assert!(err.contains("approval request"), "{err}");
}

#[test]
fn the_response_is_a_function_url_response_whose_body_is_json() {
    let r = UrlResponse::refused(403, "no_iam_caller", "no caller");
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["statusCode"], 403);
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(v["isBase64Encoded"], false);
    // cargo lambda watch's function URL emulation answers 500 without it.
    assert_eq!(v["cookies"], serde_json::json!([]));
    let body: serde_json::Value =
        serde_json::from_str(v["body"].as_str().expect("body")).expect("a JSON body");
    assert_eq!(
        (body["outcome"].as_str(), body["reason_code"].as_str()),
        (Some("refused"), Some("no_iam_caller"))
    );
}
