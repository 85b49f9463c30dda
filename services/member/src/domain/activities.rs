//! Activities and who attended them.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    pub id: String,
    /// "org_life" or "service".
    pub kind: String,
    pub title: String,
    pub org_id: String,
    pub held_on: String,
    pub attendees: Vec<String>,
    pub booking_id: Option<String>,
    pub recorded_at: i64,
}
