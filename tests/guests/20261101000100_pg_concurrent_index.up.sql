-- retort: parents = 20261101000000
-- retort: description = PostgreSQL: an index built without blocking writes
-- retort: transaction = false
CREATE INDEX CONCURRENTLY orders_by_amount ON orders (amount);
