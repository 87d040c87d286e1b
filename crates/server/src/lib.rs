//! Local Genesis DB server.
