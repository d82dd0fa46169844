DELETE FROM orders WHERE id = 4;
DROP TRIGGER orders_log ON orders;
DROP FUNCTION log_order();
DROP TABLE order_log;
