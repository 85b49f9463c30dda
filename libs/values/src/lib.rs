//! Values that more than one service checks on construction, each with one rule and one
//! message: text fields, phone numbers, resident ID-card numbers, the unified social credit code,
//! request ids, and how personal values are masked for those who may not see them in clear.
//!
//! Lengths are counted in characters (a Chinese name of four characters is four, not twelve
//! bytes), and text is trimmed before it is checked and stored.

pub mod credit_code;
pub mod id_card;
pub mod mask;
pub mod phone;
pub mod request_id;
pub mod text;

pub use credit_code::CreditCode;
pub use id_card::IdCard;
pub use mask::{mask_name, mask_phone};
pub use phone::{Phone, Telephone};
pub use request_id::RequestId;
pub use text::Text;
