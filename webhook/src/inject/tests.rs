//! Table-driven tests of the mutation logic.
