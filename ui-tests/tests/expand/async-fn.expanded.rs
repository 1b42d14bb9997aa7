use correlated::correlated;
async fn load_order(id: u32) -> Result<u32, String> {
    let __correlate_context = ::correlated::__private::inherit();
    ::correlated::__private::wrap(
            __correlate_context,
            async move {
                if let ::core::option::Option::Some(__correlate_return) = ::core::option::Option::None::<
                    Result<u32, String>,
                > {
                    return __correlate_return;
                }
                {
                    let order = fetch(id).await?;
                    Ok(order)
                }
            },
        )
        .await
}
async fn fetch(id: u32) -> Result<u32, String> {
    Ok(id)
}
fn main() {}
