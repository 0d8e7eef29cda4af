//! Connection state for multi-line rules (sshd reports some failures on a
//! line without the address, which an earlier line of the same pid named).

use std::net::IpAddr;

use hashlink::LinkedHashMap;
use hashlink::linked_hash_map::RawEntryMut;

/// Sessions remembered at most; the least recently used is dropped first,
/// so a flood of connections cannot grow memory.
pub const MAX_SESSIONS: usize = 10_000;

/// What we know about one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The client address, once a line named it.
    pub ip: Option<IpAddr>,
    /// A failure was seen before the address was known.
    pub pending: bool,
    /// Distinct user names tried (for the distinct-user rules).
    pub users: Vec<String>,
}

/// Sessions by key, bounded.
#[derive(Debug)]
pub struct Sessions {
    map: LinkedHashMap<String, Session>,
    cap: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(MAX_SESSIONS)
    }
}

impl Sessions {
    /// A table holding at most `cap` sessions.
    pub fn new(cap: usize) -> Self {
        Self {
            map: LinkedHashMap::new(),
            cap: cap.max(1),
        }
    }

    /// The session for `key`, created when missing, marked most recent.
    pub fn get_mut(&mut self, key: &str) -> &mut Session {
        if self.map.len() >= self.cap && !self.map.contains_key(key) {
            self.map.pop_front();
        }
        // The key is copied only when a session starts, not on every line.
        match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut o) => {
                o.to_back();
                o.into_mut()
            }
            RawEntryMut::Vacant(v) => v.insert(key.to_string(), Session::default()).1,
        }
    }

    /// True when the session for `key` waits for its address. Asking
    /// creates nothing: lines that only might close a pending session must
    /// not push real sessions out.
    pub fn is_pending(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|s| s.pending)
    }

    /// Drops a session.
    pub fn forget(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets() {
        let mut s = Sessions::new(10);
        s.get_mut("a").ip = Some(IpAddr::from([192, 0, 2, 1]));
        assert_eq!(s.get_mut("a").ip, Some(IpAddr::from([192, 0, 2, 1])));
        s.forget("a");
        assert!(!s.is_pending("a"));
        assert_eq!(s.len(), 0, "asking created nothing");
        assert_eq!(s.get_mut("a").ip, None);
        s.get_mut("a").pending = true;
        assert!(s.is_pending("a"));
    }

    #[test]
    fn bounded() {
        let mut s = Sessions::new(2);
        s.get_mut("a").pending = true;
        s.get_mut("b");
        s.get_mut("a"); // a is recent again
        s.get_mut("c"); // evicts b
        assert_eq!(s.len(), 2);
        assert!(s.get_mut("a").pending);
    }
}
