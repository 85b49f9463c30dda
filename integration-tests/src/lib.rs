//! Cross-service scenarios through the public gRPC API, against SQLite and PostgreSQL.
//!
//! The scenarios live in `tests/`; they start the real `jiceng` application in-process on a
//! pre-bound local port and call it as any other system would.
