//! The org service: the district's organisation tree, its kind schema, scope checks and audit trail.
