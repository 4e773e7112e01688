//! Pictures over HTTP: a video camera's newest frame (`GET /api/v1/cameras/{id}/frame`) and a
//! violation's evidence (`GET /api/v1/alerts/{id}/evidence`, the index, and
//! `GET /api/v1/alerts/{id}/evidence/{name}`, one object or one frame of the clip). Every
//! picture has people pixelated as the camera's privacy asks (they are stored that way).
//! Camera scopes apply: a caller who does not see the camera gets 404, as for an unknown id.

use super::{ApiError, AppState, ErrorBody, ErrorKind};
use crate::alerts::{AlertFilter, HubError};
use crate::auth::Identity;
use crate::evidence::build::{Manifest, Trajectory};
use crate::evidence::paths::{CLIP, MANIFEST, SNAPSHOT, TRAJECTORY, content_type};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use object_store::ObjectStoreExt;
use serde::Serialize;
use utoipa::ToSchema;

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message)
}

fn picture(bytes: Bytes, content_type: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// `GET /api/v1/cameras/{id}/frame`: the camera's newest kept frame as JPEG, its tracked
/// objects boxed with id and speed, its lines and zones drawn, people pixelated.
#[utoipa::path(get, path = "/cameras/{id}/frame", tag = "cameras", params(("id" = String, Path, description = "The camera's id")), responses(
    (status = 200, description = "The newest frame (header `X-Frame-Ts-Ms`: its event time)", content_type = "image/jpeg", body = Vec<u8>),
    (status = 404, description = "`not_found`: no such camera, no picture yet, a detection-only camera, or `[evidence] enabled = false`", body = ErrorBody),
))]
pub(super) async fn frame(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let Some(view) = state.live.evidence.clone().filter(|_| me.sees(&id)) else {
        return Err(not_found(format!("no picture of camera {id:?}: only video cameras of a running pipeline with [evidence] enabled have one")));
    };
    let ts = view.frame_ts(&id);
    let camera = id.clone();
    let jpeg = tokio::task::spawn_blocking(move || view.frame_jpeg(&camera)).await.ok().flatten();
    let jpeg = jpeg.ok_or_else(|| not_found(format!("no picture of camera {id:?} (yet): detection-only cameras have none, video cameras once a frame is kept")))?;
    let mut response = picture(Bytes::from(jpeg), "image/jpeg");
    if let Some(ts) = ts.and_then(|t| HeaderValue::from_str(&t.to_string()).ok()) {
        response.headers_mut().insert("x-frame-ts-ms", ts);
    }
    Ok(response)
}

/// One object of a violation's evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceItem {
    /// `snapshot.jpg`, `clip-000.jpg` … (one per clip frame), `clip.mjpeg`, `trajectory.png`
    /// (drawn from `evidence.json`'s trajectory), `evidence.json`.
    pub name: String,
    /// `snapshot`, `clip` (one frame), `clip_stream` (the whole clip), `trajectory`.
    pub kind: String,
    /// Its media type.
    pub content_type: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Where to get it.
    pub url: String,
}

/// The evidence of an alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceIndex {
    /// The alert.
    pub alert_id: String,
    /// Its violation.
    pub violation_id: String,
    /// The objects, relative to the lake root.
    pub objects: Vec<String>,
    /// What can be fetched.
    pub items: Vec<EvidenceItem>,
    /// `evidence.json`: the violation, and the event time and frame number of the snapshot
    /// and of each clip frame.
    #[schema(value_type = Object)]
    pub manifest: Option<serde_json::Value>,
}

/// The lake objects of violation `id` (`rule:camera:track:start`) that may exist.
fn candidates(id: &str) -> Option<(String, Vec<String>)> {
    let mut parts = id.split(':');
    let (rule, camera, track, start) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || track.parse::<u64>().is_err() {
        return None;
    }
    let start: u64 = start.parse().ok()?;
    let key = format!("{rule}-{track}");
    let objects = [SNAPSHOT, CLIP, TRAJECTORY, MANIFEST].iter().map(|n| itscam_sinks::evidence_path(camera, start, &key, n)).collect();
    Some((camera.to_string(), objects))
}

/// The alert `id` as the caller may see it: its camera (404 when unknown or out of scope).
async fn alert_camera(state: &AppState, me: &Identity, id: &str) -> Result<String, ApiError> {
    match &state.live.alerts {
        Some(hub) => Ok(super::alerts::seen(hub, me, id).await?.alert.camera_id),
        None => {
            let filter = AlertFilter { limit: 1, scope: me.cameras.clone(), ..AlertFilter::default() };
            let row = super::alerts::lake_alerts(&state.engine, &filter, Some(id)).await?.into_iter().next();
            Ok(row.ok_or_else(|| ApiError::from(HubError::NotFound { id: id.to_string(), hint: Some("not in the alerts table".into()) }))?.camera_id)
        }
    }
}

/// Reads the evidence object at `path` (relative to the lake root); `None` when absent.
async fn read(state: &AppState, path: &str) -> Result<Option<Bytes>, ApiError> {
    let lake = state.registry.lake();
    let location = lake.path_of(path);
    match lake.store().get(&location).await {
        Ok(r) => r.bytes().await.map(Some).map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, ErrorKind::Execution, format!("reading {path}: {e}"))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, ErrorKind::Execution, format!("reading {path}: {e}"))),
    }
}

/// The JPEG pictures of a Motion-JPEG clip (each from its SOI marker to its EOI marker).
pub fn clip_frames(clip: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..clip.len().saturating_sub(3) {
        if clip[i..i + 4] == [0xFF, 0xD9, 0xFF, 0xD8] {
            out.push(&clip[start..i + 2]);
            start = i + 2;
        }
    }
    if clip.len() > start + 4 {
        out.push(&clip[start..]);
    }
    out
}

/// `GET /api/v1/alerts/{id}/evidence`: what the violation's evidence holds.
#[utoipa::path(get, path = "/alerts/{id}/evidence", tag = "alerts", params(("id" = String, Path, description = "The alert's id")), responses(
    (status = 200, description = "The evidence", body = EvidenceIndex),
    (status = 404, description = "`not_found`: no such alert, an anomaly (no evidence), or no evidence (yet: it is committed a few seconds after the confirmation)", body = ErrorBody),
))]
pub(super) async fn index(State(state): State<AppState>, Extension(me): Extension<Identity>, Path(id): Path<String>) -> Result<Json<EvidenceIndex>, ApiError> {
    alert_camera(&state, &me, &id).await?;
    let (_, candidates) = candidates(&id).ok_or_else(|| not_found(format!("alert {id:?} is not a violation's: anomalies have no evidence")))?;
    let base = format!("{}/alerts/{id}/evidence", super::API_V1);
    let (mut objects, mut items, mut manifest, mut stored_trajectory) = (Vec::new(), Vec::new(), None, false);
    for path in candidates {
        let Some(bytes) = read(&state, &path).await? else { continue };
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        let item = |name: String, kind: &str, size: usize| EvidenceItem { url: format!("{base}/{name}"), content_type: content_type(&name).into(), name, kind: kind.into(), bytes: size as u64 };
        match name.as_str() {
            CLIP => {
                for (i, f) in clip_frames(&bytes).iter().enumerate() {
                    items.push(item(format!("clip-{i:03}.jpg"), "clip", f.len()));
                }
                items.push(item(name, "clip_stream", bytes.len()));
            }
            SNAPSHOT => items.push(item(name, "snapshot", bytes.len())),
            MANIFEST => {
                manifest = serde_json::from_slice(&bytes).ok();
                items.push(item(name, "manifest", bytes.len()));
            }
            _ => {
                stored_trajectory = true;
                items.push(item(name, "trajectory", bytes.len()));
            }
        }
        objects.push(path);
    }
    if objects.is_empty() {
        return Err(not_found(format!("no evidence of alert {id:?} (yet: it is committed a few seconds after the confirmation; none when [evidence] is off)")));
    }
    // A detection-only camera's trajectory is data in the manifest, drawn when asked.
    let drawable = manifest.as_ref().and_then(|m: &serde_json::Value| serde_json::from_value::<Manifest>(m.clone()).ok()).filter(|m| m.trajectory.is_some());
    if !stored_trajectory
        && let Some(m) = drawable
    {
        let png = drawn(m).await?;
        items.push(EvidenceItem { url: format!("{base}/{TRAJECTORY}"), content_type: content_type(TRAJECTORY).into(), name: TRAJECTORY.into(), kind: "trajectory".into(), bytes: png.len() as u64 });
    }
    Ok(Json(EvidenceIndex { alert_id: id.clone(), violation_id: id, objects, items, manifest }))
}

/// `GET /api/v1/alerts/{id}/evidence/{name}`: one object (`snapshot.jpg`, `clip.mjpeg`,
/// `evidence.json`), one frame of the clip (`clip-007.jpg`), or a detection-only camera's
/// `trajectory.png`, drawn from `evidence.json`.
#[utoipa::path(get, path = "/alerts/{id}/evidence/{name}", tag = "alerts", params(
    ("id" = String, Path, description = "The alert's id"),
    ("name" = String, Path, description = "`snapshot.jpg`, `clip.mjpeg`, `clip-NNN.jpg`, `trajectory.png` or `evidence.json`"),
), responses(
    (status = 200, description = "The object", content(
        (Vec<u8> = "image/jpeg"),
        (Vec<u8> = "image/png"),
        (Vec<u8> = "video/x-motion-jpeg"),
        (Object = "application/json"),
    )),
    (status = 404, description = "`not_found`", body = ErrorBody),
))]
pub(super) async fn item(State(state): State<AppState>, Extension(me): Extension<Identity>, Path((id, name)): Path<(String, String)>) -> Result<Response, ApiError> {
    alert_camera(&state, &me, &id).await?;
    let (_, candidates) = candidates(&id).ok_or_else(|| not_found(format!("alert {id:?} is not a violation's: anomalies have no evidence")))?;
    let frame: Option<usize> = name.strip_prefix("clip-").and_then(|n| n.strip_suffix(".jpg")).and_then(|n| n.parse().ok());
    let wanted = if frame.is_some() { CLIP } else { name.as_str() };
    let object = |wanted: &str| candidates.iter().find(|p| p.rsplit('/').next() == Some(wanted)).cloned();
    let path = object(wanted).ok_or_else(|| not_found(format!("no evidence object {name:?}")))?;
    let absent = || not_found(format!("no evidence object {name:?} of alert {id:?} (yet)"));
    let bytes = match read(&state, &path).await? {
        Some(bytes) => bytes,
        // Drawn from the manifest's trajectory.
        None if name == TRAJECTORY => {
            let manifest = match object(MANIFEST) {
                Some(p) => read(&state, &p).await?,
                None => None,
            };
            let manifest: Manifest = manifest.and_then(|m| serde_json::from_slice(&m).ok()).ok_or_else(absent)?;
            if manifest.trajectory.is_none() {
                return Err(absent());
            }
            drawn(manifest).await?
        }
        None => return Err(absent()),
    };
    match frame {
        Some(i) => {
            let frames = clip_frames(&bytes);
            let one = frames.get(i).ok_or_else(|| not_found(format!("the clip has {} frames", frames.len())))?;
            Ok(picture(bytes.slice_ref(one), "image/jpeg"))
        }
        None => Ok(picture(bytes, content_type(&name))),
    }
}

/// The trajectory plot of `manifest` (off the async workers), as a PNG.
async fn drawn(manifest: Manifest) -> Result<Bytes, ApiError> {
    let coded = tokio::task::spawn_blocking(move || Trajectory::png(&manifest)).await;
    match coded {
        Ok(Some(Ok(png))) => Ok(Bytes::from(png)),
        Ok(None) => Err(not_found("this violation's evidence has no trajectory")),
        Ok(Some(Err(e))) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Execution, format!("drawing the trajectory: {e}"))),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Execution, format!("drawing the trajectory: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_ids_name_their_objects_and_clips_split_into_pictures() {
        let (camera, objects) = candidates("speeding-1:cam-1:7:1767225612345").unwrap();
        assert_eq!(camera, "cam-1");
        assert_eq!(objects[0], "evidence/camera_id=cam-1/date=2026-01-01/1767225612345-speeding-1-7/snapshot.jpg");
        assert!(candidates("count_collapse:cam-1:1767225612345").is_none());
        assert!(candidates("a:b:c:d").is_none());
        let pictures = [vec![0xFF, 0xD8, 1, 2, 0xFF, 0xD9], vec![0xFF, 0xD8, 3, 0xFF, 0xD9]];
        let clip: Vec<u8> = pictures.concat();
        assert_eq!(clip_frames(&clip), vec![&pictures[0][..], &pictures[1][..]]);
        assert!(clip_frames(&[]).is_empty());
    }
}
