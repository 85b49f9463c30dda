//! The commands that fill and load a district, kept out of the services and the composition
//! root: `jiceng seed` (a synthetic district of a planned size, written through every service's
//! store), the demo loader behind `jiceng up --demo` (the sample Pudong tree), and `jiceng bench`
//! (the load generator with its raw-SQL baselines). The binary offers them as commands; the
//! integration tests load their districts with them.

pub mod baseline;
pub mod bench;
pub mod demo;
pub mod seed;
