//! Cross-service scenarios through the public gRPC API, against SQLite and PostgreSQL.
