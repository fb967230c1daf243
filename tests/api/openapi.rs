//! `GET /openapi.json` (docs/api.md): OpenAPI 3.1, generated from the code, covering every route.

use std::path::Path;

use serde_json::Value;

use crate::auth::KEY_A;
use crate::helpers::*;

async fn spec(app: &TestApp, key: Option<&str>) -> Value {
    let r = app.get("/openapi.json", key).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    json_body(r).await
}

#[tokio::test]
async fn describes_every_endpoint_request_and_error_body() {
    let app = spawn_app().await;
    let spec = spec(&app, None).await;
    assert_eq!(spec["openapi"], "3.1.0");
    for (p, m) in [
        ("/send-mms", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(spec["paths"][p][m].is_object(), "{m} {p} missing");
    }
    let send = &spec["paths"]["/send-mms"]["post"];
    for ct in ["application/json", "application/x-www-form-urlencoded"] {
        assert!(
            send["requestBody"]["content"][ct]["schema"].is_object(),
            "{ct}"
        );
    }
    for status in [
        "200", "400", "401", "413", "415", "422", "429", "502", "503", "504",
    ] {
        assert!(send["responses"][status].is_object(), "send-mms {status}");
    }
    assert_eq!(
        send["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorResponse"
    );
    let schemas = &spec["components"]["schemas"];
    for name in [
        "ErrorResponse",
        "SendMmsRequest",
        "SendMmsResponse",
        "Health",
    ] {
        assert!(schemas[name].is_object(), "schema {name}");
    }
    // The request schema is generated from the parser's fields: bulk and callbacks included.
    let request_fields = &schemas["SendMmsRequest"]["properties"];
    for f in [
        "recipientNumber",
        "recipientNumbers",
        "messageText",
        "mediaUrl",
        "mediaUrls",
        "mediaIds",
        "callbackUrl",
    ] {
        assert!(request_fields[f].is_object(), "SendMmsRequest.{f}");
    }
    let error_fields = &schemas["ErrorResponse"]["properties"];
    for f in ["error", "code", "field", "details"] {
        assert!(error_fields[f].is_object(), "ErrorResponse.{f}");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    // The probes are open.
    assert_eq!(
        spec["paths"]["/health"]["get"]["security"],
        serde_json::json!([{}])
    );
}

/// Every path given to `.route(`, `.route_service(` or `.nest(` in the API's code (src/http/).
fn routes_in_source() -> Vec<String> {
    fn visit(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
                    for (at, _) in text.match_indices(call) {
                        let rest = text[at + call.len()..].trim_start();
                        if let Some(literal) = rest.strip_prefix('"') {
                            if let Some(end) = literal.find('"') {
                                out.push(literal[..end].to_owned());
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
        &mut out,
    );
    out
}

#[tokio::test]
async fn every_route_of_the_router_is_in_the_spec() {
    let app = spawn_app_with(&[("API_KEYS", KEY_A)]).await;
    let spec = spec(&app, Some(KEY_A)).await;
    let paths = spec["paths"].as_object().unwrap();

    // Routes added with plain axum calls instead of `routes!(handler)` are not documented.
    for route in routes_in_source() {
        assert!(
            paths.contains_key(&route),
            "{route} is routed but not in /openapi.json: register it with .routes(routes!(handler)) \
             and a #[utoipa::path] on the handler"
        );
    }

    // Ask the router itself: each documented method is served, each other method is 405.
    for (template, item) in paths {
        let concrete = template.replace(['{', '}'], "");
        for m in ["get", "post", "put", "patch", "delete"] {
            let response = app
                .client
                .request(
                    m.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", app.address),
                )
                .bearer_auth(KEY_A)
                .send()
                .await
                .unwrap();
            let documented = item.get(m).is_some();
            let served = response.status() != 405;
            assert_eq!(
                documented,
                served,
                "{} {template}: documented {documented}, router answered {}",
                m.to_uppercase(),
                response.status()
            );
        }
    }
}
