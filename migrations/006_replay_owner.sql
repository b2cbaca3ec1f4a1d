-- A replay can tell that the first request for its f010 is gone: each transaction keeps the backend pid
-- of the database session that recorded it. Rows recorded before this migration keep NULL, which a
-- replay reads as "gone" (their processes are of the previous release). Adding the column without a
-- default and setting the default afterwards keeps the ALTER instant and the old rows NULL.
ALTER TABLE transactions ADD COLUMN owner_pid integer;
ALTER TABLE transactions ALTER COLUMN owner_pid SET DEFAULT pg_backend_pid();
