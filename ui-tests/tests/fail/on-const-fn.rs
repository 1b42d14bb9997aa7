use correlated::correlated;

#[correlated]
const fn answer() -> u32 {
    42
}

// Still a `const fn`: no further error here.
const ANSWER: u32 = answer();

fn main() {
    let _ = ANSWER;
}
