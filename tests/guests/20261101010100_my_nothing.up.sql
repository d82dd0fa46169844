-- retort: parents = 20261101010000
-- retort: description = a comment-only migration (a recorded no-op), without a down file
# nothing yet
