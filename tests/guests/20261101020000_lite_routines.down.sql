DELETE FROM orders WHERE id = 4;
DROP TRIGGER orders_log;
DROP TABLE order_log;
