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
        // A table lookup per digit, invalid bytes flagged in the high bit: this runs for
        // every id of every row, five million times for a million-user tenant.
        const fn table() -> [u8; 256] {
            let mut t = [0x80u8; 256];
            let mut i = 0;
            while i < 10 {
                t[b'0' as usize + i] = i as u8;
                i += 1;
            }
            let mut i = 0;
            while i < 6 {
                t[b'a' as usize + i] = 10 + i as u8;
                t[b'A' as usize + i] = 10 + i as u8;
                i += 1;
            }
            t
        }
        static HEX: [u8; 256] = table();
        let mut v: u128 = 0;
        let mut bad = 0u8;
        for range in [0..8, 9..13, 14..18, 19..23, 24..36] {
            for &c in &b[range] {
                let d = HEX[c as usize];
                bad |= d;
                v = (v << 4) | (d & 0x0f) as u128;
            }
        }
        if bad & 0x80 != 0 {
            return None;
        }
        Some(Guid(v))
    }

    /// The canonical lower-case text, without allocating: millions are written per plan.
    pub fn encode(&self) -> [u8; 36] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut nibble = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = HEX[((self.0 >> (124 - 4 * nibble)) & 0xf) as usize];
            nibble += 1;
        }
        out
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buf = self.encode();
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A hasher for ids that are already random (GUIDs) or dense (indices): a multiply instead of
/// SipHash, which dominated loading a million-user tenant. Maps with it serve lookups only;
/// nothing is ever written in their order.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub type IdMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

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
index_type!(
    /// Index into `Tenant::departments`; 0 is "no department".
    DepartmentIdx
);

impl Default for DepartmentIdx {
    fn default() -> Self {
        DepartmentIdx(0)
    }
}

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
