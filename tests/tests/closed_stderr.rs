//! Misuse reports never panic, even when nobody reads stderr any more
//! (docs/semantics.md, Promises 10 and 17).
//!
//! Rust ignores `SIGPIPE`, so a write to a pipe whose reader has gone fails
//! with `EPIPE`, and `eprintln!` panics on that failure. A report made while
//! unwinding would then abort the process. Each test runs its scenario in a
//! child process (this test binary again) whose stderr pipe the parent has
//! already closed, and checks that the child exits normally.

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use correlated::{Context, CorrelationId};

const CHILD: &str = "CORRELATED_TESTS_CLOSED_STDERR_CHILD";

fn id(text: &str) -> CorrelationId {
    CorrelationId::parse(text).unwrap()
}

/// In the child: whether this run is the child of `test`.
fn is_child_of(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|name| name == test)
}

/// In the child: returns once writing to stderr fails, that is once the
/// parent has closed the pipe's reading end. Bounded, like the parent's wait.
fn wait_until_stderr_is_closed() {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::io::stderr().write_all(b".").is_ok() {
        assert!(Instant::now() < deadline, "stderr was never closed");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In the parent: runs `test` in a child process with stderr closed and
/// asserts that it exited normally (no panic, no abort).
fn assert_child_survives_closed_stderr(test: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closing the only reading end makes every later write to it fail.
    drop(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        status.success(),
        "reporting misuse with stderr closed must not panic or abort: {status:?}"
    );
}

/// Runs `scenario` in a child process whose stderr is closed, and checks
/// from the parent that the child exited normally.
fn with_stderr_closed(test: &str, scenario: impl FnOnce()) {
    if is_child_of(test) {
        wait_until_stderr_is_closed();
        scenario();
    } else {
        assert_child_survives_closed_stderr(test);
    }
}

#[test]
fn a_guard_dropped_outside_its_context_with_stderr_closed_does_not_panic() {
    const TEST: &str = "a_guard_dropped_outside_its_context_with_stderr_closed_does_not_panic";
    with_stderr_closed(TEST, || {
        let escaped = Context::new().run(|| correlated::scope(id("escaped")));
        drop(escaped);
        assert_eq!(correlated::current(), None);
    });
}

#[test]
fn a_guard_dropped_outside_its_context_while_unwinding_with_stderr_closed_does_not_abort() {
    const TEST: &str =
        "a_guard_dropped_outside_its_context_while_unwinding_with_stderr_closed_does_not_abort";
    with_stderr_closed(TEST, || {
        let escaped = Context::new().run(|| correlated::scope(id("escaped")));
        let unwound = catch_unwind(AssertUnwindSafe(move || {
            let _guard = escaped;
            panic!("the body failed");
        }));
        assert!(unwound.is_err());
        assert_eq!(correlated::current(), None);
    });
}

#[test]
fn reading_past_a_leaked_root_set_with_stderr_closed_does_not_panic() {
    const TEST: &str = "reading_past_a_leaked_root_set_with_stderr_closed_does_not_panic";
    with_stderr_closed(TEST, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let seen = runtime.block_on(async {
            // One task leaks a set at the thread's root; the next one reads.
            tokio::spawn(async { drop(correlated::set(id("leaked"))) })
                .await
                .unwrap();
            tokio::spawn(async { correlated::current() }).await.unwrap()
        });
        assert_eq!(seen, None, "the leaked value is hidden from the other task");
    });
}
