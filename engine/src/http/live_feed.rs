//! `GET /api/v1/cameras/{id}/live`: a camera's live view as Server-Sent Events. Every
//! `interval_ms` an event `live` carries the counts per line and direction, the zone occupancy
//! and the speed distribution over the last `window_ms` of **event time**, ending at the latest
//! frame time the camera's detections reached (the data's clock, not the wall clock). Counts
//! and speeds are SQL through the API's engine (fresh tables inside the pipeline's process);
//! occupancy is the running pipeline's (`GET /api/v1/zones`). At most [`MAX_LIVE_STREAMS`]
//! streams are open at once: past that, 429 `busy`.

use super::{ApiError, AppState, ErrorBody, ErrorKind, bad_request};
use crate::auth::Identity;
use crate::format::json_rows;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use itscam_types::config::is_valid_id;
use serde::Serialize;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::{IntoParams, ToSchema};

/// Live streams open at once, all cameras and callers together.
pub const MAX_LIVE_STREAMS: usize = 32;
/// Width of a speed bin (km/h).
pub const SPEED_BIN_KMH: f64 = 10.0;
/// Speed bins; the last one also holds every faster track.
pub const SPEED_BINS: usize = 16;

static SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(MAX_LIVE_STREAMS)));

/// The query of `GET /api/v1/cameras/{id}/live`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct LiveQuery {
    /// Milliseconds between events (default 1000).
    #[param(minimum = 250, maximum = 60000)]
    interval_ms: Option<u64>,
    /// Event-time span the counts cover, ending at the camera's latest frame (default 300000).
    #[param(minimum = 1000, maximum = 86400000)]
    window_ms: Option<u64>,
}

/// The data of a `live` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    /// The camera.
    pub camera_id: String,
    /// The latest frame time of the camera's detections (`null`: none yet).
    pub ts_ms: Option<i64>,
    /// The event-time span the counts cover, ending at `ts_ms`.
    pub window_ms: u64,
    /// Line crossings per line and direction in the window.
    pub lines: Vec<LineCount>,
    /// Tracks inside each zone now (with a running pipeline; empty elsewhere).
    pub zones: Vec<ZoneNow>,
    /// Tracks in the window by their mean speed.
    pub speeds: SpeedHistogram,
}

/// Crossings of one line in one direction.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineCount {
    /// The line.
    pub line_id: String,
    /// `forward` or `backward`.
    pub direction: String,
    /// Crossings in the window.
    pub count: u64,
}

/// One zone's occupancy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneNow {
    /// The zone.
    pub zone_id: String,
    /// Tracks inside it now.
    pub occupancy: u64,
}

/// Tracks by mean speed: bin `i` holds speeds in `[i·bin_kmh, (i+1)·bin_kmh)`, the last bin
/// every faster one too.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpeedHistogram {
    /// Width of a bin (km/h).
    pub bin_kmh: f64,
    /// Tracks per bin.
    pub counts: Vec<u64>,
}

/// `(interval_ms, window_ms)` from the query string.
fn parse_query(query: Option<&str>) -> Result<(u64, u64), ApiError> {
    let (mut interval, mut window) = (1_000, 300_000);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let (slot, range) = match key.as_ref() {
            "interval_ms" => (&mut interval, 250..=60_000),
            "window_ms" => (&mut window, 1_000..=86_400_000),
            other => return Err(bad_request(format!("unknown query parameter {other:?}; known: interval_ms, window_ms"))),
        };
        *slot = value.parse().ok().filter(|v| range.contains(v)).ok_or_else(|| bad_request(format!("{key} {value:?} is not a whole number from {} to {}", range.start(), range.end())))?;
    }
    Ok((interval, window))
}

/// Whether the running pipeline is known to have no camera `id` (only `itscam serve --config`
/// lists every camera; elsewhere any id is answered, with empty counts when it has no rows).
fn unknown(state: &AppState, id: &str) -> bool {
    let Some(runtime) = &state.live.runtime_cameras else { return false };
    !runtime.cameras.control.list().iter().any(|c| c.camera.id == id)
}

/// `GET /api/v1/cameras/{id}/live?interval_ms=&window_ms=`.
#[utoipa::path(get, path = "/cameras/{id}/live", tag = "cameras", params(("id" = String, Path, description = "The camera's id"), LiveQuery), responses(
    (status = 200, description = "Server-Sent Events `live` (data: a LiveView) every `interval_ms`, the first at once; `error` (data: an ApiError) when a reading fails; a keep-alive comment every 15 s", content_type = "text/event-stream", body = LiveView),
    (status = 400, description = "`bad_request`: a query parameter, or not a camera id", body = ErrorBody),
    (status = 404, description = "`not_found`: no such camera (or one outside the caller's scope)", body = ErrorBody),
    (status = 429, description = "`busy`: as many live streams as `MAX_LIVE_STREAMS` (32) are open, with `Retry-After`", body = ErrorBody),
))]
pub(super) async fn live(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    if !is_valid_id(&id) {
        return Err(bad_request(format!("{id:?} is not a camera id ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 bytes)")));
    }
    let (interval_ms, window_ms) = parse_query(query.as_deref())?;
    if !me.sees(&id) || unknown(&state, &id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("no camera {id:?}")));
    }
    let permit = SLOTS.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::Busy, format!("{MAX_LIVE_STREAMS} live streams are open; close one or retry later")).retry_after(Duration::from_secs(5))
    })?;
    let mut ticks = tokio::time::interval(Duration::from_millis(interval_ms));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed { state, camera: id, window_ms, ticks, _permit: permit };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        feed.ticks.tick().await;
        let event = match reading(&feed.state, &feed.camera, feed.window_ms).await {
            Ok(view) => Event::default().event("live").json_data(&view).expect("a live view serializes"),
            Err(e) => Event::default().event("error").data(serde_json::json!({ "error": e.kind(), "message": e.message() }).to_string()),
        };
        Some((Ok::<_, Infallible>(event), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

/// One open stream: what it reads, its clock, and its slot (freed when the client goes).
struct Feed {
    state: AppState,
    camera: String,
    window_ms: u64,
    ticks: tokio::time::Interval,
    _permit: OwnedSemaphorePermit,
}

/// The view of `camera` now.
pub(crate) async fn reading(state: &AppState, camera: &str, window_ms: u64) -> Result<LiveView, ApiError> {
    let quoted = format!("'{}'", camera.replace('\'', "''"));
    let latest = rows(state, &format!("SELECT max(ts_ms) AS t FROM detections WHERE camera_id = {quoted}")).await?;
    let ts_ms = latest.first().and_then(|r| r["t"].as_i64());
    let zones = occupancy(state, camera);
    let Some(end) = ts_ms else {
        return Ok(LiveView { camera_id: camera.to_string(), ts_ms, window_ms, lines: Vec::new(), zones, speeds: SpeedHistogram { bin_kmh: SPEED_BIN_KMH, counts: vec![0; SPEED_BINS] } });
    };
    let within = |column: &str| format!("camera_id = {quoted} AND {column} > {} AND {column} <= {end}", end - window_ms as i64);
    let lines_sql = format!("SELECT line_id, direction, count(*) AS n FROM line_crossings WHERE {} GROUP BY line_id, direction ORDER BY line_id, direction", within("ts_ms"));
    let lines = rows(state, &lines_sql).await?.iter().map(|r| LineCount { line_id: text(&r["line_id"]), direction: text(&r["direction"]), count: r["n"].as_u64().unwrap_or(0) }).collect();
    let speeds_sql = format!(
        "SELECT CAST(floor(s / {SPEED_BIN_KMH}) AS BIGINT) AS bin, count(*) AS n FROM \
         (SELECT avg(speed_kmh) AS s FROM detections WHERE {} AND track_id IS NOT NULL AND speed_kmh IS NOT NULL GROUP BY track_id) GROUP BY 1",
        within("ts_ms")
    );
    let mut counts = vec![0u64; SPEED_BINS];
    for r in rows(state, &speeds_sql).await? {
        let bin = r["bin"].as_i64().unwrap_or(0).clamp(0, SPEED_BINS as i64 - 1) as usize;
        counts[bin] += r["n"].as_u64().unwrap_or(0);
    }
    Ok(LiveView { camera_id: camera.to_string(), ts_ms, window_ms, lines, zones, speeds: SpeedHistogram { bin_kmh: SPEED_BIN_KMH, counts } })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The running pipeline's zone occupancy of `camera` (none without a pipeline).
fn occupancy(state: &AppState, camera: &str) -> Vec<ZoneNow> {
    let Some(a) = &state.live.analytics else { return Vec::new() };
    let zones = a.zones.lock().map(|z| z.clone()).unwrap_or_default();
    zones.into_iter().filter(|((c, _), _)| c == camera).map(|((_, zone_id), n)| ZoneNow { zone_id, occupancy: u64::from(n) }).collect()
}

/// The rows of `sql` as JSON objects.
async fn rows(state: &AppState, sql: &str) -> Result<Vec<Value>, ApiError> {
    let result = state.engine.run(sql).await?;
    let text = json_rows(&result.batches).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Encode, format!("encoding a live reading failed (this is a bug): {e}")))?;
    serde_json::from_str(&text).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Encode, format!("decoding a live reading failed (this is a bug): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_bounded() {
        assert_eq!(parse_query(None).unwrap(), (1_000, 300_000));
        assert_eq!(parse_query(Some("interval_ms=250&window_ms=60000")).unwrap(), (250, 60_000));
        for bad in ["interval_ms=10", "interval_ms=x", "window_ms=0", "camera=cam-1"] {
            assert_eq!(parse_query(Some(bad)).unwrap_err().status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
