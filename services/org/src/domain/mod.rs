//! The org tree's domain: values that validate on construction, and the rules of the tree.

pub mod alliances;
mod audit;
mod kind;
pub mod meetings;
pub mod positions;
pub mod text;
mod unit;
pub mod venues;
pub mod witness;

pub use audit::AuditRecord;
pub use jiceng_values::RequestId;
pub use kind::{KindRule, KindSchema, Level, UnitKind, is_default_rule};
pub use unit::{
    NameQuery, TreeGenerations, Unit, UnitCode, UnitId, UnitName, UnitStatus, subtree_range,
};
