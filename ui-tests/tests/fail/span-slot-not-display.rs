use correlated::correlated;

struct Tenant(u32);

impl Clone for Tenant {
    fn clone(&self) -> Self {
        Tenant(self.0)
    }
}

correlated::slot! {
    static TENANT: Tenant;
}

// A slot bound with `span` is a field of the span, written with `Display`.
#[correlated(span, TENANT = Tenant(7))]
fn job() {}

fn main() {
    job();
}
