//! Disclosures and the district's transparency log. Publishing appends the disclosure's entry to
//! an RFC 6962 Merkle tree, stores the complete subtrees it completes, and signs the new tree
//! head, all in one transaction under the log's exclusive lock: appends are serialised, so the
//! log never forks, however many replicas publish at once.
//!
//! A restore of the database to an earlier point would let it fork all the same: the log would
//! sign new entries at sizes it had signed before. The org service witnesses the latest head
//! (see [`crate::witness`]); every append first checks, in its transaction, that the log still
//! holds the head last witnessed, and one that does not is refused until an operator resolves it.

use std::{collections::HashMap, time::Duration};

use jiceng_db::{LockMode, Tx};
use jiceng_merkle::{self as merkle, Hash, NodeId, TreeHead};
use jiceng_org_client::paths;

use super::{
    Listing, PropertyStore, REQUEST_IDS, Result, StoreError, fetch_compound, list_rows,
    precondition,
};
use crate::domain::disclosure::Entry;

/// The log's entities, defined in [`crate::domain`]: re-exported at their old paths.
pub use crate::domain::{
    disclosure::Disclosure,
    log::{Consistency, Inclusion, SignedHead, Witnessing},
};

/// How long an append waits for the process's first comparison with the witness before it is
/// refused as UNAVAILABLE.
const FIRST_WITNESS_WAIT: Duration = Duration::from_secs(10);

/// The log's standing against its witness ([`Witnessing`]), and the signal that the log grew
/// or an append found it diverged (the witnessing runs at once rather than at its next round).
#[derive(Debug)]
pub struct LogWitnessing {
    state: tokio::sync::watch::Sender<Witnessing>,
    changed: tokio::sync::Notify,
}

impl Default for LogWitnessing {
    fn default() -> Self {
        Self {
            state: tokio::sync::watch::Sender::new(Witnessing::nothing()),
            changed: tokio::sync::Notify::new(),
        }
    }
}

/// The advisory lock every append takes (PostgreSQL; SQLite's write transactions already
/// exclude each other).
const LOG_LOCK: i64 = 0x6a69_6365_6e67_6c67;

const DISCLOSURE_COLUMNS: &str = "id, entry, leaf_index, superseded_by_id, published_at";

/// A row of [`DISCLOSURE_COLUMNS`]: its fields are the constant's columns that a disclosure
/// keeps (its id and publication time are in its entry).
#[derive(sqlx::FromRow)]
struct DisclosureRow {
    entry: String,
    leaf_index: i64,
    superseded_by_id: Option<String>,
}

impl TryFrom<DisclosureRow> for Disclosure {
    type Error = StoreError;

    fn try_from(row: DisclosureRow) -> Result<Self> {
        Ok(Disclosure {
            entry: Entry::from_bytes(row.entry.as_bytes())
                .ok_or_else(|| StoreError::corrupt("disclosure entry"))?,
            entry_bytes: row.entry.into_bytes(),
            leaf_index: u64::try_from(row.leaf_index)
                .map_err(|_| StoreError::corrupt("leaf index"))?,
            superseded_by: row.superseded_by_id,
        })
    }
}

const HEAD_COLUMNS: &str = "size, root, signed_at, signature";

/// A row of [`HEAD_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct HeadRow {
    size: i64,
    root: String,
    signed_at: i64,
    signature: String,
}

impl TryFrom<HeadRow> for SignedHead {
    type Error = StoreError;

    fn try_from(row: HeadRow) -> Result<Self> {
        Ok(SignedHead {
            head: TreeHead {
                size: u64::try_from(row.size).map_err(|_| StoreError::corrupt("tree size"))?,
                root: hex_hash(&row.root)?,
                timestamp_ms: u64::try_from(row.signed_at)
                    .map_err(|_| StoreError::corrupt("head time"))?,
            },
            signature: hex_bytes(&row.signature)?,
        })
    }
}

fn hex_hash(text: &str) -> Result<Hash> {
    hex_bytes(text)?
        .try_into()
        .map_err(|_| StoreError::corrupt("log hash"))
}

fn hex_bytes(text: &str) -> Result<Vec<u8>> {
    merkle::unhex(text).ok_or_else(|| StoreError::corrupt("log hex"))
}

async fn fetch_disclosure(tx: &mut Tx, id: &str) -> Result<Disclosure> {
    sqlx::query_as::<_, DisclosureRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DISCLOSURE_COLUMNS} FROM property_disclosures WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("disclosure", id))?
    .try_into()
}

/// The log's size: its latest head's (0 while empty).
async fn log_size(tx: &mut Tx) -> Result<u64> {
    let size: Option<i64> = sqlx::query_scalar("SELECT MAX(size) FROM property_log_heads")
        .fetch_one(&mut **tx)
        .await?;
    u64::try_from(size.unwrap_or(0)).map_err(|_| StoreError::corrupt("tree size"))
}

/// The stored hashes of `ids`, in one query.
async fn load_nodes(tx: &mut Tx, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
    let mut nodes = HashMap::with_capacity(ids.len());
    // A few dozen nodes at most (two per level): one statement, pairs of placeholders.
    for chunk in ids.chunks(200) {
        let pairs: Vec<String> = (0..chunk.len())
            .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "SELECT level, idx, hash FROM property_log_nodes WHERE {}",
            pairs.join(" OR ")
        );
        let mut query = sqlx::query_as::<_, (i64, i64, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query
                .bind(i64::from(id.level))
                .bind(i64::try_from(id.index).map_err(|_| StoreError::corrupt("node index"))?);
        }
        for (level, index, hash) in query.fetch_all(&mut **tx).await? {
            let id = NodeId {
                level: u32::try_from(level).map_err(|_| StoreError::corrupt("node level"))?,
                index: u64::try_from(index).map_err(|_| StoreError::corrupt("node index"))?,
            };
            nodes.insert(id, hex_hash(&hash)?);
        }
    }
    Ok(nodes)
}

/// The hashes of `ranges` of the log, read in one query.
async fn range_hashes(tx: &mut Tx, ranges: &[merkle::Range]) -> Result<Vec<Hash>> {
    let nodes = load_nodes(tx, &merkle::nodes_of(ranges)).await?;
    merkle::hashes_of(ranges, &nodes).map_err(|e| StoreError::corrupt(e.to_string()))
}

/// Refuses to append to a log that no longer holds the head of `size` with `root`, the head
/// last witnessed: its database was restored to before that head, or it forked. Returns the
/// reason, which the caller records.
async fn check_witnessed(tx: &mut Tx, size: u64, root: &Hash) -> Result<Option<String>> {
    if size == 0 {
        return Ok(None);
    }
    let held: Option<String> =
        sqlx::query_scalar("SELECT root FROM property_log_heads WHERE size = $1")
            .bind(i64::try_from(size).map_err(|_| StoreError::corrupt("tree size"))?)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(match held {
        None => Some(format!(
            "the log is shorter than the head of size {size} that was witnessed: \
             its database was restored to an earlier point"
        )),
        Some(held) if hex_hash(&held)? != *root => Some(format!(
            "the log's head of size {size} differs from the one witnessed: the log has forked"
        )),
        Some(_) => None,
    })
}

fn diverged(reason: &str) -> StoreError {
    StoreError::precondition(
        "LOG_DIVERGED",
        "property log",
        format!(
            "{reason}; the log signs nothing until an operator restores the missing entries or \
             resets the witness (docs/operations/RESTORE.md)"
        ),
    )
}

async fn signed_head(tx: &mut Tx, size: u64) -> Result<SignedHead> {
    sqlx::query_as::<_, HeadRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {HEAD_COLUMNS} FROM property_log_heads WHERE size = $1"
    )))
    .bind(i64::try_from(size).map_err(|_| StoreError::corrupt("tree size"))?)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("tree head", size.to_string()))?
    .try_into()
}

impl PropertyStore {
    /// Makes appends wait until the log is first compared with its witness ([`crate::witness`]
    /// does it when the service starts).
    pub fn await_witness(&self) {
        self.witnessing.state.send_replace(Witnessing::Unchecked);
    }

    /// The log's standing against its witness.
    pub fn witnessing(&self) -> Witnessing {
        self.witnessing.state.borrow().clone()
    }

    /// Records the log's standing after a comparison with the witness.
    pub fn set_witnessing(&self, witnessing: Witnessing) {
        self.witnessing.state.send_replace(witnessing);
    }

    /// Completes when a disclosure has been appended, or an append found the log diverged,
    /// since the last call.
    pub async fn log_changed(&self) {
        self.witnessing.changed.notified().await;
    }

    /// The witnessed head an append must find in the log, once the log has been compared with
    /// its witness (waiting up to [`FIRST_WITNESS_WAIT`] for the first comparison).
    async fn witnessed_to_keep(&self) -> Result<(u64, Hash)> {
        let mut state = self.witnessing.state.subscribe();
        let compared = tokio::time::timeout(
            FIRST_WITNESS_WAIT,
            state.wait_for(|w| *w != Witnessing::Unchecked),
        )
        .await;
        let witnessing = match compared {
            Ok(Ok(witnessing)) => witnessing.clone(),
            _ => {
                return Err(StoreError::Unavailable(
                    "the transparency log has not yet been compared with the head the org \
                     service witnesses; retry"
                        .to_owned(),
                ));
            }
        };
        match witnessing {
            Witnessing::Holds { size, root } => Ok((size, root)),
            Witnessing::Diverged(reason) => Err(diverged(&reason)),
            Witnessing::Unchecked => Err(StoreError::corrupt("witnessing")),
        }
    }

    /// In an append's transaction, under the log's lock: refuses when the log no longer holds
    /// the head last witnessed, and remembers why.
    async fn keep_witnessed(&self, tx: &mut Tx, (size, root): (u64, Hash)) -> Result<()> {
        match check_witnessed(tx, size, &root).await? {
            None => Ok(()),
            Some(reason) => {
                tracing::error!(
                    reason,
                    "the transparency log does not hold its witnessed head"
                );
                self.set_witnessing(Witnessing::Diverged(reason.clone()));
                self.witnessing.changed.notify_one();
                Err(diverged(&reason))
            }
        }
    }

    /// Whether the log holds the head of `size` with `root`; `None` when it does, else why not.
    pub async fn holds(&self, size: u64, root: &Hash) -> Result<Option<String>> {
        let mut tx = self.db.begin().await?;
        let reason = check_witnessed(&mut tx, size, root).await?;
        tx.commit().await?;
        Ok(reason)
    }

    /// Publishes a disclosure: checks its compound's managing company and what it corrects,
    /// appends its entry to the log and signs the new head. A retried `request_id` of the same
    /// publisher returns the first disclosure.
    #[tracing::instrument(name = "property.store.publish", skip_all)]
    pub async fn publish(
        &self,
        request_id: Option<&str>,
        entry: Entry,
        compound_path: &str,
    ) -> Result<Disclosure> {
        let witnessed = self.witnessed_to_keep().await?;
        let mut tx = self.db.begin_write().await?;
        // A disclosure copies its compound's org path: a re-path waits for it, or it sees the
        // re-path's.
        paths::hold(&self.db, &mut tx).await?;
        self.db.lock(&mut tx, LOG_LOCK, LockMode::Exclusive).await?;
        let now = self.db.now();
        if let Some(first) = REQUEST_IDS
            .claim_create(
                &mut tx,
                &entry.published_by,
                request_id,
                "PublishDisclosure",
                &entry.id,
                now,
            )
            .await?
        {
            let disclosure = fetch_disclosure(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(disclosure);
        }
        self.keep_witnessed(&mut tx, witnessed).await?;
        let index = log_size(&mut tx).await?;
        self.append(&mut tx, &entry, compound_path, index, &mut HashMap::new())
            .await?;
        let disclosure = fetch_disclosure(&mut tx, &entry.id).await?;
        tx.commit().await?;
        self.witnessing.changed.notify_one();
        Ok(disclosure)
    }

    /// Publishes many disclosures in one transaction, in order, each checked and signed as
    /// [`PropertyStore::publish`] does: an import, where one commit per disclosure would be
    /// the cost. The subtrees the batch completes stay in memory, so each append after the
    /// first reads nothing back. All or none are published.
    #[tracing::instrument(name = "property.store.publish_batch", skip_all, fields(entries = entries.len()))]
    pub async fn publish_batch(&self, entries: &[(Entry, String)]) -> Result<u64> {
        let witnessed = self.witnessed_to_keep().await?;
        let mut tx = self.db.begin_write().await?;
        // A disclosure copies its compound's org path: a re-path waits for it, or it sees the
        // re-path's.
        paths::hold(&self.db, &mut tx).await?;
        self.db.lock(&mut tx, LOG_LOCK, LockMode::Exclusive).await?;
        self.keep_witnessed(&mut tx, witnessed).await?;
        let mut index = log_size(&mut tx).await?;
        let mut known = HashMap::new();
        for (entry, compound_path) in entries {
            self.append(&mut tx, entry, compound_path, index, &mut known)
                .await?;
            index += 1;
        }
        tx.commit().await?;
        self.witnessing.changed.notify_one();
        Ok(index)
    }

    /// Appends `entry` as leaf `index` in the caller's transaction, which holds the log's lock:
    /// the checks, the subtrees it completes, the signed head of the new size, the disclosure
    /// row. `known` holds subtree hashes already read or made; what is missing is read.
    async fn append(
        &self,
        tx: &mut Tx,
        entry: &Entry,
        compound_path: &str,
        index: u64,
        known: &mut HashMap<NodeId, Hash>,
    ) -> Result<()> {
        let compound = fetch_compound(tx, &entry.compound_id, self.db.now()).await?;
        if compound.company_id != entry.company_id {
            return Err(precondition(
                "COMPANY",
                "only the company managing a compound publishes for it",
            ));
        }
        if let Some(original) = &entry.supersedes_id {
            let corrected = fetch_disclosure(tx, original).await?;
            if corrected.entry.compound_id != entry.compound_id
                || corrected.entry.content.kind() != entry.content.kind()
            {
                return Err(precondition(
                    "CORRECTION",
                    "a correction is of the same compound and kind as what it corrects",
                ));
            }
            if let Some(later) = corrected.superseded_by {
                return Err(precondition(
                    "CORRECTION",
                    format!("that disclosure was corrected already by {later}: correct that one"),
                ));
            }
        }
        let bytes = entry.to_bytes();
        let size = index + 1;
        let mut wanted = merkle::append_reads(index);
        wanted.retain(|id| !known.contains_key(id));
        known.extend(load_nodes(tx, &wanted).await?);
        let made = merkle::append(index, merkle::leaf_hash(&bytes), known)
            .map_err(|e| StoreError::corrupt(e.to_string()))?;
        for (id, hash) in &made {
            sqlx::query("INSERT INTO property_log_nodes (level, idx, hash) VALUES ($1, $2, $3)")
                .bind(i64::from(id.level))
                .bind(i64::try_from(id.index).map_err(|_| StoreError::corrupt("node index"))?)
                .bind(merkle::hex(hash))
                .execute(&mut **tx)
                .await?;
            known.insert(*id, *hash);
        }
        let mut wanted = merkle::nodes_of(&[(0, size)]);
        wanted.retain(|id| !known.contains_key(id));
        known.extend(load_nodes(tx, &wanted).await?);
        let root =
            merkle::range_hash((0, size), known).map_err(|e| StoreError::corrupt(e.to_string()))?;
        let head = TreeHead {
            size,
            root,
            timestamp_ms: u64::try_from(entry.published_at).unwrap_or_default(),
        };
        sqlx::query(
            "INSERT INTO property_log_heads (size, root, signed_at, signature) VALUES ($1, $2, $3, $4)",
        )
        .bind(i64::try_from(size).map_err(|_| StoreError::corrupt("tree size"))?)
        .bind(merkle::hex(&root))
        .bind(entry.published_at)
        .bind(merkle::hex(&self.signer.sign(&head)))
        .execute(&mut **tx)
        .await?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::corrupt("entry"))?;
        sqlx::query(
            "INSERT INTO property_disclosures (id, leaf_index, compound_id, company_id, org_path, kind, period,
                 entry, supersedes_id, superseded_by_id, published_at)
             VALUES ($1, $2, $3, $4,
                 COALESCE((SELECT org_path FROM property_compounds WHERE id = $3), $5),
                 $6, $7, $8, $9, NULL, $10)",
        )
        .bind(&entry.id)
        .bind(i64::try_from(index).map_err(|_| StoreError::corrupt("leaf index"))?)
        .bind(&entry.compound_id)
        .bind(&entry.company_id)
        .bind(compound_path)
        .bind(entry.content.kind().as_str())
        .bind(entry.period.as_str())
        .bind(&text)
        .bind(&entry.supersedes_id)
        .bind(entry.published_at)
        .execute(&mut **tx)
        .await?;
        if let Some(original) = &entry.supersedes_id {
            sqlx::query("UPDATE property_disclosures SET superseded_by_id = $1 WHERE id = $2")
                .bind(&entry.id)
                .bind(original)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub async fn disclosure(&self, id: &str) -> Result<Disclosure> {
        let mut tx = self.db.begin().await?;
        let disclosure = fetch_disclosure(&mut tx, id).await?;
        tx.commit().await?;
        Ok(disclosure)
    }

    /// Disclosures of a compound or a subtree, newest first.
    pub async fn list_disclosures(&self, listing: &Listing) -> Result<Vec<Disclosure>> {
        list_rows::<DisclosureRow>(
            &self.db,
            DISCLOSURE_COLUMNS,
            "property_disclosures",
            "published_at",
            listing,
        )
        .await?
        .into_iter()
        .map(Disclosure::try_from)
        .collect()
    }

    /// Refuses a signer whose key did not sign the log's latest head: a log key regenerated by
    /// mistake would sign heads no reader's trusted key verifies, so that every proof the
    /// district hands out would look forged. An empty log, never signed, admits any key.
    pub async fn confirm_signer(&self) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let size = log_size(&mut tx).await?;
        let head = match signed_head(&mut tx, size).await {
            Err(StoreError::NotFound { .. }) if size == 0 => return Ok(()),
            head => head?,
        };
        tx.commit().await?;
        let signed =
            merkle::verify_tree_head(&self.signer.public_key(), &head.head, &head.signature)
                .map_err(|_| StoreError::corrupt("log key"))?;
        if signed {
            Ok(())
        } else {
            Err(StoreError::precondition(
                "LOG_KEY",
                "property log",
                format!(
                    "the log's latest head (size {}) was not signed by this key (public key {}): \
                     give the property service the key its log was signed with",
                    head.head.size,
                    merkle::hex(&self.signer.public_key())
                ),
            ))
        }
    }

    /// The signed head of `size`, or the latest. The empty log has a head too (RFC 6962: size
    /// 0, the hash of nothing), signed once when first asked for and the same ever after.
    pub async fn tree_head(&self, size: Option<u64>) -> Result<SignedHead> {
        let mut tx = self.db.begin().await?;
        let size = match size {
            Some(size) => size,
            None => log_size(&mut tx).await?,
        };
        let head = match signed_head(&mut tx, size).await {
            Err(StoreError::NotFound { .. }) if size == 0 => {
                tx.commit().await?;
                return self.empty_head().await;
            }
            head => head?,
        };
        tx.commit().await?;
        Ok(head)
    }

    /// Signs and keeps the head of the empty log, unless a replica already did.
    async fn empty_head(&self) -> Result<SignedHead> {
        let head = TreeHead {
            size: 0,
            root: merkle::empty_root(),
            timestamp_ms: u64::try_from(self.db.now()).unwrap_or_default(),
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO property_log_heads (size, root, signed_at, signature) VALUES (0, $1, $2, $3)
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(merkle::hex(&head.root))
        .bind(i64::try_from(head.timestamp_ms).map_err(|_| StoreError::corrupt("head time"))?)
        .bind(merkle::hex(&self.signer.sign(&head)))
        .execute(&mut *tx)
        .await?;
        let head = signed_head(&mut tx, 0).await?;
        tx.commit().await?;
        Ok(head)
    }

    /// A disclosure's entry and audit path to the signed head of `size` (or the latest).
    pub async fn inclusion(&self, disclosure_id: &str, size: Option<u64>) -> Result<Inclusion> {
        let mut tx = self.db.begin().await?;
        let disclosure = fetch_disclosure(&mut tx, disclosure_id).await?;
        let size = match size {
            Some(size) => size,
            None => log_size(&mut tx).await?,
        };
        let head = signed_head(&mut tx, size).await?;
        let ranges = merkle::inclusion_ranges(disclosure.leaf_index, size).map_err(|_| {
            precondition(
                "TREE_SIZE",
                format!(
                    "the disclosure is leaf {} and joined the log after size {size}",
                    disclosure.leaf_index
                ),
            )
        })?;
        let path = range_hashes(&mut tx, &ranges).await?;
        tx.commit().await?;
        Ok(Inclusion {
            entry_bytes: disclosure.entry_bytes,
            leaf_index: disclosure.leaf_index,
            path,
            head,
        })
    }

    /// The proof that the log at `first` is a prefix of the log at `second`.
    pub async fn consistency(&self, first: u64, second: u64) -> Result<Consistency> {
        let mut tx = self.db.begin().await?;
        let size = log_size(&mut tx).await?;
        if second > size {
            return Err(StoreError::not_found("tree head", second.to_string()));
        }
        let ranges = merkle::consistency_ranges(first, second)
            .map_err(|e| precondition("TREE_SIZE", e.to_string()))?;
        let mut hashes = range_hashes(&mut tx, &[(0, first), (0, second)]).await?;
        let (second_root, first_root) = (
            hashes.pop().ok_or_else(|| StoreError::corrupt("root"))?,
            hashes.pop().ok_or_else(|| StoreError::corrupt("root"))?,
        );
        let proof = range_hashes(&mut tx, &ranges).await?;
        tx.commit().await?;
        Ok(Consistency {
            first_root,
            second_root,
            proof,
        })
    }
}
