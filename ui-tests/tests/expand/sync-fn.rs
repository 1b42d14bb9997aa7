use correlated::correlated;

#[correlated]
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}

fn main() {}
