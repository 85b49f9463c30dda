//! RFC 6962 Merkle tree hashing for an append-only log: roots, inclusion and consistency proofs, their verification, and Ed25519-signed tree heads.
//!
//! A log keeps the hash of every complete subtree (a [`NodeId`]: `2^level` leaves starting at a
//! multiple of `2^level`); appending a leaf adds on average two of them ([`append`]). Every hash a
//! root or a proof needs is the hash of a range of leaves, and every such range is made of
//! complete subtrees ([`nodes_of`]), so a store reads the few nodes it needs in one query and
//! [`range_hash`] does the rest. Proofs follow RFC 6962 §2.1 (`PATH` and `PROOF`); verification
//! follows RFC 9162 §2.1.3.2 and §2.1.4.2, so any Certificate Transparency client can check them.

use std::collections::HashMap;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The leaves `start..end` of a tree.
pub type Range = (u64, u64);

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// `MTH({d})`: SHA-256(0x00 || d). The prefix keeps a leaf from passing for a node.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// A complete subtree: the `2^level` leaves from `index << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

/// Why a proof cannot be made or a hash computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is not in a tree of {size}")]
    NoSuchLeaf { index: u64, size: u64 },
    #[error("a tree of {old} is not a prefix of a tree of {new}")]
    NotAPrefix { old: u64, new: u64 },
    #[error("the log lacks node {0:?}")]
    MissingNode(NodeId),
}

/// Where complete subtrees are looked up.
pub trait Nodes {
    fn node(&self, id: NodeId) -> Option<Hash>;
}

impl Nodes for HashMap<NodeId, Hash> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

/// The largest power of two smaller than `n` (`n > 1`): where RFC 6962 splits a tree.
pub fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete subtree a range is, when it is one.
fn as_node((start, end): Range) -> Option<NodeId> {
    let len = end - start;
    (len.is_power_of_two() && start % len == 0).then(|| NodeId {
        level: len.trailing_zeros(),
        index: start / len,
    })
}

fn collect_nodes((start, end): Range, out: &mut Vec<NodeId>) {
    if start == end {
        return;
    }
    if let Some(node) = as_node((start, end)) {
        out.push(node);
    } else {
        let k = split(end - start);
        collect_nodes((start, start + k), out);
        collect_nodes((start + k, end), out);
    }
}

/// The complete subtrees the hashes of `ranges` are made of, each once.
pub fn nodes_of(ranges: &[Range]) -> Vec<NodeId> {
    let mut out = Vec::new();
    for range in ranges {
        collect_nodes(*range, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `MTH(D[start:end])` from the complete subtrees in `nodes`; the empty range is the empty root.
pub fn range_hash((start, end): Range, nodes: &impl Nodes) -> Result<Hash, ProofError> {
    if start == end {
        return Ok(empty_root());
    }
    if let Some(id) = as_node((start, end)) {
        return nodes.node(id).ok_or(ProofError::MissingNode(id));
    }
    let k = split(end - start);
    Ok(node_hash(
        &range_hash((start, start + k), nodes)?,
        &range_hash((start + k, end), nodes)?,
    ))
}

/// The ranges of `PATH(index, D[0:size])`, bottom first: the audit path of a leaf.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<Range>, ProofError> {
    if index >= size {
        return Err(ProofError::NoSuchLeaf { index, size });
    }
    fn path(m: u64, start: u64, n: u64, out: &mut Vec<Range>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, start, k, out);
            out.push((start + k, start + n));
        } else {
            path(m - k, start + k, n - k, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    Ok(out)
}

/// The ranges of `PROOF(old, D[0:new])`: what shows a tree of `old` leaves is a prefix of one
/// of `new`.
pub fn consistency_ranges(old: u64, new: u64) -> Result<Vec<Range>, ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::NotAPrefix { old, new });
    }
    fn subproof(m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Range>) {
        if m == n {
            if !whole {
                out.push((start, start + n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, whole, out);
            out.push((start + k, start + n));
        } else {
            subproof(m - k, start + k, n - k, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    subproof(old, 0, new, true, &mut out);
    Ok(out)
}

/// The hashes of `ranges`, in order.
pub fn hashes_of(ranges: &[Range], nodes: &impl Nodes) -> Result<Vec<Hash>, ProofError> {
    ranges.iter().map(|r| range_hash(*r, nodes)).collect()
}

/// The nodes appending the leaf at `index` (its hash `leaf`) reads: the left siblings it
/// completes subtrees with.
pub fn append_reads(index: u64) -> Vec<NodeId> {
    let mut reads = Vec::new();
    let (mut level, mut at) = (0, index);
    while at % 2 == 1 {
        reads.push(NodeId {
            level,
            index: at - 1,
        });
        level += 1;
        at /= 2;
    }
    reads
}

/// The complete subtrees the leaf at `index` completes: itself, and each parent whose right
/// edge it is. Their left siblings ([`append_reads`]) come from `nodes`.
pub fn append(
    index: u64,
    leaf: Hash,
    nodes: &impl Nodes,
) -> Result<Vec<(NodeId, Hash)>, ProofError> {
    let mut made = vec![(NodeId { level: 0, index }, leaf)];
    let mut hash = leaf;
    for left in append_reads(index) {
        let sibling = nodes.node(left).ok_or(ProofError::MissingNode(left))?;
        hash = node_hash(&sibling, &hash);
        made.push((
            NodeId {
                level: left.level + 1,
                index: left.index / 2,
            },
            hash,
        ));
    }
    Ok(made)
}

/// Whether `proof` shows the leaf `leaf` at `index` is in the tree of `size` with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Whether `proof` shows the tree of `old` leaves with `old_root` is a prefix of the tree of
/// `new` leaves with `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old_root && sr == *new_root && snode == 0
}

/// A tree head: the log's size and root at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl TreeHead {
    /// What is signed: RFC 6962 §3.5's `TreeHeadSignature` — version v1 (0), signature type
    /// tree_hash (1), the timestamp and the size as big-endian u64, then the root.
    pub fn signed_bytes(&self) -> [u8; 50] {
        let mut bytes = [0u8; 50];
        bytes[0] = 0;
        bytes[1] = 1;
        bytes[2..10].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        bytes[10..18].copy_from_slice(&self.size.to_be_bytes());
        bytes[18..].copy_from_slice(&self.root);
        bytes
    }
}

/// Why a signing key or a public key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an Ed25519 key is 32 bytes, not {0}")]
    Length(usize),
    #[error("not an Ed25519 public key")]
    NotAPoint,
}

/// Signs tree heads with the log's Ed25519 key.
#[derive(Clone)]
pub struct LogSigner {
    key: SigningKey,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself never reaches a log line.
        f.debug_struct("LogSigner")
            .field("key_id", &hex(&self.key_id()))
            .finish()
    }
}

impl LogSigner {
    /// The signer of the 32-byte Ed25519 seed `seed`.
    pub fn from_seed(seed: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| KeyError::Length(seed.len()))?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// SHA-256 of the public key: how a verifier names the key it trusts.
    pub fn key_id(&self) -> Hash {
        sha256(&[&self.public_key()])
    }

    pub fn sign(&self, head: &TreeHead) -> [u8; 64] {
        self.key.sign(&head.signed_bytes()).to_bytes()
    }
}

/// Whether `signature` is `public_key`'s signature of `head`.
pub fn verify_tree_head(
    public_key: &[u8],
    head: &TreeHead,
    signature: &[u8],
) -> Result<bool, KeyError> {
    let key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| KeyError::Length(public_key.len()))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| KeyError::NotAPoint)?;
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return Ok(false);
    };
    Ok(key
        .verify(&head.signed_bytes(), &Signature::from_bytes(&signature))
        .is_ok())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of hex text (either case), or `None` when it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str) -> Hash {
        unhex(text).expect("hex").try_into().expect("32 bytes")
    }

    /// The reference leaves of RFC 6962 implementations (Certificate Transparency's test data).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Their roots for the sizes 0 to 8.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// A log of `leaves`, built the way a store builds it: one append at a time.
    fn log_of(leaves: &[Hash]) -> HashMap<NodeId, Hash> {
        let mut nodes = HashMap::new();
        for (index, leaf) in leaves.iter().enumerate() {
            for (id, hash) in append(index as u64, *leaf, &nodes).expect("append") {
                nodes.insert(id, hash);
            }
        }
        nodes
    }

    /// RFC 6962's `MTH`, straight from its definition: the independent reference.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn reference_leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|l| leaf_hash(&unhex(l).expect("hex")))
            .collect()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let leaves = reference_leaves();
        let log = log_of(&leaves);
        for (size, root) in ROOTS.iter().enumerate() {
            let size = size as u64;
            assert_eq!(
                hex(&range_hash((0, size), &log).expect("root")),
                *root,
                "size {size}"
            );
        }
    }

    #[test]
    fn proofs_match_the_reference_vectors() {
        let log = log_of(&reference_leaves());
        let proof = |ranges: Vec<Range>| -> Vec<String> {
            hashes_of(&ranges, &log)
                .expect("hashes")
                .iter()
                .map(|h| hex(h))
                .collect()
        };
        assert_eq!(
            proof(inclusion_ranges(0, 8).expect("path")),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            proof(inclusion_ranges(5, 8).expect("path")),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            proof(consistency_ranges(2, 8).expect("proof")),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            proof(consistency_ranges(6, 8).expect("proof")),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            proof(consistency_ranges(2, 5).expect("proof")),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    #[test]
    fn every_proof_verifies_in_every_size_and_tampering_fails() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let log = log_of(&leaves);
        for size in 1..=leaves.len() as u64 {
            let root = reference_root(&leaves[..size as usize]);
            assert_eq!(range_hash((0, size), &log).expect("root"), root);
            for index in 0..size {
                let proof =
                    hashes_of(&inclusion_ranges(index, size).expect("path"), &log).expect("hashes");
                let leaf = leaves[index as usize];
                assert!(verify_inclusion(index, size, &leaf, &proof, &root));
                assert!(!verify_inclusion(
                    index,
                    size,
                    &leaf_hash(b"forged"),
                    &proof,
                    &root
                ));
                if size > 1 {
                    assert!(!verify_inclusion(
                        (index + 1) % size,
                        size,
                        &leaf,
                        &proof,
                        &root
                    ));
                }
                if let Some((first, rest)) = proof.split_first() {
                    let mut bent = vec![node_hash(first, first)];
                    bent.extend_from_slice(rest);
                    assert!(!verify_inclusion(index, size, &leaf, &bent, &root));
                }
            }
            for old in 1..=size {
                let old_root = reference_root(&leaves[..old as usize]);
                let proof = hashes_of(&consistency_ranges(old, size).expect("proof"), &log)
                    .expect("hashes");
                assert!(
                    verify_consistency(old, size, &old_root, &root, &proof),
                    "{old} → {size}"
                );
                if old < size {
                    let forged = leaf_hash(b"rewritten history");
                    assert!(!verify_consistency(old, size, &forged, &root, &proof));
                    assert!(!verify_consistency(old, size, &old_root, &forged, &proof));
                    assert!(!verify_consistency(
                        old,
                        size,
                        &old_root,
                        &root,
                        &proof[1..]
                    ));
                }
            }
        }
        assert!(inclusion_ranges(3, 3).is_err());
        assert!(consistency_ranges(0, 3).is_err());
        assert!(consistency_ranges(4, 3).is_err());
    }

    #[test]
    fn a_proof_reads_only_a_few_nodes() {
        let ranges = inclusion_ranges(123_456, 1_000_000).expect("path");
        assert_eq!(ranges.len(), 20);
        assert!(nodes_of(&ranges).len() <= 40, "{}", nodes_of(&ranges).len());
        let ranges = consistency_ranges(999_999, 1_000_000).expect("proof");
        assert!(nodes_of(&ranges).len() <= 40);
        assert_eq!(append_reads(0b1011).len(), 2);
    }

    #[test]
    fn tree_heads_are_signed_and_checked() {
        let signer = LogSigner::from_seed(&[7u8; 32]).expect("key");
        let head = TreeHead {
            size: 8,
            root: hash(ROOTS[8]),
            timestamp_ms: 1_796_004_000_000,
        };
        let signature = signer.sign(&head);
        let public = signer.public_key();
        assert_eq!(verify_tree_head(&public, &head, &signature), Ok(true));
        let other = TreeHead { size: 9, ..head };
        assert_eq!(verify_tree_head(&public, &other, &signature), Ok(false));
        assert_eq!(verify_tree_head(&public, &head, &signature[1..]), Ok(false));
        assert!(LogSigner::from_seed(&[1u8; 31]).is_err());
        assert!(!format!("{signer:?}").contains("07070707"));
    }
}
