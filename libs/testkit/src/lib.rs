//! Test support: fresh SQLite or PostgreSQL databases, in-process services on pre-bound ports, an OTLP receiver, tokens.
