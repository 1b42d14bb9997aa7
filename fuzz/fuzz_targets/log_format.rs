//! The log formatters (text and JSON) over arbitrary IDs and slot values:
//! every event is exactly one line, and its `correlation_id` field reads
//! back as the ID (`-` when none is set); in JSON the slot value reads back
//! exactly.
#![no_main]

use std::cell::RefCell;
use std::io;

use correlated::CorrelationId;
use correlated::tracing::CorrelatedFormat;
use libfuzzer_sys::fuzz_target;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

correlated::slot! {
    static USER_ID: String;
}

thread_local! {
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes into this thread's `OUTPUT`.
struct Capture;

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        OUTPUT.with(|output| output.borrow_mut().extend_from_slice(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn text() -> Dispatch {
    let layer = tracing_subscriber::fmt::layer()
        .without_time()
        .with_ansi(false)
        .with_writer(|| Capture)
        .map_event_format(|format| CorrelatedFormat::text(format).with_slot(&USER_ID));
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

fn json() -> Dispatch {
    let layer = correlated::tracing::json_layer()
        .with_writer(|| Capture)
        .map_event_format(|format| format.with_slot(&USER_ID));
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The one line `dispatch` writes for one event.
fn one_line(dispatch: &Dispatch) -> String {
    OUTPUT.with(|output| output.borrow_mut().clear());
    tracing::dispatcher::with_default(dispatch, || tracing::info!("fuzzed"));
    let bytes = OUTPUT.with(|output| output.take());
    let line = String::from_utf8(bytes).expect("log output is UTF-8");
    let body = line.strip_suffix('\n').expect("the event ends its line");
    assert!(
        !body.contains(['\n', '\r']),
        "one event, one line: {line:?}"
    );
    body.to_owned()
}

fuzz_target!(|data: &[u8]| {
    // The first byte says where the ID ends; the rest is the slot's value.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let id = std::str::from_utf8(&rest[..split])
        .ok()
        .and_then(|text| CorrelationId::parse(text).ok());
    let user = String::from_utf8_lossy(&rest[split..]).into_owned();

    let context = match &id {
        Some(id) => correlated::Context::new().with_correlation_id(id.clone()),
        None => correlated::Context::new(),
    }
    .with_value(&USER_ID, user.clone());
    let expected = id.as_ref().map_or("-", CorrelationId::as_str);

    thread_local! {
        static DISPATCHES: (Dispatch, Dispatch) = (text(), json());
    }
    DISPATCHES.with(|(text, json)| {
        context.run(|| {
            let line = one_line(text);
            let first = line.split(' ').next().expect("a first field");
            let written = first
                .strip_prefix("correlation_id=")
                .expect("the ID comes first");
            let bare = expected.bytes().all(|b| b != b'"' && b != b'=');
            if bare {
                assert_eq!(written, expected);
            } else {
                assert_eq!(written, format!("{expected:?}"));
            }

            let line = one_line(json);
            let object: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
            assert_eq!(object["correlation_id"], expected);
            assert_eq!(object["user_id"], user.as_str());
        });
    });
});
