use correlated::correlated;

correlated::slot! {
    static USER_ID: String;
}

#[correlated(USER_ID = user)]
fn audit(user: &str, action: &str) {
    println!("{action}");
}

fn main() {}
