//! Views defined over the tables, registered with every query engine.

/// `model_comparison`: production beside a candidate on the same shadow frames, per camera,
/// class and pair of versions, over all windows in the lake — detections per frame, agreement,
/// mean confidence, p99 latency, and each version's mean track length in frames where it ran
/// live (shorter tracks: more fragmentation; `NULL` for a candidate that only ran in shadow).
pub const MODEL_COMPARISON: &str = "CREATE VIEW model_comparison AS
WITH shadow AS (
  SELECT camera_id, class, production_version, candidate_version,
         SUM(frames) AS frames,
         SUM(production_detections) AS p, SUM(candidate_detections) AS c, SUM(matched) AS m,
         SUM(production_mean_confidence * production_detections) AS pc,
         SUM(candidate_mean_confidence * candidate_detections) AS cc,
         MAX(production_latency_p99_ms) AS pl, MAX(candidate_latency_p99_ms) AS cl
  FROM model_shadow
  GROUP BY camera_id, class, production_version, candidate_version
), tracks_of AS (
  SELECT model_versions, AVG(CAST(frames AS DOUBLE)) AS mean_track_frames
  FROM tracks WHERE model_versions IS NOT NULL GROUP BY model_versions
)
SELECT s.camera_id, s.class, s.production_version, s.candidate_version, s.frames,
       CAST(s.p AS DOUBLE) / s.frames AS production_per_frame,
       CAST(s.c AS DOUBLE) / s.frames AS candidate_per_frame,
       CASE WHEN GREATEST(s.p, s.c) = 0 THEN 1.0 ELSE CAST(s.m AS DOUBLE) / GREATEST(s.p, s.c) END AS agreement,
       s.pc / NULLIF(s.p, 0) AS production_mean_confidence,
       s.cc / NULLIF(s.c, 0) AS candidate_mean_confidence,
       s.pl AS production_latency_p99_ms, s.cl AS candidate_latency_p99_ms,
       tp.mean_track_frames AS production_mean_track_frames,
       tc.mean_track_frames AS candidate_mean_track_frames
FROM shadow s
LEFT JOIN tracks_of tp ON tp.model_versions = s.production_version
LEFT JOIN tracks_of tc ON tc.model_versions = s.candidate_version";

/// `od_matrix`: origin–destination counts of a junction camera — entry approach × exit
/// approach × class per 15-minute bin of the stop-line time, from `movements` (the newest
/// revision of each track's row; tracks lost inside the junction have a NULL exit and count
/// under it). Other bins: group `movements` yourself.
pub const OD_MATRIX: &str = "CREATE VIEW od_matrix AS
WITH latest AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY camera_id, track_id ORDER BY revision DESC) AS newest
  FROM movements
)
SELECT camera_id,
       stop_line_ts_ms - stop_line_ts_ms % 900000 AS bin_start_ms,
       stop_line_ts_ms - stop_line_ts_ms % 900000 + 900000 AS bin_end_ms,
       entry_approach, exit_approach, class, COUNT(*) AS count
FROM latest
WHERE newest = 1 AND stop_line_ts_ms IS NOT NULL
GROUP BY camera_id, stop_line_ts_ms - stop_line_ts_ms % 900000, entry_approach, exit_approach, class";

/// Every view, as `CREATE VIEW` statements.
pub const VIEWS: [&str; 2] = [MODEL_COMPARISON, OD_MATRIX];
