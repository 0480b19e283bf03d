-- Undoes 20261101000300_operations: drops the operations tables, children first. The audit
-- append-only trigger goes with its table.
DROP TABLE iteration_logs;
DROP TABLE system_metrics;
DROP TABLE audit_logs;
DROP TABLE notifications;
DROP TABLE command_deliveries;
DROP TABLE commands;
DROP TABLE tokens;
