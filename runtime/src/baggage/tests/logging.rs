//! The debug logs of refusals: at debug level, never with the value.

use std::sync::{Arc, Mutex};

use ::tracing::field::{Field, Visit};
use ::tracing::span::{Attributes, Id, Record};
use ::tracing::{Event, Metadata, Subscriber};

use std::fmt;

use ::http::HeaderMap;

use super::super::*;
use super::headers;
use crate::id::CorrelationId;

/// Records every event as `level message fields`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn logged<T>(run: impl FnOnce() -> T) -> (T, Vec<String>) {
    let capture = Capture::default();
    let result = ::tracing::subscriber::with_default(capture.clone(), run);
    let lines = capture.0.lock().unwrap().clone();
    (result, lines)
}

#[test]
fn a_refused_header_is_logged_at_debug_without_its_content() {
    let _serial = crate::tracing_test_lock();
    let map = headers(&["correlation_id=secret-id,,"]);
    let (id, lines) = logged(|| extract(&map));
    assert_eq!(id, None);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("DEBUG "), "{}", lines[0]);
    assert!(
        lines[0].contains("ignored the incoming baggage"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("member 1 is empty"), "{}", lines[0]);
    assert!(!lines[0].contains("secret"), "{}", lines[0]);
}

#[test]
fn a_refused_member_is_logged_at_debug_without_its_value() {
    let _serial = crate::tracing_test_lock();
    let map = headers(&["correlation_id=secret%20id"]);
    let (id, lines) = logged(|| extract(&map));
    assert_eq!(id, None);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("DEBUG "), "{}", lines[0]);
    assert!(lines[0].contains("not visible ASCII"), "{}", lines[0]);
    assert!(!lines[0].contains("secret"), "{}", lines[0]);
}

#[test]
fn a_member_not_added_is_logged_unless_the_caller_set_it() {
    let _serial = crate::tracing_test_lock();
    let _guard = crate::scope(CorrelationId::parse("req-1").unwrap());
    let mut map = headers(&["secret=1,,"]);
    let (added, lines) = logged(|| inject(&mut map));
    assert!(!added);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("DEBUG "), "{}", lines[0]);
    assert!(lines[0].contains("did not add"), "{}", lines[0]);
    assert!(!lines[0].contains("secret"), "{}", lines[0]);

    let mut map = headers(&["correlation_id=mine"]);
    let (added, lines) = logged(|| inject(&mut map));
    assert!(!added);
    assert_eq!(lines, Vec::<String>::new());
}

#[test]
fn valid_and_absent_headers_log_nothing() {
    let _serial = crate::tracing_test_lock();
    for map in [HeaderMap::new(), headers(&["a=1,correlation_id=req-1"])] {
        let (_, lines) = logged(|| extract(&map));
        assert_eq!(lines, Vec::<String>::new());
    }
}
