-- allybridge store, PostgreSQL schema v2: at most one running job per record
-- (dedupe key), across every process sharing the store. A claim skips a
-- pending job while another job of its record is running; this index makes
-- the database refuse the second running job should two claims race.
--
-- Earlier versions could run two jobs of one record at once. Of each such
-- group the newest stays running and the others are closed as superseded
-- (every job fetches its record fresh when it runs, so the one kept carries
-- the work; a worker still running a closed one finds its lease lost).
UPDATE jobs SET
    state = 'superseded',
    last_error = COALESCE(last_error, 'superseded: a newer job of this record was running'),
    finished_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT,
    updated_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT,
    lease_owner = NULL,
    lease_expires_at = NULL
WHERE state = 'running' AND EXISTS (
    SELECT 1 FROM jobs newer
    WHERE newer.dedupe_key = jobs.dedupe_key AND newer.state = 'running' AND newer.id > jobs.id
);
CREATE UNIQUE INDEX jobs_one_running_per_key ON jobs (dedupe_key) WHERE state = 'running';
