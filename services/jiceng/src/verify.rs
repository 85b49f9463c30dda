//! `jiceng proof` and `jiceng verify`: a disclosure's inclusion proof, or a signed tree head alone,
//! as a self-contained JSON bundle, and its offline check — the head's Ed25519 signature by the
//! key the verifier trusts and, for a proof, the entry's leaf hash and its audit path to the
//! head's root (RFC 6962). Nothing in the check asks the service: a bundle kept today proves
//! tomorrow what was published, and a monitor keeps heads to hold the log to them.

use jiceng_merkle::{self as merkle, Hash, TreeHead};
use jiceng_proto::property as pb;
use serde::{Deserialize, Serialize};

/// A signed tree head, as `jiceng proof` writes it without a disclosure. Hashes, keys and
/// signatures are hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadBundle {
    pub log_id: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub timestamp_ms: u64,
    pub signature: String,
    pub public_key: String,
}

/// A disclosure's inclusion proof, as `jiceng proof` writes it: the signed head, the exact text
/// the log hashed, and its audit path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofBundle {
    pub log_id: String,
    pub entry: String,
    pub leaf_index: u64,
    pub audit_path: Vec<String>,
    pub tree_size: u64,
    pub root_hash: String,
    pub timestamp_ms: u64,
    pub signature: String,
    pub public_key: String,
}

/// Either bundle, told apart by whether it carries an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bundle {
    Proof(ProofBundle),
    Head(HeadBundle),
}

/// What a proof bundle shows once verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub disclosure_id: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub root_hash: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the bundle is malformed: {0}")]
    Malformed(String),
    #[error("the tree head is signed by key {found}, not the trusted key {trusted}")]
    OtherKey { found: String, trusted: String },
    #[error("the tree head's signature does not verify")]
    BadSignature,
    #[error("a head of size 0 must have the empty tree's root (SHA-256 of nothing)")]
    NotEmptyRoot,
    #[error("the entry is not in the log at that head: it was altered, or the proof is wrong")]
    NotIncluded,
}

fn unhex(field: &str, text: &str) -> Result<Vec<u8>, VerifyError> {
    merkle::unhex(text).ok_or_else(|| VerifyError::Malformed(format!("{field} is not hex")))
}

fn hash(field: &str, text: &str) -> Result<Hash, VerifyError> {
    unhex(field, text)?
        .try_into()
        .map_err(|_| VerifyError::Malformed(format!("{field} is not 32 bytes")))
}

impl HeadBundle {
    /// The bundle of a `SignedTreeHead` answer.
    pub fn from_proto(head: &pb::SignedTreeHead) -> Result<Self, VerifyError> {
        let timestamp = head.timestamp.unwrap_or_default();
        Ok(Self {
            log_id: head.log_id.clone(),
            tree_size: u64::try_from(head.tree_size)
                .map_err(|_| VerifyError::Malformed("negative tree size".into()))?,
            root_hash: merkle::hex(&head.root_hash),
            timestamp_ms: u64::try_from(
                timestamp.seconds * 1000 + i64::from(timestamp.nanos / 1_000_000),
            )
            .unwrap_or_default(),
            signature: merkle::hex(&head.signature),
            public_key: merkle::hex(&head.public_key),
        })
    }

    /// Checks that the trusted key (hex) signed this head, offline; the head it proves.
    pub fn verify(&self, trusted_key: &str) -> Result<TreeHead, VerifyError> {
        let trusted = trusted_key.trim().to_ascii_lowercase();
        if self.public_key != trusted {
            return Err(VerifyError::OtherKey {
                found: self.public_key.clone(),
                trusted,
            });
        }
        let head = TreeHead {
            size: self.tree_size,
            root: hash("root_hash", &self.root_hash)?,
            timestamp_ms: self.timestamp_ms,
        };
        let signed = merkle::verify_tree_head(
            &unhex("public_key", &self.public_key)?,
            &head,
            &unhex("signature", &self.signature)?,
        )
        .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !signed {
            return Err(VerifyError::BadSignature);
        }
        // A signer could sign any root for size 0; RFC 6962 allows only one.
        if head.size == 0 && head.root != merkle::empty_root() {
            return Err(VerifyError::NotEmptyRoot);
        }
        Ok(head)
    }
}

impl ProofBundle {
    /// The bundle of an `InclusionProof` answer.
    pub fn from_proto(proof: &pb::InclusionProof) -> Result<Self, VerifyError> {
        let head = HeadBundle::from_proto(
            proof
                .tree_head
                .as_ref()
                .ok_or_else(|| VerifyError::Malformed("the proof has no tree head".into()))?,
        )?;
        Ok(Self {
            log_id: head.log_id,
            entry: String::from_utf8(proof.entry.clone())
                .map_err(|_| VerifyError::Malformed("the entry is not text".into()))?,
            leaf_index: u64::try_from(proof.leaf_index)
                .map_err(|_| VerifyError::Malformed("negative leaf index".into()))?,
            audit_path: proof.audit_path.iter().map(|h| merkle::hex(h)).collect(),
            tree_size: head.tree_size,
            root_hash: head.root_hash,
            timestamp_ms: head.timestamp_ms,
            signature: head.signature,
            public_key: head.public_key,
        })
    }

    /// The signed head the proof leads to.
    pub fn head(&self) -> HeadBundle {
        HeadBundle {
            log_id: self.log_id.clone(),
            tree_size: self.tree_size,
            root_hash: self.root_hash.clone(),
            timestamp_ms: self.timestamp_ms,
            signature: self.signature.clone(),
            public_key: self.public_key.clone(),
        }
    }

    /// Checks the bundle against the log key the verifier trusts (hex), offline.
    pub fn verify(&self, trusted_key: &str) -> Result<Verified, VerifyError> {
        let head = self.head().verify(trusted_key)?;
        let path = self
            .audit_path
            .iter()
            .map(|h| hash("audit_path", h))
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = merkle::leaf_hash(self.entry.as_bytes());
        if !merkle::verify_inclusion(self.leaf_index, head.size, &leaf, &path, &head.root) {
            return Err(VerifyError::NotIncluded);
        }
        let disclosure_id = serde_json::from_str::<serde_json::Value>(&self.entry)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Ok(Verified {
            disclosure_id,
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
            root_hash: self.root_hash.clone(),
        })
    }
}
