//! Correlation IDs in HTTP headers (feature `http`).
//!
//! Read an incoming ID from a [`HeaderMap`] with [`extract`], put the current
//! one on an outgoing request with [`inject`], or convert a single
//! [`HeaderValue`] with [`IntoCorrelationId`]. Every value read from a header
//! passes the floor of [`CorrelationId::parse`] first: hostile bytes (CR, LF,
//! NUL, non-ASCII, over-long values) give `None`, never a panic and never a
//! stored or echoed value.
//!
//! For a server-side middleware that does all of this per request, see the
//! `tower` feature.
//!
//! # Examples
//!
//! ```
//! use correlated::http::{X_CORRELATION_ID, extract, inject};
//! use http::HeaderMap;
//!
//! // Incoming request: read and validate the header.
//! let mut incoming = HeaderMap::new();
//! incoming.insert(X_CORRELATION_ID, "req-42".parse().unwrap());
//! let id = extract(&incoming).unwrap();
//!
//! // Outgoing call made on its behalf: propagate it.
//! let _guard = correlated::scope(id);
//! let mut outgoing = HeaderMap::new();
//! assert!(inject(&mut outgoing));
//! assert_eq!(outgoing[X_CORRELATION_ID], "req-42");
//! ```

use ::http::{HeaderMap, HeaderName, HeaderValue};

use crate::carrier::{Carrier, inject_unless_set};
use crate::id::{CorrelationId, IntoCorrelationId};

/// The default header: `x-correlation-id`.
///
/// Header names are case-insensitive, so this also matches
/// `X-Correlation-ID` on the wire.
///
/// # Examples
///
/// ```
/// assert_eq!(correlated::http::X_CORRELATION_ID.as_str(), "x-correlation-id");
/// ```
pub const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// Header values are checked with [`CorrelationId::parse`]: `None` for
/// anything that is not 1 to 128 bytes of visible ASCII, including bytes that
/// are not UTF-8.
///
/// # Examples
///
/// ```
/// use correlated::IntoCorrelationId;
/// use http::HeaderValue;
///
/// assert!(HeaderValue::from_static("req-1").into_correlation_id().is_some());
/// let latin1 = HeaderValue::from_bytes(b"caf\xe9").unwrap();
/// assert!(latin1.into_correlation_id().is_none());
/// ```
impl IntoCorrelationId for HeaderValue {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        (&self).into_correlation_id()
    }
}

/// Same as for [`HeaderValue`], without consuming it.
///
/// # Examples
///
/// ```
/// use correlated::IntoCorrelationId;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-request-id", "a b".parse().unwrap());
/// assert!(headers.get("x-request-id").into_correlation_id().is_none());
/// ```
impl IntoCorrelationId for &HeaderValue {
    fn into_correlation_id(self) -> Option<CorrelationId> {
        CorrelationId::parse(as_text(self)?).ok()
    }
}

/// A correlation ID always makes a valid header value: it passed the floor.
///
/// # Examples
///
/// ```
/// let id = correlated::CorrelationId::generate();
/// let value = http::HeaderValue::from(id.clone());
/// assert_eq!(value, id.as_str());
/// ```
impl From<CorrelationId> for HeaderValue {
    fn from(id: CorrelationId) -> Self {
        HeaderValue::from(&id)
    }
}

/// A correlation ID always makes a valid header value: it passed the floor.
///
/// # Examples
///
/// ```
/// let id = correlated::CorrelationId::parse("req-1").unwrap();
/// assert_eq!(http::HeaderValue::from(&id), "req-1");
/// ```
impl From<&CorrelationId> for HeaderValue {
    fn from(id: &CorrelationId) -> Self {
        // Every byte of an ID is visible ASCII, which `from_str` accepts; the
        // fallback only exists so that this can never panic.
        HeaderValue::from_str(id.as_str()).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// Puts the current correlation ID into `headers` as [`X_CORRELATION_ID`],
/// unless that header is already present.
///
/// Returns `true` if it inserted the header, and `false` if there is no
/// current ID or the caller already set the header (whatever its value: the
/// caller's choice wins).
///
/// # Examples
///
/// ```
/// use correlated::http::{X_CORRELATION_ID, inject};
///
/// let mut headers = http::HeaderMap::new();
/// assert!(!inject(&mut headers)); // no current ID
///
/// let _guard = correlated::scope("req-7".parse().unwrap());
/// assert!(inject(&mut headers));
/// assert_eq!(headers[X_CORRELATION_ID], "req-7");
/// ```
pub fn inject(headers: &mut HeaderMap) -> bool {
    inject_named(headers, &X_CORRELATION_ID)
}

/// Puts the current correlation ID into `headers` under `name`, unless that
/// header is already present.
///
/// Returns `true` if it inserted the header, and `false` if there is no
/// current ID or the header was already set.
///
/// # Examples
///
/// ```
/// use correlated::http::inject_named;
/// use http::{HeaderMap, HeaderName};
///
/// let x_request_id = HeaderName::from_static("x-request-id");
/// let mut headers = HeaderMap::new();
/// headers.insert(x_request_id.clone(), "set-by-caller".parse().unwrap());
///
/// let _guard = correlated::scope("req-7".parse().unwrap());
/// assert!(!inject_named(&mut headers, &x_request_id));
/// assert_eq!(headers[&x_request_id], "set-by-caller");
/// ```
pub fn inject_named(headers: &mut HeaderMap, name: &HeaderName) -> bool {
    // The value is made from the ID directly, not through `Carrier::set`'s
    // `String` and name parsing.
    inject_unless_set(headers.contains_key(name), |id| {
        headers.insert(name, HeaderValue::from(id));
    })
}

/// The correlation ID in the [`X_CORRELATION_ID`] header, if it is present
/// once and passes the floor; `None` otherwise.
///
/// A header sent more than once is ambiguous and gives `None`.
///
/// # Examples
///
/// ```
/// use correlated::http::{X_CORRELATION_ID, extract};
///
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(extract(&headers), None);
///
/// headers.insert(X_CORRELATION_ID, "req-1".parse().unwrap());
/// assert_eq!(extract(&headers).unwrap(), "req-1");
///
/// headers.insert(X_CORRELATION_ID, "two words".parse().unwrap());
/// assert_eq!(extract(&headers), None);
/// ```
pub fn extract(headers: &HeaderMap) -> Option<CorrelationId> {
    extract_named(headers, [&X_CORRELATION_ID])
}

/// The correlation ID in the first of `names` that is present in `headers`,
/// if it is present once and passes the floor; `None` otherwise.
///
/// The first header present decides: when its value is invalid, the result
/// is `None` even if a later header holds a valid one, so a lower-priority
/// header never overrides a higher-priority one.
///
/// # Examples
///
/// ```
/// use correlated::http::{X_CORRELATION_ID, extract_named};
/// use http::{HeaderMap, HeaderName};
///
/// let x_request_id = HeaderName::from_static("x-request-id");
/// let mut headers = HeaderMap::new();
/// headers.insert(x_request_id.clone(), "from-envoy".parse().unwrap());
///
/// let id = extract_named(&headers, [&X_CORRELATION_ID, &x_request_id]);
/// assert_eq!(id.unwrap(), "from-envoy");
/// ```
pub fn extract_named<'a, I>(headers: &HeaderMap, names: I) -> Option<CorrelationId>
where
    I: IntoIterator<Item = &'a HeaderName>,
{
    match find(headers, names)? {
        (_, Found::Once(value)) => value.into_correlation_id(),
        (_, Found::Repeated) => None,
    }
}

/// The first of `names` present in `headers`, with what it holds: the one
/// place that reads correlation headers, so "the first header present
/// decides" holds for [`extract_named`] and the tower layer alike. The layer
/// decides whether to believe it before paying to check it.
pub(crate) fn find<'a, 'h, I>(
    headers: &'h HeaderMap,
    names: I,
) -> Option<(&'a HeaderName, Found<'h>)>
where
    I: IntoIterator<Item = &'a HeaderName>,
{
    names
        .into_iter()
        .find_map(|name| Some((name, find_one(headers, name)?)))
}

/// What `headers` hold under `name`, looked up once; `None` when it is
/// absent.
pub(crate) fn find_one<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Found<'h>> {
    found(headers.get_all(name).iter())
}

/// What a header's values, in the order they came, hold: the one reading of
/// "present once" for every framework's header map (actix-web's is not
/// `http`'s).
pub(crate) fn found<'h, V: 'h>(mut values: impl Iterator<Item = &'h V>) -> Option<Found<'h, V>> {
    let value = values.next()?;
    if values.next().is_some() {
        return Some(Found::Repeated);
    }
    Some(Found::Once(value))
}

/// A header that is present, before any check of its value. `V` is the
/// framework's header value type.
pub(crate) enum Found<'h, V = HeaderValue> {
    /// Sent once: its value.
    Once(&'h V),
    /// Sent more than once: ambiguous.
    Repeated,
}

/// A header value as text, if it is UTF-8.
///
/// Not `HeaderValue::to_str`, which admits tabs and spaces: the floor
/// decides about those, with a precise reason.
pub(crate) fn as_text(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

/// Header names are case-insensitive; a key that is not a valid header name
/// is never present, and [`Carrier::set`] ignores it.
///
/// # Examples
///
/// ```
/// use correlated::carrier;
///
/// let mut headers = http::HeaderMap::new();
/// let _guard = correlated::scope("job-1".parse().unwrap());
/// assert!(carrier::inject(&mut headers));
/// assert_eq!(headers["X-Correlation-ID"], "job-1");
/// assert_eq!(carrier::extract(&headers).unwrap(), "job-1");
/// ```
impl Carrier for HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        as_text(HeaderMap::get(self, key)?)
    }

    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.contains_key(key)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn headers(pairs: &[(&HeaderName, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    #[test]
    fn non_utf8_and_non_ascii_values_never_panic() {
        for value in [&b"caf\xe9"[..], b"\xff\xfe", "caf\u{e9}".as_bytes()] {
            let map = headers(&[(&X_CORRELATION_ID, value)]);
            assert_eq!(extract(&map), None);
            assert!(
                map[&X_CORRELATION_ID]
                    .clone()
                    .into_correlation_id()
                    .is_none()
            );
        }
    }

    #[test]
    fn the_first_header_present_decides() {
        let x_request_id = HeaderName::from_static("x-request-id");
        let map = headers(&[(&X_CORRELATION_ID, b"bad value"), (&x_request_id, b"good")]);
        assert_eq!(
            extract_named(&map, [&X_CORRELATION_ID, &x_request_id]),
            None
        );
        assert_eq!(
            extract_named(&map, [&x_request_id, &X_CORRELATION_ID]).unwrap(),
            "good"
        );
    }

    #[test]
    fn inject_keeps_a_header_the_caller_set() {
        let mut map = headers(&[(&X_CORRELATION_ID, b"caller")]);
        let _guard = crate::scope(CorrelationId::parse("ours").unwrap());
        assert!(!inject(&mut map));
        assert_eq!(map[&X_CORRELATION_ID], "caller");
        assert_eq!(map.get_all(&X_CORRELATION_ID).iter().count(), 1);
    }

    #[test]
    fn carrier_set_ignores_keys_that_are_not_header_names() {
        let mut map = HeaderMap::new();
        Carrier::set(&mut map, "bad key\n", "v".to_owned());
        assert!(map.is_empty());
        assert!(!Carrier::contains(&map, "bad key\n"));
    }

    #[test]
    fn carrier_contains_sees_values_that_are_not_text() {
        let map = headers(&[(&X_CORRELATION_ID, b"caf\xe9")]);
        assert_eq!(Carrier::get(&map, "x-correlation-id"), None);
        assert!(Carrier::contains(&map, "x-correlation-id"));
        let mut map = map;
        let _guard = crate::scope(CorrelationId::parse("ours").unwrap());
        assert!(!crate::carrier::inject(&mut map));
    }
}
