-- retort: description = a SQL migration built by Retort 0.1 (a generated Rust crate)
CREATE TABLE legacy (id INTEGER PRIMARY KEY, note VARCHAR(50));
INSERT INTO legacy (id, note) VALUES (1, 'from 0.1.0');
