use super::*;
use axum::extract::State;
use axum::http::HeaderMap;
use itscam_types::analytics::AlertSource;
use itscam_types::config::Severity;
use std::sync::Mutex;

#[test]
fn signature_matches_openssl() {
    // Known answer from an independent implementation:
    // printf '%s' '1767225600000.{"event":"alert"}' | openssl dgst -sha256 -hmac 's3cret'
    assert_eq!(
        signature(b"s3cret", 1_767_225_600_000, br#"{"event":"alert"}"#),
        "sha256=bb3be45e5a30e26cbf8a81debff0d08b03bae99b6ab8ea6b50db4693eaee934b"
    );
}

#[test]
fn backoff_doubles_with_jitter_in_the_upper_half_and_is_capped() {
    let mut config = WebhookConfig::new("http://127.0.0.1:1/");
    config.backoff_ms = 400;
    config.max_backoff_ms = 3_000;
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..200 {
        let mut ms = |retry| backoff_delay(&config, retry, &mut rng).as_millis() as u64;
        assert!((200..=400).contains(&ms(1)));
        assert!((400..=800).contains(&ms(2)));
        assert!((800..=1_600).contains(&ms(3)));
        assert!((1_500..=3_000).contains(&ms(4)), "capped before the jitter");
        assert!((1_500..=3_000).contains(&ms(30)), "capped at max_backoff_ms");
    }
}

fn alert(id: &str, severity: Severity) -> Alert {
    Alert {
        alert_id: id.into(),
        source: AlertSource::Violation,
        source_id: id.into(),
        kind: "speeding".into(),
        rule_id: Some("r1".into()),
        severity,
        camera_id: "cam-1".into(),
        track_id: Some(4),
        place: Some("approach".into()),
        ts_start_ms: 1_000,
        ts_ms: 2_000,
        value: 71.0,
        limit_value: Some(50.0),
        message: "speeding".into(),
        emitted_at_ms: 5,
        evidence: Vec::new(),
    }
}

/// A receiver answering with the statuses in `script` (then 200), reporting each request.
#[derive(Clone)]
struct Receiver {
    script: Arc<Mutex<Vec<u16>>>,
    seen: mpsc::UnboundedSender<(HeaderMap, Bytes)>,
    gate: Arc<tokio::sync::Semaphore>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let _ = r.seen.send((headers, body));
    let _permit = r.gate.acquire().await.expect("gate open");
    let code = { r.script.lock().unwrap().pop().unwrap_or(200) };
    StatusCode::from_u16(code).unwrap()
}

/// Starts a receiver; `script` is consumed from its end. `gate` holds answers until it has permits.
async fn receiver(mut script: Vec<u16>, permits: usize) -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>, Arc<tokio::sync::Semaphore>) {
    script.reverse();
    let (seen, rx) = mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Semaphore::new(permits));
    let state = Receiver { script: Arc::new(Mutex::new(script)), seen, gate: gate.clone() };
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    (url, rx, gate)
}

fn fast(url: &str) -> WebhookConfig {
    let mut c = WebhookConfig::new(url);
    c.backoff_ms = 5;
    c.max_backoff_ms = 20;
    c.timeout_ms = 5_000;
    c
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_the_next_alert_goes_through() {
    let (url, mut seen, _gate) = receiver(vec![400], 1_000).await;
    let outlet = WebhookOutlet::start(&fast(&url), &tokio::runtime::Handle::current()).unwrap();
    outlet.publish(&alert("a1", Severity::High), AlertStream::Raised);
    outlet.publish(&alert("a2", Severity::High), AlertStream::Raised);
    outlet.flush().await;
    assert_eq!(outlet.stats(), WebhookStats { delivered: 1, retries: 0, failed: 1, dropped: 0 });
    let (h1, _) = seen.recv().await.unwrap();
    let (h2, body) = seen.recv().await.unwrap();
    assert_eq!((h1[DELIVERY_HEADER].to_str().unwrap(), h2[DELIVERY_HEADER].to_str().unwrap()), ("a1/alert", "a2/alert"));
    assert!(!h1.contains_key(SIGNATURE_HEADER), "no secret, no signature");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((json["event"].as_str(), json["alert"]["alert_id"].as_str()), (Some("alert"), Some("a2")));
}

#[tokio::test]
async fn streams_and_min_severity_select_what_is_sent() {
    let (url, mut seen, _gate) = receiver(vec![], 1_000).await;
    let mut config = fast(&url);
    config.streams = vec![WebhookStream::Escalation];
    config.min_severity = Severity::High;
    let outlet = WebhookOutlet::start(&config, &tokio::runtime::Handle::current()).unwrap();
    outlet.publish(&alert("raised", Severity::Critical), AlertStream::Raised);
    outlet.publish(&alert("medium", Severity::Medium), AlertStream::Escalation);
    outlet.publish(&alert("wanted", Severity::High), AlertStream::Escalation);
    outlet.flush().await;
    assert_eq!(outlet.stats().delivered, 1);
    let (headers, _) = seen.recv().await.unwrap();
    assert_eq!(headers[DELIVERY_HEADER], "wanted/escalation");
    assert_eq!(headers[EVENT_HEADER], "escalation");
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_new_alerts() {
    // The receiver holds its answers until the gate opens: the first alert is in flight, the
    // second waits in the queue (size 1), the third finds it full.
    let (url, mut seen, gate) = receiver(vec![], 0).await;
    let mut config = fast(&url);
    config.queue = 1;
    let outlet = WebhookOutlet::start(&config, &tokio::runtime::Handle::current()).unwrap();
    outlet.publish(&alert("a1", Severity::Low), AlertStream::Raised);
    let (first, _) = seen.recv().await.unwrap();
    assert_eq!(first[DELIVERY_HEADER], "a1/alert");
    outlet.publish(&alert("a2", Severity::Low), AlertStream::Raised);
    outlet.publish(&alert("a3", Severity::Low), AlertStream::Raised);
    assert_eq!(outlet.stats().dropped, 1);
    gate.add_permits(10);
    outlet.flush().await;
    assert_eq!(outlet.stats(), WebhookStats { delivered: 2, retries: 0, failed: 0, dropped: 1 });
    let (second, _) = seen.recv().await.unwrap();
    assert_eq!(second[DELIVERY_HEADER], "a2/alert");
}

#[tokio::test]
async fn an_unreachable_receiver_is_given_up_after_the_retries() {
    // A port that was just free: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = fast(&format!("http://127.0.0.1:{port}/hook"));
    config.max_retries = 2;
    let outlet = WebhookOutlet::start(&config, &tokio::runtime::Handle::current()).unwrap();
    outlet.publish(&alert("a1", Severity::Low), AlertStream::Raised);
    outlet.flush().await;
    assert_eq!(outlet.stats(), WebhookStats { delivered: 0, retries: 2, failed: 1, dropped: 0 });
}

#[test]
fn bad_urls_and_missing_secrets_are_refused_at_start() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = WebhookOutlet::start(&WebhookConfig::new("ftp://x/"), rt.handle()).unwrap_err();
    assert!(err.to_string().contains("must be http://"), "{err}");
    let mut c = WebhookConfig::new("http://127.0.0.1:9/");
    c.secret_env = Some("ITSCAM_TEST_SURELY_UNSET_SECRET".into());
    let err = WebhookOutlet::start(&c, rt.handle()).unwrap_err();
    assert!(err.to_string().contains("ITSCAM_TEST_SURELY_UNSET_SECRET is not set"), "{err}");
}
