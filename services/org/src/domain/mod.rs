//! The org tree's domain: values that validate on construction, and the rules of the tree.

pub mod alliances;
mod kind;
pub mod meetings;
pub mod positions;
pub mod text;
mod unit;
pub mod venues;

pub use kind::{KindRule, KindSchema, Level, UnitKind, is_default_rule};
pub use unit::{NameQuery, RequestId, Unit, UnitCode, UnitId, UnitName, UnitStatus, subtree_range};
