use correlated::correlated;

struct Request {
    header: Option<String>,
}

#[correlated(id = request.header.as_deref())]
async fn handle(request: Request) -> usize {
    request.header.map_or(0, |header| header.len())
}

fn main() {}
