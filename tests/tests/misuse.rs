//! docs/semantics.md, promises 17 and 18: misuse is loud, never wrong. A bare
//! `set` at the root of a tokio task, whose value outlives the poll, is
//! reported and hidden from the next task on the thread (17). Scoped uses are
//! legitimate and never reported (18). A guard dropped outside its context is
//! reported too (10).
//!
//! Reports are counted process-wide by `__private::misuse_reports()`, so every
//! test here takes `serial()` first and compares the count before and after.

use std::sync::{Mutex, MutexGuard};
use std::thread;

use correlated::{__private, Context, Correlate, CorrelationId};

mod support;
use support::{current_text, id};

correlated::slot! {
    static TENANT: u32;
}

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reports() -> usize {
    __private::misuse_reports()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Everything another task could read; all of it must be empty.
async fn bystander() -> (Option<String>, Option<u32>, Option<CorrelationId>) {
    (
        current_text(),
        TENANT.get(),
        Context::current().correlation_id().cloned(),
    )
}

#[test]
fn bare_set_at_the_root_of_a_task_that_outlives_an_await_is_reported_and_hidden() {
    let _serial = serial();
    let before = reports();
    let (own_view, other_view) = current_thread().block_on(async {
        // Both tasks share the runtime's one thread.
        let leaker = tokio::spawn(async {
            let token = correlated::set(id("leaked"));
            tokio::task::yield_now().await;
            let own_view = current_text();
            correlated::reset(token).unwrap();
            own_view
        });
        let other = tokio::spawn(bystander());
        (leaker.await.unwrap(), other.await.unwrap())
    });
    assert_eq!(
        other_view,
        (None, None, None),
        "the value leaked to another task"
    );
    assert_eq!(
        own_view.as_deref(),
        Some("leaked"),
        "the setter still sees its value"
    );
    assert!(reports() > before, "the leak was not reported");
}

#[test]
fn bare_user_slot_set_at_the_root_of_a_task_is_reported_and_hidden() {
    let _serial = serial();
    let before = reports();
    let other_view = current_thread().block_on(async {
        let leaker = tokio::spawn(async {
            // Set and forget: the token is dropped, the value stays on the
            // thread after the task ends.
            drop(TENANT.set(13));
        });
        leaker.await.unwrap();
        tokio::spawn(bystander()).await.unwrap()
    });
    assert_eq!(other_view, (None, None, None));
    assert!(reports() > before, "the leak was not reported");
}

#[test]
fn guard_dropped_before_the_next_await_in_a_plain_task_is_not_reported() {
    let _serial = serial();
    let before = reports();
    let (inside, leaks) = current_thread().block_on(async {
        let scoped = tokio::spawn(async {
            let mut inside = Vec::new();
            for n in 0..10 {
                {
                    let _id = correlated::scope(id(&format!("scoped-{n}")));
                    let _tenant = TENANT.scope(n);
                    inside.push((current_text(), TENANT.get()));
                }
                let token = correlated::set(id("reset-before-await"));
                correlated::reset(token).unwrap();
                tokio::task::yield_now().await;
            }
            inside
        });
        let watcher = tokio::spawn(async {
            let mut leaks = 0;
            for _ in 0..10 {
                leaks += usize::from(bystander().await != (None, None, None));
                tokio::task::yield_now().await;
            }
            leaks
        });
        (scoped.await.unwrap(), watcher.await.unwrap())
    });
    for (n, seen) in inside.iter().enumerate() {
        assert_eq!(seen, &(Some(format!("scoped-{n}")), Some(n as u32)));
    }
    assert_eq!(leaks, 0);
    assert_eq!(reports(), before, "a scoped use was reported");
}

#[test]
fn scoped_uses_in_many_plain_tasks_on_a_multi_thread_runtime_are_not_reported() {
    let _serial = serial();
    let before = reports();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let wrong = runtime.block_on(async {
        let tasks: Vec<_> = (0..200u32)
            .map(|n| {
                tokio::spawn(async move {
                    let mut wrong = 0;
                    for step in 0..5 {
                        wrong += usize::from(bystander().await != (None, None, None));
                        {
                            let _tenant = TENANT.scope(n * 10 + step);
                            wrong += usize::from(TENANT.get() != Some(n * 10 + step));
                        }
                        tokio::task::yield_now().await;
                    }
                    wrong
                })
            })
            .collect();
        let mut wrong = 0;
        for task in tasks {
            wrong += task.await.unwrap();
        }
        wrong
    });
    assert_eq!(wrong, 0);
    assert_eq!(reports(), before, "a scoped use was reported");
}

#[test]
fn context_run_and_correlated_sync_functions_inside_a_plain_task_are_not_reported() {
    let _serial = serial();
    let before = reports();

    #[correlated::correlated]
    fn correlated_sync_fn() -> Option<String> {
        drop(correlated::set(id("forgotten-inside")));
        current_text()
    }

    let (inside, leaks) = current_thread().block_on(async {
        let task = tokio::spawn(async {
            let mut inside = Vec::new();
            for n in 0..5 {
                inside.push(
                    Context::new()
                        .with_correlation_id(id(&format!("run-{n}")))
                        .run(|| {
                            drop(TENANT.set(n));
                            (current_text(), TENANT.get())
                        }),
                );
                inside.push((correlated_sync_fn(), None));
                tokio::task::yield_now().await;
            }
            inside
        });
        let watcher = tokio::spawn(async {
            let mut leaks = 0;
            for _ in 0..5 {
                leaks += usize::from(bystander().await != (None, None, None));
                tokio::task::yield_now().await;
            }
            leaks
        });
        (task.await.unwrap(), watcher.await.unwrap())
    });
    assert_eq!(inside.len(), 10);
    for (n, pair) in inside.chunks(2).enumerate() {
        assert_eq!(pair[0], (Some(format!("run-{n}")), Some(n as u32)));
        assert_eq!(pair[1], (Some("forgotten-inside".to_owned()), None));
    }
    assert_eq!(leaks, 0);
    assert_eq!(reports(), before, "a scoped use was reported");
}

#[test]
fn sets_on_plain_threads_and_in_tests_are_not_reported() {
    let _serial = serial();
    let before = reports();

    // In the test's own thread: set, forget, scope, reset.
    drop(correlated::set(id("test-thread")));
    let token = TENANT.set(1);
    {
        let _scope = correlated::scope(id("scoped"));
        assert_eq!(current_text().as_deref(), Some("scoped"));
    }
    assert_eq!(current_text().as_deref(), Some("test-thread"));
    TENANT.reset(token).unwrap();

    // On a plain thread, like `main`, then a runtime on that same thread.
    let (main_body, spawned) = thread::spawn(|| {
        let _main = correlated::scope(id("main"));
        current_thread().block_on(async {
            tokio::task::yield_now().await;
            let main_body = current_text();
            let spawned = tokio::spawn(bystander()).await.unwrap();
            (main_body, spawned)
        })
    })
    .join()
    .unwrap();
    assert_eq!(
        main_body.as_deref(),
        Some("main"),
        "the block_on body is main's code"
    );
    assert_eq!(
        spawned,
        (None, None, None),
        "a plain task is not correlated"
    );
    assert_eq!(reports(), before, "a plain thread's set was reported");
}

#[test]
fn scope_held_across_awaits_in_the_block_on_body_is_not_reported() {
    let _serial = serial();
    let before = reports();
    let (body, spawned) = current_thread().block_on(async {
        let _request = correlated::scope(id("main-body"));
        let mut body = Vec::new();
        let mut spawned = Vec::new();
        for _ in 0..3 {
            tokio::task::yield_now().await;
            body.push(current_text());
            spawned.push(tokio::spawn(bystander()).await.unwrap());
        }
        (body, spawned)
    });
    assert!(body.iter().all(|id| id.as_deref() == Some("main-body")));
    assert!(spawned.iter().all(|seen| seen == &(None, None, None)));
    assert_eq!(reports(), before);
}

#[test]
fn correlated_tasks_that_set_and_forget_are_not_reported() {
    let _serial = serial();
    let before = reports();
    let seen = current_thread().block_on(async {
        let task = tokio::spawn(
            async {
                drop(correlated::set(id("forgotten")));
                tokio::task::yield_now().await;
                current_text()
            }
            .correlated(id("task")),
        );
        let other = tokio::spawn(bystander());
        (task.await.unwrap(), other.await.unwrap())
    });
    assert_eq!(seen, (Some("forgotten".to_owned()), (None, None, None)));
    assert_eq!(reports(), before);
}

#[test]
fn guard_dropped_outside_its_context_is_reported_and_changes_nothing() {
    let _serial = serial();
    let before = reports();
    let escaped = Context::new().run(|| correlated::scope(id("escaped")));
    let _outer = correlated::scope(id("outer"));
    drop(escaped);
    assert_eq!(current_text().as_deref(), Some("outer"));
    assert!(reports() > before, "the misplaced guard was not reported");
}

#[test]
fn leak_report_names_the_slot_and_says_how_to_fix_it() {
    const CHILD: &str = "CORRELATE_TESTS_LEAK_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // In the child process: provoke one leak, which prints its report.
        current_thread().block_on(async {
            tokio::spawn(async { drop(correlated::set(id("leaked"))) })
                .await
                .unwrap();
            tokio::spawn(bystander()).await.unwrap();
        });
        return;
    }
    let _serial = serial();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "leak_report_names_the_slot_and_says_how_to_fix_it",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if cfg!(debug_assertions) {
        assert!(
            stderr.contains("CORRELATION_ID"),
            "names the slot: {stderr}"
        );
        assert!(stderr.contains("Fix"), "says how to fix it: {stderr}");
        // Who set it and who ran into it: two different tasks.
        let task_after = |prefix: &str| {
            let rest = &stderr[stderr.find(prefix)? + prefix.len()..];
            let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
            (!digits.is_empty()).then(|| digits.to_owned())
        };
        let setter = task_after("at the root of tokio task ");
        let viewer = task_after("when tokio task ");
        assert!(setter.is_some(), "names the task that set it: {stderr}");
        assert!(
            viewer.is_some(),
            "names the task that ran into it: {stderr}"
        );
        assert_ne!(setter, viewer, "{stderr}");
    } else {
        assert!(
            !stderr.contains("CORRELATION_ID"),
            "silent in release builds: {stderr}"
        );
    }
}
