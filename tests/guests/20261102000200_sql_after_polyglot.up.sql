-- retort: parents = 20261102000100
-- retort: description = SQL after Python and JavaScript: a view over their results
CREATE VIEW band_report AS
  SELECT o.band, s.n FROM orders o JOIN order_summary s ON s.band = o.band WHERE o.id = 1;
