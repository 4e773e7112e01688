//! The OpenAPI document's frame: what the handlers' own `#[utoipa::path]` entries do not say —
//! the title, the security schemes, and the answers every protected operation may give
//! (401, 403, 429 from authentication and rate limiting).

use super::ErrorBody;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

/// The operations anyone may call: the document itself, and (with authentication) logging in.
pub const PUBLIC: [&str; 3] = ["/api/v1/openapi.json", "/api/v1/auth/login", "/api/v1/auth/refresh"];

/// The document's title, version and tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "itscam", description = "Streaming traffic-camera analytics: SQL over the lake, cameras, rules, alerts and pushed input."),
    tags(
        (name = "service", description = "Health, metrics and this document"),
        (name = "query", description = "SQL over the lake"),
        (name = "cameras", description = "Cameras and their health"),
        (name = "rules", description = "Rules and zones of the running pipeline"),
        (name = "alerts", description = "The alert lifecycle"),
        (name = "push", description = "Detections and signal changes pushed over HTTP"),
    ),
    components(schemas(ErrorBody))
)]
pub(super) struct Frame;

/// Adds the security schemes (`bearer`: a JWT; `api_key`: header `X-API-Key`), requires one of
/// them on every operation but the [`PUBLIC`] ones, and lists the answers of authentication
/// and rate limiting on those.
pub(super) fn secure(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
    components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    let either = vec![SecurityRequirement::new("bearer", Vec::<String>::new()), SecurityRequirement::new("api_key", Vec::<String>::new())];
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        for op in operations(item) {
            if public {
                op.security = Some(vec![SecurityRequirement::default()]);
            } else {
                op.security = Some(either.clone());
                add_error(op, "401", "`unauthorized`: no credentials, or not valid ones");
                add_error(op, "403", "`forbidden`: the credentials' role or camera scopes do not allow this");
                add_error(op, "429", "`rate_limited` (with `Retry-After`), or the operation's own limit");
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head, &mut item.options, &mut item.trace].into_iter().filter_map(Option::as_mut)
}

/// Lists `status` with an `ApiError` body on `op`, unless the operation lists it already.
fn add_error(op: &mut Operation, status: &str, description: &str) {
    if op.responses.responses.contains_key(status) {
        return;
    }
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build();
    let response = ResponseBuilder::new().description(description).content("application/json", content).build();
    op.responses.responses.insert(status.to_string(), response.into());
}
