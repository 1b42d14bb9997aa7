use correlated::correlated;

correlated::slot! {
    static USER_ID: String;
}

const NOT_A_SLOT: u32 = 1;

// The value must convert into the slot's type, and the name must be a slot:
// each error is on the user's token.
#[correlated(USER_ID = 42)]
fn wrong_value() {}

#[correlated(NOT_A_SLOT = 1)]
fn wrong_slot() {}

#[correlated(self::MISSING = 1)]
fn missing_slot() {}

fn main() {
    wrong_value();
    wrong_slot();
    missing_slot();
}
