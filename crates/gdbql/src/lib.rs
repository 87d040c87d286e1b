//! GDBQL engine.
