use correlated::correlated;

// Type errors in the body point at the user's code, not at the attribute.
#[correlated]
async fn wrong_tail() -> u32 {
    "not a number"
}

#[correlated]
async fn wrong_return(flag: bool) -> Result<u32, String> {
    if flag {
        return Ok("not a number");
    }
    Ok(1)
}

#[correlated]
fn wrong_sync() -> u32 {
    "not a number"
}

fn main() {}
