//! Users by user principal name, compared the way `name_key` compares names (trimmed, NBSP as
//! space, case-insensitive), without a lower-cased copy of every name.
//!
//! Why: a tenant of a million users paid a heap block per name for the key, and a 32-byte map
//! entry to hold it, before a single file named a user by UPN; loading users spent more time
//! faulting in that memory than parsing. The map now holds a 64-bit hash and the user's index;
//! a hit is confirmed against the user's own UPN, so two names that share a hash still never
//! meet: the later one goes to a small exact map.

use super::cells::{clean, name_key};
use crate::model::{IdHasher, IdMap, User, UserIdx};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;

#[derive(Default)]
pub struct UpnIndex {
    by_hash: IdMap<u64, UserIdx>,
    /// Names whose hash an earlier, different name holds. Empty but for a freak collision.
    spill: HashMap<String, UserIdx>,
}

/// `name_key` of `s`, borrowed when it is already its own key (plain lower-case ASCII, as
/// nearly every exported UPN is).
pub fn key(s: &str) -> Cow<'_, str> {
    let c = clean(s);
    if c.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(c)
    } else {
        Cow::Owned(name_key(s))
    }
}

fn hash(key: &str) -> u64 {
    let mut h = IdHasher::default();
    h.write(key.as_bytes());
    // The length keeps keys that differ only by trailing zero bytes apart.
    h.write_usize(key.len());
    h.finish()
}

impl UpnIndex {
    pub fn with_capacity(n: usize) -> UpnIndex {
        UpnIndex {
            by_hash: IdMap::with_capacity_and_hasher(n, Default::default()),
            spill: HashMap::new(),
        }
    }

    pub fn reserve(&mut self, n: usize) {
        self.by_hash.reserve(n);
    }

    /// The user whose UPN has the key `key` (see [`key`]).
    pub fn get(&self, users: &[User], key: &str) -> Option<UserIdx> {
        match self.by_hash.get(&hash(key)) {
            Some(&u) if self::key(&users[u.ix()].upn) == key => Some(u),
            Some(_) => self.spill.get(key).copied(),
            None => None,
        }
    }

    /// Adds `u` under `key`; the caller has checked that no user has it yet.
    pub fn insert(&mut self, key: &str, u: UserIdx) {
        match self.by_hash.entry(hash(key)) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(u);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.spill.insert(key.to_string(), u);
            }
        }
    }

    pub fn build(users: &[User]) -> UpnIndex {
        let mut index = UpnIndex::with_capacity(users.len());
        for (i, user) in users.iter().enumerate() {
            let k = key(&user.upn);
            if index.get(users, &k).is_none() {
                index.insert(&k, UserIdx(i as u32));
            }
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Guid;

    fn user(upn: &str) -> User {
        User {
            id: Guid::parse("00000000-0000-0000-0000-000000000001").unwrap(),
            upn: upn.to_string(),
            display_name: String::new(),
            location: None,
            account_enabled: true,
            department: Default::default(),
            wave_key: None,
            origin: Default::default(),
        }
    }

    #[test]
    fn names_match_as_name_key_matches_them() {
        let users: Vec<User> = ["adele@contoso.com", " Zoë.Ünal@Contoso.com", "b\u{a0}c@x"]
            .iter()
            .map(|u| user(u))
            .collect();
        let index = UpnIndex::build(&users);
        for (i, asked) in ["ADELE@contoso.com ", "zoë.ünal@contoso.COM", "B C@X"]
            .iter()
            .enumerate()
        {
            assert_eq!(index.get(&users, &key(asked)), Some(UserIdx(i as u32)));
            assert_eq!(key(asked), name_key(asked));
        }
        assert_eq!(index.get(&users, &key("adele@contoso.co")), None);
        assert!(matches!(key("adele@contoso.com"), Cow::Borrowed(_)));
    }

    /// Two different names under one hash (forced here) are both found, each as itself.
    #[test]
    fn names_that_share_a_hash_stay_apart() {
        let users = vec![user("first@x"), user("second@x")];
        let mut index = UpnIndex::default();
        index.by_hash.insert(hash("first@x"), UserIdx(0));
        // As if "second@x" hashed to the same value: it must go to the spill map.
        index.by_hash.insert(hash("second@x"), UserIdx(0));
        index.insert("second@x", UserIdx(1));
        assert_eq!(index.get(&users, "first@x"), Some(UserIdx(0)));
        assert_eq!(index.get(&users, "second@x"), Some(UserIdx(1)));
        assert_eq!(index.get(&users, "third@x"), None);
    }
}
