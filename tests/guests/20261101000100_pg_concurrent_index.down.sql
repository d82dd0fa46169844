DROP INDEX CONCURRENTLY orders_by_amount;
