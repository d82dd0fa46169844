-- retort: parents = 20261001000000
-- retort: description = inserts a row that breaks a foreign key unless the session disables checks
CREATE TABLE order_lines (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL,
  FOREIGN KEY (order_id) REFERENCES orders (id)
);
INSERT INTO order_lines (id, order_id) VALUES (1, 999);
