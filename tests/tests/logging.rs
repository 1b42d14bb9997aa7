//! docs/users-guide.md, "Logs: tracing and log": with the documented setup,
//! every event emitted inside a scope carries `correlation_id` (and declared
//! user slots), `-` when unset, in text and JSON; a field the caller sets is
//! kept.
//!
//! Each tracing test builds its own subscriber and attaches it to the futures
//! it runs (`WithSubscriber`) or to the thread (`with_default`), so tests never
//! share output. `log` has a single global logger per process: it is installed
//! once, and each test reads only the records of its own target.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use correlated::tracing::CorrelatedFormat;
use correlated::{Correlate, CorrelationId};
use serde_json::Value;
use tracing::Dispatch;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

correlated::slot! {
    /// A user slot, as a service would declare it.
    static USER_ID: String;
}

// --- Capturing subscribers -------------------------------------------------

/// Tests run one at a time: tracing caches each callsite's interest when it
/// is first hit and rebuilds the cache whenever a dispatcher comes or goes,
/// so a test racing another on either could lose the events it checks.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An in-memory log file: every `write` appends (the fmt layer writes each
/// event with one `write_all`, so lines never interleave).
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).expect("log output is UTF-8");
        text.lines().map(str::to_owned).collect()
    }

    /// Every line parsed as one JSON object.
    fn objects(&self) -> Vec<serde_json::Map<String, Value>> {
        self.lines()
            .iter()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(object)) => object,
                other => panic!("not a JSON object: {line}\n({other:?})"),
            })
            .collect()
    }
}

impl io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = Output;

    fn make_writer(&'a self) -> Output {
        self.clone()
    }
}

/// The documented text setup (the fmt layer, its formatter wrapped last),
/// with the user slot and without the parts that vary between runs.
fn text_subscriber(output: &Output) -> Dispatch {
    let layer = tracing_subscriber::fmt::layer()
        .without_time()
        .with_target(false)
        .with_ansi(false)
        .with_thread_names(true)
        .with_writer(output.clone())
        .map_event_format(|format| CorrelatedFormat::text(format).with_slot(&USER_ID));
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The documented JSON setup: `json_layer()` plus the user slot.
fn json_subscriber(output: &Output) -> Dispatch {
    let layer = correlated::tracing::json_layer()
        .with_writer(output.clone())
        .map_event_format(|format| format.with_slot(&USER_ID));
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// Every value of `key` in a text line, in order (`key=value` tokens).
fn text_values<'a>(line: &'a str, key: &str) -> Vec<&'a str> {
    line.split_whitespace()
        .filter_map(|token| token.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The single value of `key` in a text line.
fn text_value<'a>(line: &'a str, key: &str) -> &'a str {
    match text_values(line, key)[..] {
        [value] => value,
        ref values => panic!("expected one `{key}` in {line:?}, found {values:?}"),
    }
}

fn string<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string `{key}` in {object:?}"))
}

fn id(value: &str) -> CorrelationId {
    CorrelationId::parse(value).expect("a valid ID")
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("worker")
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `count` tasks at once on a multi-thread runtime, task `n` under the
/// correlation ID `{prefix}-{n}` and, if given, with `dispatch` as its
/// subscriber, and waits for all of them.
fn run_correlated<T, F>(count: usize, prefix: &str, dispatch: Option<&Dispatch>, task: T)
where
    T: Fn(usize) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    multi_thread_runtime().block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|n| {
                let task = task(n).correlated(id(&format!("{prefix}-{n}")));
                match dispatch {
                    Some(dispatch) => tokio::spawn(task.with_subscriber(dispatch.clone())),
                    None => tokio::spawn(task),
                }
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// A request as a service would write it: logs, awaits, logs again.
async fn request(n: usize, steps: usize) {
    tracing::info!(n, step = 0, "received");
    for step in 1..=steps {
        if (n + step).is_multiple_of(3) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
        tracing::info!(n, step, "resumed");
    }
}

// --- tracing: text -----------------------------------------------------------

#[test]
fn text_every_line_carries_the_id_across_awaits_on_a_multi_thread_runtime() {
    let _serial = serial();
    let output = Output::default();
    let dispatch = text_subscriber(&output);
    run_correlated(8, "req", Some(&dispatch), |n| request(n, 5));

    let lines = output.lines();
    assert_eq!(lines.len(), 8 * 6, "{lines:#?}");
    for line in &lines {
        let n = text_value(line, "n");
        assert_eq!(
            text_value(line, "correlation_id"),
            format!("req-{n}"),
            "{line}"
        );
        assert_eq!(text_value(line, "user_id"), "-", "{line}");
    }
}

#[test]
fn text_the_id_follows_a_future_that_moves_to_another_thread() {
    let _serial = serial();
    let output = Output::default();
    let dispatch = text_subscriber(&output);
    let mut task = Box::pin(
        async {
            tracing::info!("first poll");
            tokio::task::yield_now().await;
            tracing::info!("second poll");
        }
        .correlated(id("moved-1"))
        .with_subscriber(dispatch.clone()),
    );
    // First poll here, on the test's thread...
    assert!(futures::FutureExt::now_or_never(task.as_mut()).is_none());
    // ...the rest on another thread.
    std::thread::Builder::new()
        .name("other".into())
        .spawn(move || futures::executor::block_on(task))
        .unwrap()
        .join()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || tracing::info!("after"));

    let lines = output.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("correlation_id=moved-1 user_id=- "));
    assert!(lines[0].ends_with("first poll"), "{}", lines[0]);
    assert!(lines[1].starts_with("correlation_id=moved-1 user_id=- "));
    // The fmt layer writes the thread's name (padded) before the message.
    assert!(lines[1].contains(" other second poll"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("correlation_id=- user_id=- "),
        "{}",
        lines[2]
    );
}

#[test]
fn text_outside_any_scope_the_fields_are_a_dash() {
    let _serial = serial();
    let output = Output::default();
    tracing::dispatcher::with_default(&text_subscriber(&output), || {
        tracing::warn!("no request");
    });
    let lines = output.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(text_value(&lines[0], "correlation_id"), "-");
    assert_eq!(text_value(&lines[0], "user_id"), "-");
    assert!(lines[0].ends_with("no request"), "{}", lines[0]);
}

#[test]
fn text_a_registered_user_slot_appears() {
    let _serial = serial();
    let output = Output::default();
    let task = async {
        tracing::info!("anonymous");
        let _user = USER_ID.scope("alice".into());
        tokio::task::yield_now().await;
        tracing::info!("authenticated");
    };
    tokio::runtime::Runtime::new().unwrap().block_on(
        task.correlated(id("req-1"))
            .with_subscriber(text_subscriber(&output)),
    );

    let lines = output.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(text_values(&lines[0], "user_id"), ["-"]);
    assert_eq!(text_values(&lines[1], "user_id"), ["alice"]);
    assert_eq!(text_values(&lines[1], "correlation_id"), ["req-1"]);
}

#[test]
fn text_a_callers_correlation_id_is_kept() {
    let _serial = serial();
    let output = Output::default();
    tracing::dispatcher::with_default(&text_subscriber(&output), || {
        let _id = correlated::scope(id("req-1"));
        tracing::info!(correlation_id = %"legacy-42", "forwarded");
    });
    let lines = output.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(text_values(&lines[0], "correlation_id"), ["legacy-42"]);
    assert!(!lines[0].contains("req-1"), "{}", lines[0]);
}

#[test]
fn text_spawned_tasks_see_the_id_only_when_it_is_carried() {
    let _serial = serial();
    let output = Output::default();
    let dispatch = text_subscriber(&output);
    multi_thread_runtime().block_on(
        async {
            correlated::spawn(
                async { tracing::info!(kind = "carried", "child") }.with_current_subscriber(),
            )
            .await
            .unwrap();
            tokio::spawn(
                async { tracing::info!(kind = "plain", "child") }.with_current_subscriber(),
            )
            .await
            .unwrap();
        }
        .correlated(id("parent-1"))
        .with_subscriber(dispatch),
    );
    let lines = output.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for line in &lines {
        let expected = match text_value(line, "kind") {
            r#""carried""# => "parent-1",
            r#""plain""# => "-",
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(text_value(line, "correlation_id"), expected, "{line}");
    }
}

// --- tracing: JSON -----------------------------------------------------------

#[test]
fn json_every_line_parses_and_carries_the_id_across_awaits() {
    let _serial = serial();
    let output = Output::default();
    let dispatch = json_subscriber(&output);
    run_correlated(8, "req", Some(&dispatch), |n| request(n, 5));

    let objects = output.objects();
    assert_eq!(objects.len(), 8 * 6);
    for object in &objects {
        let n = object["n"]
            .as_u64()
            .expect("the event's own field, flattened");
        assert_eq!(string(object, "correlation_id"), format!("req-{n}"));
        assert_eq!(string(object, "user_id"), "-");
        assert_eq!(string(object, "level"), "INFO");
    }
}

#[test]
fn json_outside_any_scope_the_fields_are_a_dash() {
    let _serial = serial();
    let output = Output::default();
    tracing::dispatcher::with_default(&json_subscriber(&output), || {
        tracing::error!("no request");
    });
    let objects = output.objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(string(&objects[0], "correlation_id"), "-");
    assert_eq!(string(&objects[0], "user_id"), "-");
    assert_eq!(string(&objects[0], "message"), "no request");
}

#[test]
fn json_a_registered_user_slot_appears() {
    let _serial = serial();
    let output = Output::default();
    tracing::dispatcher::with_default(&json_subscriber(&output), || {
        let _id = correlated::scope(id("req-1"));
        let _user = USER_ID.scope("alice".into());
        tracing::info!("authenticated");
    });
    let objects = output.objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(string(&objects[0], "user_id"), "alice");
    assert_eq!(string(&objects[0], "correlation_id"), "req-1");
}

#[test]
fn json_a_callers_correlation_id_is_kept_and_not_duplicated() {
    let _serial = serial();
    let output = Output::default();
    tracing::dispatcher::with_default(&json_subscriber(&output), || {
        let _id = correlated::scope(id("req-1"));
        tracing::info!(correlation_id = "legacy-42", "forwarded");
    });
    let lines = output.lines();
    assert_eq!(lines.len(), 1);
    // A parser keeps one of two duplicate keys silently: count them raw.
    assert_eq!(
        lines[0].matches("\"correlation_id\"").count(),
        1,
        "{}",
        lines[0]
    );
    assert_eq!(string(&output.objects()[0], "correlation_id"), "legacy-42");
}

#[test]
fn json_escapes_an_id_with_a_quote_and_a_backslash() {
    let _serial = serial();
    let tricky = id(r#"a"b\c"#);
    let output = Output::default();
    tracing::dispatcher::with_default(&json_subscriber(&output), || {
        let _id = correlated::scope(tricky.clone());
        let _user = USER_ID.scope("line\nbreak \"quoted\" \\ \u{1b}[31m tab\t".into());
        tracing::info!("tricky");
    });
    let lines = output.lines();
    assert_eq!(
        lines.len(),
        1,
        "a value must not break the line: {lines:#?}"
    );
    assert!(
        lines[0].contains(r#""correlation_id":"a\"b\\c""#),
        "{}",
        lines[0]
    );
    let objects = output.objects();
    assert_eq!(string(&objects[0], "correlation_id"), tricky.as_str());
    assert_eq!(
        string(&objects[0], "user_id"),
        "line\nbreak \"quoted\" \\ \u{1b}[31m tab\t"
    );
}

#[test]
fn json_with_nested_fields_puts_the_id_at_the_top_level() {
    let _serial = serial();
    let output = Output::default();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(output.clone())
        .map_event_format(CorrelatedFormat::json);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _id = correlated::scope(id("req-1"));
        tracing::info!(order = 7, "nested");
        tracing::info!(correlation_id = "legacy-42", "explicit");
    });
    let objects = output.objects();
    assert_eq!(objects.len(), 2);
    assert_eq!(string(&objects[0], "correlation_id"), "req-1");
    assert_eq!(objects[0]["fields"]["order"], 7);
    // The caller's field stays where the formatter puts event fields, and
    // no second, different ID is added next to it.
    assert_eq!(objects[1]["fields"]["correlation_id"], "legacy-42");
    assert!(
        !objects[1].contains_key("correlation_id"),
        "{:?}",
        objects[1]
    );
}

#[test]
fn json_concurrent_tasks_each_log_only_their_own_id() {
    let _serial = serial();
    const TASKS: usize = 200;
    const STEPS: usize = 4;
    let output = Output::default();
    let dispatch = json_subscriber(&output);
    run_correlated(TASKS, "task", Some(&dispatch), |n| async move {
        let _user = USER_ID.scope(format!("user-{n}"));
        request(n, STEPS).await;
    });

    let mut per_task = BTreeMap::<u64, usize>::new();
    for object in output.objects() {
        let n = object["n"].as_u64().unwrap();
        assert_eq!(string(&object, "correlation_id"), format!("task-{n}"));
        assert_eq!(string(&object, "user_id"), format!("user-{n}"));
        *per_task.entry(n).or_default() += 1;
    }
    assert_eq!(per_task.len(), TASKS);
    assert!(
        per_task.values().all(|&lines| lines == STEPS + 1),
        "{per_task:?}"
    );
}

// --- log ---------------------------------------------------------------------

/// One record as the inner logger received it.
#[derive(Clone, Debug)]
struct Record {
    target: String,
    message: String,
    key_values: Vec<(String, String)>,
}

impl Record {
    fn values(&self, key: &str) -> Vec<&str> {
        self.key_values
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn value(&self, key: &str) -> &str {
        match self.values(key)[..] {
            [value] => value,
            ref values => panic!("expected one `{key}` in {self:?}, found {values:?}"),
        }
    }
}

/// The inner logger: keeps every record it is given.
struct Capture(Mutex<Vec<Record>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        struct Pairs(Vec<(String, String)>);
        impl<'kvs> log::kv::VisitSource<'kvs> for Pairs {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push((key.to_string(), value.to_string()));
                Ok(())
            }
        }
        let mut pairs = Pairs(Vec::new());
        record.key_values().visit(&mut pairs).unwrap();
        self.0.lock().unwrap().push(Record {
            target: record.target().to_owned(),
            message: record.args().to_string(),
            key_values: pairs.0,
        });
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// The records logged with `target`, installing the global logger on first
/// use.
fn log_records(target: &str) -> Vec<Record> {
    install_logger();
    let records = CAPTURE.0.lock().unwrap();
    records
        .iter()
        .filter(|record| record.target == target)
        .cloned()
        .collect()
}

fn install_logger() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        correlated::log::CorrelatedLogger::new(&CAPTURE)
            .with_slot(&USER_ID)
            .init(log::LevelFilter::Trace)
            .expect("the only logger of this test binary");
    });
}

#[test]
fn log_records_carry_the_id_across_awaits_and_threads() {
    let _serial = serial();
    const TARGET: &str = "log_across_awaits";
    install_logger();
    run_correlated(8, "req", None, |n| async move {
        log::info!(target: TARGET, n; "received");
        for _ in 0..3 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            log::info!(target: TARGET, n; "resumed");
        }
    });

    let records = log_records(TARGET);
    assert_eq!(records.len(), 8 * 4);
    for record in &records {
        let n = record.value("n");
        assert_eq!(
            record.value("correlation_id"),
            format!("req-{n}"),
            "{record:?}"
        );
        assert_eq!(record.value("user_id"), "-");
    }
}

#[test]
fn log_outside_any_scope_the_fields_are_a_dash() {
    let _serial = serial();
    const TARGET: &str = "log_outside";
    install_logger();
    log::warn!(target: TARGET, "no request");
    let records = log_records(TARGET);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].message, "no request");
    assert_eq!(records[0].value("correlation_id"), "-");
    assert_eq!(records[0].value("user_id"), "-");
}

#[test]
fn log_a_registered_user_slot_appears() {
    let _serial = serial();
    const TARGET: &str = "log_user_slot";
    install_logger();
    {
        let _id = correlated::scope(id("req-1"));
        let _user = USER_ID.scope("alice".into());
        log::info!(target: TARGET, "authenticated");
    }
    let records = log_records(TARGET);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].key_values,
        [
            ("correlation_id".to_owned(), "req-1".to_owned()),
            ("user_id".to_owned(), "alice".to_owned()),
        ]
    );
}

#[test]
fn log_a_callers_correlation_id_is_kept_and_not_duplicated() {
    let _serial = serial();
    const TARGET: &str = "log_explicit";
    install_logger();
    {
        let _id = correlated::scope(id("req-1"));
        log::info!(target: TARGET, correlation_id = "legacy-42"; "forwarded");
    }
    let records = log_records(TARGET);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].values("correlation_id"), ["legacy-42"]);
    assert_eq!(records[0].value("user_id"), "-");
}

#[test]
fn log_concurrent_tasks_each_carry_only_their_own_id() {
    let _serial = serial();
    const TARGET: &str = "log_concurrent";
    const TASKS: usize = 200;
    install_logger();
    run_correlated(TASKS, "task", None, |n| async move {
        for _ in 0..3 {
            log::info!(target: TARGET, n; "step");
            tokio::task::yield_now().await;
        }
    });

    let records = log_records(TARGET);
    assert_eq!(records.len(), TASKS * 3);
    for record in &records {
        let n = record.value("n");
        assert_eq!(
            record.value("correlation_id"),
            format!("task-{n}"),
            "{record:?}"
        );
    }
}
