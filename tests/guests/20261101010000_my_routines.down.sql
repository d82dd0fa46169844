DELETE FROM orders WHERE id > 100;
DROP PROCEDURE add_orders;
DROP TABLE order_log;
