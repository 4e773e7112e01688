//! The OpenAPI document's frame: what the handlers' own `#[utoipa::path]` entries do not say —
//! the title, the security schemes, and the answers every protected operation may give
//! (401, 403, 429 from authentication and rate limiting).

use super::ErrorBody;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

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
        (name = "auth", description = "Sessions: login, refresh, logout, the caller, a second factor"),
        (name = "users", description = "Users and API keys (admins)"),
        (name = "dashboard", description = "The web dashboard's page and files (public: they hold no data)"),
    ),
    components(schemas(ErrorBody))
)]
pub(super) struct Frame;

/// Adds the security schemes (`bearer`: a JWT; `api_key`: header `X-API-Key`), requires one of
/// them on every operation but the public ones of the permission table
/// ([`super::permissions::PERMISSIONS`]), and lists the answers of authentication and rate
/// limiting on those.
pub(super) fn secure(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
    components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    let either = vec![SecurityRequirement::new("bearer", Vec::<String>::new()), SecurityRequirement::new("api_key", Vec::<String>::new())];
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            let public = super::permissions::access(method, path) == Some(super::permissions::Access::Public);
            let needs = match super::permissions::access(method, path) {
                Some(super::permissions::Access::Least(role)) => format!("Needs the role `{role}` or above (README \"Security\")."),
                _ => "Public: no credentials needed.".to_string(),
            };
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{needs}"),
                _ => needs,
            });
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

/// The operations of `item`, with their methods.
pub(crate) fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("PATCH", &mut item.patch),
        ("HEAD", &mut item.head),
        ("OPTIONS", &mut item.options),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
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
