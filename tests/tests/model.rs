//! A model check of the runtime's promises 1, 3 to 11, 13 and 14 together
//! (docs/semantics.md).
//!
//! Random sequences of operations — set, reset (in and out of order, with
//! tokens of any context and either slot), dropping tokens, scope guards
//! dropped anywhere, `Context::run` scopes, entering and leaving nested
//! correlated futures, spawning and cancelling tasks — are run by a root (the
//! thread's own code) and by several correlated tasks that a hand-rolled
//! executor polls once per command, so every command crosses an `.await`.
//! Every value the code observes is compared with a small reference model:
//! per context, a stack of sets where a reset leaves a tombstone and a slot
//! shows its newest live set, else the value the context was entered with.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use correlated::{Context, Correlate, CorrelationId, ResetErrorKind, ScopeGuard, Token};
use futures::future::LocalBoxFuture;
use proptest::prelude::*;

correlated::slot! {
    static USER: u32;
}

// ---------------------------------------------------------------------------
// What the code under test does and reports.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Id,
    User,
}

/// What a piece of code sees: the correlation ID (as the number in `m<n>`)
/// and the user slot.
type View = (Option<u32>, Option<u32>);

fn id_of(value: u32) -> CorrelationId {
    CorrelationId::parse(&format!("m{value}")).unwrap()
}

fn number_of(id: &CorrelationId) -> u32 {
    id.as_str()[1..].parse().unwrap()
}

/// Reads the context every way there is; the ways must agree.
fn observe() -> View {
    let id = correlated::current().map(|id| number_of(&id));
    let with = correlated::with_current(|id| id.map(number_of));
    let snapshot = Context::current();
    assert_eq!(with, id, "with_current disagrees with current");
    assert_eq!(snapshot.correlation_id().map(number_of), id);
    let user = USER.get();
    assert_eq!(
        snapshot.get(&USER),
        user,
        "Context::current disagrees with get"
    );
    (id, user)
}

#[derive(Debug)]
enum Cmd {
    Set {
        slot: Slot,
        value: u32,
    },
    Reset {
        index: usize,
        slot: Slot,
    },
    DropToken {
        index: usize,
    },
    Scope {
        slot: Slot,
        value: u32,
    },
    DropGuard {
        index: usize,
    },
    RunScoped {
        value: u32,
        reset: Option<(usize, Slot)>,
    },
    Observe,
    Enter {
        fresh: Option<u32>,
    },
    Exit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Report {
    View(View),
    Reset(Result<(), ResetErrorKind>),
    RunScoped {
        entry: View,
        inside: View,
        reset: Option<Result<(), ResetErrorKind>>,
    },
    Dropped {
        task: usize,
        depth: usize,
        view: View,
    },
}

impl Report {
    /// Cancelled levels may be dropped in any order: compare them sorted.
    fn order(&self) -> (usize, usize) {
        match self {
            Report::Dropped { task, depth, .. } => (*task, *depth),
            _ => (usize::MAX, usize::MAX),
        }
    }
}

/// State shared by the root and the tasks: the pools of tokens and guards
/// (any actor may use any of them), the reports, and one mailbox per task.
#[derive(Default)]
struct Shared {
    tokens: RefCell<Vec<Token>>,
    guards: RefCell<Vec<ScopeGuard>>,
    reports: RefCell<Vec<Report>>,
    mailboxes: RefCell<Vec<Option<Cmd>>>,
}

impl Shared {
    fn report(&self, report: Report) {
        self.reports.borrow_mut().push(report);
    }

    fn take_reports(&self) -> Vec<Report> {
        std::mem::take(&mut self.reports.borrow_mut())
    }

    fn set(&self, slot: Slot, value: u32) -> Token {
        match slot {
            Slot::Id => correlated::set(id_of(value)),
            Slot::User => USER.set(value),
        }
    }

    /// Resets pool token `index` with `slot`; a token that fails goes back
    /// to its place.
    fn reset(&self, index: usize, slot: Slot) -> Result<(), ResetErrorKind> {
        let token = self.tokens.borrow_mut().remove(index);
        let result = match slot {
            Slot::Id => correlated::reset(token),
            Slot::User => USER.reset(token),
        };
        result.map_err(|error| {
            let kind = error.kind();
            self.tokens.borrow_mut().insert(index, error.into_token());
            kind
        })
    }

    /// Runs a command that root and tasks share.
    fn execute(&self, cmd: Cmd) {
        match cmd {
            Cmd::Set { slot, value } => {
                let token = self.set(slot, value);
                self.tokens.borrow_mut().push(token);
            }
            Cmd::Reset { index, slot } => {
                let result = self.reset(index, slot);
                self.report(Report::Reset(result));
            }
            Cmd::DropToken { index } => {
                let token = self.tokens.borrow_mut().remove(index);
                drop(token);
            }
            Cmd::Scope { slot, value } => {
                let guard = match slot {
                    Slot::Id => correlated::scope(id_of(value)),
                    Slot::User => USER.scope(value),
                };
                self.guards.borrow_mut().push(guard);
            }
            Cmd::DropGuard { index } => {
                let guard = self.guards.borrow_mut().remove(index);
                drop(guard);
            }
            Cmd::RunScoped { value, reset } => {
                let report = Context::current().run(|| {
                    let entry = observe();
                    let token = correlated::set(id_of(value));
                    let inside = observe();
                    let reset = reset.map(|(index, slot)| self.reset(index, slot));
                    // The token outlives its scope, for later misuse.
                    self.tokens.borrow_mut().push(token);
                    Report::RunScoped {
                        entry,
                        inside,
                        reset,
                    }
                });
                self.report(report);
            }
            Cmd::Observe => {}
            Cmd::Enter { .. } | Cmd::Exit => unreachable!("only tasks nest"),
        }
        self.report(Report::View(observe()));
    }
}

/// Reports what its level of a task sees when it is dropped: at the end of
/// the level, or when the task is cancelled.
struct DropProbe {
    shared: Rc<Shared>,
    task: usize,
    depth: usize,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.shared.report(Report::Dropped {
            task: self.task,
            depth: self.depth,
            view: observe(),
        });
    }
}

/// The next command for a task: pending until the executor posts one.
struct NextCmd {
    shared: Rc<Shared>,
    task: usize,
}

impl Future for NextCmd {
    type Output = Cmd;

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Cmd> {
        match self.shared.mailboxes.borrow_mut()[self.task].take() {
            Some(cmd) => Poll::Ready(cmd),
            None => Poll::Pending,
        }
    }
}

/// One level of a task: runs commands until `Exit`; `Enter` runs a nested
/// level as its own correlated future.
fn task_level(shared: Rc<Shared>, task: usize, depth: usize) -> LocalBoxFuture<'static, ()> {
    Box::pin(async move {
        let _probe = DropProbe {
            shared: shared.clone(),
            task,
            depth,
        };
        shared.report(Report::View(observe()));
        loop {
            let cmd = NextCmd {
                shared: shared.clone(),
                task,
            }
            .await;
            match cmd {
                Cmd::Exit => return,
                Cmd::Enter { fresh } => {
                    let nested = task_level(shared.clone(), task, depth + 1);
                    match fresh {
                        Some(value) => nested.correlated(id_of(value)).await,
                        None => nested.in_current_context().await,
                    }
                    shared.report(Report::View(observe()));
                }
                cmd => shared.execute(cmd),
            }
        }
    })
}

// ---------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Debug)]
struct ModelSet {
    slot: Slot,
    value: u32,
    live: bool,
}

#[derive(Clone, Debug)]
struct ModelContext {
    entered: View,
    sets: Vec<ModelSet>,
}

impl ModelContext {
    fn new(entered: View) -> Self {
        Self {
            entered,
            sets: Vec::new(),
        }
    }

    /// The newest live set of the slot, else the value at entry.
    fn value(&self, slot: Slot) -> Option<u32> {
        let newest = self
            .sets
            .iter()
            .rev()
            .find(|set| set.slot == slot && set.live);
        match newest {
            Some(set) => Some(set.value),
            None if slot == Slot::Id => self.entered.0,
            None => self.entered.1,
        }
    }

    fn view(&self) -> View {
        (self.value(Slot::Id), self.value(Slot::User))
    }
}

/// Which set a token or guard made: context and position.
#[derive(Clone, Copy, Debug)]
struct Made {
    context: usize,
    set: usize,
    slot: Slot,
}

#[derive(Default)]
struct Model {
    contexts: Vec<ModelContext>,
    /// Per task, the stack of its contexts; `None` once it ended.
    tasks: Vec<Option<Vec<usize>>>,
    tokens: Vec<Made>,
    guards: Vec<Made>,
    next_value: u32,
}

impl Model {
    fn new() -> Self {
        let mut model = Self::default();
        model.contexts.push(ModelContext::new((None, None)));
        model
    }

    fn fresh_value(&mut self) -> u32 {
        self.next_value += 1;
        self.next_value
    }

    fn enter(&mut self, entered: View) -> usize {
        self.contexts.push(ModelContext::new(entered));
        self.contexts.len() - 1
    }

    fn set(&mut self, context: usize, slot: Slot, value: u32) -> Made {
        let sets = &mut self.contexts[context].sets;
        sets.push(ModelSet {
            slot,
            value,
            live: true,
        });
        Made {
            context,
            set: sets.len() - 1,
            slot,
        }
    }

    fn reset(&mut self, context: usize, made: Made, slot: Slot) -> Result<(), ResetErrorKind> {
        if made.slot != slot {
            Err(ResetErrorKind::WrongSlot)
        } else if made.context != context {
            Err(ResetErrorKind::WrongContext)
        } else {
            self.contexts[context].sets[made.set].live = false;
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Operations, as generated.

#[derive(Clone, Debug)]
enum Op {
    Set {
        actor: u8,
        user: bool,
    },
    /// Any token, with either slot: mostly errors.
    Reset {
        actor: u8,
        token: u8,
        user: bool,
    },
    /// A token of the actor's own context, with its own slot: in and out of
    /// order.
    ResetOwn {
        actor: u8,
        token: u8,
    },
    DropToken {
        actor: u8,
        token: u8,
    },
    Scope {
        actor: u8,
        user: bool,
    },
    DropGuard {
        actor: u8,
        guard: u8,
    },
    RunScoped {
        actor: u8,
        token: u8,
        user: bool,
    },
    Enter {
        actor: u8,
        fresh: bool,
    },
    Exit {
        actor: u8,
    },
    Cancel {
        actor: u8,
    },
    Spawn {
        fresh: bool,
    },
    Observe {
        actor: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let actor = any::<u8>();
    let index = any::<u8>();
    prop_oneof![
        4 => (actor, any::<bool>()).prop_map(|(actor, user)| Op::Set { actor, user }),
        4 => (actor, index, any::<bool>())
            .prop_map(|(actor, token, user)| Op::Reset { actor, token, user }),
        4 => (actor, index).prop_map(|(actor, token)| Op::ResetOwn { actor, token }),
        1 => (actor, index).prop_map(|(actor, token)| Op::DropToken { actor, token }),
        2 => (actor, any::<bool>()).prop_map(|(actor, user)| Op::Scope { actor, user }),
        2 => (actor, index).prop_map(|(actor, guard)| Op::DropGuard { actor, guard }),
        1 => (actor, index, any::<bool>())
            .prop_map(|(actor, token, user)| Op::RunScoped { actor, token, user }),
        2 => (actor, any::<bool>()).prop_map(|(actor, fresh)| Op::Enter { actor, fresh }),
        2 => actor.prop_map(|actor| Op::Exit { actor }),
        1 => actor.prop_map(|actor| Op::Cancel { actor }),
        1 => any::<bool>().prop_map(|fresh| Op::Spawn { fresh }),
        1 => actor.prop_map(|actor| Op::Observe { actor }),
    ]
}

const MAX_TASKS: usize = 5;

// ---------------------------------------------------------------------------
// The executor that runs both side by side.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Root,
    Task(usize),
}

type TaskFuture = Pin<Box<correlated::Correlated<LocalBoxFuture<'static, ()>>>>;

struct Harness {
    shared: Rc<Shared>,
    futures: Vec<Option<TaskFuture>>,
    model: Model,
}

impl Harness {
    fn new() -> Self {
        Self {
            shared: Rc::default(),
            futures: Vec::new(),
            model: Model::new(),
        }
    }

    fn live_tasks(&self) -> Vec<usize> {
        (0..self.futures.len())
            .filter(|&task| self.futures[task].is_some())
            .collect()
    }

    fn actor(&self, pick: u8) -> Actor {
        let live = self.live_tasks();
        match usize::from(pick) % (live.len() + 1) {
            0 => Actor::Root,
            n => Actor::Task(live[n - 1]),
        }
    }

    /// The model context the actor runs in now.
    fn context_of(&self, actor: Actor) -> usize {
        match actor {
            Actor::Root => 0,
            Actor::Task(task) => *self.model.tasks[task].as_ref().unwrap().last().unwrap(),
        }
    }

    fn depth_of(&self, task: usize) -> usize {
        self.model.tasks[task].as_ref().unwrap().len() - 1
    }

    fn slot(user: bool) -> Slot {
        if user { Slot::User } else { Slot::Id }
    }

    fn spawn(&mut self, fresh: bool) {
        let task = self.futures.len();
        let root = self.model.contexts[0].view();
        let (entered, level) = if fresh {
            let value = self.model.fresh_value();
            let level = task_level(self.shared.clone(), task, 0).correlated(id_of(value));
            ((Some(value), root.1), level)
        } else {
            let level = task_level(self.shared.clone(), task, 0).in_current_context();
            (root, level)
        };
        let context = self.model.enter(entered);
        self.model.tasks.push(Some(vec![context]));
        self.shared.mailboxes.borrow_mut().push(None);
        self.futures.push(Some(Box::pin(level)));
        // Its first poll reports what it sees at the start.
        let ready = self.poll(task);
        assert!(!ready);
        self.expect(
            vec![Report::View(self.model.contexts[context].view())],
            "spawn",
        );
    }

    /// Polls one task; true when it finished.
    fn poll(&mut self, task: usize) -> bool {
        let future = self.futures[task].as_mut().unwrap();
        let ready = future
            .as_mut()
            .poll(&mut TaskContext::from_waker(Waker::noop()))
            .is_ready();
        if ready {
            self.futures[task] = None;
            self.model.tasks[task] = None;
        }
        ready
    }

    fn run(&mut self, actor: Actor, cmd: Cmd) -> bool {
        match actor {
            Actor::Root => {
                self.shared.execute(cmd);
                false
            }
            Actor::Task(task) => {
                self.shared.mailboxes.borrow_mut()[task] = Some(cmd);
                let ready = self.poll(task);
                assert!(
                    self.shared.mailboxes.borrow()[task].is_none(),
                    "task {task} did not take its command"
                );
                ready
            }
        }
    }

    fn expect(&self, expected: Vec<Report>, what: &str) {
        let reports = self.shared.take_reports();
        assert_eq!(reports, expected, "{what}");
        // Nothing of any task is visible at the root between polls.
        assert_eq!(
            observe(),
            self.model.contexts[0].view(),
            "at the root after {what}"
        );
    }

    fn step(&mut self, op: &Op) {
        let what = format!("{op:?}");
        match *op {
            Op::Set { actor, user } => {
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let value = self.model.fresh_value();
                let slot = Self::slot(user);
                let made = self.model.set(context, slot, value);
                self.model.tokens.push(made);
                self.run(actor, Cmd::Set { slot, value });
                let view = self.model.contexts[context].view();
                self.expect(vec![Report::View(view)], &what);
            }
            Op::Reset { actor, token, user } if !self.model.tokens.is_empty() => {
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let index = usize::from(token) % self.model.tokens.len();
                let slot = Self::slot(user);
                let result = self.model.reset(context, self.model.tokens[index], slot);
                if result.is_ok() {
                    self.model.tokens.remove(index);
                }
                self.run(actor, Cmd::Reset { index, slot });
                let view = self.model.contexts[context].view();
                self.expect(vec![Report::Reset(result), Report::View(view)], &what);
            }
            Op::ResetOwn { actor, token } => {
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let own: Vec<usize> = (0..self.model.tokens.len())
                    .filter(|&index| self.model.tokens[index].context == context)
                    .collect();
                if own.is_empty() {
                    return self.observe(actor, &what);
                }
                let index = own[usize::from(token) % own.len()];
                let slot = self.model.tokens[index].slot;
                let result = self.model.reset(context, self.model.tokens[index], slot);
                assert_eq!(result, Ok(()));
                self.model.tokens.remove(index);
                self.run(actor, Cmd::Reset { index, slot });
                let view = self.model.contexts[context].view();
                self.expect(vec![Report::Reset(result), Report::View(view)], &what);
            }
            Op::DropToken { actor, token } if !self.model.tokens.is_empty() => {
                // The set stays for the rest of its context, whoever drops it.
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let index = usize::from(token) % self.model.tokens.len();
                self.model.tokens.remove(index);
                self.run(actor, Cmd::DropToken { index });
                let view = self.model.contexts[context].view();
                self.expect(vec![Report::View(view)], &what);
            }
            Op::Scope { actor, user } => {
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let value = self.model.fresh_value();
                let slot = Self::slot(user);
                let made = self.model.set(context, slot, value);
                self.model.guards.push(made);
                self.run(actor, Cmd::Scope { slot, value });
                let view = self.model.contexts[context].view();
                self.expect(vec![Report::View(view)], &what);
            }
            Op::DropGuard { actor, guard } if !self.model.guards.is_empty() => {
                // A guard resets only in its own context; elsewhere nothing
                // changes.
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let index = usize::from(guard) % self.model.guards.len();
                let made = self.model.guards.remove(index);
                let _ = self.model.reset(context, made, made.slot);
                self.run(actor, Cmd::DropGuard { index });
                let view = self.model.contexts[context].view();
                self.expect(vec![Report::View(view)], &what);
            }
            Op::RunScoped { actor, token, user } => {
                let actor = self.actor(actor);
                let context = self.context_of(actor);
                let entry = self.model.contexts[context].view();
                let scoped = self.model.enter(entry);
                let value = self.model.fresh_value();
                let made = self.model.set(scoped, Slot::Id, value);
                let inside = self.model.contexts[scoped].view();
                let reset = (!self.model.tokens.is_empty()).then(|| {
                    let index = usize::from(token) % self.model.tokens.len();
                    (index, Self::slot(user))
                });
                let reset_result = reset
                    .map(|(index, slot)| self.model.reset(scoped, self.model.tokens[index], slot));
                assert!(reset_result.is_none_or(|result| result.is_err()));
                self.model.tokens.push(made);
                self.run(actor, Cmd::RunScoped { value, reset });
                let expected = vec![
                    Report::RunScoped {
                        entry,
                        inside,
                        reset: reset_result,
                    },
                    Report::View(entry),
                ];
                self.expect(expected, &what);
            }
            Op::Enter { actor, fresh } => match self.actor(actor) {
                Actor::Task(task) if self.depth_of(task) < 6 => {
                    let parent = self.model.contexts[self.context_of(Actor::Task(task))].view();
                    let (fresh, entered) = if fresh {
                        let value = self.model.fresh_value();
                        (Some(value), (Some(value), parent.1))
                    } else {
                        (None, parent)
                    };
                    let nested = self.model.enter(entered);
                    self.model.tasks[task].as_mut().unwrap().push(nested);
                    self.run(Actor::Task(task), Cmd::Enter { fresh });
                    self.expect(vec![Report::View(entered)], &what);
                }
                actor => self.observe(actor, &what),
            },
            Op::Exit { actor } => match self.actor(actor) {
                Actor::Task(task) => {
                    let depth = self.depth_of(task);
                    let stack = self.model.tasks[task].clone().unwrap();
                    let leaving = self.model.contexts[stack[depth]].view();
                    let mut expected = vec![Report::Dropped {
                        task,
                        depth,
                        view: leaving,
                    }];
                    if depth > 0 {
                        self.model.tasks[task].as_mut().unwrap().pop();
                        let parent = self.model.contexts[stack[depth - 1]].view();
                        expected.push(Report::View(parent));
                    }
                    let ready = self.run(Actor::Task(task), Cmd::Exit);
                    assert_eq!(
                        ready,
                        depth == 0,
                        "{what}: the task ends with its last level"
                    );
                    self.expect(expected, &what);
                }
                Actor::Root => self.observe(Actor::Root, &what),
            },
            Op::Cancel { actor } => match self.actor(actor) {
                Actor::Task(task) => self.cancel(task, &what),
                Actor::Root => self.observe(Actor::Root, &what),
            },
            Op::Spawn { fresh } if self.live_tasks().len() < MAX_TASKS => self.spawn(fresh),
            Op::Observe { actor } => {
                let actor = self.actor(actor);
                self.observe(actor, &what);
            }
            _ => self.observe(Actor::Root, &what),
        }
    }

    fn observe(&mut self, actor: Actor, what: &str) {
        let view = self.model.contexts[self.context_of(actor)].view();
        self.run(actor, Cmd::Observe);
        self.expect(vec![Report::View(view)], what);
    }

    /// Drops a pending task: each of its levels reports what it sees in
    /// its destructor, in its own context.
    fn cancel(&mut self, task: usize, what: &str) {
        let stack = self.model.tasks[task].take().unwrap();
        let mut expected: Vec<Report> = stack
            .iter()
            .enumerate()
            .map(|(depth, &context)| Report::Dropped {
                task,
                depth,
                view: self.model.contexts[context].view(),
            })
            .collect();
        self.futures[task] = None;
        let mut reports = self.shared.take_reports();
        reports.sort_by_key(Report::order);
        expected.sort_by_key(Report::order);
        assert_eq!(reports, expected, "{what}: destructors of a cancelled task");
        self.expect(Vec::new(), what);
    }

    /// Ends the case: cancels what still runs, then drops the leftover
    /// tokens (which keep their sets) and guards (which reset only in their
    /// own context) at the root.
    fn finish(&mut self) {
        for task in self.live_tasks() {
            self.cancel(task, "cancel at the end");
        }
        drop(std::mem::take(&mut *self.shared.tokens.borrow_mut()));
        drop(std::mem::take(&mut *self.shared.guards.borrow_mut()));
        for made in std::mem::take(&mut self.model.guards) {
            if made.context == 0 {
                self.model.contexts[0].sets[made.set].live = false;
            }
        }
        assert_eq!(
            observe(),
            self.model.contexts[0].view(),
            "at the root at the end"
        );
    }
}

fn run_case(ops: Vec<Op>) {
    let mut harness = Harness::new();
    harness.spawn(true);
    harness.spawn(true);
    harness.spawn(false);
    for op in &ops {
        harness.step(op);
    }
    harness.finish();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn runtime_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..80)) {
        // A fresh thread per case, so the root starts empty.
        let outcome = std::thread::spawn(move || run_case(ops)).join();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn reference_model_follows_the_tombstone_rule() {
    // The model itself, on the example from the contract.
    let mut model = Model::new();
    let a = model.set(0, Slot::Id, 1);
    let b = model.set(0, Slot::Id, 2);
    let c = model.set(0, Slot::Id, 3);
    assert_eq!(model.reset(0, b, Slot::Id), Ok(()));
    assert_eq!(model.contexts[0].view(), (Some(3), None));
    assert_eq!(model.reset(0, c, Slot::Id), Ok(()));
    assert_eq!(model.contexts[0].view(), (Some(1), None));
    assert_eq!(
        model.reset(1, a, Slot::Id),
        Err(ResetErrorKind::WrongContext)
    );
    assert_eq!(
        model.reset(0, a, Slot::User),
        Err(ResetErrorKind::WrongSlot)
    );
    assert_eq!(model.reset(0, a, Slot::Id), Ok(()));
    assert_eq!(model.contexts[0].view(), (None, None));
}
