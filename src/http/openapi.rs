//! `GET /openapi.json`: the OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]`
//! annotations as the router is built (utoipa-axum's `OpenApiRouter`), so routes and spec stay
//! in one place. No documentation UI is served.

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The contract's error body (§3); every error of every endpoint has this shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// A sentence a person can act on.
    pub error: String,
    /// The error code, snake_case (e.g. `invalid_phone_number`, `unauthorized`, `rate_limited`).
    pub code: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What Plivo (or a check) said that is worth passing on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// The body of `POST /send-mms`; its schema is generated from the fields the parser reads
/// (`send_request::Field`), so the two cannot drift.
pub struct SendMmsRequest;

impl utoipa::PartialSchema for SendMmsRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::send_request::request_schema()
    }
}

impl ToSchema for SendMmsRequest {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearerAuth",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// The parts of the description no handler carries: info, the error schema, bearer auth.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mms-gateway",
        description = "Sends MMS to US and Canadian phones through Plivo. When API_KEYS is set, \
                       every endpoint but /health, /ready and /webhooks/… needs \
                       'Authorization: Bearer <key>'. Every error is JSON: {error, code, field?, details?}."
    ),
    components(schemas(ErrorResponse, SendMmsRequest)),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
    tags(
        (name = "messages", description = "Sending MMS"),
        (name = "service", description = "Probes"),
        (name = "operations", description = "Metrics and this description")
    )
)]
pub struct ApiDoc;

/// The rendered description, shared by the handler.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub Arc<str>);

impl OpenApiJson {
    /// Renders `spec` once.
    pub fn new(spec: &utoipa::openapi::OpenApi) -> Self {
        Self(Arc::from(
            spec.to_json().unwrap_or_else(|_| "{}".to_owned()),
        ))
    }
}

/// The OpenAPI description of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 description", content_type = "application/json", body = Object),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
    )
)]
pub async fn openapi_json(Extension(spec): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        spec.0.to_string(),
    )
        .into_response()
}
