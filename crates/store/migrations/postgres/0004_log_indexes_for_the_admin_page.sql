-- allybridge store, schema v4: indexes for the admin page's dashboard.
-- `integration_log_at` serves the last 24 hours of records' outcomes (the
-- log is kept for good, so a scan of it grows with time);
-- `integration_log_flow` finds each flow's newest entry (entity and the
-- system its records are read from) without reading the others'.
CREATE INDEX integration_log_at ON integration_log (at);
CREATE INDEX integration_log_flow ON integration_log (entity_type, from_system, id);
