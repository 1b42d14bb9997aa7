use correlated::correlated;

#[correlated]
extern "C" fn callback(n: u32) -> u32 {
    n
}

#[correlated]
pub unsafe extern "system" fn system_callback() {}

fn main() {
    let _ = callback(1);
    let _ = system_callback as unsafe extern "system" fn();
}
