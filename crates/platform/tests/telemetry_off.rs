//! With traces off, the process-wide subscriber builds no span: nothing would record it, and
//! every request opens several. Log lines still go out. (A test binary of its own: it installs
//! the global subscriber.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use socialdevs_platform::telemetry::{self, LogFormat, TraceSettings};
use socialdevs_testkit::logs::CapturedLogs;

#[test]
fn with_traces_off_spans_are_disabled_and_events_still_logged() {
    // Whatever the caller's RUST_LOG: errors pass this filter (the only test of this binary).
    std::env::set_var("RUST_LOG", "warn");
    let logs = CapturedLogs::default();
    let telemetry =
        telemetry::init_with_writer(LogFormat::Json, &TraceSettings::default(), logs.clone());
    assert!(!telemetry.exports_traces());

    assert!(
        !tracing::span_enabled!(tracing::Level::ERROR),
        "no layer records spans: none should be built"
    );
    let span = tracing::error_span!("unrecorded", field = 1);
    assert!(span.is_disabled());

    tracing::error!(answer = 42, "still logged");
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("still logged"))
        .unwrap_or_else(|| panic!("no log line in {text:?}"));
    let json: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(json["answer"], 42);
}
