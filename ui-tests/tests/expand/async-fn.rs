use correlated::correlated;

#[correlated]
async fn load_order(id: u32) -> Result<u32, String> {
    let order = fetch(id).await?;
    Ok(order)
}

async fn fetch(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
