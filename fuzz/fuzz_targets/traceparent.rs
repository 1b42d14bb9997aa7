//! `TraceParent` on arbitrary input: never a panic; an accepted header's
//! canonical form parses to the same value, and for version `00` (exactly
//! 55 bytes, lowercase hex) it is the input itself.
#![no_main]

use correlated::tower::TraceParent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(parent) = text.parse::<TraceParent>() else {
        return;
    };
    let canonical = parent.to_string();
    assert_eq!(canonical.parse::<TraceParent>().as_ref(), Ok(&parent));
    if parent.version() == 0 {
        assert_eq!(canonical, text, "version 00 is taken exactly as written");
    } else {
        assert!(
            text.starts_with(&canonical),
            "a later version keeps its first fields"
        );
    }
    assert_eq!(parent.trace_id().len(), 32);
    assert_eq!(parent.parent_id().len(), 16);
    assert!(
        parent.trace_id().bytes().any(|b| b != b'0'),
        "an all-zero trace-id is invalid"
    );
    assert!(
        parent.parent_id().bytes().any(|b| b != b'0'),
        "an all-zero parent-id is invalid"
    );
    // The trace-id is what the bridge makes the correlation ID.
    assert!(correlated::CorrelationId::parse(parent.trace_id()).is_ok());
});
