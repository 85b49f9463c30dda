//! The jiceng binary's library: the proof bundles `jiceng proof` writes and their offline check
//! (`jiceng verify`), which an auditor's own tests can use too.

pub mod verify;
