// `return`, `?` and type inference work as without the attribute, including
// coercions that need the declared return type (`Box<dyn Error>`).
use std::error::Error;
use std::fmt;

use correlated::correlated;

#[derive(Debug)]
struct Invalid;

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid")
    }
}

impl Error for Invalid {}

#[correlated]
async fn parse_async(text: &str) -> Result<u32, Box<dyn Error>> {
    if text.is_empty() {
        return Err(Box::new(Invalid));
    }
    let n = text.parse()?;
    Ok(n)
}

#[correlated]
fn parse_sync(text: &str) -> Result<u32, Box<dyn Error>> {
    if text.is_empty() {
        return Err(Box::new(Invalid));
    }
    let n = text.parse()?;
    Ok(n)
}

#[correlated]
async fn collect_inferred(n: u32) -> Vec<u32> {
    let mut items = Vec::new();
    for i in 0..n {
        items.push(i);
    }
    items.into_iter().collect()
}

#[correlated]
fn early(n: u32) -> Option<u32> {
    let half = n.checked_div(2)?;
    if half > 10 {
        return None;
    }
    Some(half)
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(parse_async("12").await.unwrap(), 12);
        assert!(parse_async("").await.is_err());
        assert!(parse_async("x").await.is_err());
        assert_eq!(collect_inferred(3).await, [0, 1, 2]);
    });
    assert_eq!(parse_sync("7").unwrap(), 7);
    assert!(parse_sync("").is_err());
    assert_eq!(early(8), Some(4));
    assert_eq!(early(30), None);
}
