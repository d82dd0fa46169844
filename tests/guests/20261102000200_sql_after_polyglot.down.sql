DROP VIEW band_report;
