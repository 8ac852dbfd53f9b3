//! The endpoints one request has already attempted, by [`EndpointRef`]:
//! a bitset per pool, so recording an attempt allocates nothing for pools
//! of up to 128 endpoints (larger pools spill into a list).

use super::EndpointRef;

/// Endpoints attempted for one request.
#[derive(Debug, Default, Clone)]
pub struct Tried {
    /// Bit `i` of `[primary, backup]`: endpoint `i` of that pool.
    bits: [u128; 2],
    /// Endpoints with an index of 128 or more.
    spilled: Vec<EndpointRef>,
}

impl Tried {
    /// Records an attempt at `r`.
    pub fn insert(&mut self, r: EndpointRef) {
        match bit(r) {
            Some((pool, mask)) => self.bits[pool] |= mask,
            None if !self.spilled.contains(&r) => self.spilled.push(r),
            None => {}
        }
    }

    /// Forgets an attempt at `r` (a transparent reconnect).
    pub fn remove(&mut self, r: EndpointRef) {
        match bit(r) {
            Some((pool, mask)) => self.bits[pool] &= !mask,
            None => self.spilled.retain(|s| *s != r),
        }
    }

    /// Whether `r` was attempted.
    pub fn contains(&self, r: EndpointRef) -> bool {
        match bit(r) {
            Some((pool, mask)) => self.bits[pool] & mask != 0,
            None => self.spilled.contains(&r),
        }
    }

    /// Whether nothing was attempted.
    pub fn is_empty(&self) -> bool {
        self.bits == [0, 0] && self.spilled.is_empty()
    }
}

/// The pool slot and bit of `r`, when it fits the bitset.
fn bit(r: EndpointRef) -> Option<(usize, u128)> {
    (r.index < 128).then(|| (usize::from(r.backup), 1u128 << r.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(backup: bool, index: usize) -> EndpointRef {
        EndpointRef { backup, index }
    }

    #[test]
    fn pools_are_kept_apart_and_removal_forgets_one_endpoint() {
        let mut tried = Tried::default();
        assert!(tried.is_empty());
        tried.insert(at(false, 3));
        tried.insert(at(true, 0));
        assert!(tried.contains(at(false, 3)));
        assert!(!tried.contains(at(true, 3)));
        assert!(tried.contains(at(true, 0)));
        tried.remove(at(false, 3));
        assert!(!tried.contains(at(false, 3)));
        assert!(!tried.is_empty());
        tried.remove(at(true, 0));
        assert!(tried.is_empty());
    }

    #[test]
    fn large_indices_spill_without_losing_anything() {
        let mut tried = Tried::default();
        for i in [0, 127, 128, 5000] {
            tried.insert(at(false, i));
            tried.insert(at(false, i));
        }
        for i in [0, 127, 128, 5000] {
            assert!(tried.contains(at(false, i)), "{i}");
        }
        assert!(!tried.contains(at(false, 129)));
        tried.remove(at(false, 5000));
        assert!(!tried.contains(at(false, 5000)));
        assert!(tried.contains(at(false, 128)));
    }
}
