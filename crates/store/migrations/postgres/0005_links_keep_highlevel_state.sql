-- What HighLevel held of a linked record when its hash was taken (the
-- engine's JSON), so that a change from AccessAlly is planned without
-- reading HighLevel again. NULL: unknown (read it).
ALTER TABLE links ADD COLUMN highlevel_state TEXT;
