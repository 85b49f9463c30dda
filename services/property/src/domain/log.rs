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

/// Where the log stands against the head the org service witnesses for it (see
/// `jiceng.org.v1.WitnessService`): a restore of the property database to an earlier point, or
/// a fork, leaves a log that no longer holds the witnessed head, and such a log must not sign
/// again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witnessing {
    /// Not compared since the process started: appends wait for the first comparison.
    Unchecked,
    /// The witness holds the head of `size` with `root` (or nothing: size 0), and the log held
    /// it when last compared: every append first checks that it still does.
    Holds { size: u64, root: Hash },
    /// The log does not hold the witnessed head: appends are refused until an operator
    /// restores the missing entries or resets the witness.
    Diverged(String),
}

impl Witnessing {
    /// Nothing witnessed: a log that is not compared with a witness (a store used alone).
    pub fn nothing() -> Self {
        Self::Holds {
            size: 0,
            root: [0; 32],
        }
    }
}
