//! The witness of the platform's transparency logs: the latest head of each log, kept away from
//! the log's own database, and the one rule it keeps: a log's witnessed head only ever moves to a
//! larger tree that a consistency proof shows contains it.

use jiceng_merkle::{self as merkle, Hash};

/// A log's name: lower-case ASCII letters, digits and `-`, at most 32 characters (`property`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogName(String);

impl LogName {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let valid = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err("a log is named by 1 to 32 lower-case letters, digits and dashes")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tree head as its log signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
    /// The head's signed timestamp, epoch milliseconds.
    pub timestamp_ms: i64,
    pub signature: Vec<u8>,
}

/// A head the witness holds, and when it took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessedHead {
    pub log: LogName,
    pub head: LogHead,
    pub witnessed_at: i64,
}

/// Why the witness does not take a head.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The caller proved against a head that is no longer (or not yet) the witnessed one.
    #[error("the witnessed head is of size {witnessed}, not {claimed}: read it again")]
    Moved { witnessed: u64, claimed: u64 },
    /// The new head is not larger than the witnessed one.
    #[error("a head of size {new} does not advance the witnessed head of size {witnessed}")]
    NotLarger { witnessed: u64, new: u64 },
    /// The proof does not show the witnessed tree to be a prefix of the new one.
    #[error(
        "the head of size {new} is not consistent with the witnessed head of size {witnessed}: \
         the log has forked or was restored"
    )]
    NotConsistent { witnessed: u64, new: u64 },
}

/// Whether the witness, holding `current`, takes `new`, proven from the head of `from_size` by
/// `proof`: the caller must have read the current head, and the new tree must extend it.
pub fn admits(
    current: Option<&LogHead>,
    from_size: u64,
    new: &LogHead,
    proof: &[Hash],
) -> Result<(), Refusal> {
    let witnessed = current.map_or(0, |head| head.size);
    if witnessed != from_size {
        return Err(Refusal::Moved {
            witnessed,
            claimed: from_size,
        });
    }
    let Some(current) = current else {
        return Ok(());
    };
    if new.size <= current.size {
        return Err(Refusal::NotLarger {
            witnessed,
            new: new.size,
        });
    }
    if merkle::verify_consistency(current.size, new.size, &current.root, &new.root, proof) {
        Ok(())
    } else {
        Err(Refusal::NotConsistent {
            witnessed,
            new: new.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root of leaves `0..n`, each leaf its index's bytes, and the nodes that make it.
    fn tree(n: u64) -> std::collections::HashMap<merkle::NodeId, Hash> {
        let mut nodes = std::collections::HashMap::new();
        for index in 0..n {
            let made = merkle::append(index, merkle::leaf_hash(&index.to_be_bytes()), &nodes)
                .expect("append");
            nodes.extend(made);
        }
        nodes
    }

    fn head(nodes: &std::collections::HashMap<merkle::NodeId, Hash>, size: u64) -> LogHead {
        LogHead {
            size,
            root: merkle::range_hash((0, size), nodes).expect("root"),
            timestamp_ms: 1,
            signature: vec![1],
        }
    }

    fn proof(
        nodes: &std::collections::HashMap<merkle::NodeId, Hash>,
        old: u64,
        new: u64,
    ) -> Vec<Hash> {
        let ranges = merkle::consistency_ranges(old, new).expect("ranges");
        merkle::hashes_of(&ranges, nodes).expect("hashes")
    }

    #[test]
    fn a_first_head_is_taken_without_proof() {
        let nodes = tree(3);
        assert_eq!(admits(None, 0, &head(&nodes, 3), &[]), Ok(()));
    }

    #[test]
    fn a_head_that_extends_the_witnessed_one_is_taken() {
        let nodes = tree(7);
        let current = head(&nodes, 3);
        assert_eq!(
            admits(Some(&current), 3, &head(&nodes, 7), &proof(&nodes, 3, 7)),
            Ok(())
        );
    }

    #[test]
    fn a_fork_is_refused() {
        let nodes = tree(7);
        let current = head(&nodes, 3);
        // Another history of seven leaves: the same first two, then others.
        let mut other = std::collections::HashMap::new();
        for index in 0..7u64 {
            let data = if index < 2 { index } else { index + 100 };
            let made = merkle::append(index, merkle::leaf_hash(&data.to_be_bytes()), &other)
                .expect("append");
            other.extend(made);
        }
        assert_eq!(
            admits(Some(&current), 3, &head(&other, 7), &proof(&other, 3, 7)),
            Err(Refusal::NotConsistent {
                witnessed: 3,
                new: 7
            })
        );
    }

    #[test]
    fn a_smaller_or_equal_head_and_a_stale_reading_are_refused() {
        let nodes = tree(7);
        let current = head(&nodes, 5);
        assert_eq!(
            admits(Some(&current), 5, &head(&nodes, 5), &[]),
            Err(Refusal::NotLarger {
                witnessed: 5,
                new: 5
            })
        );
        assert_eq!(
            admits(Some(&current), 3, &head(&nodes, 7), &proof(&nodes, 3, 7)),
            Err(Refusal::Moved {
                witnessed: 5,
                claimed: 3
            })
        );
        assert_eq!(
            admits(None, 5, &head(&nodes, 7), &[]),
            Err(Refusal::Moved {
                witnessed: 0,
                claimed: 5
            })
        );
    }

    #[test]
    fn log_names_are_short_and_plain() {
        assert!(LogName::parse("property").is_ok());
        for bad in ["", "Property", "a b", &"x".repeat(33)] {
            assert!(LogName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
