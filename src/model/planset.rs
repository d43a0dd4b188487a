//! A set of service plans as a bitset over the tenant's plan indices.
//!
//! Plans are compared millions of times at tenant scale, so they are bits, not strings or
//! GUIDs. Trailing zero words are always trimmed, so derived equality and hashing are exact.

use super::PlanIdx;
use smallvec::SmallVec;

#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlanSet(SmallVec<[u64; 4]>);

impl PlanSet {
    pub fn new() -> Self {
        PlanSet(SmallVec::new())
    }

    pub fn from_iter_idx<I: IntoIterator<Item = PlanIdx>>(it: I) -> Self {
        let mut s = PlanSet::new();
        for p in it {
            s.insert(p);
        }
        s
    }

    pub fn insert(&mut self, p: PlanIdx) {
        let (w, b) = (p.0 as usize / 64, p.0 % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1u64 << b;
    }

    pub fn remove(&mut self, p: PlanIdx) {
        let (w, b) = (p.0 as usize / 64, p.0 % 64);
        if let Some(word) = self.0.get_mut(w) {
            *word &= !(1u64 << b);
        }
        self.trim();
    }

    pub fn contains(&self, p: PlanIdx) -> bool {
        let (w, b) = (p.0 as usize / 64, p.0 % 64);
        self.0.get(w).is_some_and(|word| word & (1u64 << b) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn union_with(&mut self, other: &PlanSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= *b;
        }
    }

    pub fn union(&self, other: &PlanSet) -> PlanSet {
        let mut s = self.clone();
        s.union_with(other);
        s
    }

    /// `self − other`.
    pub fn minus(&self, other: &PlanSet) -> PlanSet {
        let mut s = self.clone();
        for (a, b) in s.0.iter_mut().zip(&other.0) {
            *a &= !*b;
        }
        s.trim();
        s
    }

    pub fn intersection(&self, other: &PlanSet) -> PlanSet {
        let mut s = PlanSet(self.0.iter().zip(&other.0).map(|(a, b)| a & b).collect());
        s.trim();
        s
    }

    pub fn intersects(&self, other: &PlanSet) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }

    pub fn is_subset(&self, other: &PlanSet) -> bool {
        self.0
            .iter()
            .enumerate()
            .all(|(i, a)| a & !other.0.get(i).copied().unwrap_or(0) == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = PlanIdx> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut word = w;
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let b = word.trailing_zeros();
                word &= word - 1;
                Some(PlanIdx(i as u32 * 64 + b))
            })
        })
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }
}

impl std::fmt::Debug for PlanSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|p| p.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> PlanSet {
        PlanSet::from_iter_idx(v.iter().map(|&i| PlanIdx(i)))
    }

    #[test]
    fn algebra() {
        let a = set(&[1, 64, 130]);
        let b = set(&[1, 2]);
        assert_eq!(a.union(&b), set(&[1, 2, 64, 130]));
        assert_eq!(a.minus(&b), set(&[64, 130]));
        assert_eq!(a.intersection(&b), set(&[1]));
        assert!(set(&[64]).is_subset(&a));
        assert!(!b.is_subset(&a));
        assert!(a.intersects(&b));
        assert_eq!(a.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 64, 130]);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn trimmed_equality() {
        let mut a = set(&[200]);
        a.remove(PlanIdx(200));
        assert_eq!(a, PlanSet::new());
        assert!(a.is_empty());
        assert_eq!(set(&[3, 300]).minus(&set(&[300])), set(&[3]));
    }
}
