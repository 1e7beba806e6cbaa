//! The de-duplication sets of a local run: each request id as a 16-byte key, held in shards so
//! that a run's memory grows with its ids smoothly, never by a doubling of one large table.

use std::collections::HashMap;

/// A request id as 16 bytes. A canonical lower-case UUID (what Bedrock logs) is its own 128 bits,
/// exactly; any other id is hashed to 128 bits (two FNV-1a 64 passes, forward and backward, from
/// different bases), which collide with negligible probability at the millions of ids one run
/// holds. Upper-case UUIDs are hashed too: they are different ids, and must stay different.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdKey(u64, u64);

impl IdKey {
    pub fn of(id: &str) -> IdKey {
        canonical_uuid(id.as_bytes()).unwrap_or_else(|| {
            let fnv = |basis: u64, bytes: &mut dyn Iterator<Item = &u8>| {
                bytes.fold(basis, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                })
            };
            IdKey(
                fnv(0xcbf2_9ce4_8422_2325, &mut id.as_bytes().iter()),
                fnv(0x6c62_272e_07bb_0142, &mut id.as_bytes().iter().rev()),
            )
        })
    }

    /// Which shard holds the key: mixed, so ids that share a prefix spread over every shard.
    fn shard(self) -> usize {
        ((self.0 ^ self.1.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex, as two u64 halves.
fn canonical_uuid(b: &[u8]) -> Option<IdKey> {
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        let nibble = match (i, c) {
            (8 | 13 | 18 | 23, b'-') => continue,
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => c - b'0',
            (_, b'a'..=b'f') => c - b'a' + 10,
            _ => return None,
        };
        v = v << 4 | u128::from(nibble);
    }
    Some(IdKey((v >> 64) as u64, v as u64))
}

const SHARDS: usize = 256;

/// Request ids with a value each (the digest of what the first one counted). 256 shards: each
/// grows on its own, so the brief double allocation of a rehash is 1/256 of the set, and an
/// entry costs 24 bytes (16 of key, 8 of value) over the table's load factor.
#[derive(Debug)]
pub struct IdMap<V> {
    shards: Vec<HashMap<IdKey, V>>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl<V> IdMap<V> {
    /// Inserts `value` for a new key and returns `None`; for a key already held, keeps the first
    /// value and returns it.
    pub fn first(&mut self, key: IdKey, value: V) -> Option<&V> {
        match self.shards[key.shard()].entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => Some(o.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(value);
                None
            }
        }
    }

    pub fn contains(&self, key: IdKey) -> bool {
        self.shards[key.shard()].contains_key(&key)
    }
}

/// A set of request ids.
pub type IdSet = IdMap<()>;

impl FromIterator<IdKey> for IdSet {
    fn from_iter<I: IntoIterator<Item = IdKey>>(iter: I) -> Self {
        let mut s = IdSet::default();
        for k in iter {
            s.first(k, ());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_their_own_bits_and_other_ids_are_hashed() {
        let u = "6f1e0b0a-0010-4c3e-9b1a-0000000f0010";
        assert_eq!(
            IdKey::of(u),
            IdKey(0x6f1e_0b0a_0010_4c3e, 0x9b1a_0000_000f_0010)
        );
        assert_ne!(
            IdKey::of(u),
            IdKey::of("6f1e0b0a-0010-4c3e-9b1a-0000000f0011")
        );
        // an upper-case spelling is another id, not the same bits
        assert_ne!(IdKey::of(u), IdKey::of(&u.to_uppercase()));
        // misplaced hyphens are not a UUID
        assert_ne!(
            IdKey::of("6f1e0b0a0-010-4c3e-9b1a-0000000f0010"),
            IdKey::of(u)
        );
        // hashed: stable, order-sensitive
        assert_eq!(IdKey::of("req-1"), IdKey::of("req-1"));
        assert_ne!(IdKey::of("req-1"), IdKey::of("1-qer"));
        assert_ne!(IdKey::of("ab"), IdKey::of("ba"));
    }

    #[test]
    fn the_first_value_is_kept_and_every_key_is_counted_once() {
        let mut m: IdMap<u64> = IdMap::default();
        for i in 0..100_000u64 {
            assert!(m.first(IdKey::of(&format!("r{i}")), i).is_none());
        }
        assert_eq!(m.first(IdKey::of("r7"), 99), Some(&7));
        assert_eq!(m.first(IdKey::of("r99999"), 0), Some(&99_999));
        let s: IdSet = (0..10).map(|i| IdKey::of(&format!("r{i}"))).collect();
        assert!(s.contains(IdKey::of("r9")) && !s.contains(IdKey::of("r10")));
        // sequential UUIDs spread over the shards rather than piling into one
        let used = (0..4096u64)
            .map(|i| IdKey::of(&format!("00000000-0000-4000-8000-{i:012x}")).shard())
            .collect::<std::collections::HashSet<_>>();
        assert!(used.len() > 200, "{} shards used", used.len());
    }
}
