use correlated::correlated;

correlated::slot! {
    static USER_ID: String;
}

// Slot names are upper-case; a lower-case name is a typo of an argument.
#[correlated(user_id = "alice")]
fn lower_case() {}

fn main() {
    lower_case();
}
