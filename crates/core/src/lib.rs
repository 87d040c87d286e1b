//! Genesis DB client core.
