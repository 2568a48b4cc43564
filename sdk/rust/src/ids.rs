//! Aggregate ids: covers and name-based roots, the same in every language.

use std::fmt;

use uuid::Uuid;

use crate::Error;
use crate::pb;

/// The aggregate root a name stands for.
///
/// A name that is a UUID (`2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f`, with or
/// without braces or the `urn:uuid:` prefix, or 32 hex digits) is that UUID;
/// any other string (`cust-001`) maps to the name-based UUID (version 5) of
/// `"evented:" + name` in the URL namespace — the same as Go's `sdk.Root`,
/// Python's `evented.root` and evented's CLI.
///
/// ```
/// assert_eq!(evented::root("cust-001").to_string(), "bee85a38-babe-5251-8d7d-f8a8ed93ed9c");
/// ```
pub fn root(name: &str) -> Uuid {
    parse_uuid(name)
        .unwrap_or_else(|| Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("evented:{name}").as_bytes()))
}

/// The forms Go's uuid.Parse accepts, no others.
fn parse_uuid(s: &str) -> Option<Uuid> {
    let canonical = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let ok = match s.len() {
        32 => s.chars().all(|c| c.is_ascii_hexdigit()),
        36 => canonical(s),
        38 => s.starts_with('{') && s.ends_with('}') && canonical(&s[1..37]),
        45 => {
            s.is_char_boundary(9) && s[..9].eq_ignore_ascii_case("urn:uuid:") && canonical(&s[9..])
        }
        _ => false,
    };
    if !ok {
        return None;
    }
    let hex: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let hex = &hex[hex.len() - 32..]; // urn:uuid: has hex digits of its own ("d")
    Uuid::try_parse(hex).ok()
}

/// The address of one aggregate: its domain and root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cover {
    pub domain: String,
    pub root: Uuid,
}

impl Cover {
    pub fn new(domain: impl Into<String>, root: Uuid) -> Self {
        Cover {
            domain: domain.into(),
            root,
        }
    }

    /// The cover of the aggregate `name` stands for (see [`root`]).
    pub fn of(domain: impl Into<String>, name: &str) -> Self {
        Cover::new(domain, root(name))
    }

    /// The wire form.
    pub fn to_pb(&self) -> pb::Cover {
        pb::Cover {
            domain: self.domain.clone(),
            root: Some(pb::Uuid {
                value: self.root.as_bytes().to_vec(),
            }),
        }
    }

    /// Validates a wire cover; errors (`INVALID_ARGUMENT`) name `field`.
    pub fn from_pb(field: &str, c: Option<&pb::Cover>) -> Result<Cover, Error> {
        let c = c.ok_or_else(|| crate::invalid(format!("{field}: missing")))?;
        if c.domain.is_empty() {
            return Err(crate::invalid(format!("{field}.domain: must not be empty")));
        }
        let value = c
            .root
            .as_ref()
            .map(|r| r.value.as_slice())
            .unwrap_or_default();
        let root = Uuid::from_slice(value).map_err(|_| {
            crate::invalid(format!(
                "{field}.root.value: must be exactly 16 bytes, got {}",
                value.len()
            ))
        })?;
        Ok(Cover {
            domain: c.domain.clone(),
            root,
        })
    }
}

impl fmt::Display for Cover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.root)
    }
}
