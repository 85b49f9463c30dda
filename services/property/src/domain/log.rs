//! The district's transparency log as its readers see it: signed tree heads, and the proofs
//! that a disclosure is in the log and that a later log extends an earlier one.

use jiceng_merkle::{Hash, TreeHead};

/// A tree head with its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    pub head: TreeHead,
    pub signature: Vec<u8>,
}

/// A disclosure's audit path to a signed head.
#[derive(Clone, Debug)]
pub struct Inclusion {
    pub entry_bytes: Vec<u8>,
    pub leaf_index: u64,
    pub path: Vec<Hash>,
    pub head: SignedHead,
}

/// Two tree heads' roots and the proof that the first tree is a prefix of the second.
#[derive(Clone, Debug)]
pub struct Consistency {
    pub first_root: Hash,
    pub second_root: Hash,
    pub proof: Vec<Hash>,
}
