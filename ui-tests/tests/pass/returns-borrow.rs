// Sync functions returning borrows of their arguments (a closure-based
// expansion could not compile these: tokio-rs/tracing#2796).
use correlated::correlated;

#[correlated]
fn first(items: &[u32]) -> &u32 {
    &items[0]
}

#[correlated]
fn pick<'a>(a: &'a mut String, b: &'a mut String, left: bool) -> &'a mut String {
    if left { a } else { b }
}

struct Store {
    name: String,
}

impl Store {
    #[correlated]
    fn name(&self) -> &str {
        &self.name
    }

    #[correlated]
    fn name_mut(&mut self) -> &mut String {
        &mut self.name
    }
}

fn main() {
    assert_eq!(*first(&[4, 5]), 4);
    let (mut a, mut b) = (String::new(), String::new());
    pick(&mut a, &mut b, false).push('x');
    assert_eq!(b, "x");
    let mut store = Store {
        name: "a".to_owned(),
    };
    store.name_mut().push('b');
    assert_eq!(store.name(), "ab");
}
