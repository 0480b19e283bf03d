-- EA heartbeats carry the bridge's own health: how many durable messages wait in its queue and how
-- many ticks its ring dropped since it started. A growing queue is the first sign of a stuck link.
ALTER TABLE ea_heartbeats ADD COLUMN queue_depth integer;
ALTER TABLE ea_heartbeats ADD COLUMN dropped_ticks bigint;
