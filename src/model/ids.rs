//! Identifiers: GUIDs parsed once at the edge, and dense indices the engine works with.

use std::fmt;

/// A GUID as Entra writes it; compared as a number so case never matters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub u128);

impl Guid {
    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, optionally in braces, any case.
    pub fn parse(s: &str) -> Option<Guid> {
        let s = s
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(s);
        let b = s.as_bytes();
        if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            let d = (c as char).to_digit(16)?;
            v = (v << 4) | d as u128;
        }
        Some(Guid(v))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An ISO 3166-1 alpha-2 usage location, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(pub [u8; 2]);

impl Country {
    pub fn parse(s: &str) -> Option<Country> {
        let b = s.as_bytes();
        (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
            .then(|| Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! index_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(pub u32);
        impl $name {
            pub fn ix(self) -> usize { self.0 as usize }
        }
    };
}

index_type!(
    /// Index into `Tenant::users`.
    UserIdx
);
index_type!(
    /// Index into `Tenant::skus`.
    SkuIdx
);
index_type!(
    /// Index into `Tenant::plans`.
    PlanIdx
);
index_type!(
    /// Index into `Tenant::groups`.
    GroupIdx
);
index_type!(
    /// Index into `Tenant::assignments`.
    AssignmentIdx
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_round_trip_and_case() {
        let g = Guid::parse("6FD2C87F-B296-42F0-B197-1E91E994B900").unwrap();
        assert_eq!(g.to_string(), "6fd2c87f-b296-42f0-b197-1e91e994b900");
        assert_eq!(
            Guid::parse("{6fd2c87f-b296-42f0-b197-1e91e994b900}"),
            Some(g)
        );
        for bad in [
            "",
            "6fd2c87f",
            "6fd2c87f-b296-42f0-b197-1e91e994b90g",
            "6fd2c87fb29642f0b1971e91e994b900",
        ] {
            assert_eq!(Guid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn country() {
        assert_eq!(Country::parse("nl").unwrap().as_str(), "NL");
        assert!(Country::parse("NLD").is_none());
        assert!(Country::parse("1A").is_none());
    }
}
