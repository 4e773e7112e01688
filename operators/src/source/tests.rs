use super::*;
use std::sync::Mutex;
use timely::dataflow::operators::core::Inspect;

fn line(cam: &str, ts: u64, frame: u64) -> String {
    format!(r#"{{"camera_id":"{cam}","ts_ms":{ts},"frame":{frame},"width":100,"height":100,"detections":[{{"class":"car","confidence":0.9,"bbox":[1,1,10,10]}}]}}"#)
}

/// Runs the source over `text` (cameras `a` and `b`) and returns frames (ts, frame) and errors.
fn run(text: &str, lateness_ms: u64) -> (Vec<(u64, u64, u64)>, Vec<ErrorRow>) {
    let dir = std::env::temp_dir().join(format!("itscam-source-{}-{}", std::process::id(), text.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.jsonl");
    std::fs::write(&path, text).unwrap();
    let frames = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (f2, e2) = (frames.clone(), errors.clone());
    timely::execute_directly(move |worker| {
        let (f3, e3) = (f2.clone(), e2.clone());
        worker.dataflow::<u64, _, _>(|scope| {
            let spec = FeedSpec {
                source: Source::DetectionsFile(path.clone()),
                cameras: vec!["a".into(), "b".into()],
                stats: Arc::new(FeedStats::default()),
                kafka: None,
                push: None,
                limits: Default::default(),
            };
            let (ok, err) = detections_source(scope, vec![spec], lateness_ms, SourceControl::default(), None, None, None);
            ok.inspect_core(move |event| {
                if let Ok((stamp, data)) = event {
                    let t = *stamp.least().expect("one time");
                    for f in data {
                        f3.lock().unwrap().push((t, f.ts_ms, f.frame));
                    }
                }
            });
            err.inspect(move |row| e3.lock().unwrap().push(row.clone()));
        });
    });
    let frames = frames.lock().unwrap().clone();
    let errors = errors.lock().unwrap().clone();
    (frames, errors)
}

#[test]
fn frames_carry_their_event_time_and_bad_lines_name_their_line() {
    let text = [
        line("a", 1000, 0),
        "{broken".to_string(),
        line("a", 1100, 1),
        String::new(),
        line("zzz", 1150, 0),
        r#"{"camera_id":"a","ts_ms":1200,"frame":2,"width":100,"height":100,"detections":[{"class":"car","confidence":1.5,"bbox":[1,1,10,10]}]}"#.to_string(),
        line("b", 1300, 0),
    ]
    .join("\n");
    let (mut frames, errors) = run(&text, 500);
    frames.sort();
    assert_eq!(frames, vec![(1000, 1000, 0), (1100, 1100, 1), (1300, 1300, 0)]);
    let mut got: Vec<(Option<u64>, String)> = errors.iter().map(|e| (e.line, e.kind.as_str().to_string())).collect();
    got.sort();
    assert_eq!(got, vec![
        (Some(2), "malformed_json".to_string()),
        (Some(5), "unknown_camera".to_string()),
        (Some(6), "invalid_detection".to_string()),
    ]);
    assert!(errors.iter().all(|e| e.source.ends_with("in.jsonl")));
}

#[test]
fn frames_behind_the_watermark_are_reported_late_and_within_it_flow() {
    let text = [line("a", 10_000, 0), line("a", 9_600, 1), line("a", 8_000, 2), line("a", 10_100, 3)].join("\n");
    let (frames, errors) = run(&text, 500);
    let mut ts: Vec<u64> = frames.iter().map(|f| f.1).collect();
    ts.sort();
    assert_eq!(ts, vec![9_600, 10_000, 10_100]);
    assert!(frames.iter().all(|f| f.0 == f.1), "each frame travels at its own ts_ms");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].kind.as_str(), errors[0].ts_ms), (Some(3), "late", Some(8_000)));
    assert!(errors[0].reason.contains("1500 ms behind"), "{}", errors[0].reason);
}

/// A file read against an outputs' frontier held by the test: the source never runs more than
/// the lead (plus one reader chunk) past it, moves on as the frontier moves, and loses nothing.
#[test]
fn a_file_feed_reads_no_further_than_the_lead_past_the_outputs_frontier() {
    const LEAD_MS: u64 = 5_000;
    const STEP_MS: u64 = 10;
    const LINES: u64 = 20_000;
    // What the last chunk taken below the limit may carry past it.
    let chunk_span = reader::CHUNK_LINES as u64 * STEP_MS;
    let dir = std::env::temp_dir().join(format!("itscam-source-lead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fast.jsonl");
    let text: Vec<String> = (0..LINES).map(|i| line("a", i * STEP_MS, i)).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    timely::execute_directly(move |worker| {
        let newest = Arc::new(Mutex::new((0u64, 0u64)));
        let seen = newest.clone();
        let probe = timely::dataflow::operators::probe::Handle::<u64>::new();
        let mut gate = worker.dataflow::<u64, _, _>(|scope| {
            let spec = FeedSpec { source: Source::DetectionsFile(path.clone()), cameras: vec!["a".into()], stats: Arc::new(FeedStats::default()), kafka: None, push: None, limits: Default::default() };
            let lead = LeadLimit { probe: probe.clone(), max_lead_ms: LEAD_MS };
            let (ok, _err) = detections_source(scope, vec![spec], 0, SourceControl::default(), None, Some(lead), None);
            use timely::dataflow::operators::vec::Input;
            use timely::dataflow::operators::{Concat, Probe};
            let (gate, held) = scope.new_input::<Frame>();
            ok.inspect(move |f| {
                let mut n = seen.lock().unwrap();
                *n = (n.0.max(f.ts_ms), n.1 + 1);
            })
            .concat(held)
            .probe_with(&probe);
            gate
        });
        for frontier in [0, 60_000, 150_000] {
            gate.advance_to(frontier);
            let limit = frontier + LEAD_MS;
            // Until the feed has read up to the limit (or to its end), the bound holds at every step.
            loop {
                let (max, _) = *newest.lock().unwrap();
                assert!(max <= limit + chunk_span, "read to {max} with the frontier at {frontier}");
                if max >= limit.min((LINES - 1) * STEP_MS) {
                    break;
                }
                worker.step();
            }
        }
        drop(gate);
        while worker.step() {}
        assert_eq!(*newest.lock().unwrap(), ((LINES - 1) * STEP_MS, LINES), "every frame came through");
    });
}
