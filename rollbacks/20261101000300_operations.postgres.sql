-- Undoes 20261101000300_operations: drops the operations tables, children first, then the
-- audit append-only trigger function.
DROP TABLE iteration_logs;
DROP TABLE system_metrics;
DROP TABLE audit_logs;
DROP TABLE notifications;
DROP TABLE command_deliveries;
DROP TABLE commands;
DROP TABLE tokens;
DROP FUNCTION mt5e_refuse_audit_update();
