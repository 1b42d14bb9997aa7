use correlated::correlated;
struct Request {
    header: Option<String>,
}
async fn handle(request: Request) -> usize {
    let __correlate_context = ::correlated::__private::explicit(
        request.header.as_deref(),
    );
    ::correlated::__private::wrap(
            __correlate_context,
            async move {
                if let ::core::option::Option::Some(__correlate_return) = ::core::option::Option::None::<
                    usize,
                > {
                    return __correlate_return;
                }
                { request.header.map_or(0, |header| header.len()) }
            },
        )
        .await
}
fn main() {}
