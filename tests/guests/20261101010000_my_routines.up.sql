-- retort: parents = 20261001000000
-- retort: description = MariaDB: a procedure with a BEGIN ... END body, no DELIMITER
CREATE TABLE order_log (id INTEGER AUTO_INCREMENT PRIMARY KEY, note TEXT NOT NULL);

CREATE PROCEDURE add_orders(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < n DO
    SET i = i + 1;
    INSERT INTO orders (id, amount) VALUES (100 + i, i * 10);
    IF i = n THEN
      INSERT INTO order_log (note) VALUES (CONCAT('added ', n, '; done'));
    END IF;
  END WHILE;
END;

CALL add_orders(2); # two more orders; logged
