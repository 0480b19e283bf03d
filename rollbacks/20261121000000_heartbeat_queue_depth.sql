-- Undoes 20261121000000_heartbeat_queue_depth.
ALTER TABLE ea_heartbeats DROP COLUMN dropped_ticks;
ALTER TABLE ea_heartbeats DROP COLUMN queue_depth;
