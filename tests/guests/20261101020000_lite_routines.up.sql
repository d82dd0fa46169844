-- retort: parents = 20261001000000
-- retort: description = SQLite: a trigger with a BEGIN ... END body
CREATE TABLE order_log (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TRIGGER orders_log AFTER INSERT ON orders BEGIN
  INSERT INTO order_log (note) VALUES ('order ' || NEW.id || '; amount ' || NEW.amount);
END;
INSERT INTO orders (id, amount) VALUES (4, 40);
