//! Evidence objects in the lake: pictures of violations, committed through the commit log as
//! ordinary [`FileEntry`](crate::FileEntry)s of the pseudo-table [`EVIDENCE_TABLE`] (`rows` 0),
//! at `evidence/camera_id=<camera>/date=<YYYY-MM-DD>/<ts_start_ms>-<key>/<name>`: `date` is
//! the UTC date of `ts_start_ms` (the violation's start, ms since the epoch), so retention
//! (`[lake.retention] evidence_days`) and erasure (`itscam lake forget`) find them by path.
//! `evidence` is not a [`Table`](crate::Table): no SQL reads it and compaction never touches it.

use itscam_types::time::utc_date;

/// The table name evidence entries carry in the commit log, and their top directory.
pub const EVIDENCE_TABLE: &str = "evidence";

/// One evidence object's path, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidencePath<'a> {
    /// The camera (`camera_id=` directory).
    pub camera_id: &'a str,
    /// The `date=` directory (`YYYY-MM-DD`).
    pub date: &'a str,
    /// The violation's start, ms since the epoch (before the first `-` of the folder).
    pub ts_start_ms: u64,
    /// The rest of the folder name (the violation's key).
    pub key: &'a str,
    /// The file name (`snapshot.jpg`, `clip.mjpeg`, `trajectory.png`).
    pub name: &'a str,
}

/// The path, relative to the lake root, of evidence object `name` of the violation `key` of
/// `camera_id` that started at `ts_start_ms`.
pub fn evidence_path(camera_id: &str, ts_start_ms: u64, key: &str, name: &str) -> String {
    format!("{EVIDENCE_TABLE}/camera_id={camera_id}/date={}/{ts_start_ms}-{key}/{name}", utc_date(ts_start_ms))
}

/// Parses a path relative to the lake root made by [`evidence_path`]; `None` when it is not
/// one (another table's file, a malformed name).
pub fn parse_evidence_path(path: &str) -> Option<EvidencePath<'_>> {
    let rest = path.strip_prefix(EVIDENCE_TABLE)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let camera_id = parts.next()?.strip_prefix("camera_id=").filter(|c| !c.is_empty())?;
    let date = parts.next()?.strip_prefix("date=")?;
    let (ts, key) = parts.next()?.split_once('-')?;
    let name = parts.next().filter(|n| !n.is_empty())?;
    if parts.next().is_some() || date.len() != 10 || ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) || key.is_empty() {
        return None;
    }
    Some(EvidencePath { camera_id, date, ts_start_ms: ts.parse().ok()?, key, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_paths_round_trip_and_others_are_refused() {
        let p = evidence_path("cam-1", 1_767_225_612_345, "speeding-cam-1.7.1767225612345", "snapshot.jpg");
        assert_eq!(p, "evidence/camera_id=cam-1/date=2026-01-01/1767225612345-speeding-cam-1.7.1767225612345/snapshot.jpg");
        let parsed = parse_evidence_path(&p).unwrap();
        assert_eq!(
            parsed,
            EvidencePath { camera_id: "cam-1", date: "2026-01-01", ts_start_ms: 1_767_225_612_345, key: "speeding-cam-1.7.1767225612345", name: "snapshot.jpg" }
        );
        for bad in [
            "detections/date=2026-01-01/part-1.parquet",
            "evidence/camera_id=cam-1/date=2026-01-01/snapshot.jpg",
            "evidence/camera_id=cam-1/date=2026-01-01/x1-k/snapshot.jpg",
            "evidence/camera_id=cam-1/date=2026-01-01/1-k/a/b.jpg",
            "evidence/date=2026-01-01/1-k/snapshot.jpg",
        ] {
            assert_eq!(parse_evidence_path(bad), None, "{bad}");
        }
    }
}
