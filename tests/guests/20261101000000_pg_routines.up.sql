-- retort: parents = 20261001000000
-- retort: description = PostgreSQL: a plpgsql function whose body holds semicolons
CREATE TABLE order_log (id SERIAL PRIMARY KEY, note TEXT NOT NULL);

CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_log (note) VALUES ('order ' || NEW.id || '; amount ' || NEW.amount);
  RETURN NEW;
END;
$$;

CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
INSERT INTO orders (id, amount) VALUES (4, 40);
