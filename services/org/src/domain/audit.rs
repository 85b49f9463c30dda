//! The audit trail: what each mutation of the org service's data leaves behind.

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_id: String,
    pub details: String,
    pub trace_id: Option<String>,
}
