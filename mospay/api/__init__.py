"""JSON resources of the REST API: request parsing and credentials here, the work in domain modules."""
