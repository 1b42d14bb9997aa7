//! Not a timing benchmark: runs one operation N times so that callgrind can
//! count its instructions, which stay put on a noisy machine.
//!
//! ```sh
//! CARGO_PROFILE_BENCH_DEBUG=true cargo bench -p correlated --all-features \
//!     --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> OP N
//! ```
//!
//! Instructions per operation: run with two values of N and divide the
//! difference in total `Ir` by the difference in N (setup cancels out);
//! `runtime/benches/instructions.sh` does this for every OP. Without an OP
//! (as under `cargo bench`) it lists the operations and exits.

#[allow(dead_code)]
mod support;

use std::hint::black_box;

use correlated::{Context, CorrelationId};

use support::*;

type Op = fn(&Fixture);

struct Fixture {
    id: CorrelationId,
    context: Context,
    otel: opentelemetry::Context,
    #[cfg(feature = "tower")]
    http: http_stacks::Stacks,
    #[cfg(feature = "actix-web")]
    actix: actix_apps::Apps,
}

#[cfg(feature = "tower")]
const HTTP_OPS: &[(&str, Op)] = &[
    ("http_incoming_no_layer", |f| (f.http.bare)()),
    ("http_incoming_correlate", |f| (f.http.correlated)()),
    ("http_incoming_tower_http", |f| (f.http.tower_http)()),
];
#[cfg(not(feature = "tower"))]
const HTTP_OPS: &[(&str, Op)] = &[];

#[cfg(feature = "actix-web")]
const ACTIX_OPS: &[(&str, Op)] = &[
    ("actix_incoming_no_middleware", |f| (f.actix.bare)()),
    ("actix_incoming_correlated", |f| (f.actix.correlated)()),
    ("actix_incoming_identifier", |f| (f.actix.identifier)()),
];
#[cfg(not(feature = "actix-web"))]
const ACTIX_OPS: &[(&str, Op)] = &[];

const OPS: &[(&str, Op)] = &[
    ("sync_unannotated", |_| {
        black_box(sync_plain(black_box(7)));
    }),
    ("sync_correlated_id", |f| {
        black_box(sync_correlated_id(f.id.clone(), black_box(7)));
    }),
    ("sync_correlated_inherit", |f| {
        f.context.run(|| black_box(sync_correlated(black_box(7))));
    }),
    ("sync_context_run", |f| {
        black_box(f.context.run(|| sync_plain(black_box(7))));
    }),
    ("sync_set_reset", |f| {
        black_box(sync_set_reset(f.id.clone(), black_box(7)));
    }),
    ("read_current_root_scope_guard", |f| {
        let _guard = correlated::scope(f.id.clone());
        for _ in 0..10 {
            black_box(correlated::current());
        }
    }),
    ("read_with_current_root_scope_guard", |f| {
        let _guard = correlated::scope(f.id.clone());
        for _ in 0..10 {
            correlated::with_current(|id| black_box(id).is_some());
        }
    }),
    ("sync_scope_guard", |f| {
        black_box(sync_scope_guard(f.id.clone(), black_box(7)));
    }),
    ("sync_task_local", |f| {
        black_box(sync_task_local(f.id.clone(), black_box(7)));
    }),
    ("sync_otel_attach", |f| {
        black_box(sync_otel_attach(&f.otel, black_box(7)));
    }),
    ("async0_unannotated", |_| {
        black_box(drive(async_plain(black_box(7), 0)));
    }),
    ("async10_unannotated", |_| {
        black_box(drive(async_plain(black_box(7), 10)));
    }),
    ("async0_correlated_id", |f| {
        black_box(drive(async_correlated_id(f.id.clone(), black_box(7), 0)));
    }),
    ("async10_correlated_id", |f| {
        black_box(drive(async_correlated_id(f.id.clone(), black_box(7), 10)));
    }),
    ("async0_context_wrap", |f| {
        black_box(drive(f.context.wrap(async_plain(black_box(7), 0))));
    }),
    ("async10_context_wrap", |f| {
        black_box(drive(f.context.wrap(async_plain(black_box(7), 10))));
    }),
    ("async0_task_local", |f| {
        black_box(drive(
            TASK_ID.scope(f.id.clone(), async_plain(black_box(7), 0)),
        ));
    }),
    ("async10_task_local", |f| {
        black_box(drive(
            TASK_ID.scope(f.id.clone(), async_plain(black_box(7), 10)),
        ));
    }),
    ("read_current_in_context", |f| {
        f.context.run(|| {
            for _ in 0..10 {
                black_box(correlated::current());
            }
        });
    }),
    ("read_with_current_in_context", |f| {
        f.context.run(|| {
            for _ in 0..10 {
                correlated::with_current(|id| black_box(id).is_some());
            }
        });
    }),
    ("read_task_local_try_with", |f| {
        TASK_ID.sync_scope(f.id.clone(), || {
            for _ in 0..10 {
                black_box(TASK_ID.try_with(|id| black_box(Some(id)).is_some()).ok());
            }
        });
    }),
    ("read_current_outside_context", |_| {
        for _ in 0..10 {
            black_box(correlated::current());
        }
    }),
    ("read_task_local_try_with_clone", |f| {
        TASK_ID.sync_scope(f.id.clone(), || {
            for _ in 0..10 {
                black_box(TASK_ID.try_with(CorrelationId::clone).ok());
            }
        });
    }),
    ("clone_id", |f| {
        black_box(black_box(&f.id).clone());
    }),
    ("parse", |_| {
        black_box(CorrelationId::parse(black_box(
            "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f",
        )))
        .ok();
    }),
    ("generate", |_| {
        black_box(CorrelationId::generate());
    }),
    ("uuid_now_v7_encode", |_| {
        let mut buffer = [0; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
        black_box(buffer);
    }),
];

/// The stacks of `http.rs`'s `http_incoming_id` group, each behind a boxed
/// closure that serves one request with an incoming ID from a trusted peer
/// and drops the response, so one fixture holds them all (each pays the same
/// box and dynamic call).
#[cfg(feature = "tower")]
mod http_stacks {
    use std::cell::RefCell;

    use correlated::CorrelationId;
    use http::HeaderValue;
    use tower_http::request_id::MakeRequestUuid;

    use super::support::http::{Stack, bare, correlated, request, serve, tower_http};

    type Serve = Box<dyn Fn()>;

    pub(crate) struct Stacks {
        pub bare: Serve,
        pub correlated: Serve,
        pub tower_http: Serve,
    }

    fn serving(stack: impl Stack, incoming: &HeaderValue) -> Serve {
        let (stack, incoming) = (RefCell::new(stack), incoming.clone());
        Box::new(move || {
            let response = serve(&mut *stack.borrow_mut(), request(Some(&incoming)));
            drop(std::hint::black_box(response));
        })
    }

    impl Stacks {
        pub(crate) fn new() -> Self {
            let incoming = HeaderValue::from(&CorrelationId::generate());
            Self {
                bare: serving(bare(), &incoming),
                correlated: serving(correlated(), &incoming),
                tower_http: serving(tower_http(MakeRequestUuid), &incoming),
            }
        }
    }
}

/// The apps of `actix.rs`'s `actix_incoming_id` group, each behind a boxed
/// closure that serves one request with an incoming ID from a trusted peer.
#[cfg(feature = "actix-web")]
mod actix_apps {
    use actix_web::http::header::HeaderValue;
    use correlated::CorrelationId;

    use super::support::actix::{ActixApp, bare, correlated, identifier, request, serve};

    type Serve = Box<dyn Fn()>;

    pub(crate) struct Apps {
        pub bare: Serve,
        pub correlated: Serve,
        pub identifier: Serve,
    }

    fn serving(app: impl ActixApp + 'static, incoming: &HeaderValue) -> Serve {
        let incoming = incoming.clone();
        Box::new(move || serve(&app, request(Some(&incoming))))
    }

    impl Apps {
        pub(crate) fn new() -> Self {
            let incoming = HeaderValue::from_str(CorrelationId::generate().as_str()).unwrap();
            Self {
                bare: serving(bare(), &incoming),
                correlated: serving(correlated(), &incoming),
                identifier: serving(identifier(), &incoming),
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let all = || OPS.iter().chain(HTTP_OPS).chain(ACTIX_OPS);
    let Some(&(_, run)) = all().find(|(name, _)| *name == op) else {
        // `cargo bench` passes `--bench`: nothing to measure here.
        let names: Vec<_> = all().map(|(name, _)| *name).collect();
        println!("instructions: OP N, with OP one of {}", names.join(" "));
        return;
    };
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let id = CorrelationId::generate();
    let fixture = Fixture {
        context: Context::new().with_correlation_id(id.clone()),
        otel: otel_context(&id),
        #[cfg(feature = "tower")]
        http: http_stacks::Stacks::new(),
        #[cfg(feature = "actix-web")]
        actix: actix_apps::Apps::new(),
        id,
    };
    // One untimed call: first use of each thread-local (lazy destructor
    // registration, RNG seeding) belongs to setup, not to the operation.
    run(&fixture);
    for _ in 0..n {
        run(&fixture);
    }
}
